"""The pack builder's entry point: inventory + pack spec → packs, their physics and the bound."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from echelon.errors import ConfigError, InfeasibleError, UsageError, check_choice
from echelon.grading.profile import load_profile
from echelon.regroup.anneal import anneal_packs
from echelon.regroup.application import (
    PEAK_VIOLATION,
    VIOLATION,
    ApplicationWindow,
    application_window,
    flagged,
    outside_window,
    peak_rmax_ohm,
    window_misfits,
)
from echelon.regroup.baselines import kmeans_plan, random_plan, sort_chunk_plan
from echelon.regroup.exact import cpsat_plan, milp_plan
from echelon.regroup.formation import check_exact_size
from echelon.regroup.heuristic import heuristic
from echelon.regroup.improve import improve_packs
from echelon.regroup.instance import (
    Instance,
    IntArray,
    Plan,
    UpperBound,
    build_instance,
    check_size_feasible,
    group_label,
    max_packs_per_group,
    pack_violations,
    plan_objective,
    upper_bound,
)
from echelon.regroup.physics import arrange, block_physics, pack_physics
from echelon.regroup.spec import (
    BASELINES,
    Method,
    PackSpec,
    RegroupConstraints,
    RegroupSettings,
)

Progress = Callable[[str, int, int], None]
IMPROVE_BUDGET = 50_000
"""Unit exchanges evaluated by the local search (each re-balances two packs)."""
ANNEAL_MOVES_PER_UNIT_SQUARED = 250
ANNEAL_MAX_MOVES = 2_500_000
"""Exchanges tried by the annealing after an exact solve: 250 N², at most 2.5·10⁶ (~15 s)."""
ANNEAL_TIME_SHARE = 0.25
"""Share of the time limit kept from the exact solver for the annealing after it."""
IMPROVE_MAX_UNITS = 2_000
"""The heuristic's plan is polished by the exchange search up to this many eligible units."""
PACK_LIMITS = (
    "max_resistance_ratio",
    "capacity_tolerance_fraction",
    "max_self_discharge_spread_mv_per_day",
)


