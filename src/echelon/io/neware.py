"""Neware exports: BTS 8 "record" tables (CSV or workbook), BTS 7 CSV, and binary ``.nda/.ndax``.

* BTS 8 (``record`` sheet of the workbook export, or the same table as CSV): ``DataPoint``,
  ``Cycle Index``, ``Step Index``, ``Step Type``, ``Time`` (step time), ``Total Time`` or
  ``Cumulative Time`` (``h:mm:ss.fff``), ``Current(A)`` (negative on discharge),
  ``Voltage(V)``, ``Chg. Cap.(Ah)``, ``DChg. Cap.(Ah)``, …, ``Date``; some installations export
  mA/mAh instead of A/Ah.
* BTS 7 CSV: ``Record ID``, ``Realtime``, ``Time(h:min:s.ms)`` (step time), ``Step ID``,
  ``Cycle ID``, ``Current(mA)``, ``Voltage(V)``, ``Capacitance_Chg(mAh)``, …; the test time comes
  from ``Realtime``.
* ``.nda``/``.ndax`` (binary): decoded by fastnda (BSD-3-Clause; ``pip install 'echelon[neware]'``)
  or NewareNDA if that is what is installed. Column names as in cellpy's ``neware_txt`` and
  ``neware_xlsx`` loaders and BEEP's Neware schema (../shared/reference/peer-tools.md).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import polars as pl

from echelon.errors import ReaderError
from echelon.io import bdf
from echelon.io.columnmap import ColumnMapReader, ColumnSpec

BTS8_COLUMNS: dict[str, ColumnSpec] = {
    "Total Time": ColumnSpec(bdf.TIME, parse="duration"),
    "Cumulative Time": ColumnSpec(bdf.TIME, parse="duration"),
    "Current(A)": ColumnSpec(bdf.CURRENT),
    "Current(mA)": ColumnSpec.with_unit(bdf.CURRENT, "mA"),
    "Voltage(V)": ColumnSpec(bdf.VOLTAGE),
    "Cycle Index": ColumnSpec(bdf.CYCLE),
    "Step Index": ColumnSpec(bdf.STEP),
    "Chg. Cap.(Ah)": ColumnSpec(bdf.CHARGE_AH),
    "DChg. Cap.(Ah)": ColumnSpec(bdf.DISCHARGE_AH),
    "Chg. Cap.(mAh)": ColumnSpec.with_unit(bdf.CHARGE_AH, "mAh"),
    "DChg. Cap.(mAh)": ColumnSpec.with_unit(bdf.DISCHARGE_AH, "mAh"),
    "Chg. Energy(Wh)": ColumnSpec(bdf.CHARGE_WH),
    "DChg. Energy(Wh)": ColumnSpec(bdf.DISCHARGE_WH),
    "Chg. Energy(mWh)": ColumnSpec.with_unit(bdf.CHARGE_WH, "mWh"),
    "DChg. Energy(mWh)": ColumnSpec.with_unit(bdf.DISCHARGE_WH, "mWh"),
    "Power(W)": ColumnSpec(bdf.POWER),
    "Date": ColumnSpec(bdf.UNIX_TIME, parse="datetime"),
    "T1(℃)": ColumnSpec(bdf.SURFACE_T),
    "T1(°C)": ColumnSpec(bdf.SURFACE_T),
}
BTS8_IGNORED = frozenset(
    {
        "DataPoint",
        "Step Type",
        "Time",
        "Capacity(Ah)",
        "Capacity(mAh)",
        "Energy(Wh)",
        "Energy(mWh)",
        "Spec. Cap.(mAh/g)",
        "Spec. Energy(mWh/g)",
        "Chg. Spec. Cap.(mAh/g)",
        "DChg. Spec. Cap.(mAh/g)",
        "Chg. Spec. Energy(mWh/g)",
        "DChg. Spec. Energy(mWh/g)",
        "dQ/dV(mAh/V)",
        "dQm/dV(mAh/V.g)",
    }
)
"""Row counter, step type and time, net and specific capacity/energy, derivatives."""
BTS8_SIGNATURE = frozenset({"Cycle Index", "Step Index", "Voltage(V)"})
BTS8_TIME = frozenset({"Total Time", "Cumulative Time"})
"""A BTS 8 record table has the indices, the voltage and the test time, which some BTS versions
call ``Cumulative Time`` (cellpy's ``testdata/data/neware_uio.csv``)."""

BTS7_COLUMNS: dict[str, ColumnSpec] = {
    "Realtime": ColumnSpec(bdf.UNIX_TIME, parse="datetime"),
    "Current(mA)": ColumnSpec.with_unit(bdf.CURRENT, "mA"),
    "Voltage(V)": ColumnSpec(bdf.VOLTAGE),
    "Cycle ID": ColumnSpec(bdf.CYCLE),
    "Step ID": ColumnSpec(bdf.STEP),
    "Capacitance_Chg(mAh)": ColumnSpec.with_unit(bdf.CHARGE_AH, "mAh"),
    "Capacitance_DChg(mAh)": ColumnSpec.with_unit(bdf.DISCHARGE_AH, "mAh"),
    "Engy_Chg(mWh)": ColumnSpec.with_unit(bdf.CHARGE_WH, "mWh"),
    "Engy_DChg(mWh)": ColumnSpec.with_unit(bdf.DISCHARGE_WH, "mWh"),
    "DCIR(O)": ColumnSpec(bdf.RESISTANCE),
    "Power(mW)": ColumnSpec.with_unit(bdf.POWER, "mW"),
    "Temperature(C)": ColumnSpec(bdf.SURFACE_T),
}
BTS7_IGNORED = frozenset(
    {
        "Record ID",
        "Time(h:min:s.ms)",
        "Capacity(mAh)",
        "Capacity Density(mAh/g)",
        "Energy(mWh)",
        "CmpEng(mWh/g)",
        "dQ/dV(mAh/V)",
        "dQm/dV(mAh/V.g)",
    }
)


def NewareCsvReader() -> ColumnMapReader:  # noqa: N802
    """Reader for Neware BTS 8 record tables saved as CSV."""
    return ColumnMapReader(
        name="neware_csv",
        columns=BTS8_COLUMNS,
        signature=BTS8_SIGNATURE,
        signature_any=BTS8_TIME,
        suffixes=(".csv", ".txt"),
        separator=None,
        ignored=BTS8_IGNORED,
        instrument="Neware",
    )


def NewareBts7CsvReader() -> ColumnMapReader:  # noqa: N802
    """Reader for Neware BTS 7 CSV exports (test time from ``Realtime``)."""
    return ColumnMapReader(
        name="neware_bts7_csv",
        columns=BTS7_COLUMNS,
        signature=frozenset({"Record ID", "Realtime", "Step ID", "Cycle ID", "Voltage(V)"}),
        suffixes=(".csv", ".txt"),
        separator=None,
        ignored=BTS7_IGNORED,
        instrument="Neware",
    )


def NewareXlsxReader() -> ColumnMapReader:  # noqa: N802
    """Reader for Neware BTS 8 workbooks (the ``record`` sheet(s))."""
    return ColumnMapReader(
        name="neware_xlsx",
        columns=BTS8_COLUMNS,
        signature=BTS8_SIGNATURE,
        signature_any=BTS8_TIME,
        suffixes=(".xlsx", ".xls"),
        format="xlsx",
        sheets=r"(?i)^record",
        ignored=BTS8_IGNORED,
        instrument="Neware",
    )


NDA_COLUMNS: dict[str, ColumnSpec] = {
    # fastnda's default column names
    "total_time_s": ColumnSpec(bdf.TIME),
    "voltage_V": ColumnSpec(bdf.VOLTAGE),
    "current_mA": ColumnSpec.with_unit(bdf.CURRENT, "mA"),
    "unix_time_s": ColumnSpec(bdf.UNIX_TIME),
    "cycle_count": ColumnSpec(bdf.CYCLE),
    "step_count": ColumnSpec(bdf.STEP),
    # NewareNDA's column names
    "Time": ColumnSpec(bdf.TIME),
    "Voltage": ColumnSpec(bdf.VOLTAGE),
    "Current(mA)": ColumnSpec.with_unit(bdf.CURRENT, "mA"),
    "Cycle": ColumnSpec(bdf.CYCLE),
    "Step": ColumnSpec(bdf.STEP),
    "Charge_Capacity(mAh)": ColumnSpec.with_unit(bdf.CHARGE_AH, "mAh"),
    "Discharge_Capacity(mAh)": ColumnSpec.with_unit(bdf.DISCHARGE_AH, "mAh"),
    "Charge_Energy(mWh)": ColumnSpec.with_unit(bdf.CHARGE_WH, "mWh"),
    "Discharge_Energy(mWh)": ColumnSpec.with_unit(bdf.DISCHARGE_WH, "mWh"),
    "Timestamp": ColumnSpec(bdf.UNIX_TIME, parse="datetime"),
}
NDA_IGNORED = frozenset(
    {"index", "Index", "step_time_s", "step_index", "Step_Index", "step_type", "Status"}
    | {"capacity_mAh", "energy_mWh", "Jump"}
)
NDA_BACKENDS = ("fastnda", "NewareNDA")


def _load_nda(path: Path) -> pl.DataFrame:
    """Decode ``.nda``/``.ndax`` with fastnda (preferred) or NewareNDA."""
    for backend in NDA_BACKENDS:
        try:
            module: Any = importlib.import_module(backend)
        except ImportError:
            continue
        try:
            if backend == "fastnda":
                loaded = module.read(str(path), cycle_mode="raw")
            else:
                loaded = module.read(str(path), software_cycle_number=False)
        except Exception as exc:  # a third-party decoder: any failure is this file's problem
            raise ReaderError(
                path, [f"{backend} could not decode the file ({type(exc).__name__}: {exc})"]
            ) from exc
        return loaded if isinstance(loaded, pl.DataFrame) else pl.from_pandas(loaded)
    raise ReaderError(
        path,
        [
            "Neware binary files need fastnda or NewareNDA: pip install 'echelon[neware]' "
            "(or export the test as CSV/XLSX from BTSDA)"
        ],
    )


def NewareNdaReader() -> ColumnMapReader:  # noqa: N802
    """Reader for Neware ``.nda``/``.ndax`` through the optional fastnda/NewareNDA decoders."""
    return ColumnMapReader(
        name="neware_nda",
        columns=NDA_COLUMNS,
        signature=frozenset(),
        suffixes=(".nda", ".ndax"),
        format="frame",
        loader=_load_nda,
        ignored=NDA_IGNORED,
        instrument="Neware",
    )
