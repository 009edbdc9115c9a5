"""Maccor text exports (MIMS "Export data" as tab-separated text).

Exports are text files named ``*.txt`` or, as MIMS names them after the test, with a
three-digit suffix (``PreDiag_000229.034``: BEEP's Maccor test files). The first line is a
metadata line (``Today's Date``, ``Date of Test:``, ``Filename:``,
``Procedure:``, ``Comment/Barcode:``), then the header ``Rec#  Cyc#  Step  Test (Sec)  Step (Sec)
Amp-hr  Watt-hr  Amps  Volts  State  ES  DPt Time …``. Maccor logs the current **unsigned**; the
``State`` column says ``C`` (charge), ``D`` (discharge), ``R`` (rest) or ``O`` (other), so the
reader signs it (BDF: positive on charge). ``Amp-hr``/``Watt-hr`` accumulate per step and are not
stored: Echelon integrates the current itself. Column names as documented by BEEP's Maccor schema
and cellpy's ``maccor_txt`` configurations (see ../shared/reference/peer-tools.md).
"""

from __future__ import annotations

from echelon.io import bdf
from echelon.io.columnmap import ColumnMapReader, ColumnSpec

MACCOR_COLUMNS: dict[str, ColumnSpec] = {
    "Test (Sec)": ColumnSpec(bdf.TIME),
    "TestTime": ColumnSpec(bdf.TIME, parse="duration"),
    "Amps": ColumnSpec(bdf.CURRENT),
    "Volts": ColumnSpec(bdf.VOLTAGE),
    "Step": ColumnSpec(bdf.STEP),
    "Cyc#": ColumnSpec(bdf.CYCLE),
    "DPt Time": ColumnSpec(bdf.UNIX_TIME, parse="datetime"),
    "DCIR/Ohms": ColumnSpec(bdf.RESISTANCE),
    "Temp 1": ColumnSpec(bdf.SURFACE_T),
    "Watts": ColumnSpec(bdf.POWER),
}
MACCOR_IGNORED = frozenset(
    {"Rec#", "Step (Sec)", "StepTime", "Amp-hr", "Watt-hr", "ES", "State", "Cycle P"}
)
"""Row counter, step time, per-step Ah/Wh accumulators, end status, state (→ current sign) and
the procedure's loop counter."""
MACCOR_ALIASES: dict[str, str] = {
    "Rec": "Rec#",
    "Cycle C": "Cyc#",
    "Current [A]": "Amps",
    "Voltage [V]": "Volts",
    "Md": "State",
    "DPT Time": "DPt Time",
    "Cap. [Ah]": "Amp-hr",
    "Ener. [Wh]": "Watt-hr",
}
"""Names of the MIMS export used at KIT and elsewhere (``Rec``, ``Cycle P``, ``Cycle C``,
``Step``, ``TestTime``, ``StepTime``, ``Cap. [Ah]``, ``Ener. [Wh]``, ``Current [A]``,
``Voltage [V]``, ``Md``, ``ES``, ``DPT Time``; decimal commas, Latin-1: cellpy's
``maccor_txt_four`` configuration) → the names of the classic export."""


def maccor_name(header: str) -> str:
    """A Maccor column name in the spelling of :data:`MACCOR_COLUMNS`."""
    return MACCOR_ALIASES.get(header, header)


def MaccorTextReader() -> ColumnMapReader:  # noqa: N802  (a factory named like its product)
    """Reader for Maccor tab-separated text exports."""
    return ColumnMapReader(
        name="maccor_txt",
        columns=MACCOR_COLUMNS,
        signature=frozenset({"Rec#", "Cyc#", "Step", "Amps", "Volts", "State"}),
        suffixes=(".txt", ".csv", ".tsv", ".dat"),
        suffix_pattern=r"\.\d{3}",  # MIMS names an export after its test: cell_07.034
        separator=None,
        ignored=MACCOR_IGNORED,
        instrument="Maccor",
        canonical=maccor_name,
        state_column="State",
        charge_states=frozenset({"C"}),
        discharge_states=frozenset({"D"}),
        metadata_patterns={
            # a value ends at a tab or at the end of its line (cellpy's maccor_001.txt has three
            # preamble lines; "[^\t]+" ran on into the next one and the date did not parse)
            "start_time": r"Date of Test:[ \t]*([^\t\r\n]+)",
            "procedure": r"Procedure:[ \t]*([^\t\r\n]+)",
            "barcode": r"Comment/Barcode:[ \t]*([^\t\r\n]+)",
        },
        start_time_formats=(
            "%m/%d/%Y %I:%M:%S %p",
            "%m/%d/%Y %H:%M:%S",
            "%m/%d/%Y",
            "%d %B %Y, %I:%M:%S %p",  # 11 December 2020, 12:22:12 PM (cellpy's maccor_001.txt)
            "%d %B %Y",
        ),
    )
