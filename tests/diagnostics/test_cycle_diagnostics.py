"""Per-cycle summary, cycle detection, capacity at a rate, HPPC tables and relaxation, checked
against the simulator's known answers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from echelon.diagnostics import (
    capacity_at_rate,
    classify_test,
    cycle_summary,
    hppc_table,
    relaxation_features,
    step_table,
)
from echelon.domain import TestKind
from echelon.errors import DiagnosticsError
from echelon.io.bdf import CYCLE
from tests.diagnostics.protocols import CAPACITY_AH, cell, cycling, hppc
from tests.diagnostics.test_diagnostics import expected_resistance


def test_cycle_summary_detects_cycles_and_measures_capacity() -> None:
    data = cycling(cell(r0=1e-6), cycles=3)
    summary = cycle_summary(data)
    # the file opens with a charge from empty: three charge → discharge cycles
    assert summary["cycle_count"].to_list() == [1, 2, 3]
    # negligible resistance: each discharge delivers the true capacity (0.2 % covers the
    # 10 s sampling at the cut-off and current noise); the charge from empty is the same
    assert summary["discharge_ah"].to_numpy() == pytest.approx(CAPACITY_AH, rel=2e-3)
    assert summary["coulombic_efficiency"].to_numpy() == pytest.approx(1.0, abs=3e-3)
    assert summary["discharge_duration_s"].to_numpy() == pytest.approx(2 * 3600, abs=20)  # C/2
    assert (summary["rest_duration_s"] >= 1200).all()
    assert {"max_temperature_c", "mean_temperature_c"} <= set(summary.columns)


def test_cycle_summary_from_file_cycles_and_from_parquet(tmp_path: object) -> None:
    data = cycling(cell(), cycles=2)
    numbered = data.with_columns(
        (pl.col("test_time_second") > data["test_time_second"].median()).cast(pl.Int64).alias(CYCLE)
        + 1
    )
    by_file = cycle_summary(numbered, cycles="file")
    assert by_file["cycle_count"].to_list() == [1, 2]
    detected = cycle_summary(numbered, cycles="detect")
    assert detected.height == 2
    path = f"{tmp_path}/c.parquet"
    data.write_parquet(path)
    assert cycle_summary(path).equals(cycle_summary(data))


def test_cycle_totals_conserve_charge() -> None:
    data = cycling(cell(), cycles=2)
    summary = cycle_summary(data)
    steps = step_table(data)
    net_cycles = float((summary["charge_ah"] - summary["discharge_ah"]).sum())
    net_steps = float((steps["charge_ah"] - steps["discharge_ah"]).sum())
    assert net_cycles == pytest.approx(net_steps, abs=1e-12)
    assert int(summary["n_points"].sum()) == data.height


def test_midpoint_voltage_is_half_way_through_the_discharge() -> None:
    params = cell(r0=0.03)
    summary = cycle_summary(cycling(params, cycles=1, rate_c=0.5))
    # at half the discharge SOC ≈ 0.5: OCV(0.5) − I·(R0 + R1 + R2) (RC pairs settled)
    expected = float(params.ocv.ocv(np.array([0.5]))[0]) - 1.0 * (0.03 + 0.018 + 0.024)
    assert summary["midpoint_voltage_v"][0] == pytest.approx(expected, abs=0.01)
    # resistance: discharge below, charge above the OCV
    assert summary["mean_discharge_voltage_v"][0] < summary["mean_charge_voltage_v"][0]


def test_capacity_at_rate_picks_the_reference_discharges() -> None:
    data = cycling(cell(r0=1e-6), cycles=2, rate_c=0.5)
    half_c = capacity_at_rate(data, rate_c=0.5, nominal_capacity_ah=CAPACITY_AH)
    assert half_c.height == 2
    assert half_c["capacity_ah"].to_numpy() == pytest.approx(CAPACITY_AH, rel=2e-3)
    assert half_c["rate_c"].to_numpy() == pytest.approx(0.5, rel=1e-3)
    assert capacity_at_rate(data, rate_c=1.0, nominal_capacity_ah=CAPACITY_AH).height == 0


def test_hppc_table_soc_and_resistance() -> None:
    params = cell(r0=0.03)
    data = hppc(params, levels=5)
    assert classify_test(data) is TestKind.HPPC
    table = hppc_table(data, capacity_ah=CAPACITY_AH, temperature_c=25.0)
    discharge = table.filter(pl.col("kind") == "discharge")
    assert discharge.height == 5
    net_pulse_ah = (2.0 - 1.5) * 10.0 / 3600.0
    expected_soc = [1.0 - k * (0.15 * CAPACITY_AH + net_pulse_ah) / CAPACITY_AH for k in range(5)]
    # coulomb counting from the full charge; 0.2 % covers current noise over the test
    assert discharge["soc"].to_numpy() == pytest.approx(expected_soc, abs=2e-3)
    for soc, r10 in zip(discharge["soc"], discharge["dcir_10s_ohm"], strict=True):
        # 2.5 % covers voltage noise (0.5 mV at 2 A) and the RC state left by the last step
        assert r10 == pytest.approx(expected_resistance(params, 10.0, 2.0, soc), rel=0.025)
    assert (table["temperature_c"] == 25.0).all()
    charge = table.filter(pl.col("kind") == "charge")
    assert charge.height == 5
    assert (charge["current_a"] > 0).all()


def test_hppc_without_pulses_is_refused() -> None:
    with pytest.raises(DiagnosticsError, match="no pulse"):
        hppc_table(cycling(cell(), cycles=1))


def test_relaxation_time_constant_of_a_single_rc_cell() -> None:
    data = hppc(cell(r0=0.03, r2=0.0), levels=1)
    rests = relaxation_features(data, times_s=(1.0, 10.0))
    after_pulse = rests.filter((pl.col("after") == "discharge") & (pl.col("duration_s") < 60))
    assert after_pulse.height >= 1
    row = after_pulse.row(0, named=True)
    # 1-RC relaxation from the ohmic step: V(t) − V(0+) = I·R1·(1 − e^(−t/τ)); τ = 2 s, and
    # the 63 % time is found on a 0.5 s sample grid
    assert row["tau63_s"] == pytest.approx(2.0, abs=0.5)
    assert row["dv_total_v"] > 0  # voltage recovers after a discharge
    assert 0.0 < row["ohmic_fraction"] < 1.0
    assert row["dv_10s_v"] > row["dv_1s_v"] > 0


def _step_level_frame() -> pl.DataFrame:
    """Two samples per step, as a NEBULA step table reads: a 30 ms, 25 A pulse 0.5 s after a
    rest (its counters read 2 counts of 0.1 mA·h), a 60 s rest, and a 1 h CC-CV charge whose CV
    phase is not in the samples (its counters hold 1.2 A·h, 4.8 W·h)."""
    return pl.DataFrame(
        {
            "test_time_second": [0.0, 600.0, 600.5, 600.53, 601.0, 661.0, 661.5, 4261.5],
            "voltage_volt": [3.60, 3.60, 3.70, 3.71, 3.65, 3.62, 3.70, 4.20],
            "current_ampere": [0.0, 0.0, 25.0, 25.0, 0.0, 0.0, 2.0, 0.5],
            "step_id": [1, 1, 2, 2, 3, 3, 4, 4],
            "charging_capacity_ah": [0.0, 0.0, 0.0, 0.0002, 0.0, 0.0, 0.0, 1.2],
            "discharging_capacity_ah": [0.0] * 8,
            "charging_energy_wh": [0.0, 0.0, 0.0, 0.0007, 0.0, 0.0, 0.0, 4.8],
            "discharging_energy_wh": [0.0] * 8,
        }
    )


def test_step_level_data_takes_each_steps_charge_from_the_tester_counters() -> None:
    """On step-level data the interval between two steps' samples is not the step's, and the
    course inside a step is not in the samples: a long step's charge and energy are the
    tester's counters (integrating the CC-CV step would give a straight ramp from 2 A to 0.5 A);
    a pulse the counters resolve to 2 counts is integrated within the step (25 A × 0.03 s; its
    counters' 0.0007 W·h ÷ 0.0002 A·h would be 3.5 V; under ``hold`` the 0.5 s before it would
    count: 25 A × 0.53 s)."""
    data = _step_level_frame()
    table = step_table(data)
    pulse = table.filter(pl.col("step_type") == "pulse_charge")
    assert pulse["charge_ah"].to_list() == [pytest.approx(25.0 * 0.03 / 3600.0)]
    assert pulse["charge_wh"].to_list() == [pytest.approx(25.0 * 0.03 / 3600.0 * 3.705)]
    long = table.filter(pl.col("step_type") == "cv_charge")
    assert long["charge_ah"].to_list() == [pytest.approx(1.2)]
    assert long["charge_wh"].to_list() == [pytest.approx(4.8)]
    total = 1.2 + 25.0 * 0.03 / 3600.0
    assert table["charge_ah"].sum() == pytest.approx(total)
    summary = cycle_summary(data)
    assert summary["charge_ah"].to_list() == [pytest.approx(total)]
    assert 3.70 <= summary["mean_charge_voltage_v"][0] <= 4.20
    # a sample-level file (more samples per step) is integrated, as before
    dense = step_table(data.drop("charging_capacity_ah", "discharging_capacity_ah"))
    assert dense["charge_ah"].sum() == pytest.approx(
        (25.0 * 0.53 + 2.0 * 0.5 + 1.25 * 3600.0) / 3600.0
    )


def test_dqdv_refuses_step_level_data() -> None:
    from echelon.diagnostics import incremental_capacity

    with pytest.raises(DiagnosticsError, match="step-level data"):
        incremental_capacity(_step_level_frame())


def test_inverted_current_sign_is_refused_by_the_capacity_functions() -> None:
    """A file whose current sign is flipped: its 'discharge' is the CC charge (the voltage
    rises to the upper cut-off) and its 'charge' the discharge (the voltage falls). The capacity
    functions refuse it instead of reporting the charge as the capacity."""
    from echelon.diagnostics import discharge_capacity

    data = cycling(cell(), cycles=1)
    assert discharge_capacity(data).end_voltage_v == pytest.approx(2.7, abs=0.01)
    flipped = data.with_columns(-pl.col("current_ampere"))
    with pytest.raises(DiagnosticsError, match=r"current sign looks inverted.*invert: true"):
        discharge_capacity(flipped)
    with pytest.raises(DiagnosticsError, match="current sign looks inverted"):
        capacity_at_rate(flipped, rate_c=0.5, nominal_capacity_ah=CAPACITY_AH)
    # without the CC charge the flipped CV phase is the only, flat, 'discharge': the flipped
    # discharge, a 'charge' that lowers the voltage, still gives the sign away
    cc_charge = data["step_id"].unique(maintain_order=True)[1]
    with pytest.raises(DiagnosticsError, match=r"the charge from t = .*, step \d+\) lowers the"):
        discharge_capacity(flipped.filter(pl.col("step_id") != cc_charge))
    # the per-cycle summary too (it gave CE 1.004 and energy efficiency 1.04 on a flipped file)
    assert cycle_summary(data).height == 1
    with pytest.raises(DiagnosticsError, match="current sign looks inverted"):
        cycle_summary(flipped)


def test_a_trickle_charge_that_relaxes_the_voltage_is_no_inverted_sign() -> None:
    """A C/50 trickle for 30 min after a 1 C CC charge relaxes the voltage 4.20 → 4.13 V while
    it charges: the file (whose 1 h discharge falls, as it should) is summarised, not refused as
    inverted; a charge at a substantial rate that lowers the voltage still is."""
    t1, t2 = np.arange(0, 3000, 5.0), np.arange(3000, 4800, 5.0)
    t3, t4 = np.arange(4800, 5400, 5.0), np.arange(5400, 9000, 5.0)
    data = pl.DataFrame(
        {
            "test_time_second": np.concatenate([t1, t2, t3, t4]),
            "voltage_volt": np.concatenate(
                [
                    np.linspace(3.6, 4.2, t1.size),
                    4.13 + 0.07 * np.exp(-(t2 - 3000) / 300),
                    np.full(t3.size, 4.12),
                    np.linspace(4.0, 3.0, t4.size),
                ]
            ),
            "current_ampere": np.repeat(
                [1.0, 0.02, 0.0, -1.0], [t1.size, t2.size, t3.size, t4.size]
            ),
            "step_id": np.repeat([1, 2, 3, 4], [t1.size, t2.size, t3.size, t4.size]),
        }
    )
    summary = cycle_summary(data)
    assert summary["discharge_ah"].to_list() == [pytest.approx(1.0, rel=0.01)]
    hard = data.with_columns(
        pl.when(pl.col("step_id") == 2)
        .then(0.5)
        .otherwise(pl.col("current_ampere"))
        .alias("current_ampere")
    )
    with pytest.raises(
        DiagnosticsError, match=r"the charge from t = 3000 s .*step 2, cycle 1\) lowers"
    ):
        cycle_summary(hard.filter(pl.col("step_id") != 4))
