"""Equivalent-circuit fits, dQ/dV and dV/dQ, impedance fits and self-discharge: known answers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from echelon.diagnostics import (
    differential_voltage,
    fit_circuit,
    fit_spectra,
    fit_thevenin,
    ica_peaks,
    incremental_capacity,
    nyquist_features,
    pulse_ecm,
    self_discharge_from_rest,
    self_discharge_k,
    track_peaks,
)
from echelon.diagnostics.ecm import thevenin_voltage
from echelon.diagnostics.eis import circuit_impedance
from echelon.errors import DiagnosticsError
from echelon.io.bdf import CURRENT, CYCLE, FREQUENCY, TIME, VOLTAGE, Z_IMAG, Z_REAL
from echelon.synth.ecm import ProtocolRecorder
from tests.diagnostics.protocols import CAPACITY_AH, cell, cycling, hppc
from tests.io.formats import EIS_PARAMS


@pytest.mark.parametrize("order", [1, 2])
def test_thevenin_fit_recovers_known_parameters(order: int) -> None:
    rng = np.random.default_rng(5)
    t = np.concatenate([[1e-3], np.arange(0.1, 30.0, 0.1)])
    truth = {"r0_ohm": 0.02, "r_ohm": (0.01, 0.015)[:order], "tau_s": (1.5, 12.0)[:order]}
    v = thevenin_voltage(t, v_before_v=3.7, current_a=-5.0, **truth)  # type: ignore[arg-type]
    noisy = v + rng.normal(0.0, 2e-4, t.size)  # 0.2 mV: 0.04 mΩ at 5 A
    fit = fit_thevenin(t, noisy, current_a=-5.0, v_before_v=3.7, order=order, drift=False)  # type: ignore[arg-type]
    assert fit.r0_ohm == pytest.approx(0.02, rel=0.02)
    for got, want, err in zip(fit.r_ohm, truth["r_ohm"], ("r1_ohm", "r2_ohm"), strict=False):
        assert got == pytest.approx(want, rel=0.05)
        # the reported standard error is honest: truth within 5 σ
        assert abs(got - want) < 5 * fit.stderr[err] + 1e-9
    assert fit.tau_s[0] == pytest.approx(1.5, rel=0.1)
    assert fit.rmse_v == pytest.approx(2e-4, rel=0.2)
    assert fit.r_squared > 0.999


def test_pulse_ecm_on_a_simulated_pulse() -> None:
    params = cell(r0=0.03)
    fit = pulse_ecm(hppc(params, levels=1), pulse=1, order=1, drift=True)
    # 10 s pulse, τ2 = 60 s: the slow pair looks like part of a drift + R1, so only R0 and the
    # total at the pulse end are well defined: R0 within 5 %, RMSE near the 0.5 mV noise
    assert fit.r0_ohm == pytest.approx(0.03, rel=0.05)
    assert fit.rmse_v < 1e-3
    with pytest.raises(DiagnosticsError, match="pulse 9"):
        pulse_ecm(hppc(params, levels=1), pulse=9)


def test_dqdv_peak_sits_where_the_ocv_is_flattest() -> None:
    params = cell(r0=1e-4)
    rec = ProtocolRecorder(params, 1.0, np.random.default_rng(2))
    rec.rest(60.0, 10.0)
    rec.constant_current(
        -CAPACITY_AH / 20, sample_s=30.0, max_s=25 * 3600, stop_below_v=params.v_min_v
    )
    data = rec.frame()
    curves = incremental_capacity(data, voltage_step_v=0.002, smoothing_v=0.005)
    peak = ica_peaks(curves, min_height_fraction=0.9).sort("height").row(-1, named=True)
    soc = np.linspace(0.02, 0.98, 4000)
    ocv = params.ocv.ocv(soc)
    slope = np.gradient(ocv, soc * CAPACITY_AH)  # dV/dQ of the OCV [V/Ah]
    expected_v = float(ocv[np.argmin(np.abs(slope))]) - 0.1 * 1.3e-4  # C/20: tiny I·R
    # 10 mV covers the 2 mV grid, 5 mV smoothing and the OCV table's own interpolation
    assert peak["voltage_v"] == pytest.approx(expected_v, abs=0.01)
    # dQ/dV integrates back to the capacity discharged
    total = float((curves["dq_dv_ah_per_v"] * 0.002).sum())
    assert total == pytest.approx(CAPACITY_AH, rel=0.03)


def test_dqdv_peaks_track_a_fading_cell() -> None:
    frames = []
    for k, capacity in enumerate((2.0, 1.8, 1.6)):
        data = cycling(cell(r0=0.02, capacity=capacity), cycles=1, seed=k)
        frames.append(data.with_columns(pl.lit(k + 1, pl.Int64).alias(CYCLE)))
    offset = 0.0
    joined = []
    for f in frames:
        joined.append(f.with_columns(pl.col(TIME) + offset))
        offset = float(joined[-1][TIME].max()) + 1.0
    data = pl.concat(joined)
    curves = incremental_capacity(data)
    tracks = track_peaks(ica_peaks(curves, min_height_fraction=0.8))
    main = tracks.filter(pl.col("track") == 1).sort(CYCLE)
    assert main[CYCLE].to_list() == [1, 2, 3]  # the main peak is followed through every cycle
    # the same OCV scaled to less capacity: the peak shrinks (smoothing and 10 s sampling keep
    # it from shrinking exactly in proportion) and stays within 10 mV
    heights = main["height"].to_numpy()
    assert heights[0] > heights[1] > heights[2]
    assert heights[2] / heights[0] < 0.95
    assert float(main["voltage_v"].max() - main["voltage_v"].min()) <= 0.01  # type: ignore[operator]
    # dQ/dV integrates to each cycle's discharge: 0.9 and 0.8 of the first
    area = curves.group_by(CYCLE).agg((pl.col("dq_dv_ah_per_v") * 0.005).sum()).sort(CYCLE)
    ratio = area["dq_dv_ah_per_v"].to_numpy() / area["dq_dv_ah_per_v"][0]
    assert ratio == pytest.approx([1.0, 0.9, 0.8], rel=0.02)


def test_dvdq_integrates_to_the_voltage_span() -> None:
    data = cycling(cell(r0=0.02), cycles=1)
    curves = differential_voltage(data, points=200, smoothing_fraction=0.0)
    step = float(curves["capacity_ah"].diff().drop_nulls().median())  # type: ignore[arg-type]
    span = float(curves["voltage_v"].max() - curves["voltage_v"].min())  # type: ignore[operator]
    assert float((curves["dv_dq_v_per_ah"] * step).sum()) == pytest.approx(span, rel=0.02)


def spectrum(noise: float, seed: int = 3) -> pl.DataFrame:
    f = np.logspace(4, -2, 50)
    z = circuit_impedance(f, EIS_PARAMS)
    rng = np.random.default_rng(seed)
    z = z * (1 + rng.normal(0, noise, f.size) + 1j * rng.normal(0, noise, f.size))
    return pl.DataFrame({FREQUENCY: f, Z_REAL: z.real, Z_IMAG: z.imag, CYCLE: np.ones(f.size, int)})


def test_impedance_fit_recovers_the_circuit() -> None:
    data = spectrum(noise=0.003)
    fit = fit_circuit(data[FREQUENCY].to_numpy(), data[Z_REAL].to_numpy(), data[Z_IMAG].to_numpy())
    for name in ("r0_ohm", "r1_ohm", "alpha", "sigma_ohm_s_half"):
        assert fit.params[name] == pytest.approx(EIS_PARAMS[name], rel=0.05), name
        assert abs(fit.params[name] - EIS_PARAMS[name]) < 5 * fit.stderr[name] + 1e-12
    assert fit.rms_relative == pytest.approx(0.003, rel=0.3)
    assert fit.r_squared > 0.999
    table = fit_spectra(data)
    assert table.height == 1
    assert table["r0_ohm"][0] == pytest.approx(fit.params["r0_ohm"])


def test_nyquist_features_of_a_known_circuit() -> None:
    features = nyquist_features(spectrum(noise=0.0)).row(0, named=True)
    # the real-axis crossing sits just above R0 (the inductance shifts it by ≈ the arc's HF tail)
    assert features["r_ohmic_ohm"] == pytest.approx(EIS_PARAMS["r0_ohm"], rel=0.05)
    assert features["r_arc_ohm"] == pytest.approx(EIS_PARAMS["r1_ohm"], rel=0.25)
    assert 30.0 < features["tail_angle_deg"] < 60.0  # Warburg: 45°


def test_self_discharge_from_readings_and_from_a_rest() -> None:
    start = dt.datetime(2026, 1, 1)
    k = self_discharge_k([start, start + dt.timedelta(days=14)], [3.650, 3.622])
    assert k.k_mv_per_day == pytest.approx(2.0)
    days = np.arange(0, 8.0, 0.5)
    fitted = self_discharge_k(
        [start + dt.timedelta(days=float(d)) for d in days], list(3.6 - 0.003 * days)
    )
    assert fitted.k_mv_per_day == pytest.approx(3.0, rel=1e-6)
    assert fitted.stderr_mv_per_day is not None
    assert fitted.stderr_mv_per_day < 1e-6
    t = np.arange(0.0, 3 * 86400.0, 600.0)
    rest = pl.DataFrame({TIME: t, VOLTAGE: 3.7 - 1.5e-3 * t / 86400.0, CURRENT: np.zeros(t.size)})
    assert self_discharge_from_rest(rest).k_mv_per_day == pytest.approx(1.5, rel=1e-6)
    with pytest.raises(DiagnosticsError, match="at least two"):
        self_discharge_k([start], [3.6])
