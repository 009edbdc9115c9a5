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

Units are written in chunks of :data:`RECORD_CHUNK` per transaction
(:meth:`~echelon.registry.Registry.append_events_many`).

The lot record (:class:`~echelon.recycling.lot.LotResult` as JSON) is kept byte for byte in the
registry's content-addressed store, so ``echelon recycle lot:<id>`` rewrites the same report years
later and :func:`year_compliance` sums the lots of a reporting year.

Sources a lot can name (``echelon recycle SOURCE``): a table file; ``route:recycle`` (or
``recycle``) — registered units whose latest route is ``recycle`` and that are not recycled
(dismantled packs are represented by their modules); ``status:<status>`` — registered units with
that status; ``lot:<id>`` — a recorded lot.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from echelon.catalog import chemistry as chemistry_record
from echelon.domain import Status
from echelon.errors import NotFoundError, RecyclingError
from echelon.recycling.catalog import process_catalog
from echelon.recycling.compliance import compliance_frame
from echelon.recycling.lot import LotResult
from echelon.registry import PendingEvent, Registry, events_frame, units_frame

RECORD_CHUNK = 500
"""Units recorded per registry transaction."""
PASSPORT_END = "ended: the battery is recycled (Regulation (EU) 2023/1542 Art. 77(8))"
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


def registry_units(registry: Registry, selector: str) -> pl.DataFrame:
    """Registered units as a lot table (the TABLE contract), e.g. ``route:recycle``.

    The nominal energy is the registered energy, else capacity × voltage, else capacity × the
    chemistry's nominal cell voltage × cells in series; the mass is estimated from it.

    Raises
    ------
    NotFoundError
        If no registered unit matches.
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
    if chosen.height == 0:
        raise NotFoundError(f"no unit to recycle matches {selector!r} in {registry.url}")
    cell_v = {c: chemistry_record(c).nominal_voltage_v for c in chosen["chemistry"].unique()}
    voltage = pl.coalesce(
        "nominal_voltage_v",
        pl.col("chemistry").replace_strict(cell_v, return_dtype=pl.Float64)
        * pl.col("series_count"),
    )
    return chosen.with_columns(
        pl.lit(None, dtype=pl.Float64).alias("mass_kg"),
        pl.coalesce("nominal_energy_wh", pl.col("nominal_capacity_ah") * voltage).alias(
            "nominal_energy_wh"
        ),
        voltage.alias("nominal_voltage_v"),
    ).select(TABLE_COLUMNS)


@dataclass(frozen=True)
class RecordReport:
    """Outcome of :func:`record_lot`."""

    lot_id: str
    lot_sha256: str
    written: int
    skipped: int


def _recycled_payloads(registry: Registry, battery_ids: list[str] | None = None) -> pl.DataFrame:
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
    result: LotResult, registry: Registry
) -> dict[str, tuple[float | None, float | None]]:
    """``{battery_id: (residual V, limit V)}``; refuses units above the limit."""
    units = result.units
    registered = units_frame(registry).select(
        "battery_id", pl.col("series_count").alias("reg_series")
    )
    units = units.join(registered, on="battery_id", how="left")
    out: dict[str, tuple[float | None, float | None]] = {}
    problems = []
    for bid, chem, residual, series, reg_series in units.select(
        "battery_id", "chemistry_used", "residual_voltage_v", "series_count", "reg_series"
    ).iter_rows():
        if residual is None:
            out[bid] = (None, None)
            continue
        cells = series or reg_series or 1
        limit = chemistry_record(chem).discharge_cutoff_v * cells
        out[bid] = (residual, limit)
        if residual > limit:
            problems.append(f"{bid}: residual {residual:g} V > {limit:g} V ({cells} × cut-off)")
    if problems:
        raise RecyclingError(
            f"{len(problems)} unit(s) are not discharged (GB/T 33598.3): {'; '.join(problems[:10])}"
            " — discharge them before recording the lot"
        )
    return out


def record_lot(
    registry: Registry,
    result: LotResult,
    *,
    discharge_method: str = "external_circuit",
    discharged_on: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RecordReport:
    """Record a lot: discharge and ``recycled`` events for each unit, the lot in the store.

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

    Returns
    -------
    RecordReport
        Units written, and units skipped because this lot already recorded them (re-runs are
        idempotent).

    Raises
    ------
    NotFoundError
        If units are not registered.
    RecyclingError
        If units were recycled in another lot, are not discharged, or the method is unknown.
    """
    spec = process_catalog().discharge
    if discharge_method not in spec.methods:
        raise RecyclingError(
            f"unknown discharge method {discharge_method!r}; use {', '.join(spec.methods)}"
        )
    lot_id = str(result.meta["lot_id"])
    ids = result.units.get_column("battery_id").to_list()
    known = registry.existing_batteries(ids)
    missing = [b for b in ids if b not in known]
    if missing:
        raise NotFoundError(
            f"{len(missing)} unit(s) of lot {lot_id} are not registered: {', '.join(missing[:10])}"
            " — take them in first, or run without --record"
        )
    done = _recycled_payloads(registry, ids)
    elsewhere = done.filter(pl.col("lot_id") != lot_id)
    if elsewhere.height:
        listed = ", ".join(
            f"{b} ({lot})"
            for b, lot in elsewhere.select("battery_id", "lot_id").head(10).iter_rows()
        )
        raise RecyclingError(
            f"{elsewhere.height} unit(s) were already recycled in another lot (their passport has "
            f"ended): {listed}"
        )
    skip = set(done.get_column("battery_id"))
    limits = _discharge_limits(result, registry)
    sha = _store_lot(registry, result)
    on = (discharged_on or dt.date.today()).isoformat()
    rows = result.units.select(
        "battery_id",
        "mass_kg",
        "chemistry_used",
        "composition_estimate",
        "recovered_value_usd",
        "process_cost_usd",
        "net_value_usd",
    ).iter_rows(named=True)
    todo = [r for r in rows if r["battery_id"] not in skip]
    batch: list[tuple[str, list[PendingEvent]]] = []
    for i, row in enumerate(todo, start=1):
        residual, limit = limits[row["battery_id"]]
        discharged = PendingEvent(
            "discharged",
            None,
            {
                "standard": spec.standard,
                "method": discharge_method,
                "discharged_on": on,
                "residual_voltage_v": residual,
                "limit_v": limit,
                "lot_id": lot_id,
            },
        )
        recycled = PendingEvent(
            "recycled",
            Status.RECYCLED,
            {
                **row,
                "lot_id": lot_id,
                "lot_sha256": sha,
                "process": result.meta["process"],
                "reporting_year": result.meta["reporting_year"],
                "passport": PASSPORT_END,
            },
        )
        batch.append((row["battery_id"], [discharged, recycled]))
        if len(batch) == RECORD_CHUNK or i == len(todo):
            # one transaction per chunk: every unit's two events land together or not at all,
            # and a re-run skips the units already recorded
            registry.append_events_many(batch)
            batch = []
            if progress:
                progress(i, len(todo))
    return RecordReport(lot_id, sha, len(todo), len(skip))


def _store_lot(registry: Registry, result: LotResult) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lot.json"
        path.write_text(result.to_json(), encoding="utf-8")
        return registry.store.put_raw(path)


def lots_frame(registry: Registry) -> pl.DataFrame:
    """Recorded lots: ``lot_id``, ``process``, ``reporting_year``, ``units``, ``recorded_at``,
    ``lot_sha256``."""
    return (
        _recycled_payloads(registry)
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
