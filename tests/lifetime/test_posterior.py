"""The first-life posterior of a single-SOH forecast against a direct numerical integration."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from echelon.lifetime import expected_life_years
from echelon.lifetime.params import model_for
from echelon.lifetime.posterior import first_life_state, solve_speed, systematic_resample
from echelon.lifetime.second_life import _first_life_rates

SPEED_SD = 0.4
UPPER_DOF = 3.0
START = (1.0, 0.02)


def grid_posterior(
    soh: float, sd: float, kc: float, ky: float, days: float, x: float, pc: float, py: float
) -> tuple[float, float, float]:
    """Posterior mean and sd of ln a and mean true SOH, by quadrature on a fine grid of ln a."""
    ln_a = np.linspace(np.log(0.02), np.log(50.0), 200_001)
    a = np.exp(ln_a)
    loss = kc * (a * days) ** pc + ky * (a * x) ** py
    lower = stats.norm.logpdf(ln_a, scale=SPEED_SD)
    upper = stats.t.logpdf(ln_a, UPPER_DOF, scale=SPEED_SD) + (
        stats.norm.logpdf(0, scale=SPEED_SD) - stats.t.logpdf(0, UPPER_DOF, scale=SPEED_SD)
    )
    total_sd = np.hypot(sd, START[1])
    log_post = np.where(ln_a > 0, upper, lower) + stats.norm.logpdf(soh, START[0] - loss, total_sd)
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    mean = float((w * ln_a).sum())
    spread = float(np.sqrt((w * (ln_a - mean) ** 2).sum()))
    gain = START[1] ** 2 / total_sd**2
    true_soh = START[0] + gain * (soh - (START[0] - loss)) - loss
    return mean, spread, float((w * true_soh).sum())


@pytest.mark.parametrize(
    ("chem", "soh", "age_years", "efc"),
    [
        ("NMC622", 0.85, 6.0, 300.0),  # typical: the likelihood decides
        ("NMC622", 1.00, 10.0, 500.0),  # healthy and old: the prior keeps the speed plausible
        ("LFP", 0.75, 3.0, 150.0),  # fast: the heavy upper tail lets the data speak
        ("LFP", 0.85, 0.1, 4.0),  # young and faded: the posterior sits deep in the upper tail
    ],
)
def test_samples_match_the_integrated_posterior(
    chem: str, soh: float, age_years: float, efc: float
) -> None:
    model, _ = model_for(chem)
    kc, ky, _prior = _first_life_rates(model, "automotive", catalog_dir=None)
    days = age_years * 365.25
    x = efc * model.cycle.throughput_per_efc
    pc, py = model.calendar.exponent, model.cycle.exponent
    sd = 0.006
    n, m = 4, 16 * 4000  # four independent replicas of one unit
    rng = np.random.default_rng(3)
    state = first_life_state(
        np.full(n, soh), np.full(n, sd), model=model, k_cal=np.full(n, kc),
        k_cyc=np.full(n, ky), days=np.full((n, m), days), throughput=np.full((n, m), x),
        start_capacity=START, z_speed=rng.standard_normal((n, m)),
        z_soh=rng.standard_normal((n, m)), z_start=rng.standard_normal((n, m)),
        u=rng.uniform(size=n), speed_log_sd=SPEED_SD, samples=4000, upper_tail_dof=UPPER_DOF,
        chi2=rng.chisquare(UPPER_DOF, (n, m)),
    )  # fmt: skip
    mean, spread, true_soh = grid_posterior(soh, sd, kc, ky, days, x, pc, py)
    ln_speed = np.log(state.speed)
    assert np.all(state.effective_samples > 200)
    np.testing.assert_allclose(ln_speed.mean(axis=1), mean, atol=0.05 + 0.1 * spread)
    np.testing.assert_allclose(ln_speed.std(axis=1), spread, rtol=0.15)
    np.testing.assert_allclose(state.soh.mean(axis=1), true_soh, atol=0.002)
    expected_loss = kc * (state.speed * days) ** pc + ky * (state.speed * x) ** py
    np.testing.assert_allclose(state.loss_cal + state.loss_cyc, expected_loss)


def test_systematic_resample_follows_the_weights() -> None:
    w = np.array([[0.0, 1.0, 0.0, 3.0], [1.0, 1.0, 1.0, 1.0]])
    idx = systematic_resample(w, np.array([0.3, 0.0]), 400)
    assert set(idx[0]) == {1, 3}
    assert np.count_nonzero(idx[0] == 3) == 300
    assert np.bincount(idx[1], minlength=4).tolist() == [100, 100, 100, 100]


def test_a_healthy_unit_is_not_immortal() -> None:
    # before 2026-12-07 an SOH near 100 % needed an ageing speed near zero: 40+ years at any age
    frame = pl.DataFrame(
        {"battery_id": ["new", "old"], "chemistry": ["NMC622"] * 2, "soh_percent": [100.0] * 2,
         "age_years": [None, 10.0], "origin_application": ["automotive"] * 2},
    )  # fmt: skip
    out = expected_life_years(frame, application="ess", n_samples=256)
    assert out["years_to_eol"][0] < 20.0
    assert out["years_to_eol"][1] < 30.0
    assert out["years_to_eol_upper"][0] < 40.0  # not at the horizon


@pytest.mark.parametrize("chem", ["LFP", "NMC622", "NCA"])
def test_solve_speed_meets_the_target_or_the_nearer_limit(chem: str) -> None:
    model, _ = model_for(chem)
    pc, py = model.calendar.exponent, model.cycle.exponent
    rng = np.random.default_rng(5)
    n = 20_000
    kc, days = rng.uniform(1e-5, 1e-2, n), rng.uniform(1.0, 5000.0, n)
    ky = rng.uniform(1e-6, 1e-3, n) * rng.integers(0, 2, n)  # half without cycle ageing
    x, target = rng.uniform(0.0, 2000.0, n), rng.uniform(-0.01, 0.6, n)
    a = solve_speed(target, kc, days, ky, x, model)

    def loss(speed: np.ndarray) -> np.ndarray:
        return kc * (speed * days) ** pc + ky * (speed * x) ** py

    fast, slow = np.isclose(a, 50.0, rtol=1e-12), np.isclose(a, 0.02, rtol=1e-12)
    inside = ~fast & ~slow
    assert 0.5 < inside.mean() < 1.0
    np.testing.assert_allclose(loss(a)[inside], target[inside], rtol=1e-9)
    assert np.all(loss(a)[fast] <= target[fast] * (1 + 1e-12))  # not reachable: the limit
    assert np.all(loss(a)[slow] >= target[slow] - 1e-15)


def test_a_young_faded_unit_ages_fast_and_is_noted() -> None:
    """Review 2026-12-07: the prior half was drawn from the normal alone, so the Student-t tail
    (speeds of 30–50×) was never proposed: an LFP unit at 85 % after 0.1 years got 29.5 years
    in ess, no note, and a longer life than the same unit at 1 year."""
    ages = [0.1, 0.25, 1.0, 3.0]
    frame = pl.DataFrame(
        {"battery_id": [f"u{a}" for a in ages], "chemistry": ["LFP"] * 4,
         "soh_percent": [85.0, 80.0, 80.0, 80.0], "age_years": ages,
         "origin_application": ["automotive"] * 4},
    )  # fmt: skip
    out = expected_life_years(frame, application="ess", n_samples=256)
    years = out["years_to_eol"].to_list()
    assert years[0] < 3.0
    assert years[1] < years[2] * 1.5 < years[3] * 1.5  # no longer 8 years at 0.25 against 1 at 1
    notes = out["lifetime_note"].to_list()
    assert "is not explained by the LFP model" in notes[0]
    assert "is not explained" not in notes[3]


def test_a_fade_the_model_cannot_produce_is_noted_not_put_down_to_the_start_capacity() -> None:
    frame = pl.DataFrame(
        {"battery_id": ["new"], "chemistry": ["NMC622"], "soh_percent": [85.0],
         "age_years": [0.0], "origin_application": ["automotive"]},
    )  # fmt: skip
    note = expected_life_years(frame, application="ess", n_samples=128)["lifetime_note"][0]
    assert "85.0 % is not explained by the NMC model" in note
    assert "standard deviations from the nearest fade it produces" in note
