"""Charts of a pack build (Vega-Lite via altair; static SVG/PNG or HTML via vl-convert)."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

MAX_PACKS_SHOWN = 60


def block_capacity_chart(
    blocks: pl.DataFrame, packs: pl.DataFrame, *, max_packs: int = MAX_PACKS_SHOWN
) -> dict[str, Any]:
    """Two panels: usable capacity per pack (bars, by group), and each series block's capacity
    relative to the pack's equal share Σ Q / S (ticks; the limiting block in red) — how well the
    blocks of every pack are balanced.

    Parameters
    ----------
    blocks : pl.DataFrame
        ``RegroupResult.blocks`` (``pack_id``, ``block``, ``capacity_ah``, ``limiting``).
    packs : pl.DataFrame
        ``RegroupResult.packs`` (``pack_id``, ``group``, ``capacity_bound_ah``,
        ``usable_capacity_ah``).
    max_packs : int
        Packs shown (the first ones, in plan order).

    Returns
    -------
    dict
        Vega-Lite specification.
    """
    shown = (
        packs.head(max_packs)
        .select("pack_id", "group", "capacity_bound_ah", "usable_capacity_ah")
        .with_row_index("pack", offset=1)
    )
    data = blocks.join(shown, on="pack_id", how="inner").with_columns(
        ((pl.col("capacity_ah") / pl.col("capacity_bound_ah") - 1.0) * 100.0).alias(
            "deviation_percent"
        ),
        pl.when(pl.col("limiting"))
        .then(pl.lit("limiting block"))
        .otherwise(pl.lit("block"))
        .alias("kind"),
    )
    suffix = f" (first {max_packs} of {packs.height})" if packs.height > max_packs else ""
    width = max(260, 12 * shown.height)
    x = alt.X("pack:O", title="pack (plan order)", axis=alt.Axis(labelAngle=0, labelOverlap=True))
    usable = (
        alt.Chart(shown, title=f"Usable capacity per pack{suffix}")
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("usable_capacity_ah:Q", title="usable capacity [A·h]"),
            color=alt.Color("group:N", title="chemistry/model"),
            tooltip=["pack_id", "group", alt.Tooltip("usable_capacity_ah:Q", format=".3f")],
        )
        .properties(width=width, height=160)
    )
    ticks = (
        alt.Chart(data, title="Block capacity relative to the pack's equal share Σ Q / S")
        .mark_tick(thickness=2, size=10)
        .encode(
            x=x,
            y=alt.Y("deviation_percent:Q", title="block − equal share [%]"),
            color=alt.Color(
                "kind:N",
                scale=alt.Scale(domain=["block", "limiting block"], range=["#4575b4", "#d73027"]),
                title=None,
            ),
            tooltip=[
                "pack_id",
                "block",
                alt.Tooltip("capacity_ah:Q", format=".3f"),
                alt.Tooltip("deviation_percent:Q", format=".3f"),
            ],
        )
        .properties(width=width, height=160)
    )
    zero = alt.Chart(pl.DataFrame({"y": [0.0]})).mark_rule(color="#999999").encode(y="y:Q")
    chart = alt.vconcat(usable, alt.layer(ticks, zero)).resolve_scale(color="independent")
    spec: dict[str, Any] = chart.to_dict()
    return spec
