"""Anchor files: every chain's head and the registry digest at one moment, kept off the database.

Someone who can write to the database can rewrite a whole chain with the public hash function,
update its head record and the write log, and nothing inside the database shows it. An anchor
written by ``echelon verify --write-anchor FILE`` and kept elsewhere (another machine, a signed
e-mail, a printed digest) does: ``echelon verify --anchor FILE`` checks that every chain it
lists still holds the anchored event at the anchored ``seq`` (chains may have grown since).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from echelon.errors import InputError
from echelon.io.atomic import write_text_atomic
from echelon.registry.chain import heads_digest, utc_now
from echelon.registry.heads import Head

ANCHOR_FORMAT: Final = "echelon-anchor/1"
"""The ``format`` member of an anchor file."""


@dataclass(frozen=True)
class Anchor:
    """The heads of every chain at one moment.

    Attributes
    ----------
    heads : mapping of str to (int, str)
        Battery id → its last event's ``seq`` and hash.
    written_at : str
        When the anchor was taken (ISO-8601 UTC).
    registry : str
        The registry's URL (without password), for the reader.
    """

    heads: Mapping[str, Head]
    written_at: str
    registry: str

    @property
    def digest(self) -> str:
        """The registry digest of the heads (:func:`~echelon.registry.chain.heads_digest`)."""
        return heads_digest((bid, seq, h) for bid, (seq, h) in self.heads.items())

    @property
    def taken(self) -> str:
        """When it was taken, for messages (``2026-12-07 10:00:00 UTC``)."""
        return f"{self.written_at[:19].replace('T', ' ')} UTC"

    @property
    def events(self) -> int:
        """Events the anchored chains hold."""
        return sum(seq + 1 for seq, _ in self.heads.values())

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {
            "format": ANCHOR_FORMAT,
            "written_at": self.written_at,
            "registry": self.registry,
            "batteries": len(self.heads),
            "events": self.events,
            "digest": self.digest,
            "heads": [[bid, seq, h] for bid, (seq, h) in sorted(self.heads.items())],
        }


def take_anchor(heads: Mapping[str, Head], registry: str) -> Anchor:
    """An anchor of ``heads`` (as :func:`~echelon.registry.verify` read them), taken now."""
    return Anchor(dict(heads), utc_now(), registry)


def save_anchor(anchor: Anchor, path: Path) -> None:
    """Write ``anchor`` to ``path``: JSON, one head a line (two anchors compare with ``diff``),
    atomically (the file appears complete)."""
    data = anchor.to_json()
    heads = ",\n  ".join(json.dumps(head, ensure_ascii=False) for head in data.pop("heads"))
    members = [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in data.items()]
    text = "{\n" + ",\n".join([*members, f' "heads": [\n  {heads}\n ]']) + "\n}\n"
    write_text_atomic(path, text)


def _bad(path: Path, what: str) -> InputError:
    return InputError(
        path,
        [
            f"not an anchor file written by `echelon verify --write-anchor` ({what}); give the "
            "file that command wrote"
        ],
    )


def load_anchor(path: Path) -> Anchor:
    """Read an anchor file.

    Raises
    ------
    InputError
        When the file cannot be read, is not an anchor, or its heads do not add up to its own
        digest (the file was edited or damaged: its heads prove nothing).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, [f"cannot read the anchor file: {exc.strerror}"]) from exc
    except ValueError as exc:
        raise _bad(path, f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != ANCHOR_FORMAT:
        raise _bad(path, f'no "format": "{ANCHOR_FORMAT}"')
    try:
        heads = {str(bid): (int(seq), str(h)) for bid, seq, h in data["heads"]}
        anchor = Anchor(heads, str(data["written_at"]), str(data.get("registry", "")))
        digest = str(data["digest"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(path, f"missing or malformed member: {exc}") from exc
    if anchor.digest != digest:
        raise InputError(
            path,
            [
                f"the anchor file was altered: its heads add up to {anchor.digest[:16]}…, not to "
                f"the digest it states ({digest[:16]}…); use an unaltered copy"
            ],
        )
    return anchor
