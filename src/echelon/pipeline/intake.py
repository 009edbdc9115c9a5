"""The intake orchestrator: manifest + tester files → registry, one atomic write per unit.

Stages: validate the manifest (all-or-nothing) → fingerprint each row with its files' hashes and
skip rows already taken in → process units in parallel (read, store, diagnose, SOH) → gate, grade
and route the batch together (batch statistics need every unit) → write units in chunks, each
unit atomic. A unit that fails is recorded as failed with its error; the others proceed. A kill at
any point leaves whole units only, and a re-run completes the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from echelon._parallel import process_pool
from echelon.domain import Measurement, Status
from echelon.domain.enums import LEVEL_RANK
from echelon.errors import ManifestError
from echelon.estimation.model import SohModel
from echelon.estimation.zoo import load_model
from echelon.grading import GradingProfile, decisions_from_row, grade_by_region
from echelon.grading.table import battery_fields, to_grading_table
from echelon.io.base import sha256_file
from echelon.io.manifest import (
    Manifest,
    ManifestUnit,
    genealogy_problems,
    read_manifest,
    unit_nodes,
)
from echelon.pipeline.absent import absent_column_notes
from echelon.pipeline.short_test import estimate_short_tests
from echelon.pipeline.unit import UnitOutcome, process_unit
from echelon.registry import (
    PendingEvent,
    Registry,
    UnitWrite,
    decision_row,
    measurement_row,
    refused_parents,
    refused_retakes,
    test_run_row,
)
from echelon.registry.chain import canonical_json
from echelon.routing import Economics, RoutingInputs

DEFAULT_SOH_MODELS = ("pulse-u21", "eis-lco-nmc811")
"""Shipped short-test models, best first: pulse, then EIS (echelon.estimation.zoo)."""
WRITE_CHUNK = 250
"""Units per commit (each unit still atomic: all its rows or none)."""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)`` with stage ``process`` or ``write``."""


@dataclass
class IntakeReport:
    """What an intake did.

    Attributes
    ----------
    manifest : Path
    units : int
        Rows in the manifest.
    battery_ids : list of str
        The manifest's battery ids, in file order.
    written, skipped, failed : int
        Units recorded now, already registered with identical inputs, and recorded as failed.
    failures : list of (battery_id, error)
        Units that failed: recorded as failed with their error, or not written (``refused``,
        a registry write that failed).
    refused : list of (battery_id, reason)
        Changed rows of units that were recycled (recycled is final, their passport ended), went
        with a recycled pack, or are regrouped (parts of a pack): nothing of them is written
        (:func:`echelon.registry.refused_retakes`; checked again when written); listed in
        ``failures`` too.
    soh_refused : list of (battery_id, method, reason)
        Units left without SOH because a short-test SOH model refused them, with the model and
        its reason (graded without SOH, route ``retest``). A refusal followed by another
        model's estimate is only in the unit's history (``soh_refused`` event).
    graded : pl.DataFrame
        Gate/grade/route table of the units processed now.
    absent_columns : list of str
        Grading inputs missing for every unit processed now (a manifest column absent or empty,
        and no tester file giving it), each with what that did and how many units it affected
        (:func:`echelon.pipeline.absent.absent_column_notes`; ``echelon grade`` warns the same).
    seconds : float
        Wall-clock duration.
    """

    manifest: Path
    units: int
    battery_ids: list[str] = field(default_factory=list)
    written: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    soh_refused: list[tuple[str, str, str]] = field(default_factory=list)
    graded: pl.DataFrame = field(default_factory=pl.DataFrame)
    absent_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0


def fingerprint(unit: ManifestUnit) -> str:
    """SHA-256 of a manifest row's content and of its test files' bytes (or their absence)."""
    files = []
    for ref in unit.test_files:
        digest = sha256_file(ref.path) if ref.path.is_file() else f"missing:{ref.path}"
        files.append([ref.kind.value if ref.kind else None, digest])
    body = {
        "battery": unit.battery.model_dump(mode="json"),
        "measurements": unit.measurements,
        "attributes": unit.attributes,
        "files": files,
    }
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _check_parents(manifest: Manifest, registry: Registry) -> None:
    """The genealogy check of a manifest validated without the registry (parents outside it)."""
    problems = genealogy_problems(unit_nodes(manifest.units), registry.existing_batteries)
    if problems:
        raise ManifestError(manifest.path, problems)


