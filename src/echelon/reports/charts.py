"""Vega-Lite chart specs (altair) for batch reports; specs are JSON, testable without a browser."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final

import altair as alt
import polars as pl
import vl_convert as vlc

from echelon.domain import Application
from echelon.errors import ConfigError

GRADE_ORDER = ["A", "B", "C", "D", "ungraded"]
GRADE_COLOURS = ["#1a9850", "#91cf60", "#fee08b", "#d73027", "#bdbdbd"]


CHART_SUFFIXES: Final = (".png", ".svg", ".html")
"""Chart files :func:`save_chart` writes, by suffix."""


def usable_energy_kwh(frame: pl.DataFrame) -> pl.Expr:
    """Usable energy to reuse [kWh]: what the route decision credits (0 when not reused).

    The ``usable_kwh`` of :func:`echelon.registry.units_frame` — the router's number for the chosen
    application (rated kWh × SOH lower bound × usable window × derate), as the decision, ``show``
    and the certificate give it; quarantined, recycled and retest units hold none.
    """
    del frame
    return pl.col("usable_kwh").fill_null(0.0)


def disposition() -> pl.Expr:
    """Where a unit goes: its route, else its status (``dismantled``, ``failed``), else pending."""
    return pl.coalesce(pl.col("route"), pl.col("status"), pl.lit("pending")).alias("route")


def grade_distribution(frame: pl.DataFrame) -> dict[str, Any]:
    """Bar chart: units per grade (A–D and ungraded)."""
    counts = (
        frame.with_columns(pl.col("grade").fill_null("ungraded"))
        .group_by("grade")
        .agg(pl.len().alias("units"))
    )
    chart = (
        alt.Chart(counts, title="Units per grade")
        .mark_bar()
        .encode(
            x=alt.X("grade:N", sort=GRADE_ORDER, title="grade", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("units:Q", title="units"),
            color=alt.Color(
                "grade:N", scale=alt.Scale(domain=GRADE_ORDER, range=GRADE_COLOURS), legend=None
            ),
            tooltip=["grade", "units"],
        )
        .properties(width=260, height=220)
    )
    spec: dict[str, Any] = chart.to_dict()
    return spec


def soh_histogram(frame: pl.DataFrame) -> dict[str, Any]:
    """Histogram of measured SOH [%] per chemistry (small multiples, 5 % bins)."""
    data = frame.filter(pl.col("soh_percent").is_not_null()).select("chemistry", "soh_percent")
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("soh_percent:Q", bin=alt.Bin(step=5, extent=[40, 105]), title="SOH [%]"),
            y=alt.Y("count():Q", title="units"),
            color=alt.Color("chemistry:N", legend=None),
            tooltip=["chemistry", alt.Tooltip("count():Q", title="units")],
        )
        .properties(width=180, height=110)
        .facet(
            facet=alt.Facet("chemistry:N", title=None),
            columns=4,
            title="SOH distribution per chemistry",
        )
    )
    spec: dict[str, Any] = chart.to_dict()
    return spec


def routes(frame: pl.DataFrame) -> dict[str, Any]:
    """Two bar charts: units and usable kWh per route (the energy the route decisions credit to a
    second life; units sent to recycling or elsewhere hold none)."""
    reuse = [a.value for a in Application]
    data = (
        frame.with_columns(disposition(), usable_energy_kwh(frame).alias("kwh"))
        .group_by("route")
        .agg(pl.len().alias("units"), pl.col("kwh").sum().round(2).alias("usable_kwh"))
        .with_columns(
            pl.when(pl.col("route").is_in(reuse))
            .then(pl.lit("second life"))
            .otherwise(pl.lit("not reused"))
            .alias("use")
        )
        .sort("units", descending=True)
    )
    base = alt.Chart(data).encode(
        y=alt.Y("route:N", sort="-x", title=None), tooltip=["route", "units", "usable_kwh"]
    )
    by_count = (
        base.mark_bar(color="#4575b4")
        .encode(x=alt.X("units:Q", title="units"))
        .properties(width=240, height=200, title="Routes by count")
    )
    by_energy = (
        base.mark_bar()
        .encode(
            x=alt.X("usable_kwh:Q", title="usable energy [kWh]"),
            color=alt.Color(
                "use:N",
                scale=alt.Scale(domain=["second life", "not reused"], range=["#74add1", "#bdbdbd"]),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
        )
        .properties(width=240, height=200, title="Routes by usable kWh")
    )
    spec: dict[str, Any] = alt.hconcat(by_count, by_energy).to_dict()
    return spec


def vega_lite_version() -> str:
    """The Vega-Lite version tag vl-convert bundles for altair's schema (e.g. ``v6_4``)."""
    major, minor = alt.VEGALITE_VERSION.split(".")[:2]
    return f"v{major}_{minor}"


