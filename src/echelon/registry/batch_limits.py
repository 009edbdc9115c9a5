"""Batch-relative limits the intake recorded, for a re-grade against the intake's batch.

The self-discharge outlier limit (``gate.self_discharge_outlier``: group median + n σ) is a
statistic of the batch graded. ``echelon batteries --format grading`` exports, per unit, the limit
its latest gate decision recorded, so that ``echelon grade`` on a filtered export checks each unit
against its intake's batch, not against the units that happen to be in the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

import polars as pl
from sqlalchemy import func, select

from echelon.registry.core import Registry, chunked
from echelon.registry.schema import DecisionRow

OUTLIER_RULE: Final = "gate.self_discharge_outlier"
LIMIT_COLUMN: Final = "self_discharge_outlier_limit_mv_per_day"
"""The grading-table column the recorded limit fills (:mod:`echelon.grading.table`)."""


def _recorded_limit(reasons: Any) -> float | None:
    """The numeric limit of the outlier rule in a gate decision's reasons (``None`` when the
    batch group was too small, the rule is absent, or the reasons cannot be read)."""
    try:
        items = json.loads(reasons) if isinstance(reasons, str) else reasons
        limit = next(r.get("limit") for r in items if r.get("rule") == OUTLIER_RULE)
    except (StopIteration, TypeError, ValueError, AttributeError):
        return None
    return float(limit) if isinstance(limit, int | float) and not isinstance(limit, bool) else None


def recorded_outlier_limits(registry: Registry, battery_ids: Sequence[str]) -> pl.DataFrame:
    """Per battery, the self-discharge outlier limit its latest gate decision recorded.

    Returns
    -------
    pl.DataFrame
        ``battery_id`` and :data:`LIMIT_COLUMN` (mV/day, null when none was recorded), one row
        per battery that has a gate decision.
    """
    rows: list[dict[str, Any]] = []
    with registry.engine.connect() as conn:
        for chunk in chunked(list(dict.fromkeys(battery_ids))):
            ranked = (
                select(
                    DecisionRow.battery_id,
                    DecisionRow.reasons,
                    func.row_number()
                    .over(
                        partition_by=DecisionRow.battery_id,
                        order_by=(DecisionRow.event_seq.desc(), DecisionRow.id.desc()),
                    )
                    .label("rn"),
                )
                .where(DecisionRow.kind == "gate", DecisionRow.battery_id.in_(chunk))
                .subquery()
            )
            for bid, reasons in conn.execute(
                select(ranked.c.battery_id, ranked.c.reasons).where(ranked.c.rn == 1)
            ):
                rows.append({"battery_id": bid, LIMIT_COLUMN: _recorded_limit(reasons)})
    return pl.DataFrame(rows, schema={"battery_id": pl.String, LIMIT_COLUMN: pl.Float64})
