"""Chain heads and the write log: what the writer records beside the events so that events cut
off the end of a chain, and batteries deleted outright, are found by ``verify``.

``chain_heads`` holds each battery's last event (``seq`` and hash); ``chain_log`` one row per
write with the events and new batteries it added and its change of the registry digest
(:func:`echelon.registry.chain.heads_digest`). Both are written in the transaction that appends
the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update

from echelon.errors import ChainError
from echelon.registry.chain import digest_change
from echelon.registry.chunks import chunked
from echelon.registry.schema import Base

HEADS: Final[Table] = Base.metadata.tables["chain_heads"]
LOG: Final[Table] = Base.metadata.tables["chain_log"]

Head = tuple[int, str]
"""A chain head: the last event's ``seq`` and hash."""


def recorded_heads(conn: Connection, battery_ids: Iterable[str]) -> dict[str, Head]:
    """The head records (``chain_heads``) of the batteries that have one."""
    ids = list(battery_ids)
    found: dict[str, Head] = {}
    for chunk in chunked(ids):
        stmt = select(HEADS.c.battery_id, HEADS.c.seq, HEADS.c.hash).where(
            HEADS.c.battery_id.in_(chunk)
        )
        found.update({bid: (seq, digest) for bid, seq, digest in conn.execute(stmt)})
    return found


def head_problem(events: Head | None, recorded: Head | None) -> str | None:
    """What is wrong when a chain's last event (``events``) and its head record (``recorded``)
    differ (``None``: no events, no record); ``None`` when they agree."""
    if events == recorded:
        return None
    if events is None:
        assert recorded is not None
        return (
            f"its head record says #{recorded[0]} but it has no events: they were deleted "
            "outside Echelon"
        )
    if recorded is None:
        return (
            f"its chain (#0…#{events[0]}) has no head record: the events were written, or the "
            "head record deleted, outside Echelon"
        )
    (last, _), (head, _) = events, recorded
    if last < head:
        cut = f"#{last + 1}" if last + 1 == head else f"#{last + 1}…#{head}"
        return (
            f"its chain ends at #{last} but its head record says #{head}: event(s) {cut} were "
            "deleted outside Echelon"
        )
    if last > head:
        return (
            f"its chain goes on to #{last}, past its head record (#{head}): events were added "
            "outside Echelon"
        )
    return (
        f"its last event #{last} differs from its head record: the chain was rewritten outside "
        "Echelon"
    )


def refuse_broken_heads(
    events: Mapping[str, Head], recorded: Mapping[str, Head], battery_ids: Iterable[str]
) -> None:
    """Nothing when every battery's last event agrees with its head record.

    Raises
    ------
    ChainError
        Naming the first batteries that do not: no event is appended to such a chain (it would
        hide what was cut off).
    """
    broken = [
        f"{bid}: {problem}"
        for bid in battery_ids
        if (problem := head_problem(events.get(bid), recorded.get(bid))) is not None
    ]
    if broken:
        more = f" (and {len(broken) - 3} more)" if len(broken) > 3 else ""
        raise ChainError(
            f"{'; '.join(broken[:3])}{more} — nothing is appended to such a chain; run `echelon "
            "verify` and restore the registry from a backup"
        )


def advance_heads(
    conn: Connection, old: Mapping[str, Head], new: Mapping[str, Head], recorded_at: str
) -> None:
    """Record the new heads of the batteries a write appended to, and the write in the log.

    Parameters
    ----------
    conn : Connection
        The write's open transaction.
    old : mapping of str to (int, str)
        Each battery's head before the write (``seq`` -1: a new battery).
    new : mapping of str to (int, str)
        Its head after the write.
    recorded_at : str
        The write's timestamp.
    """
    moved = {bid: head for bid, head in new.items() if head != old[bid]}
    if not moved:
        return
    created = [bid for bid in moved if old[bid][0] < 0]
    if created:
        conn.execute(
            insert(HEADS),
            [{"battery_id": bid, "seq": moved[bid][0], "hash": moved[bid][1]} for bid in created],
        )
    advanced = [
        {"b_id": bid, "b_seq": old[bid][0], "seq": head[0], "hash": head[1]}
        for bid, head in moved.items()
        if old[bid][0] >= 0
    ]
    if advanced:
        conn.execute(
            update(HEADS).where(
                (HEADS.c.battery_id == bindparam("b_id")) & (HEADS.c.seq == bindparam("b_seq"))
            ),
            advanced,
        )
    conn.execute(
        insert(LOG).values(
            batteries=len(created),
            events=sum(head[0] - old[bid][0] for bid, head in moved.items()),
            digest=digest_change(
                [(bid, *old[bid]) for bid in moved if old[bid][0] >= 0],
                [(bid, *head) for bid, head in moved.items()],
            ),
            recorded_at=recorded_at,
        )
    )


def log_totals(conn: Connection) -> tuple[int, int, list[str]]:
    """The batteries and events every write added and their digest changes (``chain_log``)."""
    batteries, events = conn.execute(
        select(
            func.coalesce(func.sum(LOG.c.batteries), 0), func.coalesce(func.sum(LOG.c.events), 0)
        )
    ).one()
    digests = list(conn.execute(select(LOG.c.digest)).scalars())
    return int(batteries), int(events), digests
