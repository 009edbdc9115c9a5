"""Duty-cycle library: canonical applications, profile statistics, user profiles, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from echelon.errors import EstimationError
from echelon.lifetime import CANONICAL_APPLICATIONS, Duty, duty, duty_names, resolve_application


def test_the_canonical_application_ids_are_the_library() -> None:
    assert set(duty_names()) == set(CANONICAL_APPLICATIONS)
    for name in CANONICAL_APPLICATIONS:
        d = duty(name)
        assert d.soc.shape == d.temperature_celsius.shape == (365 * 24,)
        assert 0.0 <= d.soc.min() <= d.soc.max() <= 1.0
        assert d.eol_soh_percent is not None
        assert 40 <= d.eol_soh_percent <= 80


def test_route_table_names_resolve_to_canonical_ids() -> None:
    assert resolve_application("stationary_storage") == "ess"
    assert resolve_application("telecom_backup") == "telecom"
    assert resolve_application("ev_remanufacture") == "ev_reman"
    assert resolve_application("low_speed_vehicle") == "lsv"
    assert resolve_application("E-Bike") == "ebike"


def test_unknown_application_names_the_closest() -> None:
    with pytest.raises(EstimationError, match="did you mean 'telecom'"):
        resolve_application("telecon")


@pytest.mark.parametrize(
    ("name", "efc_range", "soc_range"),
    [
        # BLAST-Lite application profiles (second-life-domain.md §4.3): telecom backup + peak
        # shaving 91 EFC/y; frequency containment reserve 233 EFC/y, mean SOC 0.49
        ("telecom", (70, 120), (0.7, 1.0)),
        ("fcr", (180, 290), (0.4, 0.6)),
        # residential PV-BESS between 73 (mild) and 262 (aggressive) EFC/y
        ("ess", (73, 262), (0.3, 0.85)),
        # float: a handful of discharges a year at full charge
        ("ups", (1, 20), (0.95, 1.0)),
        # ≈ 14,000 km/y on a 60 kWh pack ≈ 42 EFC/y
        ("ev_reman", (30, 60), (0.6, 0.9)),
    ],
)
def test_profiles_land_near_their_targets(
    name: str, efc_range: tuple[float, float], soc_range: tuple[float, float]
) -> None:
    stats = duty(name).stats()
    assert efc_range[0] <= stats["efc_per_year"] <= efc_range[1]
    assert soc_range[0] <= stats["mean_soc"] <= soc_range[1]


def test_family_threshold_override() -> None:
    ups = duty("ups")
    assert ups.eol_for_family("LFP") == 50.0
    assert ups.eol_for_family("NMC") == ups.eol_soh_percent == 60.0


def test_user_time_series_is_resampled_hourly() -> None:
    t = np.arange(0, 3 * 86400 + 1, 900.0)  # 15-minute samples, three days
    soc = 0.5 + 0.4 * np.sin(2 * np.pi * t / 86400)
    d = Duty.from_timeseries(t, soc, 30.0)
    st = d.stressors()
    assert st.days == 3
    assert st.dod == pytest.approx(np.full(3, 0.8), abs=0.02)
    # one full 0.8-deep cycle a day: EFC = Σ|ΔSOC|/2 = 0.8 (the first day lacks the step into
    # its first hour)
    assert st.efc[1:] == pytest.approx([0.8, 0.8], abs=0.01)
    assert 0.7 < st.efc[0] <= 0.8
    assert d.stats()["mean_temperature_celsius"] == pytest.approx(30.0)


def test_summary_duty() -> None:
    d = Duty.from_summary(efc_per_year=365, mean_soc=0.6, dod=0.8, temperature_celsius=20)
    st = d.stressors()
    assert st.efc[0] == pytest.approx(1.0)
    assert d.stats()["mean_soc"] == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time_s": [0, 1, 1], "soc": [0.5, 0.5, 0.5]}, "strictly increasing"),
        ({"time_s": [0, 3600, 7200], "soc": [0.5, 1.2, 0.5]}, "between 0 and 1"),
        ({"time_s": [0, 3600, 7200], "soc": [0.5, 0.6, 0.5]}, "at least one day"),
    ],
)
def test_bad_user_profiles_are_refused(kwargs: dict[str, list[float]], message: str) -> None:
    with pytest.raises(EstimationError, match=message):
        Duty.from_timeseries(np.array(kwargs["time_s"]), np.array(kwargs["soc"]), 25.0)


def test_bad_summary_is_refused() -> None:
    with pytest.raises(EstimationError, match="mean_soc"):
        Duty.from_summary(efc_per_year=100, mean_soc=1.5, dod=0.5, temperature_celsius=25)


def test_a_hotter_site_ages_faster() -> None:
    from echelon.lifetime import day_rates, model_table, simulate

    table = model_table()
    model = table.models["NCA"]
    base = duty("ess")
    hot = base.with_temperature(mean_celsius=35.0, seasonal_amplitude_celsius=5.0)
    assert hot.stats()["mean_temperature_celsius"] == pytest.approx(35.0)
    assert np.array_equal(hot.soc, base.soc)

    def capacity(d: Duty) -> float:
        tr = simulate(day_rates(model, d.stressors(), table.anode_potential), model, years=5)
        return float(tr.capacity[0, -1])

    assert capacity(hot) < capacity(base)
    summary = Duty.from_summary(efc_per_year=100, mean_soc=0.5, dod=0.5, temperature_celsius=20)
    assert summary.with_temperature(mean_celsius=30).stats()["mean_temperature_celsius"] == 30.0
