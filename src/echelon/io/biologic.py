"""BioLogic EC-Lab text exports (``.mpt``; the binary ``.mpr`` is a separate plug-in).

An ``.mpt`` file starts with ``EC-Lab ASCII FILE`` and ``Nb header lines : N``, then a preamble
(technique, device, channel, ``Acquisition started on : …``) and a tab-separated table whose
header is line N. Column names carry their unit after a slash (``time/s``, ``Ewe/V``, ``I/mA``,
``Q charge/mA.h``); EC-Lab writes decimal commas under some Windows locales, which is detected.
The start date is written in the locale's order too (``11/22/2026`` in English, ``12/03/2024``
in French, ``12.03.2024`` in German): the file decides it (:func:`echelon.io.dates.numeric_date`),
and a date it leaves ambiguous is read month-first with a note.
Impedance runs (PEIS/GEIS) have ``freq/Hz``, ``Re(Z)/Ohm`` and ``-Im(Z)/Ohm`` (sign flipped: BDF
stores Im Z itself) and the mean ``<Ewe>/V`` and ``<I>/mA`` of each frequency.

``.mpr`` (binary) support exists only in GPL-licensed code (galvani); Echelon is Apache-2.0, so an
``.mpr`` reader is a separately installed plug-in (docs/readers.md shows how one registers).
"""

from __future__ import annotations

from echelon.io import bdf
from echelon.io.columnmap import ColumnMapReader, ColumnSpec

BIOLOGIC_COLUMNS: dict[str, ColumnSpec] = {
    "time/s": ColumnSpec(bdf.TIME),
    # the cell's voltage, in this order of preference: a battery cycler's Ecell; Ewe-Ece when
    # the counter electrode is recorded too (EC-Lab "Record Ece", potential control Ewe-Ece:
    # Ewe is then the working electrode against the reference, not the cell); else Ewe
    "Ecell/V": ColumnSpec(bdf.VOLTAGE),
    "Ewe-Ece/V": ColumnSpec(bdf.VOLTAGE),
    "Ewe/V": ColumnSpec(bdf.VOLTAGE),
    "<Ewe>/V": ColumnSpec(bdf.VOLTAGE),
    "I/mA": ColumnSpec.with_unit(bdf.CURRENT, "mA"),
    "<I>/mA": ColumnSpec.with_unit(bdf.CURRENT, "mA"),
    "Ns": ColumnSpec(bdf.STEP),
    "cycle number": ColumnSpec(bdf.CYCLE),
    "Q charge/mA.h": ColumnSpec.with_unit(bdf.CHARGE_AH, "mAh"),
    "Q discharge/mA.h": ColumnSpec.with_unit(bdf.DISCHARGE_AH, "mAh"),
    "Energy charge/W.h": ColumnSpec(bdf.CHARGE_WH),
    "Energy discharge/W.h": ColumnSpec(bdf.DISCHARGE_WH),
    "P/W": ColumnSpec(bdf.POWER),
    "Temperature/°C": ColumnSpec(bdf.SURFACE_T),
    "freq/Hz": ColumnSpec(bdf.FREQUENCY),
    "Re(Z)/Ohm": ColumnSpec(bdf.Z_REAL),
    "-Im(Z)/Ohm": ColumnSpec(bdf.Z_IMAG, scale=-1.0),
}
BIOLOGIC_IGNORED = frozenset(
    {
        "mode",
        "ox/red",
        "error",
        "control changes",
        "Ns changes",
        "counter inc.",
        "control/V/mA",
        "control/V",
        "control/mA",
        "dq/mA.h",
        "(Q-Qo)/mA.h",
        "|Z|/Ohm",
        "Phase(Z)/deg",
    }
)
"""Flags, set-points, increments and |Z|/phase (derived from the stored columns)."""


def BiologicMptReader() -> ColumnMapReader:  # noqa: N802
    """Reader for BioLogic EC-Lab ``.mpt`` text exports (cycling and impedance)."""
    return ColumnMapReader(
        name="biologic_mpt",
        columns=BIOLOGIC_COLUMNS,
        signature=frozenset({"time/s"}),
        signature_any=frozenset({"Ewe/V", "Ecell/V", "<Ewe>/V", "freq/Hz"}),
        suffixes=(".mpt", ".txt"),
        separator="\t",
        ignored=BIOLOGIC_IGNORED,
        instrument="BioLogic",
        metadata_patterns={
            "start_time": r"^Acquisition started on\s*:\s*(.+)$",
            "channel": r"^Run on channel\s*:\s*(\S+)",
            # "VMP3 s/n 0001" in older EC-Lab, "VMP3 (SN 0858)" in v11 (yadg's test files)
            "instrument": r"^Device\s*:\s*(.+?)\s*(?:\(?\s*(?:[sS]/[nN]|SN)\b.*)?$",
        },
        numeric_start_date=True,  # the order of the Windows locale EC-Lab ran under
    )
