"""Library functions refuse bad arguments clearly: an option value they do not offer (UsageError,
listing the valid ones), a frame without BDF columns, mismatched inputs, a date as text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from echelon.diagnostics import cycle_summary, discharge_capacity, incremental_capacity
from echelon.errors import UsageError, check_choice
from echelon.recycling import recycle_lot
from echelon.regroup import PackSpec, regroup
from tests.diagnostics.protocols import cell, cycling


def test_check_choice_names_the_option_and_the_values() -> None:
    check_choice("x", "a", ("a", "b"))
    with pytest.raises(UsageError, match=r"x='c' is not offered; use one of 'a', 'b'"):
        check_choice("x", "c", ("a", "b"))


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda f: discharge_capacity(f, transitions="linear"), "transitions='linear'"),
        (lambda f: cycle_summary(f, cycles="bogus"), "cycles='bogus'"),
        (lambda f: incremental_capacity(f, direction="up"), "direction='up'"),
        (lambda f: incremental_capacity(f, voltage_step_v=-0.01), "voltage_step_v=-0.01"),
        (lambda f: regroup(f, PackSpec(series=2, parallel=1), method="best"), "method='best'"),
        (lambda f: recycle_lot(f, dismantle="all"), "dismantle='all'"),
        (lambda f: recycle_lot(f, location="Germany"), "'US', 'California', 'China', 'Korea'"),
    ],
)
def test_a_value_not_offered_is_refused(call: Callable[[Any], Any], fragment: str) -> None:
    frame = cycling(cell(), cycles=1)
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(")):
        call(frame)


def test_diagnostics_say_what_they_need() -> None:
    from echelon.errors import DiagnosticsError

    with pytest.raises(DiagnosticsError, match=r"got str: read the file with echelon.io.read"):
        discharge_capacity("cells/B1.csv")  # type: ignore[arg-type]
    frame = cycling(cell(), cycles=1).drop("voltage_volt")
    with pytest.raises(DiagnosticsError, match="the frame has no voltage_volt column"):
        discharge_capacity(frame)


def test_self_discharge_names_mismatched_lengths() -> None:
    from echelon.diagnostics import self_discharge_k
    from echelon.errors import DiagnosticsError

    with pytest.raises(DiagnosticsError, match="3 times but 2 OCV readings"):
        self_discharge_k([0.0, 86400.0, 172800.0], [3.6, 3.5])


def test_grade_table_takes_an_iso_date() -> None:
    import polars as pl

    from echelon.grading import grade_table
    from tests.grading.test_grading import unit

    table = pl.DataFrame([unit()])
    as_text = grade_table(table, as_of="2026-11-22")
    assert as_text["grade"][0] == "A"
    with pytest.raises(UsageError, match="not a YYYY-MM-DD date"):
        grade_table(table, as_of="22/11/2026")
