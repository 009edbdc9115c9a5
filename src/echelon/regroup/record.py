"""A pack build as a registry event: a new pack battery whose children are the units.

Each pack becomes a battery (level ``pack``) with the build's rated numbers — usable capacity,
nominal voltage and energy, ``S × P`` layout — as its nameplate (GB/T 34014 codes echelon-use
packs with their new rated capacity and series/parallel layout [S10b]; under EU 2023/1542 a
repurposed battery is a new product with its own passport [S19]). Its events: ``received`` (the
nameplate), ``measured`` (the predicted capacity, energy and resistance, method
``estimator:regroup_physics``) and ``assembled`` (layout, physics summary, each child with its
chain head). Each child gets a ``regrouped`` event naming the pack's ``assembled`` event by hash,
its status becomes ``regrouped`` and its ``parent_id`` the pack — all in one transaction
(:meth:`echelon.registry.Registry.record_assemblies`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import polars as pl

from echelon.domain import Battery, Level, Measurement
from echelon.errors import RegistryError
from echelon.registry import (
    AssemblyWrite,
    PendingEvent,
    Registry,
    UnitWrite,
    measurement_row,
    units_frame,
)
from echelon.registry.chain import canonical_json
from echelon.regroup.solve import RegroupResult

METHOD = "estimator:regroup_physics"


@dataclass(frozen=True)
class RecordReport:
    """Outcome of :func:`record_packs`."""

    written: list[str]
    skipped: list[str]

    @property
    def packs(self) -> int:
        """Packs in the plan."""
        return len(self.written) + len(self.skipped)


def _common(values: list[Any], default: Any) -> Any:
    distinct = {v for v in values if v is not None}
    return distinct.pop() if len(distinct) == 1 else default


def _largest(counts: pl.Series) -> int:
    """Largest cell count of the children (1 when unknown)."""
    values = [int(v) for v in counts.drop_nulls().to_list()]
    return max(values, default=1)


def _pack_battery(pack: dict[str, Any], children: pl.DataFrame, built_on: dt.date) -> Battery:
    levels = set(children["level"].to_list())
    if Level.PACK.value in levels:
        raise RegistryError(
            f"{pack['pack_id']}: a pack cannot be built from packs (units must be cells or modules)"
        )
    expiry = children["calendar_expiry_date"].drop_nulls()
    return Battery(
        battery_id=pack["pack_id"],
        level=Level.PACK,
        chemistry=pack["chemistry"],
        manufacturer=None,
        model=None,
        format=_common(children["format"].to_list(), None),
        nominal_capacity_ah=pack["usable_capacity_ah"],
        nominal_voltage_v=pack["nominal_voltage_v"],
        nominal_energy_wh=pack["energy_wh"],
        series_count=pack["series"] * _largest(children["series_count"]),
        parallel_count=pack["parallel"] * _largest(children["parallel_count"]),
        origin_application=_common(children["origin_application"].to_list(), "other"),
        region=_common(children["region"].to_list(), "other"),
        manufacture_date=built_on,
        calendar_expiry_date=expiry.min() if expiry.len() else None,
        has_traceability=True,
    )


def _measurements(pack: dict[str, Any]) -> list[dict[str, Any]]:
    bid = pack["pack_id"]
    rows = [
        Measurement(
            battery_id=bid,
            quantity="capacity_ah",
            value=pack["usable_capacity_ah"],
            lower=pack["usable_capacity_lower_ah"],
            upper=pack["usable_capacity_upper_ah"],
            method=METHOD,
        ),
        Measurement(battery_id=bid, quantity="energy_wh", value=pack["energy_wh"], method=METHOD),
        Measurement(
            battery_id=bid, quantity="dcir_ohm", value=pack["pack_resistance_ohm"], method=METHOD
        ),
    ]
    return [measurement_row(m) for m in rows]


def plan_sha256(result: RegroupResult) -> str:
    """SHA-256 of the plan (every unit's pack and block), for fingerprints and payloads."""
    rows = result.assignment.select("battery_id", "pack_id", "block", "position").rows()
    return hashlib.sha256(canonical_json(rows).encode()).hexdigest()


def record_packs(
    registry: Registry, result: RegroupResult, *, built_on: dt.date | None = None
) -> RecordReport:
    """Record a plan's packs in the registry (see the module docstring), atomically.

    Parameters
    ----------
    registry : Registry
        Every assigned unit must be registered (e.g. the inventory came from
        :func:`~echelon.regroup.inventory_from_registry`).
    result : RegroupResult
    built_on : date, optional
        Build date (the pack's ``manufacture_date``; default today).

    Returns
    -------
    RecordReport
        Packs written, and packs skipped because the same plan was recorded before.

    Raises
    ------
    RegistryError
        Nothing is written if a unit is unknown, already regrouped, a pack id is taken, or
        another writer interferes.
    """
    built_on = built_on or dt.date.today()
    plan = plan_sha256(result)
    units = units_frame(registry)
    if units.height == 0:
        raise RegistryError(f"the registry {registry.url} holds no battery; nothing to assemble")
    info = result.assignment.select("battery_id", "pack_id", "block", "position").join(
        units.select(
            "battery_id",
            "level",
            "format",
            "series_count",
            "parallel_count",
            "origin_application",
            "region",
            "calendar_expiry_date",
        ),
        on="battery_id",
        how="left",
    )
    unknown = info.filter(pl.col("level").is_null())["battery_id"].to_list()
    if unknown:
        raise RegistryError(
            f"{len(unknown)} assigned unit(s) are not registered in {registry.url}, e.g. "
            f"{unknown[:3]}; record packs only for an inventory taken from the registry"
        )
    by_pack = info.partition_by("pack_id", as_dict=True)
    assemblies = []
    for pack in result.packs.iter_rows(named=True):
        children = by_pack[(pack["pack_id"],)]
        body = {
            "series": result.spec.series,
            "parallel": result.spec.parallel,
            "method": result.method,
            "constraints": result.constraints.active(),
            "plan_sha256": plan,
            "physics": {k: v for k, v in pack.items() if k != "pack_id"},
        }
        members = {
            row["battery_id"]: {"block": row["block"], "position": row["position"]}
            for row in children.iter_rows(named=True)
        }
        fingerprint = hashlib.sha256(
            canonical_json({"pack_id": pack["pack_id"], "children": members}).encode()
        ).hexdigest()
        unit = UnitWrite(
            battery=_pack_battery(pack, children, built_on),
            fingerprint=fingerprint,
            manifest_sha256=plan,
            outcome="ok",
            events=[
                PendingEvent(
                    "measured",
                    None,
                    {"count": 3, "source": "regroup"},
                    {"measurements": _measurements(pack)},
                )
            ],
        )
        assemblies.append(AssemblyWrite(unit=unit, children=members, payload=body))
    results = registry.record_assemblies(assemblies)
    return RecordReport(
        written=[r.battery_id for r in results if r.result == "written"],
        skipped=[r.battery_id for r in results if r.result == "skipped"],
    )