@dataclass(frozen=True)
class RegroupResult:
    """Packs built from an inventory, with their physics, the bound and how they were found.

    Attributes
    ----------
    assignment : pl.DataFrame
        One row per assigned unit: ``battery_id``, ``pack_id``, ``block`` (series position
        1…S, block 1 the largest), ``position`` (1…P within the block), ``chemistry``, ``model``,
        ``capacity_ah``, ``dcir_ohm``.
    packs : pl.DataFrame
        One row per pack: the columns of :func:`echelon.regroup.physics.pack_physics`, plus
        ``group`` and ``violations`` (constraints the pack breaks, comma-separated; the optimisers
        keep the pack limits; units whose packs would be outside the application's voltage
        window are left out, and a pack outside it all the same gets ``application_voltage``
        whatever the method).
    blocks : pl.DataFrame
        One row per block (:func:`echelon.regroup.physics.block_physics`).
    excluded : pl.DataFrame
        ``battery_id``, ``reason`` for inventory units that could not be used.
    bound : UpperBound
        Proven upper bound on total usable capacity / energy.
    spec, constraints : PackSpec, RegroupConstraints
    method : str
    proven_optimal : bool
        Optimality proven (by an exact solver, or because the bound is met).
    gap : float or None
        ``(best proven bound − objective) / objective``; ``None`` without packs.
    dual_bound : float or None
        The exact solver's bound (objective units), when one ran.
    best_bound : float
        The tightest proven bound on the objective (objective units): the smaller of
        ``bound.objective`` and ``dual_bound``.
    seconds : float
    notes : list of str
    application : ApplicationWindow or None
        The application the packs were checked against (``None``: not checked).
    """

    assignment: pl.DataFrame
    packs: pl.DataFrame
    blocks: pl.DataFrame
    excluded: pl.DataFrame
    bound: UpperBound
    spec: PackSpec
    constraints: RegroupConstraints
    method: str
    proven_optimal: bool
    gap: float | None
    dual_bound: float | None
    best_bound: float
    seconds: float
    notes: list[str] = field(default_factory=list)
    application: ApplicationWindow | None = None

    @property
    def usable_capacity_ah(self) -> float:
        """Total usable capacity of the packs [A·h]."""
        return float(self.packs["usable_capacity_ah"].sum()) if self.packs.height else 0.0

    @property
    def energy_wh(self) -> float:
        """Total usable energy of the packs [W·h]."""
        return float(self.packs["energy_wh"].sum()) if self.packs.height else 0.0

    @property
    def objective(self) -> float:
        """The optimised total (A·h or W·h)."""
        return self.energy_wh if self.spec.objective == "energy" else self.usable_capacity_ah

    @property
    def ratio_to_bound(self) -> float:
        """Total usable capacity ÷ its upper bound (1 = nothing stranded, nothing left out)."""
        return self.usable_capacity_ah / self.bound.capacity_ah if self.bound.capacity_ah else 0.0

    @property
    def violating_packs(self) -> int:
        """Packs that break a constraint (always 0 for the optimisers)."""
        return int((self.packs["violations"] != "").sum()) if self.packs.height else 0

    @property
    def packs_outside_window(self) -> int:
        """Packs outside the application's voltage window (violation ``application_voltage``)."""
        if not self.packs.height:
            return 0
        return int(self.packs.select(flagged().sum()).item())

    @property
    def packs_over_peak_rmax(self) -> int:
        """Packs whose resistance exceeds the application's R_max at its peak current
        (violation ``application_peak_current``)."""
        if not self.packs.height:
            return 0
        return int(self.packs.select(flagged(PEAK_VIOLATION).sum()).item())

    def summary(self) -> dict[str, Any]:
        """Run-level numbers as a JSON-ready dict (the ``*_run.json`` sidecar)."""
        compliant = (
            self.packs.filter(pl.col("violations") == "") if self.packs.height else self.packs
        )
        return {
            "method": self.method,
            "spec": self.spec.model_dump(mode="json"),
            "constraints": self.constraints.active(),
            "packs": self.packs.height,
            "units_assigned": self.assignment.height,
            "units_excluded": self.excluded.height,
            "usable_capacity_ah": self.usable_capacity_ah,
            "energy_wh": self.energy_wh,
            "capacity_upper_bound_ah": self.bound.capacity_ah,
            "energy_upper_bound_wh": self.bound.energy_wh,
            "bound_packs": self.bound.packs,
            "bound_packs_per_group": self.bound.packs_per_group,
            "ratio_to_bound": self.ratio_to_bound,
            "gap": self.gap,
            "proven_optimal": self.proven_optimal,
            "dual_bound": self.dual_bound,
            "best_bound": self.best_bound,
            "violating_packs": self.violating_packs,
            "application": None if self.application is None else asdict(self.application),
            "packs_outside_application_window": self.packs_outside_window,
            "packs_over_application_rmax": self.packs_over_peak_rmax,
            "usable_capacity_in_compliant_packs_ah": float(compliant["usable_capacity_ah"].sum())
            if compliant.height
            else 0.0,
            "seconds": self.seconds,
            "notes": self.notes,
        }


def _shortfall(inst: Instance, plan: Plan) -> None:
    """Raise when fewer packs were built than asked for, naming the binding pack limit."""
    wanted = inst.spec.packs or 1
    if len(plan.packs) >= wanted:
        return
    c = inst.constraints
    binding = [
        name
        for name in PACK_LIMITS
        if getattr(c, name) is not None
        and len(heuristic(_relaxed(inst, **{name: None})).packs) > len(plan.packs)
    ]
    if not binding:
        binding = [n for n in PACK_LIMITS if getattr(c, n) is not None] or ["inventory_size"]
    limits = ", ".join(f"{n} = {getattr(c, n, None)}" for n in binding)
    proven = plan.dual_bound is not None and plan.dual_bound <= 0.0 and not plan.packs
    found = (
        "no pack can meet the limits (proven by the exact model)"
        if proven
        else f"the {plan.method} found only {len(plan.packs)} pack(s) meeting the limits"
    )
    raise InfeasibleError(
        f"{inst.spec.series}S{inst.spec.parallel}P: {found} ({limits}); {wanted} asked for. "
        f"Binding constraint: {' and '.join(binding)} — relax it in the constraints file or "
        "ask for fewer packs.",
        binding_constraint=binding[0],
    )


