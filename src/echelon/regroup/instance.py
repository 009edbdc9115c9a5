"""The optimisation instance: eligible units in compatible groups, plans, constraint checks and the
capacity upper bound.

Units are *eligible* when their chemistry is known, they are not quarantined and their grade (and
model) pass the unit-level constraints; they are *compatible* when they share chemistry, level and
nominal voltage (always: paralleling units of different voltage is unsafe) and, by default, model
family — only compatible units may share a pack. Pack-level limits (resistance ratio, capacity
tolerance, self-discharge spread) are checked on whole packs by :func:`pack_violations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.domain import Chemistry, Gate
from echelon.errors import InfeasibleError
from echelon.regroup.physics import chemistry_constants
from echelon.regroup.spec import PackSpec, RegroupConstraints, RegroupSettings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
UNGROUPED_MODEL = "(no model)"
VOLTAGE_DECIMALS = 2
"""Nominal unit voltages are compared rounded to 0.01 V (one group per voltage)."""


QUARANTINED: Final = (
    "quarantined at the safety gate (gate = quarantine): never placed in a pack, whatever the "
    "filters and allowed_grades say; discharge it and send it to recycling"
)
"""Why a quarantined unit is left out (inventory file or registry selection)."""
UNKNOWN_CHEMISTRY: Final = (
    "chemistry unknown: units of one pack must share a chemistry; record its chemistry, then "
    "regroup"
)
"""Why a unit of unknown chemistry is left out (inventory file or registry selection)."""


class GroupKey(NamedTuple):
    """What the units of one compatibility group share.

    Attributes
    ----------
    chemistry : str
        Canonical chemistry.
    model : str or None
        Model family (``None``: units without a model, or ``same_model`` off).
    level : str or None
        ``cell``, ``module`` or ``pack`` (``None`` when the inventory does not say).
    voltage_v : float
        Nominal voltage of one unit [V] (given, else the chemistry's cell voltage).
    stated : str or None
        A chemistry spelling that names no composition (``ternary``), kept apart from units
        whose composition is known.
    """

    chemistry: str
    model: str | None
    level: str | None = None
    voltage_v: float = float("nan")
    stated: str | None = None


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
    groups : list of GroupKey
        Chemistry, model family, level, nominal unit voltage (and generic spelling) per group.
    group_voltage_v : ndarray, shape (G,)
        Nominal voltage of one unit of each group [V] (weights the energy objective).
    spec : PackSpec
    constraints : RegroupConstraints
    """

    battery_id: npt.NDArray[np.object_]
    capacity_ah: FloatArray
    dcir_ohm: FloatArray
    self_discharge_mv_per_day: FloatArray
    group: IntArray
    groups: list[GroupKey]
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
        (pl.col("gate") == Gate.QUARANTINE.value, QUARANTINED),
        (pl.col("chemistry") == Chemistry.UNKNOWN.value, UNKNOWN_CHEMISTRY),
    ]
    if c.allowed_grades is not None:
        allowed = ",".join(g.value for g in c.allowed_grades)
        rules.append(
            (
                pl.col("grade").is_null(),
                f"no grade (allowed_grades = {allowed}): grade it (echelon grade), or set "
                'allowed_grades = "none" in the constraints file to ignore grades',
            )
        )
        rules.append(
            (
                ~pl.col("grade").is_in(allowed.split(",")),
                pl.format(
                    "grade {} not in allowed_grades ({}): add it to allowed_grades in the "
                    "constraints file to use the unit",
                    pl.col("grade"),
                    pl.lit(allowed),
                ),
            )
        )
    if c.same_model and c.unknown_model == "exclude":
        rules.append(
            (
                pl.col("model").is_null(),
                "no model (same_model, unknown_model = exclude): give its model, or set "
                'unknown_model = "group" in the constraints file',
            )
        )
    if c.max_self_discharge_spread_mv_per_day is not None:
        rules.append(
            (
                pl.col("self_discharge_mv_per_day").is_null(),
                "no self_discharge_mv_per_day (max_self_discharge_spread_mv_per_day set): measure "
                'it, or set max_self_discharge_spread_mv_per_day = "none" in the constraints file',
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
    consts = chemistry_constants(settings.reference_soc)
    eligible = eligible.with_columns(
        pl.coalesce(
            pl.col("nominal_voltage_v"),
            pl.col("chemistry").replace_strict(
                {k: v.cell_nominal_voltage_v for k, v in consts.items()}, return_dtype=pl.Float64
            ),
        )
        .round(VOLTAGE_DECIMALS)
        .alias("v")
    )
    stated = eligible.get_column("chemistry_generic").to_list()  # validate_inventory adds it
    keys = [
        GroupKey(chem, fam, level, float(volt), generic)
        for chem, fam, level, volt, generic in zip(
            eligible.get_column("chemistry").to_list(),
            families,
            eligible.get_column("level").to_list(),
            eligible.get_column("v").to_list(),
            stated,
            strict=True,
        )
    ]
    order = sorted(set(keys), key=lambda k: (k[0], k[4] or "", k[2] or "", k[3], k[1] or ""))
    index = {k: i for i, k in enumerate(order)}
    groups = [key._replace(model=shown.get(key.model)) for key in order]
    volts = eligible.with_columns(pl.Series("g", [index[k] for k in keys], dtype=pl.Int64))
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
        group_voltage_v=np.array([key.voltage_v for key in groups], dtype=np.float64),
        spec=spec,
        constraints=c,
    )
    return instance, excluded


def group_label(key: GroupKey) -> str:
    """Label of a group: ``chemistry[ (as 'spelling')] [level] voltage V/model``."""
    chem = key.chemistry if key.stated is None else f"{key.chemistry} (as {key.stated!r})"
    level = f" {key.level}" if key.level else ""
    model = key.model if key.model is not None else UNGROUPED_MODEL
    return f"{chem}{level} {key.voltage_v:g} V/{model}"


# ------------------------------------------------------------------------------ constraint checks


def pack_violations(inst: Instance, pack: IntArray) -> list[str]:
    """Names of the constraints a pack (an ``S × P`` index array) violates (empty if none)."""
    units = pack.ravel()
    out = []
    if np.unique(inst.group[units]).size > 1:
        keys = [inst.groups[g] for g in np.unique(inst.group[units])]
        if len({(k.chemistry, k.stated) for k in keys}) > 1:
            out.append("chemistry")
        if len({(k.level, k.voltage_v) for k in keys}) > 1:
            out.append("nominal_voltage")
        if len({k.model for k in keys}) > 1:
            out.append("same_model")
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

    Per group, the j-th best pack is bounded by :func:`strongest_pack_values`: the best ``S·j``
    blocks of the group's strongest units (for ``P = 1`` the ``(j·S)``-th largest unit, the
    exact optimum without pack-level limits; for ``P = 2`` the top ``2S·j`` units paired
    largest with smallest), and the j best packs together by the best ``S·P·j`` units ÷ S
    (equal blocks). Pack-level limits are relaxed, so the bound holds for every constraint
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