def _map(
    fn: Callable[..., UnitOutcome],
    units: list[ManifestUnit],
    store_root: Path,
    executor: Executor | None,
) -> Iterator[UnitOutcome]:
    if executor is None:
        return (fn(u, store_root) for u in units)
    return executor.map(fn, units, [store_root] * len(units), chunksize=4)


def _grading_rows(units: Iterable[ManifestUnit], outcomes: dict[str, UnitOutcome]) -> pl.DataFrame:
    """The batch's grading table: each unit's record, latest measurements (the last of a quantity
    wins, as in the registry) and SOH, through the same mapping as registered units' export."""
    rows = []
    for unit in units:
        out = outcomes[unit.battery.battery_id]
        latest = {m.quantity: m.value for m in out.measurements}
        soh = (
            {
                "soh_percent": out.soh.soh_percent,
                "soh_lower_percent": out.soh.soh_lower_percent,
                "soh_method": out.soh.method,
            }
            if out.soh
            else {}
        )
        rows.append(battery_fields(unit.battery) | latest | soh)
    return to_grading_table(pl.DataFrame(rows, infer_schema_length=None))


def _events(
    unit: ManifestUnit,
    out: UnitOutcome,
    graded: dict[str, Any] | None,
    inputs: dict[str, RoutingInputs],
    children: list[str],
) -> list[PendingEvent]:
    events = [
        PendingEvent(
            "test_run_recorded",
            Status.TESTED,
            {"kind": run.kind.value, "source_path": run.source_path},
            {"test_runs": [test_run_row(run)]},
        )
        for run in out.test_runs
    ]
    measurements = list(out.measurements)
    if out.soh is not None:
        measurements.append(
            Measurement(
                battery_id=unit.battery.battery_id,
                quantity="soh_percent",
                value=out.soh.soh_percent,
                lower=out.soh.soh_lower_percent,
                upper=out.soh.soh_upper_percent,
                method=out.soh.method,
            )
        )
    if measurements:
        events.append(
            PendingEvent(
                "measured",
                None,
                {"count": len(measurements)},
                {"measurements": [measurement_row(m) for m in measurements]},
            )
        )
    events += [
        PendingEvent("soh_refused", None, {"method": method, "reason": reason})
        for method, reason in out.soh_refusals
    ]
    if out.error is not None:
        events.append(PendingEvent("failed", Status.FAILED, {"error": out.error}))
        return events
    if children:
        events.append(PendingEvent("dismantled", Status.DISMANTLED, {"children": children}))
        return events
    if graded is None:
        return events
    for decision in decisions_from_row(graded, inputs[graded["profile"]]):
        if decision.kind == "gate":
            status = Status.QUARANTINED if decision.outcome == "quarantine" else None
        elif decision.kind == "grade":
            status = Status.GRADED if graded["gate"] == "pass" else None
        else:
            status = (
                Status.ROUTED if graded["gate"] == "pass" and decision.outcome != "retest" else None
            )
        events.append(
            PendingEvent(
                {"gate": "gated", "grade": "graded", "route": "routed"}[decision.kind],
                status,
                {"outcome": decision.outcome},
                {"decisions": [decision_row(decision)]},
            )
        )
    return events


