"""Pack-formation models: which units share a pack (backend-neutral sparse MILPs).

Pack-level limits are windows of fixed width: ``ln R`` within ``ln ρ``, ``ln Q`` within
``−ln(1 − tol)``, self-discharge within the spread limit. A pack is feasible exactly when its
units fit one window per limit, and a window can always be anchored at a unit (the lowest value).

**Window-type model** (``P ≥ 2``). The intersections of one window per limit that hold at least
``S·P`` units are the pack *types* (duplicates and subsets of other types dropped). Variables:
``m_a ∈ ℕ`` packs of type ``a`` and ``y[a,u] ∈ {0,1}`` unit ``u`` serves type ``a``;
``Σ_u y[a,u] = S P m_a``, ``Σ_a y[a,u] ≤ 1``. The objective ``Σ c_g Q_u y[a,u] / S`` is each
pack's usable capacity with equal blocks — an upper bound of the real one. Types carry no
symmetry: packs of one type are interchangeable by construction.

**Slot model** (``P = 1``). Each group gets ``K_g`` pack slots: ``w[k,u] ∈ {0,1}``, ``z[k] ∈
{0,1}``, ``Σ_u w[k,u] = S z[k]``; one anchor per limit and slot, ``Σ_a v[k,a] = z[k]`` and
``w[k,u] ≤ Σ_{a : u ∈ W_a} v[k,a]``. The capacity window is anchored at the pack's weakest unit
and the objective is ``Σ_k c_g Σ_a Q_a v[k,a]`` — exactly the usable capacity of a series string.
Slots of a group are ordered (``z`` and value non-increasing) to break symmetry.

Either way the optimum is a proven upper bound on the real objective (exact for ``P = 1``), and
``c_g = 1`` for capacity, ``S × V_unit`` for energy; ``Σ packs = K`` when the number is fixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from echelon.errors import ConfigError
from echelon.regroup.instance import FloatArray, Instance, IntArray

BoolArray = npt.NDArray[np.bool_]
MAX_VARIABLES = 1_000_000
"""Refuse formulations larger than this (use the heuristic)."""
MAX_TYPES = 5_000
"""Refuse window-type enumerations larger than this."""


@dataclass
class FormationModel:
    """A pack-formation MILP as a sparse matrix; all variables integer, bounds ``[0, upper]``.

    Attributes
    ----------
    objective : ndarray
        Coefficients to *maximise*.
    matrix : scipy.sparse.csr_array
        ``row_lower ≤ matrix @ x ≤ row_upper``.
    upper : ndarray
        Upper bound of each variable.
    decode : callable
        Solution vector → unit sets of ``S × P`` units (one per pack).
    encode : callable
        Unit sets (packs) → a solution vector for a warm start (unset variables 0).
    symmetric_rows : list of int
        Rows that only order equivalent solutions (may be rounded by integer back-ends).
    kind : str
        ``"types"`` or ``"slots"``.
    """

    objective: FloatArray
    matrix: sp.csr_array
    row_lower: FloatArray
    row_upper: FloatArray
    upper: FloatArray
    decode: Callable[[FloatArray], list[IntArray]]
    encode: Callable[[list[IntArray]], FloatArray]
    symmetric_rows: list[int] = field(default_factory=list)
    kind: str = "types"

    @property
    def n_vars(self) -> int:
        """Number of variables."""
        return int(self.objective.size)

    @property
    def empty(self) -> bool:
        """No pack can be formed."""
        return self.n_vars == 0


class _Builder:
    """Collects variables and sparse rows."""

    def __init__(self) -> None:
        self.objective: list[float] = []
        self.upper: list[float] = []
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.lower_b: list[float] = []
        self.upper_b: list[float] = []

    def new(self, count: int, coef: list[float] | None = None, upper: float = 1.0) -> IntArray:
        start = len(self.objective)
        self.objective.extend(coef if coef is not None else [0.0] * count)
        self.upper.extend([upper] * count)
        return np.arange(start, start + count, dtype=np.int64)

    def add(self, cols: list[int], vals: list[float], lower: float, upper: float) -> int:
        row = len(self.lower_b)
        self.rows.extend([row] * len(cols))
        self.cols.extend(cols)
        self.vals.extend(vals)
        self.lower_b.append(lower)
        self.upper_b.append(upper)
        return row

    def model(
        self,
        decode: Callable[[FloatArray], list[IntArray]],
        encode: Callable[[list[IntArray]], FloatArray],
        *,
        symmetric: list[int] | None = None,
        kind: str,
    ) -> FormationModel:
        shape = (len(self.lower_b), len(self.objective))
        return FormationModel(
            objective=np.asarray(self.objective, dtype=np.float64),
            matrix=sp.csr_array((self.vals, (self.rows, self.cols)), shape=shape),
            row_lower=np.asarray(self.lower_b, dtype=np.float64),
            row_upper=np.asarray(self.upper_b, dtype=np.float64),
            upper=np.asarray(self.upper, dtype=np.float64),
            decode=decode,
            encode=encode,
            symmetric_rows=symmetric or [],
            kind=kind,
        )


def windows_of(inst: Instance) -> list[tuple[FloatArray, float, str]]:
    """(value per unit, allowed width, kind) of each pack-level limit in force.

    For ``P = 1`` a capacity window (of infinite width without a tolerance) is always included:
    its anchor is the string's weakest unit, which sets the objective.
    """
    c = inst.constraints
    out: list[tuple[FloatArray, float, str]] = []
    if c.max_resistance_ratio is not None:
        out.append((np.log(inst.dcir_ohm), math.log(c.max_resistance_ratio), "r"))
    tol = c.capacity_tolerance_fraction
    if tol is not None or inst.spec.parallel == 1:
        out.append((np.log(inst.capacity_ah), math.inf if tol is None else -math.log1p(-tol), "q"))
    if c.max_self_discharge_spread_mv_per_day is not None:
        out.append((inst.self_discharge_mv_per_day, c.max_self_discharge_spread_mv_per_day, "sd"))
    return out


def _cover(values: FloatArray, width: float) -> BoolArray:
    """``cover[a, u]``: unit ``u`` lies in the window anchored at unit ``a``."""
    inside: BoolArray = (values[None, :] >= values[:, None] - 1e-12) & (
        values[None, :] <= values[:, None] + width + 1e-12
    )
    return inside


def pack_types(inst: Instance, members: IntArray) -> BoolArray:
    """Window types of one group: boolean matrix (types × members), maximal sets only."""
    n = inst.spec.units_per_pack
    sets = np.ones((1, members.size), dtype=bool)
    for values, width, _ in windows_of(inst):
        cover = _cover(values[members], width)
        cover = cover[cover.sum(axis=1) >= n]
        joined = (sets[:, None, :] & cover[None, :, :]).reshape(-1, members.size)
        joined = joined[joined.sum(axis=1) >= n]
        sets = np.unique(joined, axis=0) if joined.size else joined
        if sets.shape[0] > MAX_TYPES:
            raise ConfigError(
                f"{sets.shape[0]:,} pack types to enumerate (limit {MAX_TYPES:,}); use method "
                "'heuristic' for this inventory"
            )
    if sets.shape[0] <= 1:
        return sets
    counts = sets.astype(np.int64)
    inter = counts @ counts.T
    size = counts.sum(axis=1)
    subset = (inter == size[:, None]) & (size[:, None] < size[None, :])  # i strictly inside j
    return sets[~subset.any(axis=1)]


def _pack_count(inst: Instance, members: IntArray) -> int:
    k = members.size // inst.spec.units_per_pack
    return k if inst.spec.packs is None else min(k, inst.spec.packs)


def type_model(inst: Instance) -> FormationModel:
    """The window-type model (see the module docstring)."""
    s, n = inst.spec.series, inst.spec.units_per_pack
    q = inst.capacity_ah
    b = _Builder()
    layout: list[tuple[IntArray, IntArray, int]] = []  # (units, y vars, m var)
    per_unit: dict[int, list[int]] = {}
    counts: list[int] = []
    for g in range(len(inst.groups)):
        members = inst.members(g)
        if _pack_count(inst, members) == 0:
            continue
        for row in pack_types(inst, members):
            units = members[row]
            y = b.new(units.size, (inst.weight(g) * q[units] / s).tolist())
            (m,) = b.new(1, upper=float(min(units.size // n, _pack_count(inst, members))))
            b.add([*y.tolist(), int(m)], [1.0] * units.size + [-float(n)], 0.0, 0.0)
            layout.append((units, y, int(m)))
            counts.append(int(m))
            for u, var in zip(units.tolist(), y.tolist(), strict=True):
                per_unit.setdefault(u, []).append(var)
    for cols in per_unit.values():
        b.add(cols, [1.0] * len(cols), -np.inf, 1.0)
    if inst.spec.packs is not None and counts:
        b.add(counts, [1.0] * len(counts), float(inst.spec.packs), float(inst.spec.packs))

    def decode(values: FloatArray) -> list[IntArray]:
        out: list[IntArray] = []
        for units, y, m in layout:
            chosen = units[values[y] > 0.5]
            chosen = chosen[np.argsort(-q[chosen], kind="stable")]
            out.extend(chosen[i * n : (i + 1) * n] for i in range(round(values[m])))
        return out

    def encode(packs: list[IntArray]) -> FloatArray:
        values = np.zeros(len(b.objective))
        for pack in packs:
            units = pack.ravel()
            for members, y, m in layout:
                if np.isin(units, members).all() and not values[y][np.isin(members, units)].any():
                    values[y[np.isin(members, units)]] = 1.0
                    values[m] += 1.0
                    break
        return values

    return b.model(decode, encode, kind="types")


def slot_model(inst: Instance) -> FormationModel:
    """The slot model with anchored windows (see the module docstring)."""
    n = inst.spec.units_per_pack
    q = inst.capacity_ah
    b = _Builder()
    slots: list[tuple[IntArray, IntArray, int]] = []
    values_of: list[tuple[list[int], list[float]]] = []
    per_unit: dict[int, list[int]] = {}
    group_of: list[int] = []
    for g in range(len(inst.groups)):
        members = inst.members(g)
        for _ in range(_pack_count(inst, members)):
            w = b.new(members.size)
            (z,) = b.new(1)
            b.add([*w.tolist(), int(z)], [1.0] * members.size + [-float(n)], 0.0, 0.0)
            value: tuple[list[int], list[float]] = (w.tolist(), (q[members] / n).tolist())
            for vals, width, kind in windows_of(inst):
                cover = _cover(vals[members], width)
                anchors = np.flatnonzero(cover.sum(axis=1) >= n)
                weakest = kind == "q"  # P = 1: the capacity anchor is the weakest unit
                coef = (inst.weight(g) * q[members][anchors]).tolist() if weakest else None
                a = b.new(anchors.size, coef)
                if weakest:
                    value = (a.tolist(), q[members][anchors].tolist())
                b.add([*a.tolist(), int(z)], [1.0] * anchors.size + [-1.0], 0.0, 0.0)
                for i in range(members.size):
                    covering = a[cover[anchors, i]].tolist()
                    b.add([int(w[i]), *covering], [1.0] + [-1.0] * len(covering), -np.inf, 0.0)
            for u, var in zip(members.tolist(), w.tolist(), strict=True):
                per_unit.setdefault(u, []).append(var)
            slots.append((members, w, int(z)))
            values_of.append(value)
            group_of.append(g)
    for cols in per_unit.values():
        b.add(cols, [1.0] * len(cols), -np.inf, 1.0)
    symmetric = []
    for k in range(len(slots) - 1):
        if group_of[k] == group_of[k + 1]:
            b.add([slots[k][2], slots[k + 1][2]], [1.0, -1.0], 0.0, np.inf)
            (c1, v1), (c2, v2) = values_of[k], values_of[k + 1]
            symmetric.append(b.add([*c1, *c2], [*v1, *(-np.asarray(v2)).tolist()], 0.0, np.inf))
    if inst.spec.packs is not None and slots:
        zs = [z for _, _, z in slots]
        b.add(zs, [1.0] * len(zs), float(inst.spec.packs), float(inst.spec.packs))

    def decode(values: FloatArray) -> list[IntArray]:
        return [members[values[w] > 0.5] for members, w, z in slots if values[z] > 0.5]

    def encode(packs: list[IntArray]) -> FloatArray:
        values = np.zeros(len(b.objective))
        free = list(range(len(slots)))
        for pack in sorted(packs, key=lambda p: -float(q[p].min())):
            g = int(inst.group[pack.ravel()[0]])
            k = next((k for k in free if group_of[k] == g), None)
            if k is None:
                continue
            free.remove(k)
            members, w, z = slots[k]
            values[z] = 1.0
            values[w[np.isin(members, pack.ravel())]] = 1.0
        return values

    return b.model(decode, encode, symmetric=symmetric, kind="slots")


def formation_model(inst: Instance) -> FormationModel:
    """The model for the instance: window types for ``P ≥ 2``, slots for ``P = 1``.

    Raises
    ------
    ConfigError
        When the model would be too large for an exact solve.
    """
    n = inst.spec.units_per_pack
    if inst.spec.parallel == 1:
        slots = sum(_pack_count(inst, inst.members(g)) for g in range(len(inst.groups)))
        size = slots * inst.n_units * (1 + len(windows_of(inst)))
        if size > MAX_VARIABLES:
            raise ConfigError(
                f"the exact model would have about {size:,} variables (limit {MAX_VARIABLES:,}); "
                "use method 'heuristic' for this inventory"
            )
        return slot_model(inst)
    if inst.n_units * max(1, inst.n_units // n) > MAX_VARIABLES:
        raise ConfigError(
            f"{inst.n_units:,} units are too many for the exact model; use method 'heuristic'"
        )
    return type_model(inst)
