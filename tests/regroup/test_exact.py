"""The exact solvers against brute force on tiny instances: plans never beat the true optimum,
reported bounds never fall below it, and a claimed optimum is the optimum."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echelon.errors import ConfigError, InfeasibleError, UsageError
from echelon.regroup import PackSpec, RegroupConstraints, regroup, validate_inventory
from echelon.regroup.anneal import anneal_packs
from echelon.regroup.exact import cpsat_available
from echelon.regroup.formation import formation_model
from echelon.regroup.heuristic import heuristic
from echelon.regroup.instance import (
    build_instance,
    pack_violations,
    plan_objective,
    strongest_pack_values,
)
from echelon.regroup.spec import RegroupSettings


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


def _uncorrelated(seed: int, n: int) -> tuple[list[float], list[float]]:
    """Capacities 20–30 A·h and DCIR 10–30 mΩ drawn independently (resistance windows bind)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(20, 30, n).tolist(), rng.uniform(0.010, 0.030, n).tolist()


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
    q, r = _uncorrelated(11, 48)
    limits = RegroupConstraints(same_model=False, max_resistance_ratio=1.3)
    spec = PackSpec(series=3, parallel=2)
    fast = regroup(_inventory(q, r), spec, constraints=limits, method="heuristic")
    exact = regroup(_inventory(q, r), spec, constraints=limits, method="milp", time_limit_s=30)
    assert exact.usable_capacity_ah >= fast.usable_capacity_ah - 1e-9
    assert exact.gap is not None
    assert exact.gap <= 0.01


