"""Arbin exports (MITS Pro / MITS 7 "Channel" sheets saved as CSV or as an Excel workbook).

Column names as in the CALCE CS2 Arbin workbooks (``Test_Time(s)``, ``Current(A)`` positive on
charge, ``Voltage(V)``, cumulative ``Charge_Capacity(Ah)`` / ``Discharge_Capacity(Ah)``, …); see
``../shared/datasets/calce/PROVENANCE.md``. Workbooks hold an ``Info`` sheet (channel, start
time, schedule) and one or more ``Channel_<n>`` sheets (a long test continues on further sheets);
``Statistics_<n>`` sheets are Arbin's own per-cycle summary and are not read (named in the
metadata as ``sheets_not_read``).

Capacity and energy counters are cumulative within a file, and ``Cycle_Index`` restarts in each
file (CALCE PROVENANCE): Echelon's diagnostics integrate the current rather than trust counters.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

from echelon.io import bdf, xlsx
from echelon.io.columnmap import ColumnMapReader, ColumnSpec, RawTable

ARBIN_COLUMNS: dict[str, ColumnSpec] = {
    "Test_Time(s)": ColumnSpec(bdf.TIME),
    "Voltage(V)": ColumnSpec(bdf.VOLTAGE),
    "Current(A)": ColumnSpec(bdf.CURRENT),
    "Step_Index": ColumnSpec(bdf.STEP),
    "Cycle_Index": ColumnSpec(bdf.CYCLE),
    "Charge_Capacity(Ah)": ColumnSpec(bdf.CHARGE_AH),
    "Discharge_Capacity(Ah)": ColumnSpec(bdf.DISCHARGE_AH),
    "Charge_Energy(Wh)": ColumnSpec(bdf.CHARGE_WH),
    "Discharge_Energy(Wh)": ColumnSpec(bdf.DISCHARGE_WH),
    "Internal_Resistance(Ohm)": ColumnSpec(bdf.RESISTANCE),
    "Temperature (C)_1": ColumnSpec(bdf.SURFACE_T),
    "Aux_Temperature_1(C)": ColumnSpec(bdf.SURFACE_T),
    "Date_Time": ColumnSpec(bdf.UNIX_TIME, parse="datetime"),
    # the unit-less names of MITS 7 CSV exports (as in the Severson et al. 2019 raw files and
    # BEEP's Arbin schema); DateTime there is seconds since the Unix epoch
    "Test_Time": ColumnSpec(bdf.TIME),
    "Voltage": ColumnSpec(bdf.VOLTAGE),
    "Current": ColumnSpec(bdf.CURRENT),
    "Charge_Capacity": ColumnSpec(bdf.CHARGE_AH),
    "Discharge_Capacity": ColumnSpec(bdf.DISCHARGE_AH),
    "Charge_Energy": ColumnSpec(bdf.CHARGE_WH),
    "Discharge_Energy": ColumnSpec(bdf.DISCHARGE_WH),
    "Internal_Resistance": ColumnSpec(bdf.RESISTANCE),
    "Temperature": ColumnSpec(bdf.SURFACE_T),
    "DateTime": ColumnSpec(bdf.UNIX_TIME),
}

ARBIN_IGNORED = frozenset(
    {"Data_Point", "Step_Time(s)", "dV/dt(V/s)", "Is_FC_Data", "Step_Time", "dV/dt"}
)
"""Row counter, step time and derivative: derived from the BDF columns, so not stored."""
ARBIN_SIGNATURE: Final = frozenset({"Step_Index", "Cycle_Index"})
ARBIN_TIME: Final = frozenset({"Test_Time(s)", "Test_Time"})
"""An Arbin header has the step and cycle indices and one of the test-time columns."""
INFO_SHEET: Final = "Info"


def ArbinCsvReader() -> ColumnMapReader:  # noqa: N802  (a factory named like the class it returns)
    """Reader for Arbin channel data exported as CSV."""
    return ColumnMapReader(
        name="arbin_csv",
        columns=ARBIN_COLUMNS,
        signature=ARBIN_SIGNATURE,
        signature_any=ARBIN_TIME,
        suffixes=(".csv",),
        ignored=ARBIN_IGNORED,
        instrument="Arbin",
    )


def arbin_info(path: Path, raw: RawTable) -> dict[str, object]:
    """Channel, start time and schedule from a workbook's ``Info`` sheet.

    The sheet holds a label row (``Channel``, ``Start_DateTime``, ``Schedule_File_Name``, …)
    followed by a value row; anything missing is simply not reported.
    """
    del raw
    book = xlsx.open_workbook(path)
    if INFO_SHEET not in book.sheet_names:
        return {}
    rows = book.rows(INFO_SHEET)
    for index, row in enumerate(rows[:-1]):
        labels = [str(c).strip() for c in row]
        if "Channel" in labels and "Start_DateTime" in labels:
            values = dict(zip(labels, rows[index + 1], strict=False))
            out: dict[str, object] = {}
            if values.get("Channel") not in (None, ""):
                out["channel"] = str(values["Channel"])
            start = values.get("Start_DateTime")
            if isinstance(start, dt.datetime):
                out["start_time"] = start
            if values.get("Schedule_File_Name") not in (None, ""):
                out["schedule"] = str(values["Schedule_File_Name"])
            return out
    return {}


def ArbinXlsxReader() -> ColumnMapReader:  # noqa: N802
    """Reader for Arbin workbooks (``Channel_*`` sheets concatenated, ``Info`` as metadata)."""
    return ColumnMapReader(
        name="arbin_xlsx",
        columns=ARBIN_COLUMNS,
        signature=ARBIN_SIGNATURE,
        signature_any=ARBIN_TIME,
        suffixes=(".xlsx", ".xls"),
        format="xlsx",
        sheets=r"^Channel",
        ignored=ARBIN_IGNORED,
        instrument="Arbin",
        metadata_hook=arbin_info,
        metadata_sheets=(INFO_SHEET,),
    )
