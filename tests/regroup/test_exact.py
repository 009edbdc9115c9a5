"""The exact solvers against brute force on tiny instances: plans never beat the true optimum,
reported bounds never fall below it, and a claimed optimum is the optimum."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echelon.errors import ConfigError, InfeasibleError
from echelon.regroup import PackSpec, RegroupConstraints, regroup, validate_inventory
from echelon.regroup.exact import cpsat_available


def _inventory(q: list[float], r: list[float]) -> pl.DataFrame:
    return validate_inventory(
        pl.DataFrame(
            {
                "battery_id": [f"B{i}" for i in range(len(q))],
                "chemistry": ["LFP"] * len(q),
                "capacity_ah": q,
                "dcir_ohm": r,
            }
        )
    )


def brute_force(
    q: np.ndarray, r: np.ndarray, series: int, parallel: int, rho: float | None
) -> float:
    """Best total usable capacity over every assignment (as many packs as fit)."""
    n = series * parallel
    k = len(q) // n
    perms = np.asarray(list(itertools.permutations(range(len(q)), k * n)))
    idx = perms.reshape(-1, k, series, parallel)
    usable = q[idx].sum(axis=3).min(axis=2)  # (perms, packs)
    if rho is not None:  # a pack breaking the limit is not built (its units stay unused)
        rr = r[idx].reshape(len(perms), k, -1)
        usable = np.where(rr.max(axis=2) <= rho * rr.min(axis=2) * (1 + 1e-12), usable, 0.0)
    return float(usable.sum(axis=1).max())


@st.composite
def tiny(draw: st.DrawFn) -> tuple[list[float], list[float], int, int, float | None]:
    series, parallel = draw(st.sampled_from([(2, 1), (3, 1), (2, 2)]))
    size = 7 if parallel == 1 else 8
    q = [draw(st.floats(10.0, 14.0)) for _ in range(size)]
    r = [draw(st.floats(0.010, 0.020)) for _ in range(size)]
    rho = draw(st.one_of(st.none(), st.floats(1.1, 1.6)))
    return q, r, series, parallel, rho


def _check_against_brute_force(
    method: str, case: tuple[list[float], list[float], int, int, float | None]
) -> None:
    q, r, series, parallel, rho = case
    truth = brute_force(np.asarray(q), np.asarray(r), series, parallel, rho)
    limits = RegroupConstraints(same_model=False, max_resistance_ratio=rho)
    result = regroup(
        _inventory(q, r),
        PackSpec(series=series, parallel=parallel),
        constraints=limits,
        method=method,
        time_limit_s=20,
    )
    assert result.usable_capacity_ah <= truth + 1e-9
    best_bound = result.usable_capacity_ah * (1 + (result.gap or 0.0))
    assert best_bound >= truth - 1e-6  # the proven gap is honest
    if result.proven_optimal:
        assert result.usable_capacity_ah == pytest.approx(truth, rel=1e-9)


NO_ORTOOLS = pytest.mark.skipif(
    not cpsat_available(), reason="OR-Tools not installed (pip install 'echelon[optim]')"
)


@pytest.mark.parametrize("method", ["milp", pytest.param("cpsat", marks=NO_ORTOOLS)])
@settings(max_examples=10, deadline=None)
@given(case=tiny())
def test_exact_plans_and_bounds_against_brute_force(
    method: str, case: tuple[list[float], list[float], int, int, float | None]
) -> None:
    try:
        _check_against_brute_force(method, case)
    except InfeasibleError as exc:  # an infeasible limit is reported, never a wrong plan
        assert exc.binding_constraint == "max_resistance_ratio"  # noqa: PT017


def test_series_strings_are_proven_optimal() -> None:
    # P = 1 without pack limits: sorted chunks are optimal and the order-statistic bound proves it
    rng = np.random.default_rng(5)
    q = rng.uniform(20, 30, 40).tolist()
    result = regroup(
        _inventory(q, [0.01] * 40),
        PackSpec(series=8, parallel=1),
        constraints=RegroupConstraints.unconstrained(),
    )
    ranked = sorted(q, reverse=True)
    assert result.usable_capacity_ah == pytest.approx(sum(ranked[7::8]))
    assert result.proven_optimal
    assert result.gap == pytest.approx(0.0, abs=1e-12)


def test_milp_beats_the_heuristic_when_resistance_binds() -> None:
    # resistance and capacity uncorrelated and a tight ratio: pack formation needs a real search
    rng = np.random.default_rng(11)
    q = rng.uniform(20, 30, 48).tolist()
    r = rng.uniform(0.010, 0.030, 48).tolist()
    limits = RegroupConstraints(same_model=False, max_resistance_ratio=1.3)
    spec = PackSpec(series=3, parallel=2)
    fast = regroup(_inventory(q, r), spec, constraints=limits, method="heuristic")
    exact = regroup(_inventory(q, r), spec, constraints=limits, method="milp", time_limit_s=30)
    assert exact.usable_capacity_ah >= fast.usable_capacity_ah - 1e-9
    assert exact.gap is not None
    assert exact.gap <= 0.01


def test_exact_refuses_huge_models_and_auto_falls_back() -> None:
    rng = np.random.default_rng(2)
    n = 1500
    inv = _inventory(rng.uniform(20, 30, n).tolist(), rng.uniform(0.01, 0.02, n).tolist())
    with pytest.raises(ConfigError, match="heuristic"):
        regroup(
            inv,
            PackSpec(series=2, parallel=1),
            method="milp",
            constraints=RegroupConstraints(same_model=False, max_resistance_ratio=1.2),
        )


def test_cpsat_without_ortools_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import echelon.regroup.exact as exact

    monkeypatch.setattr(exact, "cpsat_available", lambda: False)
    rng = np.random.default_rng(3)
    inv = _inventory(rng.uniform(20, 30, 12).tolist(), rng.uniform(0.01, 0.03, 12).tolist())
    limits = RegroupConstraints(same_model=False, max_resistance_ratio=1.2)
    with pytest.raises(ConfigError, match=r"echelon\[optim\]"):
        regroup(inv, PackSpec(series=2, parallel=2), constraints=limits, method="cpsat")
