"""The sign of a file's current checked at read time against its step types (Novonix) or the
voltage over its long steps (BDF CSV): a current written positive on discharge is negated, noted."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from echelon.io import read
from echelon.io.bdf import CURRENT, read_run_metadata
from echelon.io.convert import convert_to_bdf

NOVONIX_HEAD = (
    "[Summary]\nNovonix\nChannel: 01\nStarted: 2022-04-11 10:58:07 AM\n[End Summary]\n[Data]\n"
    '"Date and Time,Cycle Number,Step Type,Run Time (h),Current (A),Potential (V),Step Number"\n'
)
"""A Novonix table whose lines are quoted whole (layout of TRI-AMDD/beep,
beep/tests/test_files/raw/test_Nova_Form-CH01-01_short.csv)."""


def _novonix(path: Path, steps: list[tuple[str, float]]) -> Path:
    """A Novonix file of ``steps`` (step type code, current in A), three rows of 10 s each."""
    lines, t = [], 0.0
    for number, (code, current) in enumerate(steps, start=1):
        for k in range(3):
            stamp = f"2022-04-11 11:{int(t // 60):02d}:{int(t % 60):02d} AM"
            volts = 3.5 + (0.01 * k if current > 0 else -0.01 * k)
            lines.append(f'"{stamp},1,{code},{t / 3600:.7f},{current},{volts:.3f},{number}"\n')
            t += 10.0
    path.write_text(NOVONIX_HEAD + "".join(lines), encoding="utf-8")
    return path


def test_novonix_charge_positive_file_is_read_as_written(tmp_path: Path) -> None:
    # 0 rest, 7 CC-CV charge, 2 CC discharge: the signs BDF expects
    path = _novonix(tmp_path / "a.csv", [("0", 0.0), ("7", 0.5), ("2", -0.5)])
    frame, meta = read(path)
    assert frame[CURRENT].to_list() == [0.0] * 3 + [0.5] * 3 + [-0.5] * 3
    assert "current_sign" not in meta.extra


def test_novonix_discharge_positive_file_is_negated_and_noted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the same steps written positive on discharge; until 2026-12-07 read as written
    path = _novonix(tmp_path / "a.csv", [("0", 0.0), ("7", -0.5), ("2", 0.5), ("9", 0.25)])
    with caplog.at_level(logging.WARNING, logger="echelon.io"):
        frame, meta = read(path)
    assert frame[CURRENT].to_list() == [0.0] * 3 + [0.5] * 3 + [-0.5] * 3 + [-0.25] * 3
    note = str(meta.extra["current_sign"])
    assert "3 step(s) by their step type (Step Type)" in note
    assert "the charge step (type 7) from data row 4 has a median current of -0.5 A" in note
    assert note in caplog.text


def test_novonix_mixed_evidence_leaves_the_current_as_written(tmp_path: Path) -> None:
    # a charge step negative but a discharge step negative too: no single reading, none made;
    # code 1 (a CC charge, or a discharge in some files) decides nothing
    path = _novonix(tmp_path / "a.csv", [("7", -0.5), ("2", -0.5), ("1", 0.5)])
    frame, meta = read(path)
    assert frame[CURRENT].to_list() == [-0.5] * 6 + [0.5] * 3
    assert "current_sign" not in meta.extra


def _bdf_csv(path: Path, steps: list[tuple[float, float, float]]) -> Path:
    """A BDF CSV labelled as cellpy's ``batmo_bdf.csv`` (jepegit/cellpy,
    testdata/data/batmo_bdf.csv: ``Test Time / h``, ``Current / mA``, ``Step Type / 1``, …) of
    ``steps`` (current in mA, start and end voltage), each one hour of 13 rows."""
    rows, t = [], 0.0
    for index, (current_ma, v0, v1) in enumerate(steps, start=1):
        kind = "rest" if current_ma == 0 else ("charge" if v1 > v0 else "discharge")
        for v in np.linspace(v0, v1, 13):
            rows.append(f"{t / 3600:.6f},{current_ma},{v:.4f},{kind},1,{index}\n")
            t += 300.0
    path.write_text(
        "Test Time / h,Current / mA,Voltage / V,Step Type / 1,Cycle Count / 1,Step Index / 1\n"
        + "".join(rows)
    )
    return path


DISCHARGE_POSITIVE = [(0.0, 3.3, 3.3), (-6.0, 3.3, 4.1), (0.0, 4.1, 4.1), (6.0, 4.0, 3.0)]
"""Rest, a charge written negative (the voltage rises), rest, a discharge written positive."""


def test_bdf_csv_discharge_positive_is_negated_and_noted(tmp_path: Path) -> None:
    # until 2026-12-07 read as written; only the capacity diagnostics' sign check refused it
    frame, meta = read(_bdf_csv(tmp_path / "batmo_bdf.csv", DISCHARGE_POSITIVE))
    assert frame[CURRENT].unique().sort().to_list() == pytest.approx([-0.006, 0.0, 0.006])
    assert frame[CURRENT][13] == pytest.approx(0.006)  # the charge
    assert frame[CURRENT][-1] == pytest.approx(-0.006)  # the discharge
    note = str(meta.extra["current_sign"])
    assert "2 step(s) by their voltage" in note
    assert "from t = 3900 s at -0.006 A the voltage rose from 3.300 to 4.100 V" in note


def test_bdf_csv_conversion_negates_the_current_too(tmp_path: Path) -> None:
    source = _bdf_csv(tmp_path / "batmo_bdf.csv", DISCHARGE_POSITIVE)
    done = convert_to_bdf(source, tmp_path / "out.bdf.parquet")
    stored = read(done.path)[0]
    assert stored[CURRENT][-1] == pytest.approx(-0.006)
    meta = read_run_metadata(done.path)
    assert meta is not None
    assert "current_sign" in meta.extra


@pytest.mark.parametrize(
    "steps",
    [
        # as BDF expects: charge positive, discharge negative
        [(0.0, 3.3, 3.3), (6.0, 3.3, 4.1), (-6.0, 4.0, 3.0)],
        # one long inverted step only: too little to invert on
        [(0.0, 3.3, 3.3), (6.0, 4.0, 3.0)],
        # one step each way: no single reading
        [(6.0, 4.0, 3.0), (6.0, 3.3, 4.1), (-6.0, 4.0, 3.0)],
        # trickle charges (1/60 of the largest step's current) relaxing after a constant-voltage
        # charge (whose voltage does not move): they decide nothing
        [(6.0, 4.2, 4.2), (0.1, 4.2, 4.13), (0.1, 4.2, 4.13)],
    ],
    ids=["as-written", "one-step", "mixed", "trickle"],
)
def test_bdf_csv_weak_or_no_evidence_leaves_the_current_as_written(
    tmp_path: Path, steps: list[tuple[float, float, float]]
) -> None:
    frame, meta = read(_bdf_csv(tmp_path / "a.csv", steps))
    assert frame[CURRENT][13] == pytest.approx(steps[1][0] * 1e-3)
    assert "current_sign" not in meta.extra