def _relaxed(inst: Instance, **changes: Any) -> Instance:
    return Instance(**{**inst.__dict__, "constraints": inst.constraints.model_copy(update=changes)})


def _solve(
    inst: Instance,
    method: Method,
    settings: RegroupSettings,
    *,
    time_limit_s: float,
    seed: int,
    progress: Progress | None,
) -> Plan:
    if method == "random":
        return random_plan(inst, seed=seed)
    if method == "sort_chunk":
        return sort_chunk_plan(inst)
    if method == "kmeans":
        return kmeans_plan(inst, clusters=settings.kmeans_clusters, seed=seed)
    if method in ("milp", "cpsat"):
        check_exact_size(inst)  # before the heuristic and the model: refuse in seconds
    fast = heuristic(
        inst, progress=None if progress is None else lambda d, t: progress("heuristic", d, t)
    )
    if inst.n_units <= IMPROVE_MAX_UNITS:
        polished = improve_packs(inst, fast.packs, budget=IMPROVE_BUDGET)
        if plan_objective(inst, polished) > plan_objective(inst, fast.packs) * (1 + 1e-12):
            fast = Plan(polished, method="heuristic+exchange")
    exact = method in ("milp", "cpsat") or (
        method == "auto" and 0 < inst.n_units <= settings.exact_max_units
    )
    if not exact:
        return fast
    bound = upper_bound(inst).objective
    if plan_objective(inst, fast.packs) >= bound * (1 - 1e-9):
        fast.proven_optimal = True
        fast.notes.append("the heuristic's plan meets the upper bound: no exact solve needed")
        return fast
    started = time.perf_counter()
    solver_s = time_limit_s * (1 - ANNEAL_TIME_SHARE)
    try:
        checked = method != "auto"  # milp and cpsat ran check_exact_size above
        if method == "cpsat":
            solved = cpsat_plan(inst, time_limit_s=solver_s, hint=fast, size_checked=checked)
        else:
            solved = milp_plan(inst, time_limit_s=solver_s, size_checked=checked)
    except (ConfigError, UsageError) as exc:
        if method != "auto":
            raise
        fast.notes.append(f"exact solve skipped: {exc}")
        return fast
    polished = improve_packs(inst, solved.packs, budget=IMPROVE_BUDGET)
    better = plan_objective(inst, polished) > plan_objective(inst, fast.packs)
    best = polished if better else fast.packs
    label = solved.method if better else f"{solved.method}+{fast.method}"
    if better and plan_objective(inst, polished) > plan_objective(inst, solved.packs) * (1 + 1e-12):
        label += "+exchange"
    exact_kept = better and plan_objective(inst, polished) <= plan_objective(inst, solved.packs)
    proven = solved.proven_optimal and inst.spec.parallel == 1 and exact_kept
    best_bound = min(bound, np.inf if solved.dual_bound is None else solved.dual_bound)
    value = plan_objective(inst, best)
    gap = best_bound / value - 1.0 if value > 0 else np.inf
    if not proven and gap > settings.gap_tolerance_fraction:
        left_s = time_limit_s - (time.perf_counter() - started)
        left_s = max(min(left_s, ANNEAL_TIME_SHARE * time_limit_s), 1.0)
        annealed = _annealed(inst, best, seed=seed, time_limit_s=left_s)
        if plan_objective(inst, annealed) > plan_objective(inst, best) * (1 + 1e-12):
            best, label = annealed, f"{label}+anneal"
    return Plan(
        best,
        method=label,
        dual_bound=solved.dual_bound,
        proven_optimal=proven,
        notes=solved.notes,
    )