def strongest_pack_values(capacity_ah: FloatArray, *, series: int, parallel: int) -> FloatArray:
    """Upper bounds ``v_j`` on the usable capacity of the j-th best pack of one group [A·h].

    With the group's capacities sorted ``q_1 ≥ q_2 ≥ …``, for each ``j`` (1…number of whole
    packs):

    * the j best packs hold ``S·j`` disjoint blocks whose sums are all at least the j-th best
      pack's usable capacity ``u_j``, so ``u_j ≤ t_j``, the largest smallest-block-sum of any
      ``S·j`` disjoint blocks of ``P`` units. For ``P = 1`` it is ``q_{S·j}``; for ``P = 2`` it
      is exact, ``t_j = min_{i ≤ S·j} (q_i + q_{2S·j+1−i})`` (the top ``2S·j`` units paired
      largest with smallest maximise the smallest pair sum); for ``P ≥ 3`` the block of the
      weakest of ``S·P·j`` units holds at most ``q_{S·P·j} + q_1 + … + q_{P−1}``;
    * the j best packs hold at most the best ``S·P·j`` units, so
      ``u_1 + … + u_j ≤ (q_1 + … + q_{S·P·j}) / S`` (equal blocks).

    ``v_j`` takes each term as large as both allow, in order (the greedy optimum of these
    constraints), so ``Σ_{j ≤ k} v_j`` bounds any k packs of the group. Pack-level limits are
    ignored, so the bound holds for every constraint setting.

    Parameters
    ----------
    capacity_ah : ndarray
        Capacities of the group's units [A·h], any order.
    series, parallel : int
        ``S`` and ``P``.

    Returns
    -------
    ndarray, shape (number of whole packs,)
        ``v_j`` [A·h].
    """
    s, p = series, parallel
    n = s * p
    q = np.sort(np.asarray(capacity_ah, dtype=np.float64))[::-1]
    kmax = q.size // n
    prefix = np.concatenate([[0.0], np.cumsum(q)])
    out = np.zeros(kmax)
    used = 0.0
    for j in range(1, kmax + 1):
        if p == 1:
            out[j - 1] = q[j * s - 1]
            continue
        top = q[: n * j]
        if p == 2:
            threshold = float((top[: s * j] + top[::-1][: s * j]).min())
        else:
            threshold = float(top[-1] + prefix[p - 1])
        value = min(threshold, prefix[n * j] / s - used)
        out[j - 1] = value
        used += value
    return out


def _marginals(inst: Instance, energy: bool) -> list[tuple[float, float, float, int]]:
    """Per (group, j-th pack): (objective gain, capacity gain, energy gain, group), sorted.

    The gains are :func:`strongest_pack_values`; any plan's k-th best pack of a group adds at
    most the sum of the group's first k gains, so the K largest gains over all groups bound any
    plan of K packs.
    """
    s, p = inst.spec.series, inst.spec.parallel
    out = []
    for g in range(len(inst.groups)):
        volts = float(inst.group_voltage_v[g]) * s
        caps = strongest_pack_values(inst.capacity_ah[inst.group == g], series=s, parallel=p)
        for cap in caps.tolist():
            out.append((cap * volts if energy else cap, cap, cap * volts, g))
    out.sort(key=lambda t: -t[0])
    return out


def upper_bound(inst: Instance) -> UpperBound:
    """The capacity (and energy) upper bound for the instance's spec.

    The j-th best pack of a group adds at most :func:`strongest_pack_values`'s ``v_j``
    (given the packs before it); a plan of K packs is at most the K largest gains over all
    groups.
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
    if len({(k.level, k.voltage_v) for k in inst.groups}) > 1:
        advice += (
            "; units of different level or nominal voltage never share a pack (groups: "
            + ", ".join(f"{label} {size}" for label, size in counts.items())
            + ")"
        )
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
                'allowed_grades = "none" in the constraints file to ignore grades (a grading '
                "export of registered units carries no grade: --from-registry takes the grades "
                "recorded)"
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
