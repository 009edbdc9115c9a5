"""Metrics of held-out SOH predictions: the coverage interval over cells."""

from __future__ import annotations

import numpy as np
import polars as pl

from echelon.estimation.evaluate import coverage_interval, metrics


def _predictions(hits_per_cell: list[tuple[int, int]], batch: str = "B") -> pl.DataFrame:
    """Rows of cells whose interval holds the truth ``hits`` times out of ``rows``."""
    records = []
    for i, (hits, rows) in enumerate(hits_per_cell):
        for k in range(rows):
            inside = k < hits
            records.append(
                {
                    "cell_id": f"{batch}{i}",
                    "batch": batch,
                    "soh_true_percent": 90.0,
                    "soh_percent": 90.5,
                    "soh_lower_percent": 89.0 if inside else 90.2,
                    "soh_upper_percent": 92.0,
                    "out_of_domain": False,
                }
            )
    return pl.DataFrame(records)


def test_coverage_interval_holds_the_estimate_and_is_degenerate_when_every_cell_agrees() -> None:
    hits = np.array([9, 10, 8, 10, 9, 7, 10, 9])
    rows = np.full(8, 10)
    low, high = coverage_interval(hits, rows)
    assert low < hits.sum() / rows.sum() < high
    assert coverage_interval([10, 10, 10], [10, 10, 10]) == (1.0, 1.0)
    assert all(np.isnan(coverage_interval([], [])))


def test_clustered_misses_widen_the_interval_more_than_scattered_ones() -> None:
    # the same 90 % of 200 rows: scattered over 20 cells, or two cells missing everything
    scattered = coverage_interval(np.full(20, 9), np.full(20, 10))
    clustered = coverage_interval(np.r_[np.full(18, 10), [0, 0]], np.full(20, 10))
    assert scattered[1] - scattered[0] < 0.02  # every cell at exactly 90 %: no spread
    assert clustered[1] - clustered[0] > 0.1


def test_metrics_report_the_interval_per_group() -> None:
    frame = pl.concat(
        [
            _predictions([(10, 10)] * 6, batch="A"),
            _predictions([(10, 10)] * 5 + [(0, 10)], batch="B"),
        ]
    )
    by_batch = {r["group"]: r for r in metrics(frame, "batch").iter_rows(named=True)}
    assert by_batch["A"]["coverage_ci_low"] == by_batch["A"]["coverage_ci_high"] == 1.0
    b = by_batch["B"]
    assert b["coverage_ci_low"] < b["coverage"] < b["coverage_ci_high"] == 1.0
    overall = metrics(frame).row(0, named=True)
    assert overall["coverage_ci_low"] < overall["coverage"] < overall["coverage_ci_high"]


def test_the_interval_does_not_depend_on_row_order_or_grouping() -> None:
    frame = _predictions([(10, 10), (7, 10), (9, 10), (10, 10), (4, 10), (8, 10)], batch="A")
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    overall = metrics(frame).select("coverage_ci_low", "coverage_ci_high").row(0)
    assert metrics(shuffled).select("coverage_ci_low", "coverage_ci_high").row(0) == overall
    by_batch = metrics(shuffled, "batch").select("coverage_ci_low", "coverage_ci_high").row(0)
    assert by_batch == overall  # one batch: the same cells, the same draws
