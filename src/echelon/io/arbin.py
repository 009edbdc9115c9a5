"""Arbin exports (MITS Pro / MITS 7 "Channel" sheets saved as CSV or as an Excel workbook).

Column names as in the CALCE CS2 Arbin workbooks (``Test_Time(s)``, ``Current(A)`` positive on
charge, ``Voltage(V)``, cumulative ``Charge_Capacity(Ah)`` / ``Discharge_Capacity(Ah)``, …); see
``../shared/datasets/calce/PROVENANCE.md``. Workbooks hold an ``Info`` sheet (channel, start
time, schedule) and one or more ``Channel_<n>`` sheets (a long test continues on further sheets);
``Statistics_<n>`` sheets are Arbin's own per-cycle summary and are not read (named in the
metadata as ``sheets_not_read``).

Capacity and energy counters are cumulative within a file, and ``Cycle_Index`` restarts in each
file (CALCE PROVENANCE): Echelon's diagnostics integrate the current rather than trust counters.

Newer MITS Pro CSV exports spell the same columns with spaces (``Data Point``, ``Date Time``,
``Test Time (s)``, ``Cycle Index``, ``Current (A)``, ``Aux_Temperature_1 (C)``; layout described
in battery-data-alliance/battery-data-format ``arbin_sample_files.md``); :func:`arbin_name`
reduces either spelling to the one of the map.
"""

from __future__ import annotations

import datetime as dt
import re
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
    "Power(W)": ColumnSpec(bdf.POWER),
    "Temperature(C)_1": ColumnSpec(bdf.SURFACE_T),
    "Aux_Temperature_1(C)": ColumnSpec(bdf.SURFACE_T),
    "Aux_Temperature(°)_1": ColumnSpec(bdf.SURFACE_T),
    "Surface_Temp(degC)": ColumnSpec(bdf.SURFACE_T),
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
    | {"Capacity(Ah)", "dQ/dV(Ah/V)", "dV/dQ(V/Ah)"}
)
"""Row counter, step time, net capacity and derivatives: derived from the BDF columns, so not
stored."""
ARBIN_SIGNATURE: Final = frozenset({"Step_Index"})
ARBIN_TIME: Final = frozenset({"Test_Time(s)", "Test_Time"})
"""An Arbin header has the step index and one of the test-time columns (``Cycle_Index`` is
absent from some workbook exports, e.g. the A123 ones in battery-data-format's
``arbin_sample_files.md``)."""
INFO_SHEET: Final = "Info"
_BEFORE_UNIT = re.compile(r"\s+(?=\()")


def arbin_name(header: str) -> str:
    """An Arbin column name in the spelling of :data:`ARBIN_COLUMNS`: no blank before a unit in
    brackets, other blanks as underscores (``Test Time (s)`` → ``Test_Time(s)``,
    ``Aux_Temperature_1 (C)`` → ``Aux_Temperature_1(C)``, ``Internal Resistance(Ohm)`` →
    ``Internal_Resistance(Ohm)``)."""
    return re.sub(r"\s+", "_", _BEFORE_UNIT.sub("", header.strip()))


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
        canonical=arbin_name,
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
        canonical=arbin_name,
        metadata_hook=arbin_info,
        metadata_sheets=(INFO_SHEET,),
    )
