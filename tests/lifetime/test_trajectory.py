"""Trajectory forecaster on synthetic fleets with known answers, bad histories, knee indicators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from echelon.catalog import load_table
from echelon.catalog._loader import packaged_table_path
from echelon.errors import EstimationError
from echelon.lifetime import clean_history, ensemble_forecast, knee_indicators, reference_set
from echelon.lifetime.params import settings
from echelon.lifetime.trajectory import fallback_forecast, weighted_quantiles
from tests.lifetime.fleet import fleet, soh_curve

LIVES = [400.0, 450.0, 500.0, 520.0, 560.0, 600.0, 650.0]


def histories(frame):  # type: ignore[no-untyped-def]
    out = {}
    for (bid,), part in frame.group_by("battery_id", maintain_order=True):
        out[bid] = clean_history(part["cycle"].to_numpy(), part["soh_percent"].to_numpy() / 100)
    return out


def test_ensemble_recovers_the_life_of_an_unseen_unit() -> None:
    cells = histories(fleet(LIVES))
    test = clean_history(
        np.arange(5.0, 331.0, 5.0),
        soh_curve(np.arange(5.0, 331.0, 5.0), 550.0)
        + np.random.default_rng(9).normal(0, 0.002, 66),
    )
    refs = reference_set(list(cells.values()), 0.80)
    assert len(refs.refs) == len(LIVES)
    assert refs.calibration_cases >= 5
    fc = ensemble_forecast(test, refs)
    assert fc is not None
    assert fc.method == "ensemble"
    # true crossing of 80 % is at 550 cycles; 60 % of the life observed, seven references
    assert fc.cycles == pytest.approx(550.0, rel=0.08)
    assert fc.cycles_lower < 550.0 < fc.cycles_upper
    assert fc.cycles_lower > test.n[-1]


def test_references_that_never_reach_the_threshold_are_not_used() -> None:
    cells = histories(fleet([400.0, 500.0, 600.0], end=0.9))  # stop before 80 %
    refs = reference_set(list(cells.values()), 0.80)
    assert refs.refs == ()
    part = cells["U00"].truncate(200.0)
    assert ensemble_forecast(part, refs) is None


def test_fallback_extrapolates_a_linear_fade_exactly_with_a_wide_interval() -> None:
    cycle = np.arange(5.0, 300.0, 5.0)
    hist = clean_history(cycle, 1.0 - 0.0004 * cycle)  # 80 % at cycle 500
    fc = fallback_forecast(hist, 0.8, reason="no references")
    assert fc.cycles == pytest.approx(500.0, rel=1e-3)
    assert fc.cycles_lower < 500.0 < fc.cycles_upper
    half = settings().fallback["fallback_log_halfwidth"]
    remaining = fc.cycles - hist.cycle[-1]
    assert fc.cycles_upper - hist.cycle[-1] == pytest.approx(remaining * np.exp(half))
    assert fc.note == "no references"
    assert fc.method == "fallback"


def test_fallback_carries_on_the_faster_recent_rate_of_an_accelerating_fade() -> None:
    cycle = np.arange(2.0, 301.0, 2.0)
    soh = np.where(cycle < 200, 1.0 - 0.0002 * cycle, 0.96 - 0.0008 * (cycle - 200))
    fc = fallback_forecast(clean_history(cycle, soh), 0.8, reason="x")
    # 88 % at cycle 300, falling 0.08 % per cycle: 80 % at cycle 400 (the average rate since
    # cycle 0, 0.04 %/cycle, would say 600)
    assert fc.cycles == pytest.approx(400.0, rel=0.02)


def test_fallback_does_not_let_a_slowing_fade_run_on_for_ever() -> None:
    cycle = np.arange(5.0, 300.0, 5.0)
    hist = clean_history(cycle, 1.0 - 0.1 * (cycle / 500.0) ** 0.5)  # 80 % at cycle 2,000
    fc = fallback_forecast(hist, 0.8, reason="x")
    assert fc.cycles < 2000.0 < fc.cycles_upper  # the average rate since cycle 0: shorter


def test_flat_history_cannot_be_extrapolated() -> None:
    cycle = np.arange(1.0, 50.0)
    hist = clean_history(cycle, np.full(cycle.size, 0.95))
    with pytest.raises(EstimationError, match="no capacity fade"):
        fallback_forecast(hist, 0.8, reason="x")


@pytest.mark.parametrize(
    ("cycle", "soh", "message"),
    [
        ([1, 2, 3], [0.9, 0.89, 0.88], "at least 8"),
        ([1, 2, 3, 3, 4, 5, 6, 7, 8], [0.9] * 9, "cycle 3 follows cycle 3 .duplicated"),
        (list(range(10)), [0.9] * 9 + [float("nan")], "not a number at cycle 9;"),
        (list(range(10)), [90.0] * 10, "SOH 9000 % at cycle 0 .and 9 more. is outside 0–150 %"),
        (list(range(10)), [0.9] * 5 + [0.0] * 5, "5 check-up.s. with a capacity above 0"),
    ],
)
def test_bad_histories_are_refused(cycle: list[float], soh: list[float], message: str) -> None:
    with pytest.raises(EstimationError, match=message):
        clean_history(np.array(cycle, dtype=float), np.array(soh, dtype=float))


def test_zero_capacity_check_ups_are_left_out_before_the_filter() -> None:
    cycle = np.arange(1.0, 101.0)
    soh = 1.0 - 0.001 * cycle
    soh[[20, 21, 70]] = 0.0  # partial cycles at file boundaries (CALCE's cycle summaries)
    hist = clean_history(cycle, soh)
    assert not hist.keep[[20, 21, 70]].any()
    assert hist.keep.sum() == 97
    assert hist.smooth.min() > 0.89


def test_outlier_filter_removes_spikes_and_dips() -> None:
    cycle = np.arange(1.0, 101.0)
    soh = 1.0 - 0.001 * cycle
    soh[30] += 0.05  # capacity regeneration after a rest
    soh[60] -= 0.3  # an anomalous short run
    hist = clean_history(cycle, soh)
    assert not hist.keep[30]
    assert not hist.keep[60]
    assert hist.keep.sum() == 98


def test_knee_indicators() -> None:
    cycle = np.arange(5.0, 600.0, 5.0)
    linear = clean_history(cycle, 1.0 - 0.0003 * cycle)
    bending = clean_history(cycle, soh_curve(cycle, 560.0))
    x = cycle / 560.0
    sharp = clean_history(cycle, 1.0 - 0.05 * x - 0.15 * x**8)
    assert knee_indicators(linear).knee_risk == "low"
    assert knee_indicators(bending).knee_risk == "elevated"
    k = knee_indicators(sharp)
    assert k.knee_risk == "high"
    assert k.fade_acceleration_ratio > 2.5
    assert k.knee_onset_cycle is not None
    assert 300 < k.knee_onset_cycle < 590


def test_weighted_quantiles() -> None:
    v = np.array([1.0, 2.0, 3.0, 4.0])
    assert weighted_quantiles(v, np.full(4, 0.25), [0.5])[0] == pytest.approx(2.5)
    assert weighted_quantiles(v, np.array([0.0, 0.0, 0.0, 1.0]), [0.05, 0.95]).tolist() == [4, 4]


def _override(folder: Path, **values: int) -> Path:
    """A catalogue folder whose ``lifetime_forecasting`` differs from the packaged one in
    ``values`` (keys of its ``[trajectory]`` section)."""
    lines = []
    for line in packaged_table_path("lifetime_forecasting").read_text("utf-8").splitlines():
        key = line.split("=", 1)[0].strip()
        lines.append(f"{key} = {values[key]}" if key in values else line)
    (folder / "lifetime_forecasting.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_calibration_uses_more_references_than_the_grid_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The discrepancy grid search forecasts ``tune_max_cells`` references; the interval of the
    chosen setting is calibrated on up to ``conformal_max_cells`` of them (more inner cases,
    a less conservative finite-sample rank)."""
    from echelon.lifetime import trajectory

    calls: list[tuple[int, int]] = []
    real = trajectory._inner_cases

    def spy(core, cfg, max_cells, *known):  # type: ignore[no-untyped-def]
        cases = real(core, cfg, max_cells, *known)
        calls.append((max_cells, len(cases)))
        return cases

    monkeypatch.setattr(trajectory, "_inner_cases", spy)
    cells = list(histories(fleet(LIVES)).values())
    folder = _override(tmp_path, tune_max_cells=3, tune_min_references=3)
    refs = reference_set(cells, 0.80, catalog_dir=folder)
    grid = load_table("lifetime_forecasting", catalog_dir=folder)["trajectory"]
    searched, final = calls[:-1], calls[-1]
    assert len(searched) == len(grid["discrepancy_segments_grid"])
    assert {m for m, _ in searched} == {3}
    assert final[0] == grid["conformal_max_cells"] > 3
    assert refs.calibration_cases == final[1] > max(n for _, n in searched)


def test_a_reference_too_short_for_an_inner_case_is_skipped() -> None:
    """A sparse check-up history (here every 50th cycle) leaves a short-lived reference with
    ``min_points`` check-ups: the inner cases need a cut-off after ``min_points`` check-ups and
    before the end, so that reference is not forecast from the others (it used to index past
    its end: IndexError); it is still a reference of the unit being forecast."""
    sparse = fleet([350.0, *LIVES], step=50.0)  # the first unit: 8 check-ups, reaches 80 %
    cells = list(histories(sparse).values())
    assert cells[0].cycle.size == 8
    refs = reference_set(cells, 0.80)
    assert len(refs.refs) == len(LIVES) + 1
    assert refs.calibration_cases > 0
    part = cells[-1].truncate(400.0)
    fc = ensemble_forecast(part, refs)
    assert fc is not None
    assert fc.cycles_lower < 650.0 < fc.cycles_upper
