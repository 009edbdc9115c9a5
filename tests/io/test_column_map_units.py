"""A column-map entry without ``unit:`` takes the unit its header states (``I [mA]``: mA), when
it is a unit of the column's dimension; a map unit that contradicts the header stays an error."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from echelon.errors import ReaderError
from echelon.io import read
from echelon.io.bdf import CURRENT, SURFACE_T, TIME, VOLTAGE
from echelon.io.generic import header_unit
from tests.io import formats
from tests.io.test_readers import sample_frame


def test_an_entry_without_a_unit_uses_the_header_unit(tmp_path: Path) -> None:
    """``Elapsed [min]``, ``U [mV]``, ``I [mA]``, ``T [°F]`` mapped with no ``unit:``: the
    values are converted as the headers say (the current was read as amperes: 1000 ×)."""
    mapping = tmp_path / "nounit.yaml"
    mapping.write_text(re.sub(r", unit: [^,}]+", "", formats.GENERIC_MAP_YAML))
    assert "unit:" not in mapping.read_text()
    path = tmp_path / "acme.csv"
    formats.generic_csv(sample_frame(), path)
    data, _ = read(path, column_map=mapping)
    original = sample_frame()
    for column in (TIME, VOLTAGE, CURRENT, SURFACE_T):
        assert np.allclose(data[column].to_numpy(), original[column].to_numpy(), atol=1e-6), column


def test_a_map_unit_contradicting_the_header_is_still_mixed_units(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(formats.GENERIC_MAP_YAML.replace("unit: mA,", "unit: A,"))
    path = tmp_path / "acme.csv"
    formats.generic_csv(sample_frame(), path)
    with pytest.raises(ReaderError, match=r"column 'I \[mA\]': mixed units"):
        read(path, column_map=mapping)


@pytest.mark.parametrize(
    ("header", "target", "unit"),
    [
        ("I [mA]", CURRENT, "mA"),
        ("Current(A)", CURRENT, "A"),
        ("T [°C]", SURFACE_T, "degC"),
        ("Temperature (C)", SURFACE_T, None),  # "C" is a coulomb: not a temperature unit
        ("Voltage", VOLTAGE, None),
    ],
)
def test_header_unit_of_the_column_dimension_only(
    header: str, target: str, unit: str | None
) -> None:
    assert header_unit(header, target) == unit