def _annealed(
    inst: Instance, packs: list[IntArray], *, seed: int, time_limit_s: float
) -> list[IntArray]:
    """The plan after simulated annealing, polished by the exchange search."""
    moves = min(ANNEAL_MAX_MOVES, ANNEAL_MOVES_PER_UNIT_SQUARED * inst.n_units**2)
    annealed = anneal_packs(inst, packs, moves=moves, seed=seed, time_limit_s=time_limit_s)
    return improve_packs(inst, annealed, budget=IMPROVE_BUDGET)


def _ordered_packs(inst: Instance, plan: Plan) -> list[np.ndarray[Any, Any]]:
    """Packs sorted by group then usable capacity (desc), blocks by capacity (desc)."""
    out = []
    for pack in plan.packs:
        sums = inst.capacity_ah[pack].sum(axis=1)
        rows = np.lexsort((np.arange(sums.size), -sums))
        inner = np.stack([r[np.argsort(-inst.capacity_ah[r], kind="stable")] for r in pack[rows]])
        out.append(inner)
    out.sort(
        key=lambda pk: (
            int(inst.group[pk[0, 0]]),
            -float(inst.capacity_ah[pk].sum(axis=1).min()),
            str(inst.battery_id[pk[0, 0]]),
        )
    )
    return out


def _pack_prefix(inst: Instance, packs: Sequence[np.ndarray[Any, Any]]) -> str:
    content = [[[str(inst.battery_id[u]) for u in row] for row in pack] for pack in packs]
    digest = hashlib.sha256(json.dumps(content).encode()).hexdigest()[:8]
    return f"RG-{digest}"


def assignment_frame(
    inst: Instance, packs: Sequence[np.ndarray[Any, Any]], *, prefix: str
) -> pl.DataFrame:
    """The assignment rows of ordered packs (see :class:`RegroupResult`)."""
    s, p = inst.spec.series, inst.spec.parallel
    units = np.concatenate([pk.ravel() for pk in packs]) if packs else np.zeros(0, dtype=np.int64)
    width = max(4, len(str(len(packs))))
    pack_ids = [f"{prefix}-{i + 1:0{width}d}" for i in range(len(packs))]
    chem = [inst.groups[int(g)][0] for g in inst.group[units]]
    return pl.DataFrame(
        {
            "battery_id": pl.Series(inst.battery_id[units].tolist(), dtype=pl.String),
            "pack_id": pl.Series(np.repeat(pack_ids, s * p).tolist(), dtype=pl.String),
            "block": np.tile(np.repeat(np.arange(1, s + 1), p), len(packs)).astype(np.int64),
            "position": np.tile(np.arange(1, p + 1), s * len(packs)).astype(np.int64),
            "chemistry": pl.Series(chem, dtype=pl.String),
            "capacity_ah": inst.capacity_ah[units],
            "dcir_ohm": inst.dcir_ohm[units],
        }
    )


