"""Chart of a retired-battery flow forecast: what leaves use each year, and where it goes."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl


def flows_chart(frame: pl.DataFrame, *, title: str) -> dict[str, Any]:
    """Vega-Lite spec: GWh per year leaving first use, stacked by chemistry, with the totals going
    to a second life and to recycling as lines.

    Parameters
    ----------
    frame : pl.DataFrame
        :attr:`echelon.flows.FlowForecast.frame`.
    title : str
        Chart title.
    """
    by_chemistry = (
        frame.group_by("year", "chemistry")
        .agg((pl.col("retired_kwh").sum() / 1e6).alias("gwh"))
        .sort("year", "chemistry")
    )
    routes = (
        frame.group_by("year")
        .agg(
            (pl.col("to_second_life_kwh").sum() / 1e6).alias("to a second life"),
            (pl.col("to_recycling_kwh").sum() / 1e6).alias("to recycling"),
        )
        .unpivot(index="year", variable_name="route", value_name="gwh")
        .sort("year")
    )
    area = (
        alt.Chart(by_chemistry)
        .mark_area(opacity=0.7)
        .encode(
            x=alt.X("year:O", title="year"),
            y=alt.Y("gwh:Q", stack="zero", title="GWh per year"),
            color=alt.Color("chemistry:N", title="retired, by chemistry"),
            tooltip=["year:O", "chemistry:N", alt.Tooltip("gwh:Q", format=".2f")],
        )
    )
    lines = (
        alt.Chart(routes)
        .mark_line(point=alt.OverlayMarkDef(color="black"), color="black")
        .encode(
            x="year:O",
            y="gwh:Q",
            strokeDash=alt.StrokeDash("route:N", title="going"),
            tooltip=["year:O", "route:N", alt.Tooltip("gwh:Q", format=".2f")],
        )
    )
    chart = alt.layer(area, lines).properties(width=640, height=320, title=title)
    spec: dict[str, Any] = chart.to_dict()
    return spec
