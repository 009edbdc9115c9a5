"""Vega-Lite charts of diagnostics (capacity fade, dQ/dV, HPPC resistance, Nyquist) and saving
them as PNG, SVG or self-contained HTML through vl-convert (no browser, no network)."""

from __future__ import annotations

from typing import Any, Literal

import altair as alt
import polars as pl

ChartKind = Literal["capacity", "dqdv", "hppc", "nyquist"]
MAX_CURVES = 12
"""Curves drawn at most (cycles or spectra evenly spread over the file)."""


def _spread(values: list[int], n: int = MAX_CURVES) -> list[int]:
    """At most ``n`` values evenly spread over ``values`` (first and last kept)."""
    if len(values) <= n:
        return values
    step = (len(values) - 1) / (n - 1)
    return sorted({values[round(k * step)] for k in range(n)})


def capacity_chart(
    summary: pl.DataFrame, *, title: str = "Discharge capacity per cycle"
) -> dict[str, Any]:
    """Discharge capacity [A·h] against cycle from :func:`~echelon.diagnostics.cycle_summary`
    (add a ``source`` column to compare several cells or references)."""
    data = summary.select(
        "cycle_count", "discharge_ah", *(["source"] if "source" in summary.columns else [])
    )
    color = alt.Color("source:N", title=None) if "source" in data.columns else alt.value("#4575b4")
    chart = (
        alt.Chart(data, title=title)
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=alt.X("cycle_count:Q", title="cycle"),
            y=alt.Y(
                "discharge_ah:Q", title="discharge capacity [A·h]", scale=alt.Scale(zero=False)
            ),
            color=color,
            tooltip=["cycle_count", alt.Tooltip("discharge_ah:Q", format=".4f")],
        )
        .properties(width=520, height=300)
    )
    spec: dict[str, Any] = chart.to_dict()
    return spec


def dqdv_chart(
    curves: pl.DataFrame, *, title: str = "Incremental capacity dQ/dV"
) -> dict[str, Any]:
    """dQ/dV curves of up to 12 cycles spread over the file, coloured by cycle."""
    chosen = _spread(curves.get_column("cycle_count").unique().sort().to_list())
    data = curves.filter(pl.col("cycle_count").is_in(chosen)).select(
        "cycle_count", "voltage_v", "dq_dv_ah_per_v"
    )
    chart = (
        alt.Chart(data, title=title)
        .mark_line(strokeWidth=1.2)
        .encode(
            x=alt.X("voltage_v:Q", title="voltage [V]", scale=alt.Scale(zero=False)),
            y=alt.Y("dq_dv_ah_per_v:Q", title="dQ/dV [A·h/V]"),
            color=alt.Color("cycle_count:Q", title="cycle", scale=alt.Scale(scheme="viridis")),
            detail="cycle_count:N",
        )
        .properties(width=520, height=300)
    )
    spec: dict[str, Any] = chart.to_dict()
    return spec


def hppc_chart(
    table: pl.DataFrame, *, column: str = "dcir_10s_ohm", title: str | None = None
) -> dict[str, Any]:
    """Pulse resistance against SOC from :func:`~echelon.diagnostics.hppc_table` (several
    temperatures: concatenate tables; colour is the temperature, dash and marker shape the pulse
    direction, so the legend tells them apart). Pulses flagged ``current_varies`` (not held at a
    constant current, e.g. clamped at the voltage limit) are left out: their resistance is not
    comparable with their neighbours'."""
    if "current_varies" in table.columns:
        table = table.filter(~pl.col("current_varies"))
    data = table.select(
        "soc",
        "kind",
        pl.col(column).mul(1000).alias("r_mohm"),
        pl.col("temperature_c").cast(pl.String).fill_null("n/a").alias("temperature"),
    ).drop_nulls("r_mohm")
    chart = (
        alt.Chart(data, title=title or f"HPPC resistance ({column})")
        .mark_line(point=True)
        .encode(
            x=alt.X("soc:Q", title="state of charge [-]", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("r_mohm:Q", title="resistance [mΩ]", scale=alt.Scale(zero=False)),
            color=alt.Color("temperature:N", title="T [°C]"),
            strokeDash=alt.StrokeDash("kind:N", legend=None),  # the shape legend names both
            shape=alt.Shape("kind:N", title="pulse"),
            tooltip=["soc", "kind", "temperature", alt.Tooltip("r_mohm:Q", format=".3f")],
        )
        .properties(width=520, height=300)
    )
    spec: dict[str, Any] = chart.to_dict()
    return spec


def nyquist_chart(spectra: pl.DataFrame, *, title: str = "Nyquist plot") -> dict[str, Any]:
    """−Im Z against Re Z of up to 12 spectra (from :func:`~echelon.diagnostics.eis.spectra`)."""
    chosen = _spread(spectra.get_column("spectrum").unique().sort().to_list())
    data = spectra.filter(pl.col("spectrum").is_in(chosen)).select(
        "spectrum",
        pl.col("real_impedance_ohm").alias("z_real_ohm"),
        (-pl.col("imaginary_impedance_ohm")).alias("minus_z_imag_ohm"),
        pl.col("frequency_hertz").alias("frequency_hz"),
    )
    chart = (
        alt.Chart(data, title=title)
        .mark_line(point=alt.OverlayMarkDef(size=10))
        .encode(
            x=alt.X("z_real_ohm:Q", title="Re Z [Ω]", scale=alt.Scale(zero=False)),
            y=alt.Y("minus_z_imag_ohm:Q", title="−Im Z [Ω]"),
            color=alt.Color("spectrum:Q", scale=alt.Scale(scheme="viridis")),
            detail="spectrum:N",
            order="frequency_hz:Q",
            tooltip=["spectrum", "frequency_hz", "z_real_ohm", "minus_z_imag_ohm"],
        )
        .properties(width=420, height=300)
    )
    spec: dict[str, Any] = chart.to_dict()
    return spec
