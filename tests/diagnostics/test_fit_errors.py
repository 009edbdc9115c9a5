"""Standard errors of the equivalent-circuit fits: honest when well posed, huge or infinite when the
pulse cannot identify a parameter (known answers and a Monte Carlo check)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from echelon.diagnostics import fit_circuit, fit_thevenin
from echelon.diagnostics.ecm import thevenin_voltage
from echelon.diagnostics.eis import circuit_impedance

SHORT_PULSE_S = np.arange(0.5, 30.01, 0.5)
"""A 30 s pulse sampled at 2 Hz, as an HPPC test logs it."""


def slow_pair_pulse(r2_ohm: float, tau2_s: float, seed: int) -> np.ndarray:
    """A 30 A discharge pulse of a cell with a second RC pair far slower than the pulse, with
    0.3 mV noise and 0.1 mV quantisation: τ₂ then trades against the fitted OCV drift."""
    v = thevenin_voltage(
        SHORT_PULSE_S,
        v_before_v=4.18,
        current_a=-30.0,
        r0_ohm=0.0016,
        r_ohm=(0.0002, r2_ohm),
        tau_s=(2.0, tau2_s),
    )
    noise = np.random.default_rng(seed).normal(0.0, 3e-4, SHORT_PULSE_S.size)
    return np.round(v + noise, 4)


def test_a_slow_pair_on_a_short_pulse_is_not_reported_as_precise() -> None:
    """The fit lands inside the bounds at τ₂ ≈ 24 s with the drift taking up the rest; the
    parameters are barely identified (scaled singular value ≈ 1e-5 of the largest). An unscaled
    pseudo-inverse reported τ₂ ± 0.005 s here; the error must be of the size of τ₂ itself."""
    v = slow_pair_pulse(0.03, 200.0, seed=1)
    fit = fit_thevenin(SHORT_PULSE_S, v, current_a=-30.0, v_before_v=4.18, order=2, drift=True)
    assert fit.stderr["tau2_s"] > 0.5 * fit.tau_s[1]
    assert fit.stderr["r2_ohm"] > 0.5 * fit.r_ohm[1]
    # the fast, well-separated parameters keep small errors
    assert fit.stderr["r0_ohm"] < 0.05 * fit.r0_ohm
    assert fit.at_bound == ()


def test_an_unidentifiable_time_constant_has_an_infinite_error() -> None:
    """The optimum puts R₂ on its bound 0: τ₂ then does not change the model at all, so its
    error is infinite (a pseudo-inverse gave exactly 0), and the bound is named."""
    v = slow_pair_pulse(0.01, 300.0, seed=0)
    fit = fit_thevenin(SHORT_PULSE_S, v, current_a=-30.0, v_before_v=4.18, order=2, drift=True)
    assert fit.r_ohm[1] < 1e-8
    assert math.isinf(fit.stderr["tau2_s"])
    assert math.isfinite(fit.stderr["r0_ohm"])
    assert "r2_ohm" in fit.at_bound


def test_well_posed_errors_match_a_monte_carlo_spread() -> None:
    """Two well-separated pairs (1.5 s, 12 s) on a 30 s pulse at 10 Hz: over 100 noise
    realisations the spread of each fitted parameter is within 30 % of the median reported
    standard error (the sampling error of a 100-sample standard deviation is ≈ 7 %)."""
    t = np.concatenate([[1e-3], np.arange(0.1, 30.0, 0.1)])
    v = thevenin_voltage(
        t, v_before_v=3.7, current_a=-5.0, r0_ohm=0.02, r_ohm=(0.01, 0.015), tau_s=(1.5, 12.0)
    )
    rng = np.random.default_rng(11)
    fits = [
        fit_thevenin(
            t, v + rng.normal(0.0, 2e-4, t.size), current_a=-5.0, v_before_v=3.7, drift=False
        )
        for _ in range(100)
    ]
    values = {
        "r0_ohm": [f.r0_ohm for f in fits],
        "r1_ohm": [f.r_ohm[0] for f in fits],
        "tau1_s": [f.tau_s[0] for f in fits],
        "r2_ohm": [f.r_ohm[1] for f in fits],
        "tau2_s": [f.tau_s[1] for f in fits],
    }
    for name, fitted in values.items():
        spread = float(np.std(fitted, ddof=1))
        reported = float(np.median([f.stderr[name] for f in fits]))
        assert spread == pytest.approx(reported, rel=0.3), name
    assert all(f.at_bound == () for f in fits)


def test_an_impedance_parameter_held_fixed_has_no_error() -> None:
    """Without inductance, L is held at 0: its error is 0 and it takes no part in the others'
    covariance (the column-scaled inverse would otherwise call it unidentifiable)."""
    truth = {
        "r0_ohm": 0.02,
        "l_henry": 0.0,
        "r1_ohm": 0.015,
        "q_farad_s_alpha": 0.8,
        "alpha": 0.85,
        "sigma_ohm_s_half": 0.004,
    }
    f = np.logspace(4, -2, 50)
    z = circuit_impedance(f, truth) + np.random.default_rng(0).normal(0.0, 1e-5, 50) * (1 + 1j)
    fit = fit_circuit(f, z.real, z.imag, inductance=False)
    assert fit.stderr["l_henry"] == 0.0
    for name in ("r0_ohm", "r1_ohm", "alpha"):
        assert 0.0 < fit.stderr[name] < 0.01 * fit.params[name]
        assert abs(fit.params[name] - truth[name]) < 5 * fit.stderr[name]
