"""A file declared ``capacity:`` whose longest discharge is not a full one (an HPPC SOC step that
never reached the cut-off, or a discharge from a half-charged cell) gives no capacity and no SOH:
the unit is refused for SOH with the reason, as one without a capacity test (next estimator, else
retest). Before 2026-12-07 a Nissan Leaf HPPC file declared ``capacity:`` gave SOH 15 % ± 1 %."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from echelon.domain import Battery, TestKind
from echelon.io.manifest import ManifestUnit, TestFileRef
from echelon.pipeline.unit import UnitOutcome, process_unit
from echelon.synth.ecm import ProtocolRecorder
from tests.diagnostics.protocols import CAPACITY_AH, cell


def _discharge(path: Path, *, start_soc: float, discharged_fraction: float) -> Path:
    """A cell at ``start_soc`` rests, then discharges at C/2 for ``discharged_fraction`` of its
    capacity (or to the cut-off, whichever comes first), then rests."""
    params = cell(capacity=CAPACITY_AH, chem="NMC622")
    rec = ProtocolRecorder(params, start_soc, np.random.default_rng(3))
    rec.rest(600.0, 10.0)
    rec.constant_current(
        -0.5 * CAPACITY_AH,
        sample_s=10.0,
        max_s=discharged_fraction * 2 * 3600,
        stop_below_v=params.v_min_v,
    )
    rec.rest(600.0, 10.0)
    rec.frame().drop("cycle_count").write_csv(path)
    return path


def _outcome(path: Path, tmp_path: Path, chemistry: str = "NMC622") -> UnitOutcome:
    battery = Battery(
        battery_id="C-1", level="cell", chemistry=chemistry, nominal_capacity_ah=CAPACITY_AH
    )
    unit = ManifestUnit(row=1, battery=battery, test_files=(TestFileRef(path, TestKind.CAPACITY),))
    return process_unit(unit, tmp_path / "store")


@pytest.mark.parametrize(
    ("start_soc", "fraction", "why"),
    [
        (1.0, 0.3, "above the NMC622 discharge cut-off"),
        (0.5, 1.0, "below a full NMC622 unit"),
    ],
)
def test_a_partial_discharge_declared_capacity_is_refused_for_soh(
    tmp_path: Path, start_soc: float, fraction: float, why: str
) -> None:
    path = _discharge(tmp_path / "cap.csv", start_soc=start_soc, discharged_fraction=fraction)
    outcome = _outcome(path, tmp_path)
    assert outcome.error is None
    assert outcome.soh is None
    quantities = {m.quantity for m in outcome.measurements}
    assert "capacity_ah" not in quantities
    assert "rest_voltage_v" in quantities  # the rest of the file is still diagnosed
    [(method, reason)] = outcome.soh_refusals
    assert method == "capacity_test"
    assert reason.startswith("cap.csv: not a full capacity test")
    assert why in reason


def test_a_full_discharge_still_gives_the_capacity_soh(tmp_path: Path) -> None:
    path = _discharge(tmp_path / "cap.csv", start_soc=1.0, discharged_fraction=1.5)
    outcome = _outcome(path, tmp_path)
    assert outcome.soh is not None
    assert outcome.soh.method == "capacity_test"
    assert outcome.soh.soh_percent == pytest.approx(100.0, abs=3.0)
    assert outcome.soh_refusals == []


def test_real_nissan_leaf_hppc_declared_capacity_gives_no_soh(
    real_dataset: Callable[[str], Path], tmp_path: Path
) -> None:
    """The walkthrough's T7: the HPPC file's longest step is 3.0 Ah at 10 A (of 31 Ah) ending at
    3.77 V, far above the 3.0 V LMO cut-off; it gave SOH 15 % ± 1 %."""
    path = real_dataset("nissan_leaf") / "NissanLeaf-cell-Low-Current-HPPC-25C-2.csv"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    battery = Battery(battery_id="T7", level="cell", chemistry="LMO", nominal_capacity_ah=20.0)
    unit = ManifestUnit(row=1, battery=battery, test_files=(TestFileRef(path, TestKind.CAPACITY),))
    outcome = process_unit(unit, tmp_path / "store")
    assert outcome.error is None
    assert outcome.soh is None
    [(method, reason)] = outcome.soh_refusals
    assert method == "capacity_test"
    assert "above the LMO discharge cut-off" in reason


@pytest.mark.parametrize(
    "name", ["1C-Discharge-Bitrode-data.csv", "NissanLeaf-cell-Cycling-10C-24C-40C.csv"]
)
def test_real_nissan_leaf_capacity_files_still_give_soh(
    real_dataset: Callable[[str], Path], tmp_path: Path, name: str
) -> None:
    path = real_dataset("nissan_leaf") / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    battery = Battery(battery_id="L1", level="cell", chemistry="LMO", nominal_capacity_ah=33.1)
    unit = ManifestUnit(row=1, battery=battery, test_files=(TestFileRef(path, TestKind.CAPACITY),))
    outcome = process_unit(unit, tmp_path / "store")
    assert outcome.soh is not None, outcome.soh_refusals
    assert outcome.soh.soh_percent == pytest.approx(91.0, abs=1.5)


def test_the_gate_sees_a_unit_s_voltage_extremes_over_all_its_files() -> None:
    """The registry grades a quantity's latest value: with several tester files the gate's
    chemistry check saw only the last file's range (ff7b198 recorded one per file)."""
    from echelon.domain import Measurement
    from echelon.pipeline.unit import _extremes_last

    def m(quantity: str, value: float) -> Measurement:
        return Measurement(battery_id="U1", quantity=quantity, value=value, method="t")

    found = [
        m("max_charge_voltage_v", 4.25),
        m("min_discharge_voltage_v", 2.1),
        m("max_charge_voltage_v", 4.1),
        m("min_discharge_voltage_v", 2.6),
        m("dcir_ohm", 0.01),
    ]
    _extremes_last(found)
    latest = {x.quantity: x.value for x in found}  # the last of each quantity wins
    assert latest == {
        "max_charge_voltage_v": 4.25,
        "min_discharge_voltage_v": 2.1,
        "dcir_ohm": 0.01,
    }
