"""Exact pack building for small inventories: a MILP (scipy's HiGHS) or CP-SAT (optional extra).

The problem splits into *which units form a pack* and *how a pack's units are dealt into blocks*.
The exact solvers decide the first with a proven bound; the second is near-perfect by the
heuristic's balancing (§3.3) and its loss is part of the reported gap.

**Pack formation model** (second-life-domain.md §3.4). Each compatible group ``g`` gets ``K_g``
pack slots (the most its size allows, capped by the packs asked for). For slot ``k``:

* ``w[k,u] ∈ {0,1}`` — unit ``u`` is in pack ``k``; ``Σ_k w[k,u] ≤ 1``; ``Σ_u w[k,u] = S P z[k]``
  with ``z[k] ∈ {0,1}`` the pack being built;
* windows: a pack-level limit is a window of fixed width (``ln R`` within ``ln ρ``, ``ln Q``
  within ``−ln(1 − tol)``, self-discharge within the spread limit). The pack chooses one anchor
  unit ``a`` per window, ``Σ_a v[k,a] = z[k]``, and may only hold units inside its window:
  ``w[k,u] ≤ Σ_{a : u ∈ W_a} v[k,a]`` (much tighter than big-M windows);
* objective, ``P ≥ 2``: ``Σ_k c_g Σ_u Q_u w[k,u] / S`` — the pack's usable capacity with equal
  blocks, an upper bound of the real one; ``P = 1``: ``Σ_k c_g Σ_a Q_a b[k,a]`` where the
  capacity window's anchor ``b`` is the pack's weakest unit, so the objective is exact;
  ``c_g = 1`` for capacity, ``S × V_unit`` for energy;
* symmetry breaking: slots of a group ordered by ``z`` and by objective value; ``Σ z = K`` when
  the number of packs is fixed; the heuristic's value as a cut-off (HiGHS).

The solver's dual bound is therefore a proven upper bound on the real objective for every ``P``;
the plan's packs are balanced with :func:`~echelon.regroup.heuristic.balance_blocks` and the gap
between the balanced plan and that bound is what :func:`~echelon.regroup.regroup` reports.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from echelon.errors import ConfigError
from echelon.regroup.heuristic import balance_blocks
from echelon.regroup.instance import FloatArray, Instance, IntArray, Plan

MAX_VARIABLES = 2_000_000
"""Refuse formulations larger than this (use the heuristic)."""


@dataclass
class FormationModel:
    """The pack-formation model as a sparse matrix (backend-neutral; all variables binary).

    Attributes
    ----------
    objective : ndarray
        Coefficients to *maximise*.
    matrix : scipy.sparse.csr_array
        Constraint rows, ``row_lower ≤ matrix @ x ≤ row_upper``.
    slots : list of (group, member indices)
    w : list of ndarray
        Variable index of ``w[k, u]`` per slot (aligned with the slot's members).
    z : ndarray
        Variable index of ``z[k]``.
    cutoff : float or None
        Objective value any optimal solution reaches (the heuristic's), for pruning.
    """

    objective: FloatArray
    matrix: sp.csr_array
    row_lower: FloatArray
    row_upper: FloatArray
    slots: list[tuple[int, IntArray]]
    w: list[IntArray]
    z: IntArray
    cutoff: float | None = None
    symmetric_rows: list[int] = field(default_factory=list)

    @property
    def n_vars(self) -> int:
        """Number of (binary) variables."""
        return int(self.objective.size)


class _Rows:
    """Sparse constraint rows collected as triplets."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def add(self, cols: list[int], vals: list[float], lower: float, upper: float) -> int:
        row = len(self.lower)
        self.rows.extend([row] * len(cols))
        self.cols.extend(cols)
        self.vals.extend(vals)
        self.lower.append(lower)
        self.upper.append(upper)
        return row


def windows_of(inst: Instance) -> list[tuple[FloatArray, float, str]]:
    """(value per unit, allowed width, kind) of each pack-level limit in force."""
    c = inst.constraints
    out: list[tuple[FloatArray, float, str]] = []
    if c.max_resistance_ratio is not None:
        out.append((np.log(inst.dcir_ohm), math.log(c.max_resistance_ratio), "r"))
    if c.capacity_tolerance_fraction is not None or inst.spec.parallel == 1:
        tol = c.capacity_tolerance_fraction
        out.append((np.log(inst.capacity_ah), math.inf if tol is None else -math.log1p(-tol), "q"))
    if c.max_self_discharge_spread_mv_per_day is not None:
        out.append((inst.self_discharge_mv_per_day, c.max_self_discharge_spread_mv_per_day, "sd"))
    return out


def slots_of(inst: Instance) -> list[tuple[int, IntArray]]:
    """Pack slots per group: ``(group, member indices)`` repeated ``K_g`` times."""
    n = inst.spec.units_per_pack
    slots = []
    for g in range(len(inst.groups)):
        members = inst.members(g)
        k = members.size // n
        if inst.spec.packs is not None:
            k = min(k, inst.spec.packs)
        slots.extend([(g, members)] * k)
    return slots


def formation_model(inst: Instance, *, cutoff: float | None = None) -> FormationModel:
    """Build the pack-formation model (see the module docstring)."""
    s, n = inst.spec.series, inst.spec.units_per_pack
    q = inst.capacity_ah
    slots = slots_of(inst)
    windows = windows_of(inst)
    size = sum(m.size * (1 + len(windows)) + 1 for _, m in slots)
    if size > MAX_VARIABLES:
        raise ConfigError(
            f"the exact model would have {size:,} variables (limit {MAX_VARIABLES:,}); use "
            "method 'heuristic' for inventories this large"
        )
    rows = _Rows()
    objective: list[float] = []

    def new(count: int, coef: list[float] | None = None) -> IntArray:
        start = len(objective)
        objective.extend(coef if coef is not None else [0.0] * count)
        return np.arange(start, start + count, dtype=np.int64)

    w_idx: list[IntArray] = []
    z_idx: list[int] = []
    value_terms: list[tuple[list[int], list[float]]] = []
    per_unit: dict[int, list[int]] = {}
    symmetric: list[int] = []
    for g, members in slots:
        weight = inst.weight(g)
        w = new(
            members.size, (weight * q[members] / s).tolist() if inst.spec.parallel > 1 else None
        )
        (z,) = new(1)
        w_idx.append(w)
        z_idx.append(int(z))
        for u, var in zip(members.tolist(), w.tolist(), strict=True):
            per_unit.setdefault(u, []).append(var)
        rows.add([*w.tolist(), int(z)], [1.0] * members.size + [-float(n)], 0.0, 0.0)
        terms = (w.tolist(), q[members].tolist())
        for values, width, kind in windows:
            v = values[members]
            cover = (v[None, :] >= v[:, None] - 1e-12) & (v[None, :] <= v[:, None] + width + 1e-12)
            anchors = np.flatnonzero(cover.sum(axis=1) >= n)  # windows that can hold a pack
            exact_min = kind == "q" and inst.spec.parallel == 1  # anchor = the pack's weakest unit
            a = new(anchors.size, (weight * q[members][anchors]).tolist() if exact_min else None)
            if exact_min:
                terms = (a.tolist(), q[members][anchors].tolist())
            rows.add([*a.tolist(), int(z)], [1.0] * anchors.size + [-1.0], 0.0, 0.0)
            for i in range(members.size):
                covering = a[cover[anchors, i]]
                rows.add(
                    [int(w[i]), *covering.tolist()], [1.0] + [-1.0] * covering.size, -np.inf, 0.0
                )
        value_terms.append(terms)
    for cols in per_unit.values():
        rows.add(cols, [1.0] * len(cols), -np.inf, 1.0)
    for k in range(len(slots) - 1):
        if slots[k][0] != slots[k + 1][0]:
            continue
        rows.add([z_idx[k], z_idx[k + 1]], [1.0, -1.0], 0.0, np.inf)
        (c1, v1), (c2, v2) = value_terms[k], value_terms[k + 1]
        symmetric.append(rows.add([*c1, *c2], [*v1, *(-np.asarray(v2)).tolist()], 0.0, np.inf))
    if inst.spec.packs is not None:
        rows.add(z_idx, [1.0] * len(z_idx), float(inst.spec.packs), float(inst.spec.packs))
    matrix = sp.csr_array(
        (rows.vals, (rows.rows, rows.cols)), shape=(len(rows.lower), len(objective))
    )
    return FormationModel(
        objective=np.asarray(objective),
        matrix=matrix,
        row_lower=np.asarray(rows.lower),
        row_upper=np.asarray(rows.upper),
        slots=slots,
        w=w_idx,
        z=np.asarray(z_idx, dtype=np.int64),
        cutoff=cutoff,
        symmetric_rows=symmetric,
    )


def packs_from_solution(
    inst: Instance, model: FormationModel, values: FloatArray
) -> list[IntArray]:
    """Packs (balanced into blocks) of a formation solution."""
    packs = []
    for k, (_, members) in enumerate(model.slots):
        if values[model.z[k]] < 0.5:
            continue
        units = members[values[model.w[k]] > 0.5]
        if units.size != inst.spec.units_per_pack:
            raise RuntimeError(f"formation solution decodes to a pack of {units.size} units")
        blocks = balance_blocks(
            inst.capacity_ah[units], series=inst.spec.series, parallel=inst.spec.parallel
        )
        packs.append(units[blocks])
    return packs


def formation_value(inst: Instance, packs: list[IntArray]) -> float:
    """Formation objective of a plan (``P ≥ 2``: Σ c_g ΣQ/S; ``P = 1``: Σ c_g min Q)."""
    total = 0.0
    for pack in packs:
        weight = inst.weight(int(inst.group[pack[0, 0]]))
        q = inst.capacity_ah[pack]
        total += weight * (
            float(q.sum()) / inst.spec.series if inst.spec.parallel > 1 else float(q.min())
        )
    return total


def milp_plan(
    inst: Instance, *, time_limit_s: float, hint: Plan | None = None, mip_rel_gap: float = 1e-4
) -> Plan:
    """Solve pack formation exactly with scipy's MILP (HiGHS branch and cut).

    Parameters
    ----------
    inst : Instance
    time_limit_s : float
        Wall-clock limit [s]; the best solution and the dual bound so far are returned.
    hint : Plan, optional
        A known plan (the heuristic's); its value becomes a cut-off.
    mip_rel_gap : float
        Relative gap at which HiGHS stops (default 0.01 %).

    Returns
    -------
    Plan
        Balanced packs; ``dual_bound`` proven by HiGHS (objective units).
    """
    cutoff = None if hint is None or not hint.packs else formation_value(inst, hint.packs)
    model = formation_model(inst, cutoff=cutoff)
    if not model.slots:
        return Plan([], method="milp", dual_bound=0.0, proven_optimal=True)
    matrix, lower, upper = model.matrix, model.row_lower, model.row_upper
    if cutoff is not None:
        matrix = sp.vstack([matrix, sp.csr_array(model.objective[None, :])]).tocsr()
        lower = np.append(lower, cutoff * (1 - 1e-9))
        upper = np.append(upper, np.inf)
    start = time.perf_counter()
    res = milp(
        -model.objective,
        integrality=np.ones(model.n_vars),
        bounds=Bounds(0.0, 1.0),
        constraints=LinearConstraint(matrix, lower, upper),
        options={"time_limit": float(time_limit_s), "mip_rel_gap": mip_rel_gap, "disp": False},
    )
    seconds = time.perf_counter() - start
    dual = getattr(res, "mip_dual_bound", None)
    dual_bound = None if dual is None or not np.isfinite(dual) else -float(dual)
    notes = [f"HiGHS: {res.message} ({seconds:.1f} s)"]
    if res.status == 2 and cutoff is not None:  # nothing beats the cut-off: the hint is optimal
        return Plan([], method="milp", dual_bound=cutoff, proven_optimal=False, notes=notes)
    if res.x is None:
        return Plan([], method="milp", dual_bound=dual_bound, notes=notes)
    packs = packs_from_solution(inst, model, np.asarray(res.x))
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
    inst: Instance, *, time_limit_s: float, hint: Plan | None = None, workers: int = 2
) -> Plan:
    """Solve pack formation with OR-Tools CP-SAT (the optional ``optim`` extra).

    Same model as :func:`milp_plan`; objective coefficients are scaled to integers and rounded
    *up*, so CP-SAT's bound stays a valid bound on the real objective; the heuristic's plan is
    given as a solution hint.

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

    model = formation_model(inst)
    if not model.slots:
        return Plan([], method="cpsat", dual_bound=0.0, proven_optimal=True)
    hint_values = None if hint is None else hint_vector(inst, model, hint)
    status, values, bound, notes = solve_cpsat(
        model, time_limit_s=time_limit_s, hint=hint_values, workers=workers
    )
    if values is None:
        return Plan([], method="cpsat", dual_bound=bound, notes=notes)
    packs = packs_from_solution(inst, model, values)
    return Plan(
        packs, method="cpsat", dual_bound=bound, proven_optimal=status == "OPTIMAL", notes=notes
    )


def hint_vector(inst: Instance, model: FormationModel, plan: Plan) -> FloatArray:
    """A 0/1 assignment of the model's ``w``/``z`` variables reproducing ``plan`` (best packs in
    the first slots of their group); window anchors are left to the solver."""
    values = np.zeros(model.n_vars)
    free: dict[int, list[int]] = {}
    for k, (g, _) in enumerate(model.slots):
        free.setdefault(g, []).append(k)
    for pack in sorted(plan.packs, key=lambda pk: -formation_value(inst, [pk])):
        g = int(inst.group[pack[0, 0]])
        if not free.get(g):
            continue
        k = free[g].pop(0)
        members = model.slots[k][1]
        values[model.z[k]] = 1.0
        values[model.w[k][np.isin(members, pack.ravel())]] = 1.0
    return values
