"""Hashing of the append-only event chain.

Each event's hash is the SHA-256 of its predecessor's hash and its own canonical content, so
editing, deleting or reordering any stored event changes every later hash in that battery's chain.
Each battery's last event (its head) is recorded apart, and the registry digest sums the heads:
cutting events off the end of a chain, or deleting a battery, no longer matches them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any, Final

GENESIS: Final = "0" * 64
"""``prev_hash`` of a battery's first event."""


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON-serialisable in an event payload: {type(value).__name__}")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def canonical_json(payload: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8, non-finite floats as null."""
    options: dict[str, Any] = {
        "sort_keys": True,
        "separators": (",", ":"),
        "ensure_ascii": False,
        "default": _default,
    }
    try:
        # fast path: most payloads have string keys and finite numbers already
        return json.dumps(payload, allow_nan=False, **options)
    except (ValueError, TypeError):
        return json.dumps(_clean(payload), **options)


def format_timestamp(moment: dt.datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z`` suffix."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> str:
    """Now, formatted by :func:`format_timestamp`."""
    return format_timestamp(dt.datetime.now(dt.UTC))


def event_hash(
    *,
    prev_hash: str,
    battery_id: str,
    seq: int,
    kind: str,
    status: str | None,
    recorded_at: str,
    payload_json: str,
) -> str:
    """SHA-256 (hex) of an event's content chained to its predecessor."""
    body = "\n".join(
        [prev_hash, battery_id, str(seq), kind, status or "", recorded_at, payload_json]
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


DIGEST_MODULUS: Final = 1 << 256
"""Registry digests are sums of SHA-256 values modulo 2²⁵⁶."""
EMPTY_DIGEST: Final = "0" * 64
"""The digest of a registry without any battery."""


def head_value(battery_id: str, seq: int, digest: str) -> int:
    """SHA-256 (as an integer) of one battery's chain head: its id, last ``seq`` and last hash."""
    body = "\n".join([battery_id, str(seq), digest])
    return int(hashlib.sha256(body.encode("utf-8")).hexdigest(), 16)


def heads_digest(heads: Iterable[tuple[str, int, str]]) -> str:
    """The registry digest: the sum of :func:`head_value` of every ``(battery_id, seq, hash)`` in
    ``heads``, modulo 2²⁵⁶, as 64 hex digits.

    The sum does not depend on the order of the heads, so a writer keeps it up to date with
    :func:`digest_change` without reading every head, and ``verify`` recomputes it from the
    heads. It shows that the heads are those the writers recorded; it is no secret: anyone
    who can write to the database can recompute it (only a copy kept elsewhere, an anchor
    file, shows that a chain was rewritten).
    """
    total = sum(head_value(*head) for head in heads)
    return f"{total % DIGEST_MODULUS:064x}"


def digest_change(old: Iterable[tuple[str, int, str]], new: Iterable[tuple[str, int, str]]) -> str:
    """What a write adds to the registry digest: the new heads' values minus the old ones'
    (modulo 2²⁵⁶), as 64 hex digits; :func:`add_digests` of every change is the digest."""
    total = sum(head_value(*head) for head in new) - sum(head_value(*head) for head in old)
    return f"{total % DIGEST_MODULUS:064x}"


def add_digests(digests: Iterable[str]) -> str:
    """The sum of digests (or digest changes) modulo 2²⁵⁶, as 64 hex digits."""
    return f"{sum(int(d, 16) for d in digests) % DIGEST_MODULUS:064x}"
