"""SQL ``IN`` lists in chunks: the one bound every registry query sends ids in (here, not in
:mod:`echelon.registry.core`, so that modules core imports, such as
:mod:`echelon.registry.heads`, use it too)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

IN_CHUNK: Final = 500
"""Ids per SQL ``IN`` list (well below SQLite's and PostgreSQL's bound-parameter limits)."""


def chunked(items: Sequence[str], size: int = IN_CHUNK) -> Iterable[list[str]]:
    """``items`` in lists of at most ``size``: one SQL ``IN`` list each."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
