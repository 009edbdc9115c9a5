"""Battery Archive time series (batteryarchive.org CSV downloads).

Battery Archive republishes cycling data of many laboratories (Sandia, CALCE, HNEI, Oxford,
Michigan, UL-Purdue …) in one layout, whatever tester logged it: ``Date_Time``, ``Test_Time (s)``,
``Cycle_Index``, ``Current (A)`` (positive on charge), ``Voltage (V)``, cumulative
``Charge_Capacity (Ah)`` / ``Discharge_Capacity (Ah)`` / ``…_Energy (Wh)``,
``Environment_Temperature (C)`` and ``Cell_Temperature (C)`` — no step index, so the Arbin reader,
whose names these follow, does not take them. Header as listed in the Battery Archive schema audits
of peer projects (e.g. the ``*_timeseries.csv`` headers in celljar's BatteryArchive ingest tests).
The per-cycle ``*_cycle_data.csv`` summaries of the same site are not time series and are not read.
"""

from __future__ import annotations

from typing import Final

from echelon.io import bdf
from echelon.io.arbin import ARBIN_COLUMNS, arbin_name
from echelon.io.columnmap import ColumnMapReader, ColumnSpec

BATTERY_ARCHIVE_COLUMNS: dict[str, ColumnSpec] = {
    **ARBIN_COLUMNS,
    "Cell_Temperature(C)": ColumnSpec(bdf.SURFACE_T),
    "Environment_Temperature(C)": ColumnSpec(bdf.AMBIENT_T),
}
BATTERY_ARCHIVE_SIGNATURE: Final = frozenset(
    {"Test_Time(s)", "Cycle_Index", "Current(A)", "Voltage(V)"}
    | {"Environment_Temperature(C)", "Cell_Temperature(C)"}
)
"""Names as :func:`~echelon.io.arbin.arbin_name` spells them (``Test_Time(s)``); the two
temperatures, which every Battery Archive time series has, tell it from an Arbin export."""


def BatteryArchiveCsvReader() -> ColumnMapReader:  # noqa: N802  (a factory named like its product)
    """Reader for Battery Archive time-series CSV files."""
    return ColumnMapReader(
        name="battery_archive_csv",
        columns=BATTERY_ARCHIVE_COLUMNS,
        signature=BATTERY_ARCHIVE_SIGNATURE,
        suffixes=(".csv",),
        instrument="Battery Archive",
        canonical=arbin_name,
    )
