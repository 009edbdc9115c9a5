"""Library functions refuse an option value they do not offer (UsageError, listing the valid
ones) instead of running something else."""

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