def regroup(
    inventory: pl.DataFrame,
    spec: PackSpec,
    *,
    constraints: RegroupConstraints | None = None,
    method: Method = "auto",
    time_limit_s: float | None = None,
    seed: int = 0,
    pack_prefix: str | None = None,
    catalog_dir: Path | None = None,
    progress: Progress | None = None,
    application: str | None = None,
) -> RegroupResult:
    """Build packs from an inventory.

    Parameters
    ----------
    inventory : pl.DataFrame
        Validated inventory (:func:`~echelon.regroup.read_inventory`,
        :func:`~echelon.regroup.validate_inventory` or
        :func:`~echelon.regroup.inventory_from_registry`).
    spec : PackSpec
        Layout ``S × P``, number of packs (``None`` = as many as possible) and objective.
    constraints : RegroupConstraints, optional
        Default: the catalogue defaults (:meth:`RegroupConstraints.defaults`).
    method : {"auto", "heuristic", "milp", "cpsat", "random", "sort_chunk", "kmeans"}
        ``auto`` solves the exact MILP up to ``exact_max_units`` eligible units (catalogue
        ``regroup``), else runs the heuristic. The exact methods also run the heuristic and keep
        the better plan.
    time_limit_s : float, optional
        Time limit of the exact method [s] (default from the catalogue): ¾ for the solver, up to
        ¼ for the annealing after it.
    seed : int
        Seed of the random and k-means baselines and of the exact method's annealing.
    pack_prefix : str, optional
        Pack ids are ``<prefix>-0001``…; default ``RG-<8 hex digits of the plan>`` (stable for
        the same plan).
    catalog_dir : Path, optional
        Catalogue overrides.
    progress : callable, optional
        ``progress(stage, done, total)``.
    application : str, optional
        Canonical application id (catalogue ``applications``) the packs are for: units whose
        packs of ``spec.series`` in series would be outside its voltage window are left out
        (``excluded``, with the series counts that would fit;
        :func:`~echelon.regroup.application.window_misfits`), and a pack outside it all the same
        gets the violation ``application_voltage``. Default: not checked.

    Returns
    -------
    RegroupResult

    Raises
    ------
    UsageError
        For an application the catalogue does not offer (listing the valid ones).
    InfeasibleError
        When the inventory cannot give the packs asked for (or any pack), naming the binding
        constraint (``application_voltage`` when the units left out for the application's
        window leave it short, with the series counts that would fit).
    """
    check_choice("method", method, Method)
    window = (
        None if application is None else application_window(application, catalog_dir=catalog_dir)
    )
    start = time.perf_counter()
    settings = RegroupSettings.load(catalog_dir=catalog_dir)
    constraints = constraints or RegroupConstraints.defaults(catalog_dir=catalog_dir)
    misfits = (
        pl.DataFrame(schema={"battery_id": pl.String, "reason": pl.String})
        if window is None
        else window_misfits(inventory, window, spec.series, catalog_dir=catalog_dir)
    )
    whole = inventory
    if misfits.height:
        inventory = inventory.filter(~pl.col("battery_id").is_in(misfits["battery_id"].implode()))
    inst, excluded = build_instance(inventory, spec, constraints, settings=settings)
    if misfits.height:
        _check_window_left_enough(
            inst,
            misfits,
            window,
            lambda: sum(
                max_packs_per_group(build_instance(whole, spec, constraints, settings=settings)[0])
            ),
        )
        excluded = pl.concat([misfits, excluded])
    check_size_feasible(inventory, inst, excluded, settings=settings)
    bound = upper_bound(inst)
    plan = _solve(
        inst,
        method,
        settings,
        time_limit_s=time_limit_s or settings.time_limit_s,
        seed=seed,
        progress=progress,
    )
    if method not in BASELINES:
        _shortfall(inst, plan)
    ordered = _ordered_packs(inst, plan)
    prefix = pack_prefix or _pack_prefix(inst, ordered)
    assignment = assignment_frame(inst, ordered, prefix=prefix)
    assigned = set(assignment["battery_id"].to_list())
    assignment = assignment.join(
        inventory.select("battery_id", "model", "chemistry_generic"), on="battery_id", how="left"
    ).select(
        "battery_id",
        "pack_id",
        "block",
        "position",
        "chemistry",
        pl.coalesce("chemistry_generic", "chemistry").alias("chemistry_stated"),
        "model",
        "capacity_ah",
        "dcir_ohm",
    )
    tensor = arrange(
        assignment, inventory, series=spec.series, parallel=spec.parallel, catalog_dir=catalog_dir
    )
    packs = pack_physics(tensor, settings=settings, catalog_dir=catalog_dir).with_columns(
        pl.Series("model", _pack_models(inst, inventory, ordered), dtype=pl.String),
        pl.Series(
            "group",
            [group_label(inst.groups[int(inst.group[pk[0, 0]])]) for pk in ordered],
            dtype=pl.String,
        ),
    )
    cells_in_series = tensor.cells_in_series.mean(axis=2).sum(axis=1)
    off = (
        np.zeros(len(ordered), dtype=bool)
        if window is None
        else outside_window(
            window,
            tensor.chemistry,
            cells_in_series,
            packs["nominal_voltage_v"].to_numpy(),
            catalog_dir=catalog_dir,
        )
    )
    rmax = (
        np.full(len(ordered), np.nan)
        if window is None
        else peak_rmax_ohm(
            window,
            tensor.chemistry,
            cells_in_series,
            packs["usable_capacity_ah"].to_numpy(),
            margin=load_profile(catalog_dir=catalog_dir).routing.resistance_margin,
            catalog_dir=catalog_dir,
        )
    )
    weak = packs["pack_resistance_ohm"].to_numpy() > rmax  # False where R_max is unknown
    violations = [
        ",".join(
            [*pack_violations(inst, pk), *([VIOLATION] if out else []), *([PEAK_VIOLATION] * w)]
        )
        for pk, out, w in zip(ordered, off.tolist(), weak.tolist(), strict=True)
    ]
    packs = packs.with_columns(
        pl.Series("violations", violations, dtype=pl.String),
        pl.Series("application_rmax_ohm", rmax, dtype=pl.Float64).fill_nan(None),
    )
    left = _unused(inst, assigned)
    objective = plan_objective(inst, plan.packs)
    bounds = [bound.objective] + ([plan.dual_bound] if plan.dual_bound is not None else [])
    best_bound = min(bounds)
    gap = (best_bound - objective) / objective if objective > 0 else None
    notes = list(plan.notes)
    if misfits.height:
        notes.append(
            f"{misfits.height} unit(s) left out (excluded, with the reason): "
            + "; ".join(misfits["reason"].unique(maintain_order=True))
        )
    for key in inst.groups:
        if key.stated is not None and assignment.height:
            notes.append(
                f"chemistry {key.stated!r} names no composition: its packs were computed as "
                f"{key.chemistry}, the catalogue's generic record (assumption), and hold only "
                f"units stated as {key.stated!r}"
            )
    if constraints.same_model and any(key[1] is None for key in inst.groups):
        notes.append(
            "units without a model were grouped together: the same-model rule could not be "
            "checked for them"
        )
    return RegroupResult(
        assignment=assignment,
        packs=packs,
        blocks=block_physics(tensor),
        excluded=pl.concat([excluded, left]),
        bound=bound,
        spec=spec,
        constraints=constraints,
        method=plan.method,
        proven_optimal=plan.proven_optimal or (gap is not None and gap <= 1e-9),
        gap=None if gap is None else max(gap, 0.0),
        dual_bound=plan.dual_bound,
        best_bound=best_bound,
        seconds=time.perf_counter() - start,
        notes=notes,
        application=window,
    )


