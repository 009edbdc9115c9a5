"""Invariants of every plan (hypothesis): a partition, every limit held, physics reported honestly.

The checks here are written independently of the optimiser's own code (plain Python over the
inventory rows), so a bug shared by the optimiser and its checks cannot hide.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from echelon.errors import InfeasibleError
from echelon.regroup import PackSpec, RegroupConstraints, RegroupResult, regroup
from tests.regroup.conftest import synthetic_inventory

BINDING = {
    "inventory_size",
    "same_model",
    "allowed_grades",
    "unknown_model",
    "max_resistance_ratio",
    "capacity_tolerance_fraction",
    "max_self_discharge_spread_mv_per_day",
}


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "n": draw(st.integers(3, 70)),
        "seed": draw(st.integers(0, 10**6)),
        "series": draw(st.integers(1, 4)),
        "parallel": draw(st.integers(1, 3)),
        "packs": draw(st.one_of(st.none(), st.integers(1, 4))),
        "objective": draw(st.sampled_from(["capacity", "energy"])),
        "chemistries": draw(st.sampled_from([("LFP",), ("LFP", "NMC622")])),
        "models": draw(st.sampled_from([("M1",), ("M1", "M2", "m-1")])),
        "constraints": RegroupConstraints(
            same_model=draw(st.booleans()),
            model_families=draw(st.sampled_from([{}, {"F": ("M1", "M2")}])),
            max_resistance_ratio=draw(st.one_of(st.none(), st.floats(1.02, 2.5))),
            capacity_tolerance_fraction=draw(st.one_of(st.none(), st.floats(0.02, 0.6))),
            allowed_grades=draw(st.one_of(st.none(), st.sampled_from([("A",), ("A", "B")]))),
            max_self_discharge_spread_mv_per_day=draw(st.one_of(st.none(), st.floats(0.3, 3))),
        ),
    }


def _family(c: RegroupConstraints, model: str | None) -> str | None:
    """Independent restatement: declared families, else the model ignoring case and dashes."""
    if model is None:
        return None
    key = model.replace("-", "").lower()
    for family, members in c.model_families.items():
        if key in {m.replace("-", "").lower() for m in members}:
            return family
    return key


def check_plan(result: RegroupResult, inventory: pl.DataFrame, *, limits: bool) -> None:
    spec, c = result.spec, result.constraints
    units = {row["battery_id"]: row for row in inventory.iter_rows(named=True)}
    assigned = result.assignment["battery_id"].to_list()
    # a partition: no unit twice, every inventory unit either assigned or excluded with a reason
    assert len(assigned) == len(set(assigned))
    excluded = set(result.excluded["battery_id"].to_list())
    assert not excluded & set(assigned)
    assert excluded | set(assigned) == set(units)
    packs: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in result.assignment.iter_rows(named=True):
        packs[row["pack_id"]][row["block"]].append(row["battery_id"])
    assert len(packs) == result.packs.height
    if spec.packs is not None:  # the optimiser builds exactly what was asked (or says why not)
        assert len(packs) == spec.packs if limits else len(packs) <= spec.packs
    reported = {r["pack_id"]: r for r in result.packs.iter_rows(named=True)}
    total = 0.0
    for pack_id, blocks in packs.items():
        assert sorted(blocks) == list(range(1, spec.series + 1))
        assert all(len(ids) == spec.parallel for ids in blocks.values())
        members = [units[b] for ids in blocks.values() for b in ids]
        # the reported usable capacity is the physics: min over blocks of the summed capacity
        usable = min(sum(units[b]["capacity_ah"] for b in ids) for ids in blocks.values())
        assert reported[pack_id]["usable_capacity_ah"] == pytest.approx(usable, rel=1e-12)
        total += usable
        assert len({m["chemistry"] for m in members}) == 1
        if not limits:
            continue
        assert reported[pack_id]["violations"] == ""
        if c.same_model:
            assert len({_family(c, m["model"]) for m in members}) == 1
        r = [m["dcir_ohm"] for m in members]
        q = [m["capacity_ah"] for m in members]
        if c.max_resistance_ratio is not None:
            assert max(r) <= c.max_resistance_ratio * min(r) * (1 + 1e-9)
        if c.capacity_tolerance_fraction is not None:
            assert min(q) >= (1 - c.capacity_tolerance_fraction) * max(q) * (1 - 1e-9)
        if c.max_self_discharge_spread_mv_per_day is not None:
            sd = [m["self_discharge_mv_per_day"] for m in members]
            assert max(sd) - min(sd) <= c.max_self_discharge_spread_mv_per_day + 1e-9
        if c.allowed_grades is not None:
            assert {m["grade"] for m in members} <= {g.value for g in c.allowed_grades}
    assert result.usable_capacity_ah == pytest.approx(total, rel=1e-12)
    assert result.usable_capacity_ah <= result.bound.capacity_ah * (1 + 1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), method=st.sampled_from(["heuristic", "sort_chunk", "kmeans", "random"]))
def test_every_plan_is_a_valid_partition(case: dict[str, Any], method: str) -> None:
    inventory = synthetic_inventory(
        case["n"],
        seed=case["seed"],
        chemistries=case["chemistries"],
        models=case["models"],
        grades=("A", "B", "C", "D"),
    )
    spec = PackSpec(
        series=case["series"],
        parallel=case["parallel"],
        packs=case["packs"],
        objective=case["objective"],
    )
    error: InfeasibleError | None = None
    try:
        result = regroup(inventory, spec, constraints=case["constraints"], method=method)
    except InfeasibleError as exc:
        error = exc
    if error is not None:
        event(f"infeasible: {error.binding_constraint}")
        assert error.binding_constraint in BINDING
        assert f"Binding constraint: {error.binding_constraint}" in str(error)
        return
    event("feasible")
    check_plan(result, inventory, limits=method == "heuristic")


def test_infeasible_size_names_same_model() -> None:
    inventory = synthetic_inventory(40, models=("M1", "M2", "M3", "M4"))
    spec = PackSpec(series=6, parallel=2)  # 12 per pack; ~10 per model, 40 in the chemistry
    with pytest.raises(InfeasibleError, match="Binding constraint: same_model") as info:
        regroup(inventory, spec, constraints=RegroupConstraints(same_model=True))
    assert info.value.binding_constraint == "same_model"
    assert "model_families" in str(info.value)


def test_infeasible_grades_and_size_are_told_apart() -> None:
    inventory = synthetic_inventory(30, grades=("C",))
    spec = PackSpec(series=5, parallel=2)
    with pytest.raises(InfeasibleError) as info:
        regroup(inventory, spec, constraints=RegroupConstraints(allowed_grades=("A", "B")))
    assert info.value.binding_constraint == "allowed_grades"
    with pytest.raises(InfeasibleError) as info:
        regroup(inventory, PackSpec(series=8, parallel=4))
    assert info.value.binding_constraint == "inventory_size"


def test_too_many_packs_names_the_pack_limit() -> None:
    inventory = synthetic_inventory(200, seed=3)
    tight = RegroupConstraints(same_model=False, max_resistance_ratio=1.05)
    with pytest.raises(InfeasibleError) as info:
        regroup(inventory, PackSpec(series=10, parallel=2, packs=10), constraints=tight)
    assert info.value.binding_constraint == "max_resistance_ratio"
    assert "1.05" in str(info.value)
