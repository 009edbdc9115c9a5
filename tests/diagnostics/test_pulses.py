"""Pulses on hand-built logs with known answers: transients that are not pulses, the rest
dead-band, DCIR of pulses whose current varies, delays at float boundaries and shorter than the
sampling gap, relaxation from the load's end and one pulse numbering for every function."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from echelon.diagnostics import (
    classify_test,
    dcir_ohm,
    hppc_table,
    pulse_ecm,
    pulse_resistances,
    pulse_table,
    relaxation_features,
    step_table,
)
from echelon.diagnostics.resistance import dcir_column
from echelon.diagnostics.segments import rest_threshold
from echelon.diagnostics.steps import rest_threshold_a
from echelon.domain import TestKind
from echelon.io.bdf import CURRENT, TIME, VOLTAGE
from echelon.synth.ecm import ProtocolRecorder
from tests.diagnostics.protocols import CAPACITY_AH, cell


def log(*parts: tuple[float, float, float, float]) -> pl.DataFrame:
    """A BDF frame from ``(duration_s, period_s, current_a, voltage_v)`` parts, each sampled
    from one period after the previous part's last sample (a tester that logs on a clock)."""
    times, currents, voltages, t = [0.0], [0.0], [3.7], 0.0
    for duration, period, current, voltage in parts:
        steps = np.arange(1, round(duration / period) + 1) * period
        times += (t + steps).tolist()
        currents += [current] * steps.size
        voltages += [voltage] * steps.size
        t += float(steps[-1])
    return pl.DataFrame({TIME: times, VOLTAGE: voltages, CURRENT: currents})


def test_a_one_sample_spike_is_neither_a_pulse_nor_the_peak_current() -> None:
    # NASA PCoE charge files open with one −4 A sample, then charge at 1.5 A down to a CV tail
    cc = [(600.0, 10.0, 1.5, 4.0)]
    tail = [(600.0, 10.0, 0.03, 4.2)]  # 2 % of the charge current: still charging
    data = log((10.0, 2.5, 0.0, 3.7), (2.5, 2.5, -4.0, 3.5), (3.0, 3.0, 0.0, 3.7), *cc, *tail)
    assert rest_threshold_a(data) == pytest.approx(0.015)  # 1 % of 1.5 A, not of 4 A
    steps = step_table(data)
    assert not steps.get_column("step_type").str.starts_with("pulse").any()
    assert steps.filter(pl.col("step_type") == "rest").get_column("end_s").max() < 20.0
    assert pulse_table(data).height == 0
    assert classify_test(data) is TestKind.OTHER
    # two samples (a start and an end reading, as step-layer files log a step) make a pulse
    two = log((10.0, 1.0, 0.0, 3.7), (2.0, 1.0, -4.0, 3.5), (60.0, 1.0, 0.0, 3.7), *cc)
    assert pulse_table(two).height == 1


def test_rest_threshold_is_set_by_two_samples() -> None:
    current = np.array([0.0, -9.0, 2.0, 0.0, 1.0, -2.0, 1.0, 0.0])
    assert rest_threshold(current) == pytest.approx(0.02)  # −9 is a spike; two samples reach 2
    assert rest_threshold(current[1:2]) == pytest.approx(0.09)  # one sample: the largest
    assert np.isnan(rest_threshold(np.array([1.0, np.nan, 2.0, 2.0])))


def pulses_at(
    starts_s: list[float], *, current_a: float = 22.5, drop_v: float = 0.045
) -> pl.DataFrame:
    """Identical 10 s charge pulses (0.1 s logging, times written to 0.1 s as a Bitrode does)
    from rest at 4.0 V, each after 60 s of rest logged every second."""
    parts = []
    for start in starts_s:
        rest = np.round(start - 0.1 - np.arange(60, -1, -1.0), 1)
        pulse = np.round(start + 0.1 * np.arange(100), 1)
        after = np.round(pulse[-1] + np.arange(1.0, 61.0), 1)
        parts.append(
            pl.DataFrame(
                {
                    TIME: np.concatenate([rest, pulse, after]),
                    CURRENT: np.concatenate([0.0 * rest, 0.0 * pulse + current_a, 0.0 * after]),
                    VOLTAGE: np.concatenate(
                        [0.0 * rest + 4.0, 0.0 * pulse + 4.0 + drop_v, 0.0 * after + 4.0]
                    ),
                }
            )
        )
    return pl.concat(parts)


def test_identical_pulses_get_the_same_10s_resistance_whatever_the_float_rounding() -> None:
    # 25034.9 + 10.0 > 25044.8 + 0.1 in floating point: the 10 s value was dropped for some pulses
    starts = [25034.9, 29795.0, 34555.1, 44075.3, 48835.4, 53595.5, 58355.6, 1000.3, 2000.7]
    table = pulse_table(pulses_at(starts))
    assert table.height == len(starts)
    assert table["dcir_10s_ohm"].to_list() == pytest.approx([0.045 / 22.5] * len(starts))


