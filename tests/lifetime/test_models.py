"""Ageing models: rate laws against the published equations, the exact state update, and the
simulator against BLAST-Lite on the same profile."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from echelon.catalog._loader import packaged_table_path
from echelon.errors import CatalogError, EstimationError
from echelon.lifetime import day_rates, duty, model_for, model_table, simulate, years_to_loss
from echelon.lifetime.duty import Duty
from echelon.lifetime.models import (
    anode_potential_v,
    calendar_rate,
    cycle_rate,
    ocv_v,
    power_state_step,
)

T25 = 298.15


def test_every_family_with_a_reuse_standard_has_a_model() -> None:
    for chem in ("LFP", "NMC111", "NMC811", "NCA", "LMO", "LMO-NMC", "LCO"):
        model, _ = model_for(chem)
        assert model.key in {"LFP", "NMC", "NCA", "LMO"}
    assert model_for("LCO")[1] is not None  # a proxy says so
    with pytest.raises(EstimationError, match="no ageing model"):
        model_for("Li-S")


def test_nmc_calendar_rate_is_schmalstieg_alpha() -> None:
    # α_cap = (7.543 V − 23.75)·1e6·exp(−6976/T) (Schmalstieg 2014; second-life-domain.md §4.1)
    model = model_table().models["NMC"]
    soc = np.array([1.0])
    expected = (7.543 * 4.162 - 23.75) * 1e6 * math.exp(-6976 / T25)
    got = calendar_rate(model, np.array([T25]), soc, model_table().anode_potential)
    assert got[0] == pytest.approx(expected, rel=1e-12)
    assert ocv_v(np.array([0.0, 1.0]), model) == pytest.approx([3.331, 4.162])


def test_lmo_second_life_calendar_rate_matches_braco_fit() -> None:
    # k = 3.25e8 exp(−7580/T) exp(162 SOC/T) (Braco et al. via BLAST-Lite; §4.1)
    model = model_table().models["LMO"]
    got = calendar_rate(model, np.array([T25]), np.array([0.5]), model_table().anode_potential)
    assert got[0] == pytest.approx(3.25e8 * math.exp(-7580 / T25) * math.exp(81 / T25), rel=1e-12)
    assert model.basis == "second_life_start"


def test_anode_potential_is_graphite_like() -> None:
    ua = anode_potential_v(np.linspace(0, 1, 11), model_table().anode_potential)
    # lithiated graphite sits near 0.1 V at high SOC and rises steeply towards empty
    assert 0.05 < ua[-1] < 0.15
    assert ua[0] > 0.5
    assert np.all(np.diff(ua) < 0.02)  # (non-strictly) falling with SOC


def test_cycle_laws_are_linear_in_dod() -> None:
    for key, model in model_table().models.items():
        args = {
            "c_rate": np.array(0.5),
            "temperature_factor": np.array(2.0),
            "vrms_v": np.array(3.7),
        }
        k = [cycle_rate(model, dod=np.array(d), **args) for d in (0.2, 0.5, 0.8)]
        assert float(k[1] - k[0]) == pytest.approx(float(k[2] - k[1]), rel=1e-9, abs=1e-18), key


@pytest.mark.parametrize("p", [0.5, 0.75, 1.08])
def test_power_state_step_is_exact_for_constant_rate(p: float) -> None:
    k, loss = np.array([1e-3]), np.array([0.0])
    for _ in range(365):
        loss = power_state_step(loss, k, p, np.array([1.0]))
    assert loss[0] == pytest.approx(1e-3 * 365**p, rel=1e-10)


def test_state_form_carries_loss_over_a_change_of_rate() -> None:
    # at rate k1 for t1, then k2: equivalent time (q/k2)^(1/p) continues
    p, k1, k2 = 0.5, 2e-3, 1e-3
    loss = power_state_step(np.array([0.0]), np.array([k1]), p, np.array([100.0]))
    loss = power_state_step(loss, np.array([k2]), p, np.array([50.0]))
    eq = (k1 * 100**p / k2) ** (1 / p)
    assert loss[0] == pytest.approx(k2 * (eq + 50) ** p)


def test_float_duty_is_calendar_only_closed_form() -> None:
    # LFP at 100 % SOC and 25 °C without cycling: loss = k_cal(T, Ua(1)) · t^0.526 exactly
    model = model_table().models["LFP"]
    hours = np.arange(24 * 365) * 3600.0
    flat = Duty.from_timeseries(hours, np.ones(hours.size), 25.0)
    traj = simulate(day_rates(model, flat.stressors(), model_table().anode_potential), model,
                    years=10)  # fmt: skip
    k = calendar_rate(model, np.array([T25]), np.array([1.0]), model_table().anode_potential)[0]
    assert traj.loss_cyc[0, -1] == 0.0
    assert traj.loss_cal[0, -1] == pytest.approx(k * 3650**0.526, rel=1e-9)


def test_hotter_and_fuller_ages_faster() -> None:
    model = model_table().models["NCA"]
    anode = model_table().anode_potential

    def loss(temp: float, soc: float) -> float:
        d = Duty.from_summary(efc_per_year=100, mean_soc=soc, dod=0.5, temperature_celsius=temp)
        tr = simulate(day_rates(model, d.stressors(), anode), model, years=5)
        return float(tr.loss_cal[0, -1] + tr.loss_cyc[0, -1])

    assert loss(35, 0.5) > loss(25, 0.5)
    assert loss(25, 0.9) > loss(25, 0.3)


def test_simulator_agrees_with_blast_lite_on_the_same_profile() -> None:
    # BLAST-Lite 1.1.1 (numpy 1.26, /work/wt/peers/blast-venv) simulate_battery_life on the
    # catalogue 'ess' year repeated 10 times, hourly: LFP 250 Ah q = 0.89939, Panasonic NCA
    # q = 0.79414 (benchmarks/test_bench_lifetime.py reruns this side by side). The models and
    # stressor definitions are the same; BLAST segments at turning points instead of days.
    anode = model_table().anode_potential
    for key, blast_q in (("LFP", 0.89939), ("NCA", 0.79414)):
        model = model_table().models[key]
        tr = simulate(day_rates(model, duty("ess").stressors(), anode), model, years=10)
        assert tr.capacity[0, -1] == pytest.approx(blast_q, abs=0.005), key


def test_years_to_loss_streams_like_the_full_trajectory() -> None:
    model = model_table().models["NMC"]
    rates = day_rates(model, duty("fcr").stressors(), model_table().anode_potential)
    accel = np.array([0.5, 1.0, 2.0])
    full = simulate(rates, model, years=20, acceleration=accel)
    loss = full.loss_cal + full.loss_cyc
    crossed = years_to_loss(rates, model, max_loss=np.full(3, 0.2), horizon_years=20,
                            acceleration=accel)  # fmt: skip
    for i in range(3):
        j = int(np.argmax(loss[i] >= 0.2))
        assert full.time_years[j - 1] <= crossed[i] <= full.time_years[j]
    assert crossed[0] > crossed[1] > crossed[2]  # a faster unit gets there sooner


def test_broken_override_is_refused_with_the_record_named(tmp_path: Path) -> None:
    folder = tmp_path
    text = packaged_table_path("lifetime_models").read_text()
    (folder / "lifetime_models.toml").write_text(
        text.replace('form = "arrhenius_soc"', 'form = "x"', 1)
    )
    with pytest.raises(CatalogError, match="lifetime_models table"):
        model_table(folder)


def test_simulating_in_blocks_of_units_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from echelon.lifetime import simulator as sim

    model = model_table().models["NMC"]
    rates = day_rates(model, duty("lsv").stressors(), model_table().anode_potential)
    accel = np.linspace(0.5, 2.0, 7)
    whole = simulate(rates, model, years=3, acceleration=accel, loss_cyc0=0.05)
    monkeypatch.setattr(sim, "CHUNK_ELEMENTS", 2 * 365 * 3)  # two units per block
    blocks = sim.simulate(rates, model, years=3, acceleration=accel, loss_cyc0=0.05)
    assert np.array_equal(whole.capacity, blocks.capacity)
    assert np.array_equal(whole.efc, blocks.efc)
