"""Charts of lifetime forecasts: the SOH fade trajectory with its band and the threshold."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl


def fade_trajectory_chart(
    band: pl.DataFrame,
    *,
    eol_soh_percent: float,
    title: str,
    years_to_eol: tuple[float, float, float] | None = None,
) -> dict[str, Any]:
    """Vega-Lite spec: median SOH [%] over years with its 90 % band and the threshold line.

    Parameters
    ----------
    band : pl.DataFrame
        ``year``, ``soh_lower_percent``, ``soh_percent``, ``soh_upper_percent``.
    eol_soh_percent : float
        Application end-of-life threshold [%] (dashed red line).
    title : str
        Chart title.
    years_to_eol : (lower, median, upper), optional
        Shaded span on the threshold line where the unit reaches it.
    """
    base = alt.Chart(band)
    area = base.mark_area(opacity=0.25, color="#3182bd").encode(
        x=alt.X("year:Q", title="years in the application"),
        y=alt.Y("soh_lower_percent:Q", title="SOH [% of nominal]", scale=alt.Scale(zero=False)),
        y2="soh_upper_percent:Q",
    )
    line = base.mark_line(color="#08519c").encode(
        x="year:Q",
        y="soh_percent:Q",
        tooltip=[
            alt.Tooltip("year:Q", format=".1f"),
            alt.Tooltip("soh_percent:Q", format=".1f", title="median SOH %"),
            alt.Tooltip("soh_lower_percent:Q", format=".1f", title="5 %"),
            alt.Tooltip("soh_upper_percent:Q", format=".1f", title="95 %"),
        ],
    )
    rule = (
        alt.Chart(pl.DataFrame({"eol": [eol_soh_percent]}))
        .mark_rule(color="#cb181d", strokeDash=[6, 4])
        .encode(y="eol:Q")
    )
    layers: list[alt.Chart] = [area, line, rule]
    if years_to_eol is not None:
        lo, mid, hi = years_to_eol
        span = pl.DataFrame({"lo": [lo], "hi": [hi], "mid": [mid], "eol": [eol_soh_percent]})
        layers.append(
            alt.Chart(span)
            .mark_rule(color="#cb181d", strokeWidth=6, opacity=0.5)
            .encode(x="lo:Q", x2="hi:Q", y="eol:Q")
        )
        layers.append(
            alt.Chart(span)
            .mark_point(color="#cb181d", filled=True, size=60)
            .encode(x="mid:Q", y="eol:Q")
        )
    chart = alt.layer(*layers).properties(width=520, height=300, title=title)
    spec: dict[str, Any] = chart.to_dict()
    return spec


def remaining_life_backtest_chart(cases: pl.DataFrame, *, title: str) -> dict[str, Any]:
    """Vega-Lite spec: predicted vs true remaining cycles of back-test cases, one panel per
    dataset and threshold, with the 90 % interval as a vertical bar and the identity line.

    Parameters
    ----------
    cases : pl.DataFrame
        Scored cases of :func:`echelon.lifetime.validation.cases_frame` (``dataset``,
        ``threshold_percent``, ``cutoff_cycle``, ``true_cycle``, ``pred_cycle``, ``pred_lower``,
        ``pred_upper``).
    title : str
        Chart title.
    """
    data = cases.select(
        pl.format("{} to {} %", "dataset", pl.col("threshold_percent").cast(pl.Int64)).alias(
            "panel"
        ),
        pl.col("battery_id").alias("cell"),
        (pl.col("true_cycle") - pl.col("cutoff_cycle")).alias("true_remaining_cycles"),
        (pl.col("pred_cycle") - pl.col("cutoff_cycle")).alias("predicted_remaining_cycles"),
        (pl.col("pred_lower") - pl.col("cutoff_cycle")).alias("lower_cycles"),
        # clip the drawn upper bound at 3 × the largest true remaining life of the panel
        pl.min_horizontal(
            pl.col("pred_upper") - pl.col("cutoff_cycle"),
            3
            * (pl.col("true_cycle") - pl.col("cutoff_cycle"))
            .max()
            .over("dataset", "threshold_percent"),
        ).alias("upper_cycles"),
    )
    base = alt.Chart()
    bars = base.mark_rule(opacity=0.35).encode(
        x=alt.X("true_remaining_cycles:Q", title="true remaining cycles"),
        y=alt.Y("lower_cycles:Q", title="predicted remaining cycles (90 % interval)"),
        y2="upper_cycles:Q",
        color=alt.Color("cell:N", legend=None),
    )
    points = base.mark_point(filled=True, size=25).encode(
        x="true_remaining_cycles:Q",
        y="predicted_remaining_cycles:Q",
        color="cell:N",
        tooltip=["cell", "true_remaining_cycles", "predicted_remaining_cycles"],
    )
    identity = base.mark_line(color="black", strokeDash=[4, 3]).encode(
        x="true_remaining_cycles:Q", y="true_remaining_cycles:Q"
    )
    chart = (
        alt.layer(bars, points, identity, data=data)
        .properties(width=220, height=200)
        .facet(facet=alt.Facet("panel:N", title=None), columns=3)
        .resolve_scale(x="independent", y="independent")
        .properties(title=title)
    )
    spec: dict[str, Any] = chart.to_dict()
    return spec
