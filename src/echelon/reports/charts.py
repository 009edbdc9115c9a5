"""Vega-Lite chart specs (altair) for batch reports; specs are JSON, testable without a browser."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

GRADE_ORDER = ["A", "B", "C", "D", "ungraded"]
GRADE_COLOURS = ["#1a9850", "#91cf60", "#fee08b", "#d73027", "#bdbdbd"]


def usable_energy_kwh(frame: pl.DataFrame) -> pl.Expr:
    """Usable energy [kWh] = nominal Ah × nominal V × SOH (0 when SOH is unknown)."""
    del frame
    return (
        pl.col("nominal_capacity_ah")
        * pl.col("nominal_voltage_v").fill_null(0.0)
        * pl.col("soh_percent").fill_null(0.0)
        / 100.0
        / 1000.0
    )


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
    """Two bar charts: units and usable kWh per route."""
    data = (
        frame.with_columns(disposition(), usable_energy_kwh(frame).alias("kwh"))
        .group_by("route")
        .agg(pl.len().alias("units"), pl.col("kwh").sum().round(2).alias("usable_kwh"))
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
        base.mark_bar(color="#74add1")
        .encode(x=alt.X("usable_kwh:Q", title="usable energy [kWh]"))
        .properties(width=240, height=200, title="Routes by usable kWh")
    )
    spec: dict[str, Any] = alt.hconcat(by_count, by_energy).to_dict()
    return spec


def vega_lite_version() -> str:
    """The Vega-Lite version tag vl-convert bundles for altair's schema (e.g. ``v6_4``)."""
    major, minor = alt.VEGALITE_VERSION.split(".")[:2]
    return f"v{major}_{minor}"
