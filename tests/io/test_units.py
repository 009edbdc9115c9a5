"""Unit strings of tester columns: case matters exactly where it names another unit."""

from __future__ import annotations

import pytest

from echelon.io.units import conversion, parse_unit, unit_in_header


@pytest.mark.parametrize(
    ("text", "symbol", "scale"),
    [
        ("MOhm", "MOhm", 1e6),
        ("MΩ", "MOhm", 1e6),
        ("mOhm", "mOhm", 1e-3),
        ("mohm", "mOhm", 1e-3),  # the alias is spelled that way
        ("KOHM", "kOhm", 1e3),
        ("MAH", "mAh", 1e-3),  # no mega-ampere-hour: unambiguous
        ("Hours", "h", 3600.0),
    ],
)
def test_units_are_read_with_their_prefix(text: str, symbol: str, scale: float) -> None:
    unit = parse_unit(text)
    assert unit is not None
    assert (unit.symbol, unit.scale) == (symbol, scale)


@pytest.mark.parametrize("text", ["MOHM", "mHZ"])  # mΩ or MΩ; mHz or MHz
def test_a_prefix_whose_case_decides_the_unit_is_not_guessed(text: str) -> None:
    assert parse_unit(text) is None


def test_a_megohm_header_is_not_read_as_milliohms() -> None:
    unit = unit_in_header("Insulation (MOhm)")
    assert unit is not None
    assert unit.scale == 1e6
    with pytest.raises(ValueError, match="resistance"):
        conversion("MOhm", "voltage_volt")


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        ("m\u2126", "mOhm"),
        ("M\u2126", "MOhm"),
        ("\u03bcA", "uA"),
        ("\u00b5A", "uA"),
        ("\u03bc\u03a9", "uOhm"),
    ],
)
def test_the_ohm_sign_and_both_micro_signs_are_read(text: str, symbol: str) -> None:
    unit = parse_unit(text)
    assert unit is not None
    assert unit.symbol == symbol
    assert unit_in_header(f"R ({text})") == unit