def soh_band_chart(
    soh_percent: float,
    *,
    lower_percent: float | None,
    upper_percent: float | None,
    band_minimums: dict[str, float],
) -> dict[str, Any]:
    """One unit's SOH (with its interval) against the grade bands of its profile.

    Parameters
    ----------
    soh_percent : float
        Estimated SOH [%].
    lower_percent, upper_percent : float or None
        Interval bounds [%] (the grade compares the lower one).
    band_minimums : dict
        Minimum SOH [%] per grade (``{"A": 80, "B": 70, "C": 60}``); D is below the last.
    """
    edges = sorted(band_minimums.items(), key=lambda kv: -kv[1])
    names: list[str] = []
    bands: list[dict[str, Any]] = []
    values = [v for v in (soh_percent, lower_percent, upper_percent) if v is not None]
    left = min(30.0, 5.0 * math.floor(min(values) / 5.0))  # the axis holds the whole interval
    right = max(105.0, 5.0 * math.ceil(max(values) / 5.0))
    top = right
    for grade, minimum in [*edges, ("D", left)]:
        names.append(grade)
        bands.append({"grade": grade, "from": minimum, "to": top})
        top = minimum
    colours = dict(zip(GRADE_ORDER, GRADE_COLOURS, strict=False))
    band_layer = (
        alt.Chart(pl.DataFrame(bands))
        .mark_rect(opacity=0.55)
        .encode(
            x=alt.X("from:Q", title="state of health [%]", scale=alt.Scale(domain=[left, right])),
            x2="to:Q",
            color=alt.Color(
                "grade:N",
                scale=alt.Scale(domain=names, range=[colours[g] for g in names]),
                legend=alt.Legend(orient="top", title="grade band"),
            ),
        )
    )
    point = pl.DataFrame(
        {
            "soh": [soh_percent],
            "lower": [lower_percent if lower_percent is not None else soh_percent],
            "upper": [upper_percent if upper_percent is not None else soh_percent],
        }
    )
    interval = (
        alt.Chart(point).mark_rule(strokeWidth=3, color="#1f2933").encode(x="lower:Q", x2="upper:Q")
    )
    marker = alt.Chart(point).mark_point(filled=True, size=120, color="#1f2933").encode(x="soh:Q")
    spec: dict[str, Any] = (
        alt.layer(band_layer, interval, marker).properties(width=520, height=40).to_dict()
    )
    return spec


def save_chart(spec: dict[str, Any], path: Path | str, *, scale: float = 2.0) -> Path:
    """Write a Vega-Lite spec as ``.png``, ``.svg`` or self-contained ``.html`` (by suffix).

    Raises
    ------
    ConfigError
        For any other suffix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    version = vega_lite_version()
    suffix = path.suffix.lower()
    if suffix == ".png":
        path.write_bytes(vlc.vegalite_to_png(spec, vl_version=version, scale=scale))
    elif suffix == ".svg":
        path.write_text(vlc.vegalite_to_svg(spec, vl_version=version), encoding="utf-8")
    elif suffix == ".html":
        path.write_text(
            vlc.vegalite_to_html(spec, vl_version=version, bundle=True), encoding="utf-8"
        )
    else:
        raise ConfigError(
            f"{path}: charts are written as {', '.join(CHART_SUFFIXES)}, not {suffix!r}"
        )
    return path