def relaxing(rest_period_s: float) -> pl.DataFrame:
    """600 s at −10 A and 3.9 V logged every second (the last sample at t = 0), then a rest
    logged every ``rest_period_s`` from t = ``rest_period_s``: V(t) = 4.0 − 0.05·exp(−t/30 s)."""
    load = np.arange(-600.0, 1.0)
    rest = np.arange(rest_period_s, 3600.0 + 1e-9, rest_period_s)
    return pl.DataFrame(
        {
            TIME: np.concatenate([load, rest]) + 1000.0,
            CURRENT: np.concatenate([np.full(load.size, -10.0), np.zeros(rest.size)]),
            VOLTAGE: np.concatenate([np.full(load.size, 3.9), 4.0 - 0.05 * np.exp(-rest / 30.0)]),
        }
    )


def relaxation_after_the_load(data: pl.DataFrame) -> dict[str, float | None]:
    rests = relaxation_features(data, times_s=(1.0, 10.0, 60.0, 300.0))
    return rests.filter(pl.col("after") == "discharge").row(0, named=True)


def test_relaxation_is_measured_from_the_load_end_not_the_first_rest_sample() -> None:
    def rise(t: float) -> float:  # V(t) − V(load end)
        return 0.1 - 0.05 * float(np.exp(-t / 30.0))

    # a rest logged every 60 s (Bitrode HPPC files): 60 s of relaxation happened unseen
    row = relaxation_after_the_load(relaxing(60.0))
    assert (row["onset_s"], row["start_s"], row["first_sample_delay_s"]) == (1000.0, 1060.0, 60.0)
    assert (row["dv_1s_v"], row["dv_10s_v"]) == (None, None)  # not logged: no value
    assert row["dv_60s_v"] == pytest.approx(rise(60.0))  # was V(61 s) − V(60 s)
    assert row["dv_300s_v"] == pytest.approx(rise(300.0))
    assert row["ohmic_fraction"] is None  # 60 s after the load stopped the share is not ohmic
    # logged every second: every delay has its value, the same function of the time since the load
    row = relaxation_after_the_load(relaxing(1.0))
    assert row["first_sample_delay_s"] == 1.0
    for t in (1.0, 10.0, 60.0, 300.0):
        assert row[f"dv_{t:g}s_v"] == pytest.approx(rise(t))
    assert row["ohmic_fraction"] == pytest.approx(rise(1.0) / rise(3600.0))


def test_pulse_delays_count_from_the_last_resting_sample_and_need_a_sample() -> None:
    # a 30 A discharge pulse logged every 0.5 s from 0.5 s after the last resting sample (the
    # Nissan Leaf HPPC files): V = 4.0 − 0.03·(1 + t/10) at t after the onset
    rest = np.arange(0.0, 61.0)
    pulse = 60.0 + np.arange(0.5, 30.0 + 1e-9, 0.5)
    after = 90.0 + np.arange(1.0, 41.0)
    data = pl.DataFrame(
        {
            TIME: np.concatenate([rest, pulse, after]),
            CURRENT: np.concatenate([0.0 * rest, np.full(pulse.size, -30.0), 0.0 * after]),
            VOLTAGE: np.concatenate(
                [0.0 * rest + 4.0, 4.0 - 0.03 * (1 + (pulse - 60.0) / 10.0), 0.0 * after + 4.0]
            ),
        }
    )
    row = pulse_table(data, times_s=(0.1, 0.5, 1.0, 10.0, 30.0)).row(0, named=True)
    assert (row["onset_s"], row["first_sample_delay_s"], row["duration_s"]) == (60.0, 0.5, 30.0)
    assert row["dcir_100ms_ohm"] is None  # 0.1 s after the onset nothing was logged yet
    for t in (0.5, 1.0, 10.0, 30.0):  # R(t) = 1 mΩ·(1 + t/10), t from the onset
        assert row[dcir_column(t)] == pytest.approx(1e-3 * (1 + t / 10.0))
    assert pulse_ecm(data, order=1).n_points == pulse.size