def _check_window_left_enough(
    inst: Instance,
    misfits: pl.DataFrame,
    window: ApplicationWindow | None,
    possible_with_misfits: Callable[[], int],
) -> None:
    """Refuse a run that the units left out for the application's window leave without the
    packs asked for (or any pack), with what those packs would be and the series that fit.

    Only when they made it short: when the inventory could not give more packs with them
    (``possible_with_misfits``, counted only on a short run), the run's own shortfall is
    reported by the checks that follow, not blamed on the window."""
    spec = inst.spec
    wanted, possible = spec.packs or 1, sum(max_packs_per_group(inst))
    if possible >= wanted or window is None or possible_with_misfits() <= possible:
        return
    reasons = "; ".join(misfits["reason"].unique(maintain_order=True).to_list())
    raise InfeasibleError(
        f"{wanted} pack(s) of {spec.series}S{spec.parallel}P asked for {window.application}, "
        f"{possible} possible: {misfits.height} unit(s) left out — {reasons}",
        binding_constraint=VIOLATION,
    )


def _pack_models(
    inst: Instance, inventory: pl.DataFrame, packs: Sequence[np.ndarray[Any, Any]]
) -> list[str | None]:
    """Per pack, its model family, else the distinct models of its units joined by ``+``."""
    model = dict(zip(inventory["battery_id"].to_list(), inventory["model"].to_list(), strict=True))
    out: list[str | None] = []
    for pack in packs:
        family = inst.groups[int(inst.group[pack[0, 0]])].model
        found = sorted({m for u in pack.ravel() if (m := model.get(str(inst.battery_id[u])))})
        out.append(family if family is not None else "+".join(found) or None)
    return out


