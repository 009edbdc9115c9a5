"""The one table of plausible ranges: a value checked alone and a column of a table."""

from __future__ import annotations

import polars as pl

from echelon.domain.plausible import PLAUSIBLE, implausible, implausible_cells
from echelon.errors import MAX_ROW_PROBLEMS


def test_a_column_is_checked_with_each_rows_level() -> None:
    # 12 Ω is a module's DCIR, not a cell's; a pack has no tighter bound; nulls are not checked
    values = pl.Series("dcir_ohm", [12.0, 12.0, 12.0, None, 150.0, -1.0, 0.004])
    levels = pl.Series("level", ["cell", "module", None, "cell", "pack", "cell", "cell"])
    problems = implausible_cells(values, PLAUSIBLE["dcir_ohm"], levels)
    assert {(p.row, p.column): p.message for p in problems} == {
        (1, "dcir_ohm"): "12 outside the plausible range [0, 5] for a cell "
        "(wrong unit? mΩ written as Ω: write 0.012)",
        (5, "dcir_ohm"): "150 outside the plausible range [0, 100] "
        "(wrong unit? mΩ written as Ω: write 0.15)",
        (6, "dcir_ohm"): "-1 outside the plausible range [0, 5] for a cell (wrong unit?)",
    }
    assert problems[0].message == implausible("dcir_ohm", 12.0, level="cell")


def test_without_levels_the_general_bound_applies() -> None:
    values = pl.Series("measured_capacity_ah", [2500.0, 2e5])
    problems = implausible_cells(values, PLAUSIBLE["measured_capacity_ah"])
    assert [(p.row, p.message) for p in problems] == [
        (
            2,
            "200000 outside the plausible range [0, 100000] (wrong unit? mAh written as Ah: "
            "write 200)",
        ),
    ]


def test_nan_and_infinity_are_outside_and_the_list_is_capped() -> None:
    values = pl.Series("soh_percent", [float("nan"), float("inf"), 90.0, -float("inf")])
    problems = implausible_cells(values, PLAUSIBLE["soh_percent"])
    assert [(p.row, p.message) for p in problems] == [
        (1, "nan is not a finite number; the plausible range is [1.5, 150]"),
        (2, "inf is not a finite number; the plausible range is [1.5, 150]"),
        (4, "-inf is not a finite number; the plausible range is [1.5, 150]"),
    ]
    assert implausible("dcir_ohm", float("nan"), level="cell") == (
        "nan is not a finite number; the plausible range is [0, 5] for a cell"
    )
    many = pl.Series("soh_percent", [0.9] * (MAX_ROW_PROBLEMS + 5))
    assert len(implausible_cells(many, PLAUSIBLE["soh_percent"])) == MAX_ROW_PROBLEMS
