"""Battery record: parsing of user spellings, derived values and consistency checks."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from echelon.domain import Battery, CapacityClass, Chemistry, Level, OriginApplication, VisualFlag
from echelon.domain.battery import check_parent_level
from echelon.domain.parse import parse_origin, parse_visual_flags


def make(**kw: object) -> Battery:
    base: dict[str, object] = {
        "battery_id": "B-1",
        "level": "cell",
        "chemistry": "LFP",
        "nominal_capacity_ah": 3.0,
    }
    base.update(kw)
    return Battery(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NCM811", Chemistry.NMC811),
        ("LiFePO4", Chemistry.LFP),
        ("li–s", Chemistry.LI_S),
        ("lithium metal", Chemistry.LI_METAL),
        ("nmc 622", Chemistry.NMC622),
        ("unknown", Chemistry.UNKNOWN),
    ],
)
def test_chemistry_spellings_resolve(text: str, expected: Chemistry) -> None:
    assert make(chemistry=text).chemistry is expected


def test_unknown_chemistry_suggests_closest() -> None:
    with pytest.raises(ValidationError, match="did you mean 'NMC811'"):
        make(chemistry="NMC81")


@pytest.mark.parametrize(
    ("capacity", "cls"),
    [
        (3.0, CapacityClass.UP_TO_3_AH),
        (3.01, CapacityClass.FROM_3_TO_10_AH),
        (10.0, CapacityClass.FROM_3_TO_10_AH),
        (60.0, CapacityClass.FROM_10_TO_60_AH),
        (60.5, CapacityClass.ABOVE_60_AH),
    ],
)
def test_capacity_class_bounds(capacity: float, cls: CapacityClass) -> None:
    assert make(nominal_capacity_ah=capacity).capacity_class is cls


def test_visual_flags_and_origin_aliases() -> None:
    b = make(visual_flags="swollen; leak", origin_application="EV")
    assert b.visual_flags == {VisualFlag.SWELLING, VisualFlag.LEAKAGE}
    assert b.origin_application is OriginApplication.AUTOMOTIVE
    assert parse_visual_flags("none") == frozenset()
    assert parse_origin("e-bike") is OriginApplication.EBIKE_LEV


@pytest.mark.parametrize(
    "kw",
    [
        {"nominal_capacity_ah": -1.0},
        {"battery_id": "bad id with spaces"},
        {"parent_id": "B-1"},
        {"series_count": 2},
        {"manufacture_date": dt.date(2020, 1, 1), "calendar_expiry_date": dt.date(2019, 1, 1)},
        {"country": "Germany"},
        {"visual_flags": "scratched"},
    ],
)
def test_invalid_batteries_are_rejected(kw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        make(**kw)


def test_energy_is_derived_from_capacity_and_voltage() -> None:
    assert make(nominal_voltage_v=3.2).energy_wh() == pytest.approx(9.6)
    module = make(level="module", series_count=4, nominal_capacity_ah=100.0)
    assert module.energy_wh(default_cell_voltage_v=3.2) == pytest.approx(1280.0)
    assert make().energy_wh() is None


def test_parent_must_be_larger_assembly() -> None:
    cell = make()
    assert check_parent_level(cell, Level.MODULE) is None
    assert "larger assembly" in (check_parent_level(cell, Level.CELL) or "")
    module = make(level="module", series_count=2)
    assert check_parent_level(module, Level.CELL) is not None


@given(st.floats(min_value=1e-3, max_value=1e5))
def test_capacity_class_is_monotonic(capacity: float) -> None:
    order = list(CapacityClass)
    assert order.index(CapacityClass.of(capacity)) <= order.index(CapacityClass.of(capacity * 1.5))
