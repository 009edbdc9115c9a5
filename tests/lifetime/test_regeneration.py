"""Capacity step-ups: regeneration after rests (transient, left out of the fit) versus level
shifts (kept and reported), and the few-reference time-scale prior."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from echelon.lifetime import clean_history, ensemble_forecast, forecast_histories, reference_set
from echelon.lifetime.trajectory import capacity_steps, scale_prior_sd
from tests.lifetime.fleet import fleet, soh_curve

CYCLE = np.arange(1.0, 121.0)


def linear_fade() -> np.ndarray:
    return 1.0 - 0.002 * CYCLE  # 0.2 SOH points per cycle, no noise


def with_regeneration(soh: np.ndarray, at: int, rise: float, decay_cycles: float) -> np.ndarray:
    """A jump of ``rise`` at index ``at`` that decays exponentially (NASA-like recovery)."""
    out = soh.copy()
    k = np.arange(soh.size - at)
    out[at:] += rise * np.exp(-k / decay_cycles)
    return out


def test_regeneration_is_transient_and_left_out_of_the_fit() -> None:
    soh = with_regeneration(linear_fade(), at=40, rise=0.03, decay_cycles=2.0)
    steps = capacity_steps(CYCLE, soh, sigmas=5.0, floor=0.01, window=10)
    assert [(s.cycle, s.transient) for s in steps] == [(41.0, True)]
    assert steps[0].rise_percent == pytest.approx(2.8, abs=0.01)  # 3 points less one cycle of fade
    hist = clean_history(CYCLE, soh)
    # the raised check-ups are out of the trajectory; the truth's definition keeps them
    assert not hist.keep[40:42].any()
    assert hist.keep[:40].all()
    assert clean_history(CYCLE, soh, transients=False).keep[40:42].sum() >= 1


def test_a_lasting_step_up_is_kept_and_named() -> None:
    soh = linear_fade()
    soh[60:] += 0.03  # a level shift: e.g. another nominal capacity or test temperature
    steps = capacity_steps(CYCLE, soh, sigmas=5.0, floor=0.01, window=10)
    assert [(s.cycle, s.transient) for s in steps] == [(61.0, False)]
    assert clean_history(CYCLE, soh).keep.all()
    # in a history table it is reported by cycle, even though the net rise is negative
    refs = fleet([150.0, 160.0, 170.0, 180.0], step=1.0, noise=0.0)
    unit = pl.DataFrame({"battery_id": "SHIFT", "cycle": CYCLE[:90], "soh_percent": soh[:90] * 100})
    out = forecast_histories(pl.concat([refs, unit]), until_soh_percent=80)
    note = out.filter(pl.col("battery_id") == "SHIFT")["note"][0]
    assert "steps up by 2.8 SOH points at cycle 61" in note


def test_a_history_that_ends_right_after_a_rest_is_not_read_as_slower_fade() -> None:
    grid = np.arange(5.0, 700.0, 5.0)
    refs = reference_set(
        [clean_history(grid, soh_curve(grid, life)) for life in (450.0, 500.0, 550.0, 600.0)],
        0.80,
    )
    cycle = np.arange(5.0, 305.0, 5.0)
    plain = soh_curve(cycle, 520.0)
    raised = plain.copy()
    raised[-2:] += 0.03  # the last two check-ups after a long rest
    base = ensemble_forecast(clean_history(cycle, plain), refs)
    after_rest = ensemble_forecast(clean_history(cycle, raised), refs)
    assert base is not None
    assert after_rest is not None
    # without the transient handling the +3 points read as ~100 cycles of life regained
    assert after_rest.cycles == pytest.approx(base.cycles, rel=0.03)
    assert after_rest.cycles_lower > cycle[-1]  # counted from the real last check-up


def test_few_references_do_not_make_the_scale_prior_falsely_sharp() -> None:
    same = np.log([500.0, 500.0])  # two references that happen to agree
    assert scale_prior_sd(same, prior_sd=0.2, prior_cells=2.0) == pytest.approx(
        0.2 * np.sqrt(2 / 3)
    )
    many = np.log(np.random.default_rng(0).lognormal(np.log(500), 0.3, 400))
    assert scale_prior_sd(many, prior_sd=0.2, prior_cells=2.0) == pytest.approx(0.3, abs=0.02)
