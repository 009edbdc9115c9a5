"""Exact pack building for small inventories: scipy's MILP (HiGHS) or CP-SAT (optional extra).

The problem splits into *which units form a pack* and *how a pack's units are dealt into blocks*.
The exact solvers decide the first (:mod:`echelon.regroup.formation`) with a proven bound; the
second uses the heuristic's balancing (snake + swaps, §3.3), whose loss is part of the reported
gap. For ``P = 1`` there is no balancing and the formation optimum is the optimum.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from echelon.errors import ConfigError
from echelon.regroup.formation import FormationModel, formation_model
from echelon.regroup.heuristic import balance_blocks
from echelon.regroup.instance import FloatArray, Instance, IntArray, Plan


def balanced(inst: Instance, unit_sets: list[IntArray]) -> list[IntArray]:
    """Deal each unit set into blocks (``S × P`` arrays)."""
    s, p = inst.spec.series, inst.spec.parallel
    return [
        units[balance_blocks(inst.capacity_ah[units], series=s, parallel=p)] for units in unit_sets
    ]


def formation_value(inst: Instance, packs: list[IntArray]) -> float:
    """Formation objective of a plan (``P ≥ 2``: Σ c_g ΣQ / S; ``P = 1``: Σ c_g min Q)."""
    total = 0.0
    for pack in packs:
        weight = inst.weight(int(inst.group[pack.ravel()[0]]))
        q = inst.capacity_ah[pack]
        per_pack = float(q.sum()) / inst.spec.series if inst.spec.parallel > 1 else float(q.min())
        total += weight * per_pack
    return total


def milp_plan(
    inst: Instance, *, time_limit_s: float, mip_rel_gap: float = 1e-4, size_checked: bool = False
) -> Plan:
    """Solve pack formation with scipy's MILP (HiGHS branch and cut), then balance the packs.

    Parameters
    ----------
    inst : Instance
    time_limit_s : float
        Wall-clock limit [s]; the best solution and the dual bound so far are returned.
    mip_rel_gap : float
        Relative gap at which HiGHS stops (default 0.01 %).
    size_checked : bool
        The caller ran :func:`~echelon.regroup.formation.check_exact_size` on ``inst`` already.

    Returns
    -------
    Plan
        ``dual_bound``: HiGHS's bound (objective units), an upper bound of the real objective.
    """
    model = formation_model(inst, size_checked=size_checked)
    if model.empty:
        return Plan([], method="milp", dual_bound=0.0, proven_optimal=True)
    start = time.perf_counter()
    res = milp(
        -model.objective,
        integrality=np.ones(model.n_vars),
        bounds=Bounds(np.zeros(model.n_vars), model.upper),
        constraints=LinearConstraint(model.matrix, model.row_lower, model.row_upper),
        options={"time_limit": float(time_limit_s), "mip_rel_gap": mip_rel_gap, "disp": False},
    )
    seconds = time.perf_counter() - start
    dual = getattr(res, "mip_dual_bound", None)
    dual_bound = None if dual is None or not np.isfinite(dual) else -float(dual)
    notes = [
        f"HiGHS ({model.kind} model, {model.n_vars:,} variables): {res.message} ({seconds:.1f} s)"
    ]
    if res.x is None:
        return Plan([], method="milp", dual_bound=dual_bound, notes=notes)
    packs = balanced(inst, model.decode(np.asarray(res.x)))
    return Plan(
        packs, method="milp", dual_bound=dual_bound, proven_optimal=res.status == 0, notes=notes
    )


def cpsat_available() -> bool:
    """Whether OR-Tools is installed (``pip install 'echelon[optim]'``)."""
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:
        return False
    return True


def cpsat_plan(
    inst: Instance,
    *,
    time_limit_s: float,
    hint: Plan | None = None,
    workers: int = 2,
    size_checked: bool = False,
) -> Plan:
    """Solve pack formation with OR-Tools CP-SAT (the optional ``optim`` extra).

    Same model as :func:`milp_plan`; objective coefficients are scaled to integers and rounded
    *up*, so CP-SAT's bound stays a valid bound on the real objective; the heuristic's plan is
    a solution hint. ``size_checked``: the caller ran
    :func:`~echelon.regroup.formation.check_exact_size` on ``inst`` already.

    Raises
    ------
    ConfigError
        When OR-Tools is not installed.
    """
    if not cpsat_available():
        raise ConfigError(
            "method 'cpsat' needs OR-Tools: pip install 'echelon[optim]' (do not install highspy "
            "in the same environment)"
        )
    from echelon.regroup._cpsat import solve_cpsat

    model: FormationModel = formation_model(inst, size_checked=size_checked)
    if model.empty:
        return Plan([], method="cpsat", dual_bound=0.0, proven_optimal=True)
    warm: FloatArray | None = None if hint is None else model.encode(hint.packs)
    status, values, bound, notes = solve_cpsat(
        model, time_limit_s=time_limit_s, hint=warm, workers=workers
    )
    if values is None:
        return Plan([], method="cpsat", dual_bound=bound, notes=notes)
    packs = balanced(inst, model.decode(values))
    return Plan(
        packs, method="cpsat", dual_bound=bound, proven_optimal=status == "OPTIMAL", notes=notes
    )
