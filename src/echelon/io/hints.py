"""What to say about a tester file no reader takes, when its kind is known but not read.

:func:`echelon.io.base.detect_reader` asks :func:`unsupported_kind` before its generic "no reader
recognises this file", so a user holding an Arbin ``.res`` database or a Neware export of all
three levels learns what the file is and which export Echelon reads instead.
"""

from __future__ import annotations

from typing import Final

from echelon.io.text import decode_head

ACCESS_MAGIC: Final = (b"Standard Jet DB", b"Standard ACE DB")
"""Bytes 4–18 of a Microsoft Access database (Arbin MITS Pro's ``.res`` files are ones)."""
NEWARE_LEVELS: Final = (
    ("Cycle Index", ",Step Index", ",,DataPoint"),
    ("Cycle ID", ",Step ID", ",,Record ID"),
)
"""Starts of the three header lines of a Neware BTS 8 / BTS 7 export holding cycle, step and
record rows in one table (BTS 8: jepegit/cellpy,
``testdata/data/nw_regular_export_ife_example.csv``; BTS 7: the nested layout BEEP's Neware
documentation describes)."""


def unsupported_kind(head: bytes) -> str | None:
    """A sentence naming the known but unread kind of file ``head`` (its first bytes) starts,
    and what to export instead; ``None`` when the kind is not one of those."""
    if head[4:19] in ACCESS_MAGIC:
        return (
            "a Microsoft Access database (an Arbin MITS Pro .res file), which Echelon does not "
            "decode: export the test from MITS Pro as CSV or XLSX (Data Watcher, Export) and read "
            "the export"
        )
    decoded = decode_head(head)
    if decoded is None:
        return None
    # the nesting is told by leading separators: compare with commas whatever the export used
    lines = [
        line.strip('"\ufeff').replace("\t", ",").replace(";", ",")
        for line in decoded[0].splitlines()[:3]
    ]
    if len(lines) == 3 and any(
        all(line.startswith(start) for line, start in zip(lines, levels, strict=True))
        for levels in NEWARE_LEVELS
    ):
        return (
            "a Neware BTS export with cycle, step and record rows in one table, which Echelon "
            "does not read: export the record level alone (BTSDA: export the 'Record' layer, or "
            "save the workbook's record sheet as CSV) and read that"
        )
    return None
