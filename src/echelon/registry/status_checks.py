"""Checks of units' status that a write makes in its own transaction, holding the unit-status lock
(:data:`~echelon.registry.locks.UNIT_STATUS`, :func:`~echelon.registry.locks.locked`), so they
still hold when it commits: which children a new pack may take
(:func:`refuse_taken_children`, from :meth:`~echelon.registry.Registry.record_assemblies`) and
which units an intake may take in again (:func:`retake_refusals`, from
:meth:`~echelon.registry.Registry.record_units`).

Recycled is final (EU 2023/1542 Art. 77(8): the passport ends), and so is a part's going with its
recycled assembly; a regrouped unit is a part of its new pack until that pack is dismantled or
recycled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from sqlalchemy import Connection, select

from echelon.domain import Status
from echelon.errors import RegistryError
from echelon.registry.core import Registry, chunked
from echelon.registry.genealogy import gone_with_assembly, latest_statuses, recycled_lots
from echelon.registry.schema import BatteryRow

REFUSED_CHILD_STATUSES: Final = (Status.REGROUPED, Status.RECYCLED)
"""A unit in one of these statuses cannot become the child of a new assembly."""
NOT_TAKEN_IN: Final = "its changed manifest row is not taken in"
NEW_NOT_TAKEN_IN: Final = (
    "its manifest row is not taken in; fix its parent_id (the pack or module it is a part of), "
    "or leave it empty if it carries on alone"
)


def ended_passport(lot_id: object, recorded_at: object) -> str:
    """``recycled in lot <lot> on <date>: its passport ended (…Art. 77(8)) …``: why a unit
    is not taken in, forecast or given a passport again."""
    return (
        f"recycled in lot {lot_id} on {str(recorded_at)[:10]}: its passport ended (EU 2023/1542 "
        "Art. 77(8)) and recycled is final"
    )


def refuse_taken_children(conn: Connection, children: list[str]) -> None:
    """Refuse (``RegistryError``) a new assembly's children that are already regrouped or
    recycled, or parts of an assembly that was recycled (they went with it), as ``conn`` sees
    them (a transaction holding the unit-status lock: the check holds until it commits)."""
    refused = [s.value for s in REFUSED_CHILD_STATUSES]
    status = latest_statuses(conn, children)
    taken = sorted(c for c in children if status.get(c, (None,))[0] in refused)
    if taken:
        raise RegistryError(
            f"unit(s) already {'/'.join(refused)}: {taken[:5]}; a unit can join a new "
            "assembly only once"
        )
    gone = gone_with_assembly(conn, children)
    if gone:
        raise RegistryError(
            f"{len(gone)} unit(s) went with a recycled assembly: "
            + "; ".join(list(gone.values())[:5])
            + (f" … and {len(gone) - 5} more" if len(gone) > 5 else "")
            + "; a part of a recycled assembly cannot join a new one"
        )


def retake_refusals(conn: Connection, battery_ids: Sequence[str]) -> dict[str, str]:
    """Registered units whose changed manifest row must not be taken in again, and why:

    * recycled (its passport ended), naming the lot and date;
    * a part of an assembly that was recycled (it went with it), naming the assembly and lot;
    * regrouped (a part of a pack built by ``echelon regroup --record``), naming the pack: a
      re-take writes ``received`` … ``routed`` and the manifest row's ``parent_id``, so the unit
      would leave its pack and could be built into another one;
    * dismantled, naming its parts: they carry on as units of their own, and the pack itself does
      not come back (a re-take would record it ``received`` … ``routed`` beside its parts).

    Parameters
    ----------
    conn : Connection
        Read through it (inside the writing transaction, under the unit-status lock, for a check
        that holds when the write commits).
    battery_ids : sequence of str
        The units to take in again (unregistered ids are never refused).

    Returns
    -------
    dict
        ``{battery_id: reason}``, in the order of ``battery_ids``.
    """
    ids = list(dict.fromkeys(battery_ids))
    lots = recycled_lots(conn, ids)
    gone = gone_with_assembly(conn, [bid for bid in ids if bid not in lots])
    status = latest_statuses(conn, ids)
    live = [bid for bid in ids if bid not in lots and bid not in gone]
    regrouped = [bid for bid in live if status.get(bid, ("",))[0] == Status.REGROUPED.value]
    packs: dict[str, str | None] = {}
    for chunk in chunked(regrouped):
        stmt = select(BatteryRow.battery_id, BatteryRow.parent_id)
        packs.update(
            (bid, par) for bid, par in conn.execute(stmt.where(BatteryRow.battery_id.in_(chunk)))
        )
    dismantled = _parts(
        conn, [bid for bid in live if status.get(bid, ("",))[0] == Status.DISMANTLED.value]
    )
    out: dict[str, str] = {}
    for bid in ids:
        if bid in lots:
            out[bid] = f"{ended_passport(*lots[bid])}; {NOT_TAKEN_IN}"
        elif bid in gone:
            out[bid] = f"{gone[bid]}: recycled is final; {NOT_TAKEN_IN}"
        elif bid in packs:
            pack = packs[bid]
            out[bid] = (
                f"regrouped into pack {pack} on {status[bid][1][:10]}: it is a part of that pack, "
                f"and taking it in again would take it out of the pack (received … routed, free "
                f"to be built into another pack); {NOT_TAKEN_IN} — to record new measurements, "
                f"test the pack and take in a manifest row for {pack}"
            )
        elif bid in dismantled:
            parts = dismantled[bid]
            shown = ", ".join(parts[:5]) + (" …" if len(parts) > 5 else "") or "its parts"
            out[bid] = (
                f"dismantled into {shown} on {status[bid][1][:10]}: its parts carry on as units "
                f"of their own and the {bid} that was does not come back (taking it in again would "
                f"record it received … routed beside them); {NOT_TAKEN_IN} — record new "
                f"measurements on its parts' rows"
            )
    return out


def _parts(conn: Connection, assemblies: Sequence[str]) -> dict[str, list[str]]:
    """``{assembly: its registered parts, sorted}`` for each of ``assemblies``."""
    found: dict[str, list[str]] = {bid: [] for bid in assemblies}
    for chunk in chunked(list(assemblies)):
        stmt = select(BatteryRow.battery_id, BatteryRow.parent_id)
        for bid, par in conn.execute(stmt.where(BatteryRow.parent_id.in_(chunk))):
            found[str(par)].append(bid)
    return {bid: sorted(parts) for bid, parts in found.items()}


def parent_refusals(conn: Connection, parents: Mapping[str, str]) -> dict[str, str]:
    """New units (not registered) whose ``parent_id`` names an assembly they cannot join, and why:
    a recycled one (naming its lot and date) or a part of a recycled one (it went with it). A
    unit whose parent is refused here is refused too (``{"C": "M", "M": "P"}`` with P recycled
    refuses M and C). A dismantled parent is not refused: its parts carry on as units of their
    own, and a part taken in later is one of them.

    Parameters
    ----------
    conn : Connection
        Read through it (inside the writing transaction, under the unit-status lock).
    parents : mapping of str to str
        ``{battery_id: parent_id}`` of the new units that name a parent.

    Returns
    -------
    dict
        ``{battery_id: reason}``, in the order of ``parents``.
    """
    named = list(dict.fromkeys(parents.values()))
    lots = recycled_lots(conn, named)
    gone = gone_with_assembly(conn, [p for p in named if p not in lots])
    out: dict[str, str] = {}
    for bid, parent in parents.items():
        if parent in lots:
            why = f"its parent {parent} was {ended_passport(*lots[parent])}"
        elif parent in gone:
            why = f"its parent {gone[parent]}: recycled is final"
        else:
            continue
        out[bid] = f"{why}; a unit cannot join it — {NEW_NOT_TAKEN_IN}"
    more = True
    while more:  # a new unit whose new parent is refused goes with it
        more = False
        for bid, parent in parents.items():
            if bid not in out and parent in out:
                out[bid] = f"its parent {parent} is not taken in ({out[parent]})"
                more = True
    return {bid: out[bid] for bid in parents if bid in out}


def refused_retakes(registry: Registry, battery_ids: Sequence[str]) -> dict[str, str]:
    """:func:`retake_refusals` as the registry's committed state shows them now (an intake's
    early check, before it processes tester files; the write checks again under the lock)."""
    with registry.engine.connect() as conn:
        return retake_refusals(conn, battery_ids)


def refused_parents(registry: Registry, parents: Mapping[str, str]) -> dict[str, str]:
    """:func:`parent_refusals` as the registry's committed state shows them now (an intake's
    early check; the write checks again under the lock)."""
    with registry.engine.connect() as conn:
        return parent_refusals(conn, parents)
