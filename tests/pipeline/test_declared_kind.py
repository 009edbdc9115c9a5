"""A tester file's declared kind says what it was run for; it does not hide the capacity test the
same file holds (a PulseBat step file: a calibrated full discharge, then the pulse blocks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from echelon.domain import Battery, TestKind
from echelon.io.manifest import ManifestUnit, TestFileRef
from echelon.pipeline.unit import process_unit
from echelon.synth.ecm import ProtocolRecorder, pulse_test
from tests.diagnostics.protocols import CAPACITY_AH, cell

TRUE_CAPACITY_AH = 0.7 * CAPACITY_AH
"""The simulated cell holds 70 % of its rated capacity."""


def _capacity_then_pulses(path: Path) -> Path:
    """Full cell: rest, C/2 discharge to the cut-off (the capacity test), recharge to half,
    then one PulseBat block (10 min rest, ±0.5/1/1.5 C pulses of 5 s with 75 s rests)."""
    params = cell(capacity=TRUE_CAPACITY_AH, chem="NMC622")
    rec = ProtocolRecorder(params, 1.0, np.random.default_rng(5))
    rec.rest(600.0, 10.0)
    rec.constant_current(
        -0.5 * CAPACITY_AH, sample_s=10.0, max_s=4 * 3600, stop_below_v=params.v_min_v
    )
    rec.rest(1800.0, 10.0)
    rec.constant_current(
        0.5 * CAPACITY_AH, sample_s=10.0, max_s=0.5 * TRUE_CAPACITY_AH / 1.0 * 3600
    )
    rec.rest(600.0, 1.0)
    for amplitude in (0.5, 1.0, 1.5):
        current = amplitude * CAPACITY_AH
        rec.constant_current(current, sample_s=0.1, max_s=5.0, stop_above_v=params.v_max_v)
        rec.rest(75.0, 1.0)
        rec.constant_current(-current, sample_s=0.1, max_s=5.0, stop_below_v=params.v_min_v)
        rec.rest(75.0, 1.0)
    rec.frame().drop("cycle_count").write_csv(path)
    return path


def _unit(path: Path, kind: TestKind | None, *, capacity: float = CAPACITY_AH) -> ManifestUnit:
    battery = Battery(
        battery_id="PB-1", level="cell", chemistry="NMC622", nominal_capacity_ah=capacity
    )
    return ManifestUnit(row=1, battery=battery, test_files=(TestFileRef(path, kind),))


@pytest.mark.parametrize("kind", [None, TestKind.PULSE, TestKind.HPPC])
def test_a_declared_pulse_file_keeps_its_capacity_test(tmp_path: Path, kind: TestKind) -> None:
    path = _capacity_then_pulses(tmp_path / "steps.csv")
    outcome = process_unit(_unit(path, kind), tmp_path / "store")
    assert outcome.error is None
    assert outcome.soh is not None
    assert outcome.soh.method == "capacity_test"
    assert outcome.soh.soh_percent == pytest.approx(70.0, abs=1.0)
    rest = [m.method for m in outcome.measurements if m.quantity == "rest_voltage_v"]
    if kind is not None:  # read as the short test it was declared as, too
        assert outcome.pulse_features is not None
        assert rest == [f"{kind.value}_test_initial_rest"]


def test_real_pulsebat_step_file_declared_pulse_gets_its_capacity_soh(
    real_dataset: Callable[[str], Path], tmp_path: Path
) -> None:
    """PulseBat LMO B101: step 4 is the calibrated 1 C discharge, 14.04 A·h of 25 A·h. Declared
    ``pulse:`` it got 73.2 % from the (out-of-domain) pulse model before 2026-12-07."""
    folder = real_dataset("pulsebat") / "workstep_layer" / "LMO"
    files = sorted(folder.glob("LMO_C_25_B_101_*.xlsx"))
    if not files:
        pytest.skip(f"PulseBat LMO B101 step file not in {folder}")
    battery = Battery(battery_id="B101", level="cell", chemistry="LMO", nominal_capacity_ah=25.0)
    unit = ManifestUnit(row=1, battery=battery, test_files=(TestFileRef(files[0], TestKind.PULSE),))
    outcome = process_unit(unit, tmp_path / "store")
    assert outcome.error is None
    assert outcome.soh is not None
    assert outcome.soh.method == "capacity_test"
    assert outcome.soh.soh_percent == pytest.approx(100 * 14.0409 / 25.0, abs=0.05)


@pytest.mark.parametrize("kind", [TestKind.PULSE, TestKind.HPPC])
def test_a_declared_pulsebat_file_gives_its_5s_dcir(tmp_path: Path, kind: TestKind) -> None:
    """Its U1–U21 feed the SOH model and its 5 s pulses are a DCIR test too: until 2026-12-07
    such a unit had no DCIR and was routed to retest ("peak power cannot be certified")."""
    path = _capacity_then_pulses(tmp_path / "steps.csv")
    outcome = process_unit(_unit(path, kind), tmp_path / "store")
    assert outcome.error is None
    assert outcome.pulse_features is not None
    dcir = [m for m in outcome.measurements if m.quantity == "dcir_ohm"]
    assert len(dcir) == 1
    # the 1.5 C discharge pulse, at its end, after the +1.5 C pulse took the cell to 51 % SOC
    assert dcir[0].method == "pulse_dcir_5s_soc51"
    # R0 + R1 (1 − e^(−5/τ1)) + R2 (1 − e^(−5/τ2)) of the simulated cell (protocols.cell)
    assert dcir[0].value == pytest.approx(
        0.03 + 0.018 * (1 - np.exp(-5 / 2.0)) + 0.024 * (1 - np.exp(-5 / 60.0)), rel=0.05
    )


def test_a_10s_dcir_outranks_the_5s_dcir_of_a_later_pulsebat_file(tmp_path: Path) -> None:
    """The registry grades a unit's latest DCIR: a dedicated 10 s pulse test stays the unit's
    DCIR when a PulseBat file (5 s pulses) is listed after it (the demo batch's order)."""
    pulse = pulse_test(
        cell(capacity=TRUE_CAPACITY_AH, chem="NMC622"),
        soc0=0.5,
        nominal_capacity_ah=CAPACITY_AH,
        rng=np.random.default_rng(1),
    )
    pulse.write_csv(tmp_path / "dcir.csv")
    steps = _capacity_then_pulses(tmp_path / "steps.csv")
    battery = Battery(
        battery_id="PB-1", level="cell", chemistry="NMC622", nominal_capacity_ah=CAPACITY_AH
    )
    files = (TestFileRef(tmp_path / "dcir.csv", None), TestFileRef(steps, TestKind.PULSE))
    outcome = process_unit(ManifestUnit(row=1, battery=battery, test_files=files), tmp_path / "s")
    assert outcome.error is None
    dcir = [m.method for m in outcome.measurements if m.quantity == "dcir_ohm"]
    assert sorted(dcir) == ["pulse_dcir_10s", "pulse_dcir_5s_soc51"]
    assert dcir[-1] == "pulse_dcir_10s"
