"""Listings over rows edited behind Echelon's back: one unreadable value no longer takes the
listing down, and the values a listing shows are checked against the events that recorded them
(before 2026-12-07 a grade edited from D to A was listed as A without a flag)."""

from __future__ import annotations

import polars as pl
import pytest

from echelon.registry import (
    Registry,
    flag_listed,
    list_batteries,
    listing_warnings,
    units_frame,
    verify,
)
from tests.registry.test_registry import _raw, unit


def _warnings(frame: pl.DataFrame) -> dict[str, str]:
    return {
        bid: warning
        for bid, warning in frame.select("battery_id", "warning").iter_rows()
        if warning is not None
    }


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("UPDATE measurements SET value = 'abc' WHERE battery_id = 'A-2'",
         "measurements.value = 'abc' is not a number"),
        ("UPDATE batteries SET manufacture_date = 'garbage' WHERE battery_id = 'A-2'",
         "batteries.manufacture_date = 'garbage' is not a date"),
        ("UPDATE batteries SET nominal_capacity_ah = 'x' WHERE battery_id = 'A-2'",
         "batteries.nominal_capacity_ah = 'x' is not a number"),
        ("UPDATE decisions SET inputs = '{oops' WHERE battery_id = 'A-2'",
         "decisions.inputs is not valid JSON (grade)"),
    ],
)  # fmt: skip
def test_a_value_edited_into_another_type_spoils_only_its_battery(
    sqlite_registry: Registry, sql: str, says: str
) -> None:
    """(SQLite only: PostgreSQL's typed columns cannot hold them.) Before 2026-12-07 the whole
    listing failed with polars' "could not append value … infer_schema_length" (exit 6, 409 for
    every listing), and verify crashed on a date edited into text."""
    sqlite_registry.record_units([unit("A-1"), unit("A-2")])
    _raw(sqlite_registry, sql)
    frame = list_batteries(sqlite_registry)
    assert frame["battery_id"].to_list() == ["A-1", "A-2"]
    assert frame.row(0, named=True)["soh_percent"] == 85.0
    warnings = _warnings(frame)
    assert list(warnings) == ["A-2"]
    assert warnings["A-2"].startswith(says)
    assert frame.schema["soh_percent"] == pl.Float64
    assert frame.schema["manufacture_date"] == pl.Date
    problems = verify(sqlite_registry).problems
    assert problems
    assert {p.battery_id for p in problems} == {"A-2"}


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("UPDATE decisions SET outcome = 'D' WHERE battery_id = 'A-2'",
         "grade D differs from what event #2 recorded"),
        ("UPDATE measurements SET value = 59.9 WHERE battery_id = 'A-2'",
         "soh_percent 59.9 differs from what event #1 recorded"),
        ("UPDATE batteries SET chemistry = 'NMC811' WHERE battery_id = 'A-2'",
         "batteries.chemistry 'NMC811' differs from what event #0 recorded"),
        ("UPDATE events SET status = 'routed' WHERE battery_id = 'A-2' AND seq = 2",
         "event #2 does not match its hash (edited)"),
        ("DELETE FROM events WHERE battery_id = 'A-2' AND seq = 2",
         "its chain ends at #1 but its head record says #2"),
    ],
)  # fmt: skip
def test_the_listing_check_names_values_the_chain_does_not_prove(
    registry: Registry, sql: str, says: str
) -> None:
    registry.record_units([unit("A-1"), unit("A-2"), unit("A-3")])
    assert listing_warnings(registry, ["A-1", "A-2", "A-3"]) == {}
    _raw(registry, sql)
    found = listing_warnings(registry, ["A-1", "A-2", "A-3"])
    assert list(found) == ["A-2"]
    assert any(problem.startswith(says) for problem in found["A-2"]), found
    flagged = flag_listed(registry, list_batteries(registry))
    assert _warnings(flagged)["A-2"].startswith(found["A-2"][0])
    assert _warnings(flag_listed(registry, flagged.filter(pl.col("battery_id") != "A-2"))) == {}


def test_units_frame_has_a_warning_column_even_when_all_is_well(registry: Registry) -> None:
    registry.record_units([unit("A-1")])
    frame = units_frame(registry)
    assert frame["warning"].to_list() == [None]
    assert "attributes" not in frame.columns


def test_decision_inputs_valid_to_python_but_not_strict_json_are_not_flagged(
    sqlite_registry: Registry,
) -> None:
    """The listing reads a gate's or grade's inputs only when SQLite's ``json_valid`` refuses
    them (since 2026-12-07): a NaN, which Python's JSON writes and reads, is no edit."""
    sqlite_registry.record_units([unit("A-1"), unit("A-2")])
    _raw(sqlite_registry, "UPDATE decisions SET inputs = '{\"x\": NaN}' WHERE battery_id = 'A-2'")
    assert _warnings(list_batteries(sqlite_registry)) == {}
    _raw(sqlite_registry, "UPDATE decisions SET inputs = '{x: 1}' WHERE battery_id = 'A-2'")
    assert _warnings(list_batteries(sqlite_registry)) == {
        "A-2": "decisions.inputs is not valid JSON (grade)"
    }


@pytest.mark.parametrize("inputs", ["[1]", "3", '"ess"'])
def test_route_inputs_edited_into_json_that_is_no_object_are_flagged(
    registry: Registry, inputs: str
) -> None:
    """A route's inputs edited into valid JSON that is not an object: before 2026-12-07 the
    listing (``echelon batteries``, the dashboard) failed with AttributeError ``'list' object
    has no attribute 'get'``; now that unit's usable kWh is read as null and flagged."""
    registry.record_units([unit("A-1"), unit("A-2")])
    _raw(
        registry,
        "UPDATE decisions SET kind = 'route', outcome = 'ess', inputs = :inputs "
        "WHERE battery_id = 'A-2'",
        inputs=inputs,
    )
    frame = units_frame(registry)
    assert frame["battery_id"].to_list() == ["A-1", "A-2"]
    assert frame.row(1, named=True)["usable_kwh"] is None
    assert frame.row(1, named=True)["route"] == "ess"
    assert _warnings(frame) == {"A-2": f"decisions.inputs: {inputs} is not a JSON object (route)"}
