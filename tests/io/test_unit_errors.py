"""What the read-time magnitude check catches (mV written as V) and what it cannot (mA written as A
for a small cell: no rating in the file), and where the latter is caught (docs/readers.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echelon.diagnostics import discharge_capacity
from echelon.errors import EstimationError, ReaderError
from echelon.estimation.capacity import soh_from_capacity
from echelon.io import read

MAP = """\
columns:
  "t": {bdf: test_time_second}
  "u": {bdf: voltage_volt}
  "i": {bdf: current_ampere}
"""


def discharge_file(tmp_path: Path, *, volt_scale: float, amp_scale: float) -> Path:
    """A 2 A·h cell discharged at 1 A for 2 h (10 s samples), columns without units."""
    t = np.arange(0.0, 7200.0 + 1, 10.0)
    frame = pl.DataFrame(
        {
            "t": t,
            "u": np.linspace(4.1, 3.0, t.size) * volt_scale,
            "i": np.full(t.size, -1.0) * amp_scale,
        }
    )
    frame.write_csv(tmp_path / "d.csv")
    (tmp_path / "map.yaml").write_text(MAP)
    return tmp_path / "d.csv"


def test_millivolts_written_as_volts_are_refused_at_read(tmp_path: Path) -> None:
    path = discharge_file(tmp_path, volt_scale=1000.0, amp_scale=1.0)
    with pytest.raises(ReaderError, match=r"voltage_volt.*exceed \|2000.0\|"):
        read(path, column_map=tmp_path / "map.yaml")


def test_milliamperes_written_as_amperes_pass_the_read_and_fail_the_soh(tmp_path: Path) -> None:
    path = discharge_file(tmp_path, volt_scale=1.0, amp_scale=1000.0)
    data, _ = read(path, column_map=tmp_path / "map.yaml")  # 1000 A: a plausible current
    capacity = discharge_capacity(data).capacity_ah
    assert capacity == pytest.approx(2000.0, rel=0.01)
    with pytest.raises(EstimationError, match=r"current logged in mA.*÷ 1000"):
        soh_from_capacity(capacity, 2.0)
