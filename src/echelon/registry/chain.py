"""Hashing of the append-only event chain.

Each event's hash is the SHA-256 of its predecessor's hash and its own canonical content, so
editing, deleting or reordering any stored event changes every later hash in that battery's chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
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
