"""The optimisation instance: eligible units in compatible groups, plans, constraint checks and the
capacity upper bound.

Units are *eligible* when their chemistry is known and their grade (and model) pass the unit-level
constraints; they are *compatible* when they share chemistry and (by default) model family — only
compatible units may share a pack. Pack-level limits (resistance ratio, capacity tolerance,
self-discharge spread) are checked on whole packs by :func:`pack_violations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.domain import Chemistry
from echelon.errors import InfeasibleError
from echelon.regroup.physics import chemistry_constants
from echelon.regroup.spec import PackSpec, RegroupConstraints, RegroupSettings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
UNGROUPED_MODEL = "(no model)"


@dataclass(frozen=True)
class Instance:
    """Eligible units as arrays, their compatibility groups, the spec and the limits.

    Attributes
    ----------
    battery_id : ndarray of object, shape (N,)
    capacity_ah, dcir_ohm, self_discharge_mv_per_day : ndarray, shape (N,)
        Unit values (self-discharge NaN when unknown).
    group : ndarray of int, shape (N,)
        Index into ``groups``.
    groups : list of tuple (chemistry, model family or None)
    group_voltage_v : ndarray, shape (G,)
        Nominal voltage of one unit of each group [V] (median; weights the energy objective).
    spec : PackSpec
    constraints : RegroupConstraints
    """

    battery_id: npt.NDArray[np.object_]
    capacity_ah: FloatArray
    dcir_ohm: FloatArray
    self_discharge_mv_per_day: FloatArray
    group: IntArray
    groups: list[tuple[str, str | None]]
    group_voltage_v: FloatArray
    spec: PackSpec
    constraints: RegroupConstraints

    @property
    def n_units(self) -> int:
        """Eligible units."""
        return int(self.capacity_ah.size)

    def members(self, group: int) -> IntArray:
        """Indices of the units of one group."""
        return np.flatnonzero(self.group == group).astype(np.int64)

    def weight(self, group: int) -> float:
        """Objective weight of one A·h of usable capacity in a pack of this group."""
        if self.spec.objective == "energy":
            return float(self.group_voltage_v[group] * self.spec.series)
        return 1.0


@dataclass
class Plan:
    """A solution: packs of ``S × P`` unit indices (rows = series blocks).

    Attributes
    ----------
    packs : list of ndarray, shape (S, P)
        Indices into the instance's arrays.
    method : str
        Who built it.
    dual_bound : float or None
        A proven upper bound on the objective (objective units) from an exact solver.
    proven_optimal : bool
        The exact solver proved optimality (within its tolerance).
    notes : list of str
        Solver messages worth reporting.
    """

    packs: list[IntArray]
    method: str
    dual_bound: float | None = None
    proven_optimal: bool = False
    notes: list[str] = field(default_factory=list)

    def units(self) -> IntArray:
        """All assigned unit indices."""
        if not self.packs:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([p.ravel() for p in self.packs]).astype(np.int64)


def build_instance(
    inventory: pl.DataFrame,
    spec: PackSpec,
    constraints: RegroupConstraints,
    *,
    settings: RegroupSettings,
) -> tuple[Instance, pl.DataFrame]:
    """Eligible units of a validated inventory as an :class:`Instance`, and the excluded units.

    Returns
    -------
    instance : Instance
    excluded : pl.DataFrame
        ``battery_id``, ``reason`` (``constraint``: the limit that excluded the unit).
    """
    c = constraints
    rules: list[tuple[pl.Expr, str | pl.Expr]] = [
        (pl.col("chemistry") == Chemistry.UNKNOWN.value, "chemistry unknown: cannot be regrouped")
    ]
    if c.allowed_grades is not None:
        allowed = ",".join(g.value for g in c.allowed_grades)
        rules.append((pl.col("grade").is_null(), f"no grade (allowed_grades = {allowed})"))
        rules.append(
            (
                ~pl.col("grade").is_in(allowed.split(",")),
                pl.format("grade {} not in allowed_grades ({})", pl.col("grade"), pl.lit(allowed)),
            )
        )
    if c.same_model and c.unknown_model == "exclude":
        rules.append((pl.col("model").is_null(), "no model (same_model, unknown_model = exclude)"))
    if c.max_self_discharge_spread_mv_per_day is not None:
        rules.append(
            (
                pl.col("self_discharge_mv_per_day").is_null(),
                "no self_discharge_mv_per_day (max_self_discharge_spread_mv_per_day set)",
            )
        )
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    for condition, text in reversed(rules):  # the first rule that applies names the reason
        value = pl.lit(text) if isinstance(text, str) else text
        reason = pl.when(condition).then(value).otherwise(reason)
    marked = inventory.with_columns(reason.alias("reason"))
    excluded = marked.filter(pl.col("reason").is_not_null()).select("battery_id", "reason")
    eligible = marked.filter(pl.col("reason").is_null())
    models = eligible.get_column("model").to_list()
    families = [c.family_of(m) if c.same_model else None for m in models]
    shown: dict[str | None, str | None] = {}  # a readable spelling per family key
    for key, model in sorted(zip(families, models, strict=True), key=lambda km: str(km[1])):
        if key is not None and key not in shown:
            shown[key] = key if key in c.model_families else model
    keys = list(zip(eligible.get_column("chemistry").to_list(), families, strict=True))
    groups = sorted(set(keys), key=lambda k: (k[0], k[1] or ""))
    index = {k: i for i, k in enumerate(groups)}
    groups = [(chem, shown.get(fam)) for chem, fam in groups]
    consts = chemistry_constants(settings.reference_soc)
    volts = eligible.with_columns(
        pl.coalesce(
            pl.col("nominal_voltage_v"),
            pl.col("chemistry").replace_strict(
                {k: v.cell_nominal_voltage_v for k, v in consts.items()}, return_dtype=pl.Float64
            ),
        ).alias("v"),
        pl.Series("g", [index[k] for k in keys], dtype=pl.Int64),
    )
    medians = volts.group_by("g").agg(pl.col("v").median()).sort("g")["v"].to_numpy()
    instance = Instance(
        battery_id=eligible.get_column("battery_id").to_numpy().astype(object),
        capacity_ah=eligible.get_column("capacity_ah").to_numpy().astype(np.float64),
        dcir_ohm=eligible.get_column("dcir_ohm").to_numpy().astype(np.float64),
        self_discharge_mv_per_day=eligible.get_column("self_discharge_mv_per_day")
        .cast(pl.Float64)
        .fill_null(np.nan)
        .to_numpy(),
        group=volts.get_column("g").to_numpy().astype(np.int64),
        groups=groups,
        group_voltage_v=np.asarray(medians, dtype=np.float64),
        spec=spec,
        constraints=c,
    )
    return instance, excluded


def group_label(key: tuple[str, str | None]) -> str:
    """``chemistry/model`` label of a group."""
    chem, model = key
    return f"{chem}/{model if model is not None else UNGROUPED_MODEL}"


# ------------------------------------------------------------------------------ constraint checks


def pack_violations(inst: Instance, pack: IntArray) -> list[str]:
    """Names of the constraints a pack (an ``S × P`` index array) violates (empty if none)."""
    units = pack.ravel()
    out = []
    if np.unique(inst.group[units]).size > 1:
        chems = {inst.groups[g][0] for g in inst.group[units]}
        out.append("chemistry" if len(chems) > 1 else "same_model")
    c = inst.constraints
    r = inst.dcir_ohm[units]
    if c.max_resistance_ratio is not None and r.max() > c.max_resistance_ratio * r.min() * (
        1 + 1e-12
    ):
        out.append("max_resistance_ratio")
    q = inst.capacity_ah[units]
    tol = c.capacity_tolerance_fraction
    if tol is not None and q.min() < (1.0 - tol) * q.max() * (1 - 1e-12):
        out.append("capacity_tolerance_fraction")
    sd = inst.self_discharge_mv_per_day[units]
    limit = c.max_self_discharge_spread_mv_per_day
    if limit is not None and not (np.nanmax(sd) - np.nanmin(sd) <= limit + 1e-12):
        out.append("max_self_discharge_spread_mv_per_day")
    return out


def plan_objective(inst: Instance, packs: Sequence[IntArray]) -> float:
    """Objective of a plan: Σ weight × usable capacity (A·h, or W·h for ``energy``)."""
    total = 0.0
    for pack in packs:
        usable = float(inst.capacity_ah[pack].sum(axis=1).min())
        total += inst.weight(int(inst.group[pack[0, 0]])) * usable
    return total


# ------------------------------------------------------------------------------ the upper bound


@dataclass(frozen=True)
class UpperBound:
    """A proven upper bound on what the inventory can give under the spec.

    Usable capacity of a pack is at most its total capacity ÷ S (equal blocks), so no plan beats
    the sum of the best ``S × P`` units of each group, in whole packs, ÷ S; for ``P = 1`` the
    j-th best string is at most the ``(j·S)``-th largest unit (the exact optimum without
    pack-level limits). Pack-level limits are relaxed, so the bound holds for every constraint
    setting.

    Attributes
    ----------
    capacity_ah : float
        Bound on total usable capacity [A·h] (packs chosen for capacity).
    energy_wh : float
        Bound on total usable energy [W·h] (packs chosen for energy).
    objective : float
        The bound in the objective's unit.
    packs : int
        Packs the bound assumes (the requested number, or the most the group sizes allow).
    packs_per_group : dict of str to int
    """

    capacity_ah: float
    energy_wh: float
    objective: float
    packs: int
    packs_per_group: dict[str, int]


def max_packs_per_group(inst: Instance) -> list[int]:
    """Most whole packs each group's unit count allows."""
    n = inst.spec.units_per_pack
    return [int(np.sum(inst.group == g)) // n for g in range(len(inst.groups))]


def _marginals(inst: Instance, energy: bool) -> list[tuple[float, float, float, int]]:
    """Per (group, j-th pack): (objective gain, capacity gain, energy gain, group), sorted.

    The j-th best pack of a group holds ``S × P`` units; with ``P ≥ 2`` its usable capacity is at
    most the sum of the group's j-th best ``S × P`` units ÷ S; with ``P = 1`` (a string of single
    units) at most the ``(j·S)``-th largest capacity, since the j best strings hold ``j·S`` units
    at least as large as their weakest one.
    """
    n, s, p = inst.spec.units_per_pack, inst.spec.series, inst.spec.parallel
    out = []
    for g, kmax in enumerate(max_packs_per_group(inst)):
        q = np.sort(inst.capacity_ah[inst.group == g])[::-1]
        volts = float(inst.group_voltage_v[g]) * s
        for j in range(kmax):
            cap = float(q[(j + 1) * n - 1]) if p == 1 else float(q[j * n : (j + 1) * n].sum()) / s
            out.append((cap * volts if energy else cap, cap, cap * volts, g))
    out.sort(key=lambda t: -t[0])
    return out


def upper_bound(inst: Instance) -> UpperBound:
    """The capacity (and energy) upper bound for the instance's spec.

    The j-th pack of a group can add at most (sum of its j-th best ``S×P`` units) ÷ S, a
    non-increasing sequence per group, so taking the largest gains over all groups is the exact
    optimum of the relaxation for any number of packs.
    """
    total = sum(max_packs_per_group(inst))
    k = total if inst.spec.packs is None else min(inst.spec.packs, total)
    by_capacity = _marginals(inst, energy=False)[:k]
    by_energy = _marginals(inst, energy=True)[:k]
    chosen = by_energy if inst.spec.objective == "energy" else by_capacity
    per_group: dict[str, int] = {}
    for *_, g in chosen:
        label = group_label(inst.groups[g])
        per_group[label] = per_group.get(label, 0) + 1
    return UpperBound(
        capacity_ah=sum(t[1] for t in by_capacity),
        energy_wh=sum(t[2] for t in by_energy),
        objective=sum(t[0] for t in chosen),
        packs=k,
        packs_per_group=per_group,
    )


# ------------------------------------------------------------------------------ infeasibility


def _largest_group(counts: dict[str, int]) -> str:
    if not counts:
        return "no eligible unit"
    label, size = max(counts.items(), key=lambda kv: kv[1])
    return f"largest group {label} has {size} unit(s)"


def _possible(
    inventory: pl.DataFrame, inst: Instance, settings: RegroupSettings, **relax: object
) -> int:
    relaxed = inst.constraints.model_copy(update=relax)
    other, _ = build_instance(inventory, inst.spec, relaxed, settings=settings)
    return sum(max_packs_per_group(other))


def check_size_feasible(
    inventory: pl.DataFrame, inst: Instance, excluded: pl.DataFrame, *, settings: RegroupSettings
) -> None:
    """Raise :class:`InfeasibleError` when group sizes cannot give the packs asked for.

    The binding constraint is found by relaxing, one at a time, the unit-level limits (model
    family, allowed grades) and seeing which relaxation would make the request feasible.
    """
    spec, n = inst.spec, inst.spec.units_per_pack
    possible = sum(max_packs_per_group(inst))
    wanted = spec.packs or 1
    if possible >= wanted:
        return
    counts = {group_label(key): int(np.sum(inst.group == g)) for g, key in enumerate(inst.groups)}
    ask = f"{wanted} pack(s) of {spec.series}S{spec.parallel}P = {n} units each"
    have = f"the inventory allows {possible} ({_largest_group(counts)}; {excluded.height} excluded)"
    binding, advice = "inventory_size", "add units or choose a smaller layout"
    c = inst.constraints
    if c.same_model and _possible(inventory, inst, settings, same_model=False) >= wanted:
        binding, advice = (
            "same_model",
            (
                "units of one chemistry would suffice if models were mixed; declare "
                "interchangeable models in model_families, or set same_model = false if the "
                "standard you build to allows it"
            ),
        )
    elif (
        c.allowed_grades is not None
        and _possible(inventory, inst, settings, allowed_grades=None) >= wanted
    ):
        ungraded = "grade" not in inventory.columns or inventory.get_column("grade").null_count()
        binding, advice = (
            "allowed_grades",
            "allow more grades or add units"
            + (
                "; units without a grade are excluded: grade them (echelon grade) or set "
                'allowed_grades = "none" in the constraints file to ignore grades'
                if ungraded
                else ""
            ),
        )
    elif (
        c.max_self_discharge_spread_mv_per_day is not None
        and _possible(inventory, inst, settings, max_self_discharge_spread_mv_per_day=None)
        >= wanted
    ):
        binding, advice = (
            "max_self_discharge_spread_mv_per_day",
            "measure self-discharge of the units that lack it, or lift the limit",
        )
    elif (
        c.unknown_model == "exclude"
        and _possible(inventory, inst, settings, unknown_model="group") >= wanted
    ):
        binding, advice = "unknown_model", "record the model of the units that lack it"
    raise InfeasibleError(
        f"cannot build {ask}: {have}. Binding constraint: {binding} — {advice}.",
        binding_constraint=binding,
    )
