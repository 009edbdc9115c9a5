"""Units that may never share a pack: different level or nominal voltage (a 43.2 V module
paralleled with a 21.6 V one), whatever the constraints say."""

from __future__ import annotations

import polars as pl
import pytest

from echelon.errors import InfeasibleError
from echelon.regroup import PackSpec, regroup, validate_inventory
from echelon.regroup.spec import RegroupConstraints
from tests.regroup.conftest import synthetic_inventory


def _mixed_voltage() -> pl.DataFrame:
    return validate_inventory(
        pl.DataFrame(
            {
                "battery_id": ["A12S-1", "A12S-2", "B6S-1", "B6S-2"],
                "chemistry": "NMC622",
                "level": "module",
                "nominal_voltage_v": [43.2, 43.2, 21.6, 21.6],
                "capacity_ah": [55.0, 54.0, 55.0, 54.0],
                "dcir_ohm": [0.020, 0.021, 0.015, 0.016],
                "ocv_v": [44.0, 44.0, 22.0, 22.0],
                "grade": "A",
            }
        )
    )


def test_units_of_different_voltage_are_never_paralleled() -> None:
    with pytest.raises(InfeasibleError, match="nominal voltage never share a pack"):
        regroup(_mixed_voltage(), PackSpec(series=2, parallel=2))
    result = regroup(_mixed_voltage(), PackSpec(series=1, parallel=2))
    for _, units in result.assignment.group_by("pack_id"):
        assert units["battery_id"].str.slice(0, 1).n_unique() == 1
    assert sorted(result.packs["nominal_voltage_v"].round(1).to_list()) == [21.6, 43.2]


def test_voltage_groups_hold_without_same_model_and_model_is_kept() -> None:
    inventory = validate_inventory(
        pl.DataFrame(
            {
                "battery_id": ["M16-1", "M16-2", "M15-1", "M15-2", "C1"],
                "chemistry": "LFP",
                "model": ["M16S", "M16S", "M15S", "M15S", "CELL"],
                "level": ["module"] * 4 + ["cell"],
                "nominal_voltage_v": [51.2, 51.2, 48.0, 48.0, 3.2],
                "capacity_ah": 100.0,
                "dcir_ohm": 0.02,
                "grade": "A",
            }
        )
    )
    result = regroup(
        inventory,
        PackSpec(series=1, parallel=2),
        constraints=RegroupConstraints(same_model=False),
    )
    for _, units in result.assignment.group_by("pack_id"):
        assert units["model"].n_unique() == 1
    assert result.assignment["model"].null_count() == 0
    assert result.packs["violations"].to_list() == ["", ""]
    reason = result.excluded.filter(pl.col("battery_id") == "C1")["reason"][0]
    assert reason.startswith("only 1 unit(s) of LFP cell 3.2 V")
    assert "needs 2" in reason


def test_generic_chemistry_names_are_kept_apart_and_said() -> None:
    inventory = validate_inventory(
        pl.DataFrame(
            {
                "battery_id": ["G1", "G2", "G3", "G4", "G5", "G6"],
                "chemistry": ["ternary", "ternary", "NMC622", "NCM622", "NMC", "NMC"],
                "capacity_ah": 50.0,
                "dcir_ohm": 0.02,
                "grade": "A",
            }
        )
    )
    result = regroup(inventory, PackSpec(series=2, parallel=1))
    stated = dict(
        zip(result.assignment["battery_id"], result.assignment["chemistry_stated"], strict=True)
    )
    assert stated == {
        "G1": "ternary",
        "G2": "ternary",
        "G3": "NMC622",
        "G4": "NMC622",
        "G5": "NMC",
        "G6": "NMC",
    }
    for _, units in result.assignment.group_by("pack_id"):
        assert units["chemistry_stated"].n_unique() == 1
    assert any("'ternary' names no composition" in note for note in result.notes)


def test_every_unit_left_out_is_listed_with_the_reason_and_what_to_do() -> None:
    """60 cells as 14S1P: 4 packs, the 4 cells left over say so (they were 'not needed or not
    placeable in a pack meeting the limits' before 2026-12-07); with --packs 2 the others were
    not needed; a grade outside allowed_grades says how to allow it."""
    inventory = synthetic_inventory(60, seed=2)
    result = regroup(inventory, PackSpec(series=14, parallel=1))
    reasons = result.excluded["reason"].unique().to_list()
    assert reasons == [
        "one of the 4 unit(s) of LFP 3.2 V/M1 left over, fewer than the 14 of a 14S1P pack: add "
        "units of this group to build one more"
    ]
    two = regroup(inventory, PackSpec(series=14, parallel=1, packs=2))
    assert two.excluded.height == 32
    assert set(two.excluded["reason"]) == {
        "not needed for the 2 pack(s) asked for, or not placeable in a pack meeting the limits "
        "(max_resistance_ratio, capacity_tolerance_fraction): ask for more packs (--packs) to "
        "use it"
    }
    graded = regroup(
        inventory,
        PackSpec(series=14, parallel=1),
        constraints=RegroupConstraints(allowed_grades=("A", "B")),
    )
    assert set(graded.excluded["reason"]) >= {
        "grade C not in allowed_grades (A,B): add it to allowed_grades in the constraints file "
        "to use the unit"
    }
