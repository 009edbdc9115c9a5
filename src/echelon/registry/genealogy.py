"""An assembly's parts at any depth, read a level of the genealogy at a time: which were recycled
(:func:`recycled_parts`), and the nameplate, status and latest SOH of each (:func:`parts_of`)
without reading a full record per part."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from echelon.domain import Battery, Measurement
from echelon.errors import ChainError
from echelon.registry.core import Registry, chunked
from echelon.registry.queries import BatteryRecord, edited_error
from echelon.registry.schema import BatteryRow, EventRow, MeasurementRow


def walk_parts(
    battery_id: str,
    parts: Sequence[str],
    parts_below: Callable[[list[str]], list[str]],
    recycled_among: Callable[[list[str]], set[str]],
) -> tuple[list[str], list[str]]:
    """An assembly's parts at any depth, a level of the genealogy at a time: the one walk of
    "which parts were recycled", for the registry (:func:`recycled_parts`: a passport's, a
    forecast's refusal) and for a genealogy read into memory (a recycling lot's check and a
    selection's note), so they count the same parts.

    A recycled part's own parts are not looked into: they went with it.

    Parameters
    ----------
    battery_id : str
        The assembly.
    parts : sequence of str
        Its parts (children).
    parts_below : callable
        ``parts_below(level)``: the parts of the units of ``level``.
    recycled_among : callable
        ``recycled_among(level)``: those of ``level`` that were recycled.

    Returns
    -------
    (list of str, list of str)
        The recycled parts and the others, level by level, each level in the order given.

    Raises
    ------
    ChainError
        When the genealogy loops back (:func:`refuse_loop`).
    """
    recycled: list[str] = []
    whole: list[str] = []
    level, seen = list(parts), {battery_id}
    while level:
        refuse_loop(battery_id, level, seen)
        done = recycled_among(level)
        recycled += [bid for bid in level if bid in done]
        intact = [bid for bid in level if bid not in done]
        whole += intact
        level = parts_below(intact) if intact else []
    return recycled, whole


def recycled_parts(registry: Registry, record: BatteryRecord) -> list[str]:
    """Ids of the parts of an assembly (at any depth) that were recycled (a ``recycled`` event in
    their chain): an assembly with such parts is no longer the one it was, and gets neither a
    forecast nor a passport. The walk is :func:`walk_parts` (a recycled part's own parts are not
    looked into); two queries per level of the genealogy and
    :data:`~echelon.registry.chunks.IN_CHUNK` ids (children, their recycled events), not a record
    per part.

    Raises
    ------
    ChainError
        When the genealogy loops back (:func:`refuse_loop`).
    """
    with registry.engine.connect() as conn:

        def parts_below(level: list[str]) -> list[str]:
            found: list[str] = []
            for chunk in chunked(level):
                found += conn.execute(
                    select(BatteryRow.battery_id).where(BatteryRow.parent_id.in_(chunk))
                ).scalars()
            return sorted(found)

        def recycled_among(level: list[str]) -> set[str]:
            return set(recycled_lots(conn, level))

        return walk_parts(record.battery.battery_id, record.children, parts_below, recycled_among)[
            0
        ]


def recycled_lots(conn: Connection, battery_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``{battery_id: (lot id, date recorded)}`` of those of ``battery_ids`` that were recycled
    (their first ``recycled`` event), as ``conn`` sees them."""
    found: dict[str, tuple[str, str]] = {}
    for chunk in chunked(list(battery_ids)):
        stmt = (
            select(EventRow.battery_id, EventRow.payload, EventRow.recorded_at)
            .where(EventRow.battery_id.in_(chunk), EventRow.kind == "recycled")
            .order_by(EventRow.battery_id, EventRow.seq)
        )
        for bid, payload, at in conn.execute(stmt):
            lot = json.loads(payload).get("lot_id") if payload else None
            found.setdefault(bid, (str(lot), str(at)[:10]))
    return found


def latest_statuses(conn: Connection, battery_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``{battery_id: (status, recorded at)}``: each unit's derived status (its latest event that
    sets one) and when that event was recorded, as ``conn`` sees them."""
    found: dict[str, tuple[str, str]] = {}
    for chunk in chunked(list(battery_ids)):
        ordered = (  # by seq: the last status of a battery wins
            select(EventRow.battery_id, EventRow.status, EventRow.recorded_at)
            .where(EventRow.battery_id.in_(chunk), EventRow.status.is_not(None))
            .order_by(EventRow.battery_id, EventRow.seq)
        )
        found.update({bid: (str(st), str(at)) for bid, st, at in conn.execute(ordered)})
    return found


def gone_with_assembly(conn: Connection, battery_ids: Sequence[str]) -> dict[str, str]:
    """Units with an assembly above them (at any height) that was recycled: its parts went with
    it. ``{battery_id: "<id>: its <level> <assembly> was recycled in lot … on …, with <id> in
    it"}``, as ``conn`` sees the registry.

    The genealogy is read a level at a time for all the units (two queries per level and
    :data:`~echelon.registry.chunks.IN_CHUNK` ids), then each unit's ancestors are walked in memory
    with :func:`walk_parts` (upwards: a unit's "parts below" are its parent).

    Raises
    ------
    ChainError
        When a unit's genealogy loops back (:func:`refuse_loop`).
    """
    parent: dict[str, str | None] = {}
    level_of: dict[str, str] = {}
    lots: dict[str, tuple[str, str]] = {}

    def read(level: list[str]) -> None:
        for chunk in chunked([bid for bid in level if bid not in parent]):
            stmt = select(BatteryRow.battery_id, BatteryRow.parent_id, BatteryRow.level)
            for bid, par, lvl in conn.execute(stmt.where(BatteryRow.battery_id.in_(chunk))):
                parent[bid], level_of[bid] = par, lvl

    def recycled_among(level: list[str]) -> set[str]:
        read(level)
        lots.update(recycled_lots(conn, level))
        return {bid for bid in level if bid in lots}

    def above(level: list[str]) -> list[str]:
        return [p for bid in level if (p := parent.get(bid)) is not None]

    ids = list(dict.fromkeys(battery_ids))
    read(ids)
    visited = set(ids)

    def unseen_above(level: list[str]) -> list[str]:  # each assembly read once (loops end)
        new = sorted(set(above(level)) - visited)
        visited.update(new)
        return new

    walk_parts("", unseen_above(ids), unseen_above, recycled_among)
    return {bid: went for bid in ids if (went := went_with(bid, parent, level_of, lots))}


def went_with(
    battery_id: str,
    parent: Mapping[str, str | None],
    level: Mapping[str, str],
    lots: Mapping[str, tuple[str, str]],
) -> str | None:
    """``<id>: its <level> <assembly> was recycled in lot … on …, with <id> in it`` when an
    assembly above the unit (the nearest) was recycled, else ``None``: the walk up the genealogy
    (:func:`walk_parts`, a unit's "parts below" being its parent) of :func:`gone_with_assembly`
    and of a genealogy read into memory (a recycling lot's check).

    Parameters
    ----------
    battery_id : str
    parent : mapping of str to str or None
        Each unit's parent (``parent_id``), for the unit and the assemblies above it.
    level : mapping of str to str
        The assemblies' levels (``assembly`` when not given).
    lots : mapping of str to (str, str)
        ``{battery_id: (lot id, date recorded)}`` of the recycled units.

    Raises
    ------
    ChainError
        When the genealogy loops back (:func:`refuse_loop`).
    """

    def above(units: list[str]) -> list[str]:
        return [p for bid in units if (p := parent.get(bid)) is not None]

    def recycled_among(units: list[str]) -> set[str]:
        return {bid for bid in units if bid in lots}

    gone = walk_parts(battery_id, above([battery_id]), above, recycled_among)[0]
    if not gone:
        return None
    lot, on = lots[gone[0]]
    return (
        f"{battery_id}: its {level.get(gone[0], 'assembly')} {gone[0]} was recycled in lot {lot} "
        f"on {on}, with {battery_id} in it"
    )


def refuse_loop(battery_id: str, level: Sequence[str], seen: set[str]) -> None:
    """Add the parts of a ``level`` of ``battery_id``'s genealogy to those ``seen`` above it.

    Raises
    ------
    ChainError
        When one of them was seen already: the parent links were edited into a loop (a unit
        that is a part of its own part), which a walk down the genealogy would follow forever.
    """
    again = sorted(set(level) & seen)
    if again:
        raise ChainError(
            f"{battery_id}: its genealogy loops back to {', '.join(again[:10])} (a unit that is "
            "a part of its own part): the database was edited outside Echelon — run "
            "`echelon verify`"
        )
    seen.update(level)


def no_longer_whole(battery_id: str, parts: list[str], advice: str) -> str:
    """The message refusing an assembly some of whose ``parts`` were recycled, ending with
    ``advice`` (what to do instead)."""
    shown = ", ".join(parts[:10]) + (" …" if len(parts) > 10 else "")
    return (
        f"{battery_id} is no longer the assembly it was: {len(parts)} of its parts were "
        f"recycled ({shown}); {advice}"
    )


@dataclass(frozen=True)
class Part:
    """What a forecast needs of one part of an assembly.

    Attributes
    ----------
    battery : Battery
        Its nameplate.
    parent_id : str
        The assembly it belongs to.
    status : str or None
        Its derived status (the latest event's that sets one).
    soh : Measurement or None
        Its latest ``soh_percent`` measurement.
    """

    battery: Battery
    parent_id: str
    status: str | None
    soh: Measurement | None


def parts_of(registry: Registry, parent_ids: Sequence[str]) -> list[Part]:
    """The parts (children) of the assemblies ``parent_ids``, ordered by id: three queries per
    :data:`~echelon.registry.chunks.IN_CHUNK` ids, not a :func:`~echelon.registry.battery_record`
    each.

    Raises
    ------
    ChainError
        For a part whose rows are not as Echelon wrote them (as
        :func:`~echelon.registry.battery_record` refuses them).
    """
    if not parent_ids:
        return []
    rows: list[dict[str, Any]] = []
    soh: dict[str, dict[str, Any]] = {}
    with registry.engine.connect() as conn:
        for chunk in chunked(list(parent_ids)):
            rows += [
                dict(r._mapping)
                for r in conn.execute(
                    select(BatteryRow.__table__).where(BatteryRow.parent_id.in_(chunk))
                )
            ]
        rows.sort(key=lambda row: str(row["battery_id"]))
        ids = [row["battery_id"] for row in rows]
        status = {bid: st for bid, (st, _) in latest_statuses(conn, ids).items()}
        for chunk in chunked(ids):
            measured = (  # by id: the latest measurement wins
                select(MeasurementRow.__table__)
                .where(
                    MeasurementRow.battery_id.in_(chunk),
                    MeasurementRow.quantity == "soh_percent",
                )
                .order_by(MeasurementRow.id)
            )
            soh.update({r.battery_id: dict(r._mapping) for r in conn.execute(measured)})
    out = []
    for row in rows:
        bid = row["battery_id"]
        try:
            row.pop("attributes")
            row.pop("registered_at")
            battery = Battery.model_validate(row)
            latest = None if bid not in soh else Measurement.model_validate(soh[bid])
        except (ValueError, TypeError, AttributeError) as exc:  # validation: not ours
            raise edited_error(
                f"{bid}: its records in the registry cannot be read", exc, "run `echelon verify`"
            ) from exc
        out.append(Part(battery, str(row["parent_id"]), status.get(bid), latest))
    return out
