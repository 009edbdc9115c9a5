"""Arbin exports (MITS Pro / MITS 7 "Channel" sheets saved as CSV).

Column names as in the CALCE CS2 Arbin workbooks (``Test_Time(s)``, ``Current(A)`` positive on
charge, ``Voltage(V)``, cumulative ``Charge_Capacity(Ah)`` / ``Discharge_Capacity(Ah)``, …); see
``../shared/datasets/calce/PROVENANCE.md``.
"""

from __future__ import annotations

from echelon.io import bdf
from echelon.io.columnmap import ColumnMapReader, ColumnSpec

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
}

ARBIN_IGNORED = frozenset({"Data_Point", "Step_Time(s)", "dV/dt(V/s)", "Is_FC_Data"})
"""Row counter, step time and derivative: derived from the BDF columns, so not stored."""


def ArbinCsvReader() -> ColumnMapReader:  # noqa: N802  (a factory named like the class it returns)
    """Reader for Arbin channel data exported as CSV."""
    return ColumnMapReader(
        name="arbin_csv",
        columns=ARBIN_COLUMNS,
        signature=frozenset({"Test_Time(s)", "Voltage(V)", "Current(A)", "Step_Index"}),
        suffixes=(".csv",),
        datetime_columns={"Date_Time": None},
        ignored=ARBIN_IGNORED,
        instrument="Arbin",
    )
