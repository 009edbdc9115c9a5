"""Recycling lots in the registry: units to recycle, the discharge record, end of the passport.

Recording a lot appends two events to every unit's hash-chained log (through
:meth:`echelon.registry.Registry.append_events`):

``discharged``
    the discharge before recycling (GB/T 33598.3-2021): method (external circuit or immersion),
    the residual voltage if measured, the limit it was checked against; no status change.
``recycled``
    status ``recycled``: lot id, process, reporting year, the unit's mass and values, and the
    SHA-256 of the lot record. The battery passport ends here (Regulation (EU) 2023/1542
    Art. 77(8)); a recycled unit is refused by any later lot.

Nothing is written before the whole lot is checked (:func:`plan_record`): every unit registered,
each row agreeing with the registered unit (chemistry, level, mass:
:mod:`echelon.recycling.reconcile`), no unit recycled in another lot, no pack recycled twice
with its parts, every unit discharged; a lot id already recorded is recorded again only with the
same options and units, which changes nothing. The check and the write are one transaction
holding the registry's write lock (:func:`echelon.registry.serialized`): a recording that
overlaps one being written waits for it, and is then checked against it (and refused), never
both recorded. Units are written :data:`RECORD_CHUNK` at a time; the lot commits whole or not
at all.

The lot record (:class:`~echelon.recycling.lot.LotResult` as JSON) is kept byte for byte in the
registry's content-addressed store, so ``echelon recycle lot:<id>`` rewrites the same report years
later and :func:`year_compliance` sums the lots of a reporting year.

Sources a lot can name (``echelon recycle SOURCE``): a table file; ``route:recycle`` (or
``recycle``) — registered units whose latest route is ``recycle`` and that are not recycled
(dismantled packs are represented by their modules); ``status:<status>`` — registered units with
that status; ``lot:<id>`` — a recorded lot. A selector leaves out units no longer whole (a part
of a recycled pack, a pack with recycled parts), and parts selected with their own pack (its
recycling covers them: counted once), naming them (:func:`select_registry_units`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from echelon.catalog import chemistry as chemistry_record
from echelon.domain import Status
from echelon.errors import (
    NotFoundError,
    OutputError,
    RecyclingError,
    SchemaError,
    UsageError,
)
from echelon.io.atomic import utf8_writer, write_atomic
from echelon.recycling.catalog import Discharge, process_catalog
from echelon.recycling.compliance import compliance_frame
from echelon.recycling.lot import LotResult
from echelon.recycling.reconcile import (
    genealogy_conflicts,
    identity_problems,
    lot_differences,
    not_whole,
    with_their_assembly,
)
from echelon.registry import (
    UNIT_STATUS,
    PendingEvent,
    Registry,
    SerializedWrite,
    events_frame,
    serialized,
    units_frame,
)
from echelon.registry.store import STORE_ADVICE

RECORD_CHUNK = 500
"""Units per bulk write of a recording (all in its one transaction)."""
RECORD_LOCK = UNIT_STATUS
"""Name of the registry write lock a recording holds from its check to its commit
(:func:`echelon.registry.serialized`): the one pack builds take too, so a unit is not built into
a new pack while a lot is recycling it."""
PASSPORT_END = "ended: the battery is recycled (Regulation (EU) 2023/1542 Art. 77(8))"
GENEALOGY = ("battery_id", "parent_id", "level", "status")
"""Columns of :func:`~echelon.registry.units_frame` the genealogy check reads."""
TABLE_COLUMNS = (
    "battery_id",
    "chemistry",
    "level",
    "mass_kg",
    "nominal_capacity_ah",
    "nominal_voltage_v",
    "nominal_energy_wh",
    "series_count",
)


@dataclass(frozen=True)
class Source:
    """What ``echelon recycle SOURCE`` names: a table file, registry units, or a recorded lot."""

    kind: Literal["table", "registry", "lot"]
    value: str


def parse_source(text: str) -> Source:
    """Interpret a ``TABLE_OR_LOT`` argument (see the module docstring)."""
    if text.startswith("lot:"):
        return Source("lot", text[4:])
    if text in ("recycle", "route:recycle"):
        return Source("registry", "route:recycle")
    if text.startswith("status:"):
        return Source("registry", text)
    return Source("table", text)


@dataclass(frozen=True)
class Selection:
    """Registered units a selector names (:func:`select_registry_units`).

    Attributes
    ----------
    units : pl.DataFrame
        The lot table (the TABLE contract).
    left_out : dict
        ``{battery_id: why}``: units the selector matches that are no longer whole
        (:func:`echelon.recycling.reconcile.not_whole`), left out of ``units``.
    counted_once : dict
        ``{battery_id: why}``: parts of an assembly the selector matches too, left out of
        ``units`` because the assembly's recycling covers them
        (:func:`echelon.recycling.reconcile.with_their_assembly`).
    """

    units: pl.DataFrame
    left_out: dict[str, str]
    counted_once: dict[str, str] = field(default_factory=dict)


def select_registry_units(registry: Registry, selector: str) -> Selection:
    """Registered units as a lot table (the TABLE contract), e.g. ``route:recycle``.

    The nominal energy is the registered energy, else capacity × voltage, else capacity × the
    chemistry's nominal cell voltage × cells in series; the mass is estimated from it. Units no
    longer whole are left out, and named in :attr:`Selection.left_out`: a part of a recycled
    pack (it went with it), a pack some of whose parts were recycled, a unit with a ``recycled``
    event — a lot holding them would be refused (:func:`plan_record`). A table naming them is
    still refused. A part selected with its own pack (or module) is left out too, named in
    :attr:`Selection.counted_once`: the outermost assembly is recycled, and its recycling
    covers the part (its mass and value counted once). A table naming both is refused.

    Parameters
    ----------
    registry : Registry
    selector : str
        ``route:recycle`` or ``status:<status>``.

    Raises
    ------
    NotFoundError
        If no registered unit matches (naming those left out, if any).
    """
    frame = units_frame(registry)
    if frame.height == 0:
        raise NotFoundError(f"the registry {registry.url} holds no batteries")
    status = pl.col("status").fill_null("")
    keep = (status != Status.RECYCLED.value) & (status != Status.DISMANTLED.value)
    if selector == "route:recycle":
        chosen = frame.filter(keep & (pl.col("route") == "recycle"))
    elif selector.startswith("status:"):
        chosen = frame.filter(keep & (status == selector.split(":", 1)[1]))
    else:
        raise NotFoundError(f"unknown selector {selector!r}; use route:recycle or status:<status>")
    left_out = (
        not_whole(chosen["battery_id"].to_list(), frame.select(GENEALOGY), recycled_units(registry))
        if chosen.height
        else {}
    )
    chosen = chosen.filter(~pl.col("battery_id").is_in(list(left_out)))
    counted_once = with_their_assembly(chosen["battery_id"].to_list(), frame.select(GENEALOGY))
    chosen = chosen.filter(~pl.col("battery_id").is_in(list(counted_once)))
    if chosen.height == 0:
        raise NotFoundError(
            f"no unit to recycle matches {selector!r} in {registry.url}"
            + (f"; {left_out_note(left_out)}" if left_out else "")
        )
    voltage, energy = _nameplate(chosen)
    units = chosen.with_columns(
        pl.lit(None, dtype=pl.Float64).alias("mass_kg"),
        energy.alias("nominal_energy_wh"),
        voltage.alias("nominal_voltage_v"),
    ).select(TABLE_COLUMNS)
    return Selection(units, left_out, counted_once)


def registry_units(registry: Registry, selector: str) -> pl.DataFrame:
    """The lot table of :func:`select_registry_units` (units no longer whole left out)."""
    return select_registry_units(registry, selector).units


def _left_out(whys: list[str], what: str, shown: int) -> str:
    more = f"; … and {len(whys) - shown} more" if len(whys) > shown else ""
    return f"left out {len(whys)} {what}: " + "; ".join(whys[:shown]) + more


def left_out_note(left_out: dict[str, str], shown: int = 10) -> str:
    """``left out N unit(s) no longer whole: <why>; …`` (at most ``shown`` named)."""
    what = "unit(s) no longer whole (a lot holding them would be refused)"
    return _left_out(list(left_out.values()), what, shown)


def counted_once_note(counted_once: dict[str, str], shown: int = 10) -> str:
    """``left out N part(s) of assemblies in the lot: <why>; …`` (at most ``shown`` named)."""
    what = "part(s) of assemblies in the lot (their assembly's recycling covers them)"
    return _left_out(list(counted_once.values()), what, shown)


def _nameplate(frame: pl.DataFrame, catalog_dir: Path | None = None) -> tuple[pl.Expr, pl.Expr]:
    """Nominal voltage and energy of registered units: as registered, else capacity × the
    chemistry's nominal cell voltage × cells in series (the voltage), capacity × voltage (the
    energy)."""
    cell_v = {
        c: chemistry_record(c, catalog_dir=catalog_dir).nominal_voltage_v
        for c in frame["chemistry"].unique()
    }
    voltage = pl.coalesce(
        "nominal_voltage_v",
        pl.col("chemistry").replace_strict(cell_v, return_dtype=pl.Float64)
        * pl.col("series_count"),
    )
    return voltage, pl.coalesce("nominal_energy_wh", pl.col("nominal_capacity_ah") * voltage)


@dataclass(frozen=True)
class RecordReport:
    """Outcome of :func:`record_lot`."""

    lot_id: str
    lot_sha256: str
    written: int
    skipped: int


@dataclass(frozen=True)
class RecordPlan:
    """A lot checked against the registry and ready to record (:func:`plan_record`).

    Attributes
    ----------
    result : LotResult
        What is recorded: the lot given, or, when its id is already recorded with the same
        options and units, the recorded lot (its report as recorded).
    todo : tuple of str
        Units to record.
    skipped : tuple of str
        Units this lot recorded before (a re-run, or a recording interrupted part-way).
    lot_sha256 : str or None
        SHA-256 of the recorded lot record; ``None`` for a new lot.
    limits : dict
        ``{battery_id: (residual V, limit V)}`` of the discharge check.
    discharge_method : str
    discharge : Discharge
        The discharge rules of the catalogue the lot was checked against (its standard is
        recorded on every unit's ``discharged`` event).
    catalog_dir : Path or None
        The catalogue overrides it was checked with (checked with again when it is written).
    """

    result: LotResult
    todo: tuple[str, ...]
    skipped: tuple[str, ...]
    lot_sha256: str | None
    limits: dict[str, tuple[float | None, float | None]]
    discharge_method: str
    discharge: Discharge
    catalog_dir: Path | None = None

    @property
    def lot_id(self) -> str:
        """The lot's id."""
        return str(self.result.meta["lot_id"])


def recycled_units(registry: Registry, battery_ids: list[str] | None = None) -> pl.DataFrame:
    """``recycled`` events (of some units): ``battery_id``, ``lot_id``, ``lot_sha256``,
    ``process``, ``reporting_year``, ``recorded_at``, in the order they were recorded."""
    events = events_frame(registry, kind="recycled", battery_ids=battery_ids)
    rows = []
    for bid, payload, recorded_at in events.select(
        "battery_id", "payload", "recorded_at"
    ).iter_rows():
        body = json.loads(payload)
        rows.append(
            {
                "battery_id": bid,
                "lot_id": body.get("lot_id"),
                "lot_sha256": body.get("lot_sha256"),
                "process": body.get("process"),
                "reporting_year": body.get("reporting_year"),
                "recorded_at": recorded_at,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "battery_id": pl.String,
            "lot_id": pl.String,
            "lot_sha256": pl.String,
            "process": pl.String,
            "reporting_year": pl.Int64,
            "recorded_at": pl.String,
        },
    )


def _discharge_limits(
    result: LotResult, registered: pl.DataFrame, catalog_dir: Path | None
) -> dict[str, tuple[float | None, float | None]]:
    """``{battery_id: (residual V, limit V)}``; refuses units above the limit."""
    units = result.units.join(
        registered.select("battery_id", pl.col("series_count").alias("reg_series")),
        on="battery_id",
        how="left",
    )
    out: dict[str, tuple[float | None, float | None]] = {}
    problems = []
    for bid, chem, residual, series, reg_series in units.select(
        "battery_id", "chemistry_used", "residual_voltage_v", "series_count", "reg_series"
    ).iter_rows():
        if residual is None:
            out[bid] = (None, None)
            continue
        cells = series or reg_series or 1
        limit = chemistry_record(chem, catalog_dir=catalog_dir).discharge_cutoff_v * cells
        out[bid] = (residual, limit)
        if residual > limit:
            problems.append(f"{bid}: residual {residual:g} V > {limit:g} V ({cells} × cut-off)")
    if problems:
        raise RecyclingError(
            f"{len(problems)} unit(s) are not discharged (GB/T 33598.3): {'; '.join(problems[:10])}"
            " — discharge them before recording the lot"
        )
    return out


def plan_record(
    registry: Registry,
    result: LotResult,
    *,
    discharge_method: str = "external_circuit",
    catalog_dir: Path | None = None,
) -> RecordPlan:
    """Check a lot against the registry before anything is written (:func:`record_lot`).

    Parameters
    ----------
    registry : Registry
    result : LotResult
        From :func:`echelon.recycling.recycle_lot`.
    discharge_method : str
        ``external_circuit`` or ``immersion`` (GB/T 33598.3-2021).
    catalog_dir : Path, optional
        Catalogue overrides (default: ``ECHELON_CATALOG_DIR``): the discharge rules and the
        chemistries' cut-off voltages the lot is checked against and recorded with.

    Returns
    -------
    RecordPlan
        The units to record; when the lot id is recorded already (same options and units), the
        recorded lot and its record's SHA-256, and the units it holds are skipped.

    Raises
    ------
    NotFoundError
        Units not registered.
    SchemaError
        Rows that contradict the registered units (chemistry, level, mass:
        :func:`echelon.recycling.reconcile.identity_problems`), each row and column named.
    UsageError
        The lot id is recorded with other options, prices or units (the recorded ones named).
    RecyclingError
        Units recycled in another lot, a dismantled pack, a pack a part of which is recycled or
        in the lot, a part of a recycled pack, units not discharged, an unknown discharge method.
    """
    spec = process_catalog(catalog_dir).discharge
    if discharge_method not in spec.methods:
        raise RecyclingError(
            f"unknown discharge method {discharge_method!r}; use {', '.join(spec.methods)}"
        )
    lot_id = str(result.meta["lot_id"])
    ids = result.units.get_column("battery_id").to_list()
    frame = units_frame(registry)  # one read: identity, genealogy and the discharge limits
    registered = frame.filter(pl.col("battery_id").is_in(ids))
    known = set(registered.get_column("battery_id"))
    missing = [b for b in ids if b not in known]
    if missing:
        raise NotFoundError(
            f"{len(missing)} unit(s) of lot {lot_id} are not registered: {', '.join(missing[:10])}"
            " — take them in first, or run without --record"
        )
    _, energy = _nameplate(registered, catalog_dir)
    identity = registered.select(
        "battery_id",
        pl.col("chemistry").alias("reg_chemistry"),
        pl.col("level").alias("reg_level"),
        energy.alias("reg_energy_wh"),
    )
    problems = identity_problems(result.units, identity, catalog_dir=catalog_dir)
    if problems:
        raise SchemaError(str(result.meta.get("source") or "<lot>"), problems)
    done = recycled_units(registry)
    here = done.filter(pl.col("lot_id") == lot_id)
    sha = None
    if here.height:
        recorded = load_lot(registry, lot_id)
        _refuse_another_lot_under(lot_id, recorded, result)
        result, sha = recorded, str(here.get_column("lot_sha256")[0])
    elsewhere = done.filter(pl.col("battery_id").is_in(ids) & (pl.col("lot_id") != lot_id))
    if elsewhere.height:
        lots = elsewhere.group_by("lot_id", "process", "reporting_year", maintain_order=True).agg(
            pl.col("battery_id"), pl.col("recorded_at").min()
        )
        listed = "; ".join(
            f"{', '.join(units[:10])}{f' and {len(units) - 10} more' if len(units) > 10 else ''} "
            f"in lot {lot} ({process}, reporting year {year}, recorded {str(at)[:10]})"
            for lot, process, year, units, at in lots.head(5).iter_rows()
        )
        raise RecyclingError(
            f"{elsewhere.height} unit(s) were already recycled in another lot (their passport has "
            f"ended): {listed}"
        )
    conflicts = genealogy_conflicts(ids, frame.select(GENEALOGY), done)
    if conflicts:
        raise RecyclingError(
            f"lot {lot_id} would recycle units twice, with their packs or parts: "
            f"{'; '.join(conflicts[:10])}"
            + (f" … and {len(conflicts) - 10} more" if len(conflicts) > 10 else "")
        )
    skip = set(here.get_column("battery_id"))
    return RecordPlan(
        result=result,
        todo=tuple(b for b in ids if b not in skip),
        skipped=tuple(b for b in ids if b in skip),
        lot_sha256=sha,
        limits=_discharge_limits(result, registered, catalog_dir),
        discharge_method=discharge_method,
        discharge=spec,
        catalog_dir=catalog_dir,
    )


def _refuse_another_lot_under(lot_id: str, recorded: LotResult, lot: LotResult) -> None:
    """Refuse recording ``lot`` under the id of a recorded lot it differs from (exit code 2)."""
    changes = lot_differences(recorded, lot)
    if not changes:
        return
    meta = recorded.meta
    raise UsageError(
        f"lot {lot_id} is recorded (process {meta['process']}, reporting year "
        f"{meta['reporting_year']}, location {meta['location']}, dismantle {meta['dismantle']}, "
        f"prices {meta['prices']}, {meta['units']} unit(s)): its units were recycled, and their "
        f"passports ended, under those options, so it cannot be recorded again with "
        f"{'; '.join(changes)}. Its report as recorded: `echelon recycle lot:{lot_id}`; to value "
        "the same units another way, run the lot table with --no-record"
    )


def record_planned(
    registry: Registry,
    plan: RecordPlan,
    *,
    discharged_on: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RecordReport:
    """Record a lot checked before (:func:`plan_record`): it is checked again, as
    :func:`record_lot` checks it, inside the recording's transaction — another recording may
    have come between.

    Parameters
    ----------
    registry : Registry
    plan : RecordPlan
        From :func:`plan_record` on the same registry.
    discharged_on : date, optional
        Default: today.
    progress : callable, optional
        ``progress(done, total)``.
    """
    return record_lot(
        registry,
        plan.result,
        discharge_method=plan.discharge_method,
        discharged_on=discharged_on,
        progress=progress,
        catalog_dir=plan.catalog_dir,
    )


def record_lot(
    registry: Registry,
    result: LotResult,
    *,
    discharge_method: str = "external_circuit",
    discharged_on: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
    catalog_dir: Path | None = None,
    checked: Callable[[RecordPlan], None] | None = None,
) -> RecordReport:
    """Record a lot: discharge and ``recycled`` events for each unit, the lot in the store.

    Everything is checked first (:func:`plan_record`), in the transaction that writes, holding
    the registry's write lock (:data:`RECORD_LOCK`): a recording of overlapping units that runs
    at the same time waits for this one to commit and is then refused (its units recycled in
    another lot), so no unit is recycled twice. A lot refused, or interrupted, writes nothing.

    Parameters
    ----------
    registry : Registry
    result : LotResult
        From :func:`echelon.recycling.recycle_lot`; every unit must be registered.
    discharge_method : str
        ``external_circuit`` or ``immersion`` (GB/T 33598.3-2021).
    discharged_on : date, optional
        Default: today.
    progress : callable, optional
        ``progress(done, total)``.
    catalog_dir : Path, optional
        Catalogue overrides, as :func:`plan_record`.
    checked : callable, optional
        ``checked(plan)``, called once the lot has passed the check, before anything is written
        (e.g. to print what is recorded: ``plan.result``).

    Returns
    -------
    RecordReport
        Units written, and units skipped because this lot already recorded them (re-runs are
        idempotent; the SHA-256 is then the recorded lot record's).

    Raises
    ------
    NotFoundError, SchemaError, UsageError, RecyclingError
        As :func:`plan_record`.
    """
    with serialized(registry, RECORD_LOCK) as writer:
        plan = plan_record(
            registry, result, discharge_method=discharge_method, catalog_dir=catalog_dir
        )
        if checked:
            checked(plan)
        return _write_plan(writer, plan, discharged_on=discharged_on, progress=progress)


def _write_plan(
    writer: SerializedWrite,
    plan: RecordPlan,
    *,
    discharged_on: dt.date | None,
    progress: Callable[[int, int], None] | None,
) -> RecordReport:
    """Write a :class:`RecordPlan` checked in ``writer``'s transaction: the lot record in the
    store (a new lot), then the discharge and ``recycled`` events of each unit to record,
    :data:`RECORD_CHUNK` units per bulk write. A lot record stored here is removed again when
    the write fails (still under the lock: no other recording refers to it)."""
    sha, new = (plan.lot_sha256, None) if plan.lot_sha256 else _store_lot(writer.registry, plan)
    try:
        written = _append_units(writer, plan, sha, discharged_on, progress)
    except BaseException:
        if new is not None:
            new.unlink(missing_ok=True)
        raise
    return RecordReport(plan.lot_id, sha, written, len(plan.skipped))


def _append_units(
    writer: SerializedWrite,
    plan: RecordPlan,
    sha: str,
    discharged_on: dt.date | None,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Append each unit's ``discharged`` and ``recycled`` events; returns the units written."""
    spec = plan.discharge
    result = plan.result
    on = (discharged_on or dt.date.today()).isoformat()
    todo = set(plan.todo)
    rows = result.units.select(
        "battery_id",
        "mass_kg",
        "chemistry_used",
        "composition_estimate",
        "recovered_value_usd",
        "process_cost_usd",
        "net_value_usd",
    ).filter(pl.col("battery_id").is_in(todo))
    batch: list[tuple[str, list[PendingEvent]]] = []
    for i, row in enumerate(rows.iter_rows(named=True), start=1):
        residual, limit = plan.limits[row["battery_id"]]
        discharged = PendingEvent(
            "discharged",
            None,
            {
                "standard": spec.standard,
                "method": plan.discharge_method,
                "discharged_on": on,
                "residual_voltage_v": residual,
                "limit_v": limit,
                "lot_id": plan.lot_id,
            },
        )
        recycled = PendingEvent(
            "recycled",
            Status.RECYCLED,
            {
                **row,
                "lot_id": plan.lot_id,
                "lot_sha256": sha,
                "process": result.meta["process"],
                "reporting_year": result.meta["reporting_year"],
                "passport": PASSPORT_END,
            },
        )
        batch.append((row["battery_id"], [discharged, recycled]))
        if len(batch) == RECORD_CHUNK or i == rows.height:
            writer.append_events_many(batch)  # in the one transaction: all units or none
            batch = []
            if progress:
                progress(i, rows.height)
    return rows.height


def _store_lot(registry: Registry, plan: RecordPlan) -> tuple[str, Path | None]:
    """Keep the lot record in the store: its SHA-256, and its path when it was not there.

    Raises
    ------
    OutputError
        The record could not be written to the store (a disk that fills, a permission
        withdrawn): names it and the store, and says nothing was recorded (it is written before
        any event).
    """
    text = plan.result.to_json()
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    kept = registry.store.raw_path(sha, ".json")
    if kept.is_file():
        return sha, None
    try:
        write_atomic(kept, utf8_writer(text))
    except OutputError as exc:
        raise OutputError(
            f"lot {plan.lot_id}: {exc}; nothing was recorded (the lot record is kept in the "
            f"registry's file store {registry.store.root} before any event is written): "
            f"{STORE_ADVICE} and run the command again"
        ) from exc
    return sha, kept


def lots_frame(registry: Registry) -> pl.DataFrame:
    """Recorded lots: ``lot_id``, ``process``, ``reporting_year``, ``units``, ``recorded_at``,
    ``lot_sha256``."""
    return (
        recycled_units(registry)
        .group_by("lot_id", "lot_sha256", "process", "reporting_year")
        .agg(pl.len().alias("units"), pl.col("recorded_at").min())
        .sort("recorded_at", "lot_id")
    )


def load_lot(registry: Registry, lot_id: str) -> LotResult:
    """The recorded result of a lot, read back from the store.

    Raises
    ------
    NotFoundError
        With the recorded lot ids, when ``lot_id`` is not one of them.
    """
    lots = lots_frame(registry).filter(pl.col("lot_id") == lot_id)
    if lots.height == 0:
        known = ", ".join(lots_frame(registry).get_column("lot_id").head(10).to_list()) or "none"
        raise NotFoundError(
            f"no recycling lot {lot_id!r} in {registry.url}; recorded lots: {known}"
        )
    path = registry.store.raw_path(lots.get_column("lot_sha256")[0], ".json")
    if not path.is_file():
        raise NotFoundError(f"lot {lot_id}: its record {path} is missing from the file store")
    return LotResult.from_json(path.read_text(encoding="utf-8"))


def year_compliance(registry: Registry, year: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """EU 2023/1542 verdicts of all lots recorded for a reporting year (masses summed over lots).

    Returns
    -------
    (pl.DataFrame, pl.DataFrame)
        The compliance frame and the lots it covers.

    Raises
    ------
    NotFoundError
        If no lot is recorded for the year.
    """
    lots = lots_frame(registry).filter(pl.col("reporting_year") == year)
    if lots.height == 0:
        raise NotFoundError(
            f"no recycling lot recorded for reporting year {year} in {registry.url}"
        )
    balances = []
    for lot_id in lots.get_column("lot_id"):
        result = load_lot(registry, lot_id)
        if result.meta["process"] != "mechanical":
            balances.append(
                result.mass_balance.select("material", "kind", "input_kg", "recovered_kg")
            )
    if not balances:
        return compliance_frame(
            pl.DataFrame(
                schema={
                    "material": pl.String,
                    "kind": pl.String,
                    "input_kg": pl.Float64,
                    "recovered_kg": pl.Float64,
                }
            ),
            year=year,
            applicable=False,
        ), lots
    summed = (
        pl.concat(balances)
        .group_by("material", "kind")
        .agg(pl.col("input_kg").sum(), pl.col("recovered_kg").sum())
    )
    return compliance_frame(summed, year=year), lots