def intake(
    manifest: Path | str | Manifest,
    *,
    registry: Registry,
    profile: GradingProfile | str | Path | None = None,
    economics: Economics | None = None,
    workers: int = 2,
    executor: Executor | None = None,
    as_of: dt.date | None = None,
    soh_models: Sequence[SohModel | str] = DEFAULT_SOH_MODELS,
    progress: Progress | None = None,
) -> IntakeReport:
    """Take a manifest's units into the registry.

    Parameters
    ----------
    manifest : path-like or Manifest
        Manifest file (validated as a whole first) or an already validated manifest.
    registry : Registry
        Open registry.
    profile : GradingProfile, str or Path, optional
        Grading profile for every unit; by default each unit is graded with the profile of its
        region (``EU`` → ``eu``, ``CN`` → ``cn``, ``US`` → ``us``, else ``baseline``).
    economics : Economics, optional
        Prices and costs for the reuse-or-recycle decision (default: the table each profile
        names; see :func:`echelon.routing.load_economics` for per-run overrides).
    workers : int
        Worker processes when no ``executor`` is given (0 = in-process).
    executor : Executor, optional
        Any ``concurrent.futures.Executor`` (e.g. a Dask client's) to process units.
    as_of : date, optional
        Date for calendar-expiry checks (default: today).
    soh_models : sequence of SohModel or str
        Short-test estimators tried in order for units without a capacity test (shipped model
        names or model files; empty: such units get no SOH). See
        :mod:`echelon.pipeline.short_test`.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    IntakeReport

    Raises
    ------
    ManifestError
        When the manifest is invalid (nothing is imported).
    """
    start = time.perf_counter()
    if isinstance(manifest, Manifest):
        parsed = manifest
        _check_parents(parsed, registry)
    else:  # parents outside the manifest checked with its rows
        parsed = read_manifest(manifest, registered=registry.existing_batteries)
    report = IntakeReport(parsed.path, len(parsed), [u.battery.battery_id for u in parsed.units])
    prints = {u.battery.battery_id: fingerprint(u) for u in parsed.units}
    known = registry.known_fingerprints(prints)
    todo = [
        u
        for u in parsed.units
        if prints[u.battery.battery_id] not in known.get(u.battery.battery_id, set())
    ]
    report.skipped = len(parsed) - len(todo)
    # recycled (final), gone with a recycled pack, regrouped (a part of a pack): not taken in
    # again; checked now to skip their files, and again when written (under the status lock)
    retakes = [u.battery.battery_id for u in todo if u.battery.battery_id in known]
    report.refused = list(refused_retakes(registry, retakes).items())
    # and new units naming a recycled parent (or one gone with a recycled pack)
    new_parents = {
        u.battery.battery_id: parent
        for u in todo
        if (parent := u.battery.parent_id) and u.battery.battery_id not in known
    }
    report.refused += list(refused_parents(registry, new_parents).items()) if new_parents else []
    report.failures += report.refused
    refused = {bid for bid, _ in report.refused}
    todo = [u for u in todo if u.battery.battery_id not in refused]
    parents = {u.battery.parent_id for u in parsed.units if u.battery.parent_id}
    children: dict[str, list[str]] = {}
    for u in parsed.units:
        if u.battery.parent_id:
            children.setdefault(u.battery.parent_id, []).append(u.battery.battery_id)

    outcomes: dict[str, UnitOutcome] = {}
    own = executor is None and workers > 0 and len(todo) > 1
    pool = process_pool(workers) if own else executor
    try:
        for done, out in enumerate(_map(process_unit, todo, registry.store.root, pool), start=1):
            outcomes[out.battery_id] = out
            if progress:
                progress("process", done, len(todo))
    finally:
        if own and pool is not None:
            pool.shutdown()

    for soh_model in soh_models:
        model = soh_model if isinstance(soh_model, SohModel) else load_model(soh_model)
        estimate_short_tests(todo, outcomes, model)

    gradable = [
        u
        for u in todo
        if outcomes[u.battery.battery_id].error is None and u.battery.battery_id not in parents
    ]
    graded_rows: dict[str, dict[str, Any]] = {}
    inputs: dict[str, RoutingInputs] = {}
    if gradable:
        table = _grading_rows(gradable, outcomes)
        report.graded, inputs = grade_by_region(
            table, profile=profile, economics=economics, as_of=as_of
        )
        report.absent_columns = absent_column_notes(table, report.graded)
        graded_rows = {r["battery_id"]: r for r in report.graded.iter_rows(named=True)}

    # parents first, so a child's genealogy always points at a registered unit
    order = sorted(todo, key=lambda u: -LEVEL_RANK[u.battery.level])
    writes = []
    for unit in order:
        bid = unit.battery.battery_id
        out = outcomes[bid]
        writes.append(
            UnitWrite(
                battery=unit.battery,
                fingerprint=prints[bid],
                manifest_sha256=parsed.sha256,
                outcome="failed" if out.error else "ok",
                attributes=unit.attributes,
                events=_events(unit, out, graded_rows.get(bid), inputs, children.get(bid, [])),
            )
        )
        if out.error:
            report.failures.append((bid, out.error))
        if out.soh is None:  # (a unit another model estimated keeps the refusal in its history)
            report.soh_refused += [(bid, method, why) for method, why in out.soh_refusals]
    for start_index in range(0, len(writes), WRITE_CHUNK):
        chunk = writes[start_index : start_index + WRITE_CHUNK]
        for result in registry.record_units(chunk):
            if result.result == "written":
                report.written += 1
            elif result.result == "skipped":
                report.skipped += 1
            elif result.result == "refused":  # its status changed since the check above
                report.refused.append((result.battery_id, str(result.error)))
                report.failures.append((result.battery_id, str(result.error)))
            else:
                report.failures.append((result.battery_id, f"registry: {result.error}"))
        if progress:
            progress("write", min(start_index + WRITE_CHUNK, len(writes)), len(writes))
    report.failed = len(report.failures)
    report.seconds = time.perf_counter() - start
    return report