def test_exact_refuses_huge_models_up_front_as_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Too large for the exact model: refused before the heuristic runs and before any model
    is built (it took 46 s, and 247 s for the pack types, as a configuration error)."""
    import echelon.regroup.solve as solve

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the heuristic ran before the size check")

    rng = np.random.default_rng(2)
    n = 1500
    inv = _inventory(rng.uniform(20, 30, n).tolist(), rng.uniform(0.01, 0.02, n).tolist())
    limits = RegroupConstraints(same_model=False, max_resistance_ratio=1.2)
    monkeypatch.setattr(solve, "heuristic", never)
    with pytest.raises(UsageError, match=r"too many for the exact model \(units"):
        regroup(inv, PackSpec(series=2, parallel=1), method="milp", constraints=limits)
    limits = RegroupConstraints(
        same_model=False, max_resistance_ratio=1.2, capacity_tolerance_fraction=0.2
    )
    with pytest.raises(UsageError, match="too many for the exact model's pack types"):
        regroup(inv, PackSpec(series=20, parallel=2), method="cpsat", constraints=limits)


def test_cpsat_without_ortools_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import echelon.regroup.exact as exact

    monkeypatch.setattr(exact, "cpsat_available", lambda: False)
    rng = np.random.default_rng(3)
    inv = _inventory(rng.uniform(20, 30, 12).tolist(), rng.uniform(0.01, 0.03, 12).tolist())
    limits = RegroupConstraints(same_model=False, max_resistance_ratio=1.2)
    with pytest.raises(ConfigError, match=r"echelon\[optim\]"):
        regroup(inv, PackSpec(series=2, parallel=2), constraints=limits, method="cpsat")


@settings(max_examples=25, deadline=None)
@given(
    q=st.lists(st.floats(5.0, 30.0), min_size=8, max_size=8),
    layout=st.sampled_from([(2, 2), (4, 2), (2, 4), (2, 3), (3, 2)]),
)
def test_strongest_pack_values_bound_every_plan(q: list[float], layout: tuple[int, int]) -> None:
    # without pack limits the brute-force optimum of one or more packs never beats the bound
    series, parallel = layout
    values = strongest_pack_values(np.asarray(q), series=series, parallel=parallel)
    if values.size == 0:
        return
    truth = brute_force(np.asarray(q), np.ones(8), series, parallel, None)
    assert truth <= values.sum() * (1 + 1e-12) + 1e-12
    # never looser than equal blocks
    assert values.sum() <= sum(sorted(q, reverse=True)[: series * parallel * values.size]) / series


def test_pair_bound_proves_a_4s2p_plan_the_equal_block_bound_could_not() -> None:
    # 15 cells near 21 Ah and two weak ones: two 4S2P packs need one weak cell, whose pair is at
    # most 18.56 + 21.19 Ah. Equal blocks put the bound 2.1 % above the optimum; the pair bound
    # (top 16 cells paired largest with smallest) proves the plan within 0.1 %.
    q = [21.19, 21.17, 21.16, 21.14, 21.13, 21.12, 21.11, 21.1, 21.08, 21.07]
    q += [21.06, 21.04, 21.03, 21.02, 21.0, 18.56, 17.9]
    inv = _inventory(q, [0.003] * len(q))
    spec = PackSpec(series=4, parallel=2)
    result = regroup(inv, spec, constraints=RegroupConstraints(same_model=False), method="milp")
    equal_blocks = sum(sorted(q, reverse=True)[:16]) / 4
    assert (equal_blocks - result.usable_capacity_ah) / result.usable_capacity_ah > 0.02
    assert result.usable_capacity_ah == pytest.approx(21.19 + 18.56 + 21.12 + 21.13)
    assert result.gap is not None
    assert result.gap <= 1e-3
    assert result.best_bound == pytest.approx(result.bound.capacity_ah)


def test_annealing_keeps_a_valid_plan_and_never_loses() -> None:
    q, r = _uncorrelated(4, 40)
    limits = RegroupConstraints(same_model=False, max_resistance_ratio=1.4)
    spec = PackSpec(series=4, parallel=2)
    inst, _ = build_instance(_inventory(q, r), spec, limits, settings=RegroupSettings.load())
    start = heuristic(inst).packs
    annealed = anneal_packs(inst, start, moves=20_000, seed=1)
    units = np.concatenate([pk.ravel() for pk in annealed])
    assert units.size == np.unique(units).size == len(start) * 8
    assert all(pk.shape == (4, 2) and not pack_violations(inst, pk) for pk in annealed)
    assert plan_objective(inst, annealed) >= plan_objective(inst, start) - 1e-9
    assert anneal_packs(inst, start, moves=20_000, seed=1)[0].tolist() == annealed[0].tolist()


def test_string_model_is_exact_and_encodes_plans() -> None:
    # P = 1 with a tight resistance window: the anchored string model solves to optimality and a
    # heuristic plan maps to a feasible solution of the model worth exactly its usable capacity
    q, r = _uncorrelated(8, 48)
    limits = RegroupConstraints(same_model=False, max_resistance_ratio=1.25)
    spec = PackSpec(series=4, parallel=1)
    inst, _ = build_instance(_inventory(q, r), spec, limits, settings=RegroupSettings.load())
    model = formation_model(inst)
    assert model.kind == "strings"
    plan = heuristic(inst).packs
    x = model.encode(plan)
    rows = model.matrix @ x
    assert np.all(rows >= model.row_lower - 1e-9)
    assert np.all(rows <= model.row_upper + 1e-9)
    assert float(model.objective @ x) == pytest.approx(plan_objective(inst, plan))
    result = regroup(_inventory(q, r), spec, constraints=limits, method="milp", time_limit_s=30)
    assert result.proven_optimal
    assert result.usable_capacity_ah >= plan_objective(inst, plan) - 1e-9


@pytest.mark.parametrize(("tolerance", "anneals"), [(1e-3, False), (0.0, True)])
def test_annealing_runs_only_while_the_gap_exceeds_the_tolerance(
    monkeypatch: pytest.MonkeyPatch, tolerance: float, anneals: bool
) -> None:
    # the 17-cell 4S2P instance of the pair-bound test ends the exact solve within 0.1 % of its
    # bound but not proven optimal: it is annealed only when the tolerance asks for better
    from echelon.regroup import solve

    q = [21.19, 21.17, 21.16, 21.14, 21.13, 21.12, 21.11, 21.1, 21.08, 21.07]
    q += [21.06, 21.04, 21.03, 21.02, 21.0, 18.56, 17.9]
    settings = RegroupSettings.load().model_copy(update={"gap_tolerance_fraction": tolerance})
    monkeypatch.setattr(solve.RegroupSettings, "load", classmethod(lambda cls, **_: settings))
    calls: list[int] = []
    real = solve._annealed

    def spy(inst: Any, packs: Any, **kwargs: Any) -> Any:
        calls.append(len(packs))
        return real(inst, packs, **kwargs)

    monkeypatch.setattr(solve, "_annealed", spy)
    result = regroup(
        _inventory(q, [0.003] * len(q)),
        PackSpec(series=4, parallel=2),
        constraints=RegroupConstraints(same_model=False),
        method="milp",
        time_limit_s=8,
    )
    assert result.gap is not None
    assert 0.0 < result.gap <= 1e-3
    assert not result.proven_optimal
    assert bool(calls) is anneals