def _unused(inst: Instance, assigned: set[str]) -> pl.DataFrame:
    """Eligible units left out of every pack, with the reason and what to do: their group is
    smaller than one pack, its units left over are fewer than one pack, they were not needed
    for the packs asked for, or not placeable in a pack meeting the limits."""
    n = inst.spec.units_per_pack
    layout = f"{inst.spec.series}S{inst.spec.parallel}P"
    sizes = np.bincount(inst.group, minlength=len(inst.groups))
    used = np.array([str(b) in assigned for b in inst.battery_id.tolist()], dtype=bool)
    left = np.bincount(inst.group[~used], minlength=len(inst.groups))
    limits = ", ".join(name for name in PACK_LIMITS if getattr(inst.constraints, name) is not None)
    ids, reasons = [], []
    for i in np.flatnonzero(~used).tolist():
        g = int(inst.group[i])
        label = group_label(inst.groups[g])
        ids.append(str(inst.battery_id[i]))
        if sizes[g] < n:
            why = (
                f"only {sizes[g]} unit(s) of {label} (units of one pack share chemistry, level "
                f"and nominal voltage); a {layout} pack needs {n}: add units of this group or "
                "choose a smaller layout"
            )
        elif left[g] < n:
            why = (
                f"one of the {left[g]} unit(s) of {label} left over, fewer than the {n} of a "
                f"{layout} pack: add units of this group to build one more"
            )
        elif inst.spec.packs is not None:
            why = (
                f"not needed for the {inst.spec.packs} pack(s) asked for, or not placeable in a "
                f"pack meeting the limits ({limits or 'none set'}): ask for more packs (--packs) "
                "to use it"
            )
        else:
            why = (
                f"not placeable in a {layout} pack meeting the limits ({limits or 'none set'}): "
                "relax them in the constraints file to use it"
            )
        reasons.append(why)
    schema = {"battery_id": pl.String, "reason": pl.String}
    return pl.DataFrame({"battery_id": ids, "reason": reasons}, schema=schema)


def _mean(frame: pl.DataFrame, column: str) -> float | None:
    """Mean of a float column (``None`` for an empty frame)."""
    values = frame.get_column(column).drop_nulls().to_numpy()
    return float(values.mean()) if values.size else None


def compare(
    inventory: pl.DataFrame,
    spec: PackSpec,
    *,
    constraints: RegroupConstraints | None = None,
    methods: Sequence[Method] = ("auto", "sort_chunk", "kmeans", "random"),
    seed: int = 0,
    time_limit_s: float | None = None,
    catalog_dir: Path | None = None,
    application: str | None = None,
) -> pl.DataFrame:
    """Run several methods on one inventory and tabulate them side by side.

    ``application`` is passed to :func:`regroup`: packs outside its voltage window count among
    the violating packs.

    Returns
    -------
    pl.DataFrame
        One row per method: ``method``, ``packs``, ``usable_capacity_ah``, ``energy_wh``,
        ``ratio_to_bound``, ``violating_packs``, ``usable_capacity_in_compliant_packs_ah``,
        ``mean_block_spread_percent``, ``mean_resistance_ratio``, ``seconds``, ``gap``.
    """
    rows = []
    for method in methods:
        result = regroup(
            inventory,
            spec,
            constraints=constraints,
            method=method,
            seed=seed,
            time_limit_s=time_limit_s,
            catalog_dir=catalog_dir,
            application=application,
        )
        summary = result.summary()
        rows.append(
            {
                "method": method if method != "auto" else f"auto ({result.method})",
                "packs": summary["packs"],
                "usable_capacity_ah": summary["usable_capacity_ah"],
                "energy_wh": summary["energy_wh"],
                "ratio_to_bound": summary["ratio_to_bound"],
                "violating_packs": summary["violating_packs"],
                "usable_capacity_in_compliant_packs_ah": summary[
                    "usable_capacity_in_compliant_packs_ah"
                ],
                "mean_block_spread_percent": _mean(result.packs, "block_capacity_spread_percent"),
                "mean_resistance_ratio": _mean(result.packs, "resistance_ratio"),
                "seconds": summary["seconds"],
                "gap": summary["gap"],
            }
        )
    return pl.DataFrame(rows)
