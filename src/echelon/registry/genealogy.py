"""An assembly's parts at any depth, read a level of the genealogy at a time: which were recycled
(:func:`recycled_parts`), and the nameplate, status and latest SOH of each (:func:`parts_of`)
without reading a full record per part."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from echelon.domain import Battery, Measurement
from echelon.errors import ChainError
from echelon.registry.core import Registry
from echelon.registry.queries import BatteryRecord, edited_error
from echelon.registry.schema import BatteryRow, EventRow, MeasurementRow


def recycled_parts(registry: Registry, record: BatteryRecord) -> list[str]:
    """Ids of the parts of an assembly (at any depth) that were recycled (a ``recycled`` event in
    their chain): an assembly with such parts is no longer the one it was, and gets neither a
    forecast nor a passport. A recycled part's own parts are not looked into. Two queries per
    level of the genealogy (children, their recycled events), not a record per part.

    Raises
    ------
    ChainError
        When the genealogy loops back (:func:`refuse_loop`).
    """
    out: list[str] = []
    level = list(record.children)
    seen = {record.battery.battery_id}
    with registry.engine.connect() as conn:
        while level:
            refuse_loop(record.battery.battery_id, level, seen)
            recycled = set(
                conn.execute(
                    select(EventRow.battery_id)
                    .where(EventRow.battery_id.in_(level), EventRow.kind == "recycled")
                    .distinct()
                ).scalars()
            )
            out += [bid for bid in level if bid in recycled]
            intact = [bid for bid in level if bid not in recycled]
            level = (
                list(
                    conn.execute(
                        select(BatteryRow.battery_id)
                        .where(BatteryRow.parent_id.in_(intact))
                        .order_by(BatteryRow.battery_id)
                    ).scalars()
                )
                if intact
                else []
            )
    return out


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
    """The parts (children) of the assemblies ``parent_ids``, ordered by id: three queries for
    them all, not a :func:`~echelon.registry.battery_record` each.

    Raises
    ------
    ChainError
        For a part whose rows are not as Echelon wrote them (as
        :func:`~echelon.registry.battery_record` refuses them).
    """
    if not parent_ids:
        return []
    with registry.engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                select(BatteryRow.__table__)
                .where(BatteryRow.parent_id.in_(list(parent_ids)))
                .order_by(BatteryRow.battery_id)
            )
        ]
        ids = [row["battery_id"] for row in rows]
        ordered = (  # by seq: the last status of a battery wins
            select(EventRow.battery_id, EventRow.status)
            .where(EventRow.battery_id.in_(ids), EventRow.status.is_not(None))
            .order_by(EventRow.battery_id, EventRow.seq)
        )
        status: dict[str, str] = {r.battery_id: r.status for r in conn.execute(ordered)}
        soh = {
            m["battery_id"]: m
            for m in (
                dict(r._mapping)
                for r in conn.execute(
                    select(MeasurementRow.__table__)
                    .where(
                        MeasurementRow.battery_id.in_(ids),
                        MeasurementRow.quantity == "soh_percent",
                    )
                    .order_by(MeasurementRow.id)
                )
            )
        }
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
