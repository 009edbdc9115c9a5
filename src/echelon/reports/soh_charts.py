"""Charts of SOH estimates: measured vs estimated with intervals (parity plot)."""

from __future__ import annotations

from typing import Any, Final

import polars as pl

MAX_POINTS: Final = 5000
"""Rows drawn at most (a seeded sample above that keeps charts light)."""


def parity_chart(
    predictions: pl.DataFrame, *, title: str = "SOH: estimated vs measured"
) -> dict[str, Any]:
    """Vega-Lite spec: estimated vs measured SOH [%] with interval bars, one colour per group.

    Parameters
    ----------
    predictions : pl.DataFrame
        ``soh_true_percent``, ``soh_percent``, ``soh_lower_percent``, ``soh_upper_percent`` and
        ``batch`` (or ``family``) columns, as in :class:`echelon.estimation.Evaluation`.
    title : str
    """
    group = "batch" if "batch" in predictions.columns else "family"
    rows = predictions.filter(pl.col("soh_percent").is_not_null()).select(
        "soh_true_percent", "soh_percent", "soh_lower_percent", "soh_upper_percent", group
    )
    if rows.height > MAX_POINTS:
        rows = rows.sample(MAX_POINTS, seed=0)
    bounds = rows.select(
        pl.min_horizontal(
            pl.col("soh_true_percent").min(), pl.col("soh_lower_percent").min()
        ).alias("lo"),
        pl.max_horizontal(
            pl.col("soh_true_percent").max(), pl.col("soh_upper_percent").max()
        ).alias("hi"),
    ).row(0)
    lo, hi = float(bounds[0]), float(bounds[1])
    scale = {"domain": [lo - 2, hi + 2], "zero": False}
    x = {
        "field": "soh_true_percent",
        "type": "quantitative",
        "title": "measured SOH [%]",
        "scale": scale,
    }
    color = {"field": group, "type": "nominal", "title": group}
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": 420,
        "height": 420,
        "data": {"values": rows.to_dicts()},
        "layer": [
            {
                "mark": {"type": "rule", "opacity": 0.25},
                "encoding": {
                    "x": x,
                    "y": {"field": "soh_lower_percent", "type": "quantitative", "scale": scale},
                    "y2": {"field": "soh_upper_percent"},
                    "color": color,
                },
            },
            {
                "mark": {"type": "point", "filled": True, "size": 14},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "soh_percent",
                        "type": "quantitative",
                        "title": "estimated SOH [%] (bars: interval)",
                        "scale": scale,
                    },
                    "color": color,
                },
            },
            {
                "data": {"values": [{"v": lo - 2}, {"v": hi + 2}]},
                "mark": {"type": "line", "color": "#444", "strokeDash": [4, 4]},
                "encoding": {
                    "x": {"field": "v", "type": "quantitative", "scale": scale},
                    "y": {"field": "v", "type": "quantitative", "scale": scale},
                },
            },
        ],
    }