def clamped_pulse(resistance_ohm: float = 2e-3) -> pl.DataFrame:
    """Rest at 10 mA and 4.0 V, then a 10 s charge pulse logged every 0.1 s that ramps up
    (9.6 A), holds 22.5 A and is clamped by the voltage limit down to 16.1 A; the cell is a pure
    resistance, V = 4.0 + R·(I − 0.01), then a 10 s discharge pulse at a constant 30 A."""
    rest = np.arange(0.0, 60.1, 1.0)
    t = np.round(60.0 + 0.1 * np.arange(1, 101), 1)
    current = np.where(t <= 62.0, 22.5, 22.5 - (22.5 - 16.1) * (t - 62.0) / 8.0)
    current[0] = 9.6
    pause = np.round(70.0 + np.arange(1.0, 61.0), 1)
    discharge = np.round(130.0 + 0.1 * np.arange(1, 101), 1)
    tail = np.round(140.0 + np.arange(1.0, 61.0), 1)
    currents = [0.01 + 0 * rest, current, 0.01 + 0 * pause, -30.0 + 0 * discharge, 0.01 + 0 * tail]
    return pl.DataFrame(
        {
            TIME: np.concatenate([rest, t, pause, discharge, tail]),
            CURRENT: np.concatenate(currents),
            VOLTAGE: 4.0 + resistance_ohm * (np.concatenate(currents) - 0.01),
        }
    )


def test_resistance_of_a_pulse_whose_current_varies_uses_the_current_at_each_instant() -> None:
    data = clamped_pulse(2e-3)
    table = pulse_table(data, times_s=(0.1, 0.2, 1.0, 5.0, 10.0))
    charge, discharge = table.row(0, named=True), table.row(1, named=True)
    # R = ΔV(t)/ΔI(t) is the cell's 2 mΩ at every time; ΔV/mean(I) was 1.2 to 2.4 mΩ
    for column in ("dcir_100ms_ohm", "dcir_200ms_ohm", "dcir_1s_ohm", "dcir_5s_ohm"):
        assert charge[column] == pytest.approx(2e-3)
    assert charge["dcir_10s_ohm"] == pytest.approx(2e-3)
    assert charge["dcir_end_ohm"] == pytest.approx(2e-3)
    assert charge["current_varies"] is True
    assert discharge["current_varies"] is False
    assert discharge["dcir_10s_ohm"] == pytest.approx(2e-3)
    # the reference DCIR is the constant-current discharge pulse's
    assert dcir_ohm(data) == pytest.approx(2e-3)
    assert [p.current_varies for p in pulse_resistances(data)] == [True, False]


def test_a_ramping_first_sample_does_not_flag_a_constant_current_pulse() -> None:
    # a Bitrode logs the first sample of a 22.5 A pulse at 21.87 A
    flat = clamped_pulse().with_columns(
        pl.when((pl.col(TIME) > 60.05) & (pl.col(TIME) < 70.05))
        .then(pl.when(pl.col(TIME) < 60.15).then(21.87).otherwise(22.5))
        .otherwise(pl.col(CURRENT))
        .alias(CURRENT)
    )
    assert pulse_table(flat)["current_varies"].to_list() == [False, False]


def test_the_hppc_chart_leaves_out_pulses_whose_current_varies() -> None:
    from echelon.reports.diagnostic_charts import hppc_chart

    table = pl.DataFrame(
        {
            "soc": [0.9, 0.8],
            "kind": ["charge", "charge"],
            "dcir_10s_ohm": [0.003, 0.002],
            "temperature_c": [25.0, 25.0],
            "current_varies": [True, False],
        }
    )
    assert [row["soc"] for row in hppc_chart(table)["datasets"].popitem()[1]] == [0.8]


def test_hppc_table_and_pulse_ecm_number_pulses_alike() -> None:
    # a 4 A pre-conditioning pulse before the full charge, then two HPPC levels with 2 A pulses
    rec = ProtocolRecorder(cell(), 0.3, np.random.default_rng(1))
    rec.rest(600.0, 10.0)
    rec.constant_current(-4.0, sample_s=0.1, max_s=10.0)
    rec.rest(600.0, 1.0)
    rec.constant_current(1.0, sample_s=10.0, max_s=4 * 3600, stop_above_v=4.2)
    rec.constant_voltage_charge(1.0, 0.04, sample_s=10.0)
    for _ in range(2):
        rec.rest(3600.0, 10.0)
        rec.constant_current(-2.0, sample_s=0.1, max_s=10.0)
        rec.rest(40.0, 0.5)
        rec.constant_current(-1.0, sample_s=5.0, max_s=0.15 * 2 * 3600)
    data = rec.frame()
    table = hppc_table(data, capacity_ah=CAPACITY_AH)
    assert table["pulse"].to_list() == [2, 3]  # pulse 1 is the pre-conditioning one
    assert pulse_table(data)["pulse"].to_list() == [1, 2, 3]
    first = table.row(0, named=True)
    fit = pulse_ecm(data, pulse=first["pulse"], order=1)
    assert (fit.pulse, fit.start_s) == (2, first["start_s"])
    assert fit.current_a == pytest.approx(-2.0, rel=1e-3)  # not the −4 A pre-conditioning pulse
    assert pulse_ecm(data, pulse=1, order=1).current_a == pytest.approx(-4.0, rel=1e-3)
