"""Bitrode cycler CSV exports (as in the ORNL Nissan Leaf cell data).

Columns: ``Exclude``, ``Time(s)``, ``Cycle``, three loop counters all named ``Loop``, ``Step``,
``StepTime(s)``, ``Current(A)`` (positive on charge), ``Voltage(V)``, ``Power(W)``,
``Capacity(Ah)`` and ``Energy(Wh)`` (signed, accumulated per step), ``Mode`` (``CHRG`` / ``DCHG``
/ ``REST``), ``Data``. Some exports have **no header row** (``NissanLeaf-cell-Low-Current-HPPC-
10C.csv`` and the 1–3 C discharges in ``../shared/datasets/nissan_leaf``); they are recognised by
their first row (``No``/``Yes`` then numbers) and read with the same layout. Rows end with extra
empty fields, which are ignored.
"""

from __future__ import annotations

from typing import Final

from echelon.io import bdf
from echelon.io.columnmap import ColumnMapReader, ColumnSpec

BITRODE_LAYOUT: Final = (
    "Exclude",
    "Time(s)",
    "Cycle",
    "Loop",
    "Loop",
    "Loop",
    "Step",
    "StepTime(s)",
    "Current(A)",
    "Voltage(V)",
    "Power(W)",
    "Capacity(Ah)",
    "Energy(Wh)",
    "Mode",
    "Data",
)
BITRODE_COLUMNS: dict[str, ColumnSpec] = {
    "Time(s)": ColumnSpec(bdf.TIME),
    "Cycle": ColumnSpec(bdf.CYCLE),
    "Step": ColumnSpec(bdf.STEP),
    "Current(A)": ColumnSpec(bdf.CURRENT),
    "Voltage(V)": ColumnSpec(bdf.VOLTAGE),
    "Power(W)": ColumnSpec(bdf.POWER),
}
BITRODE_IGNORED = frozenset(
    {"Exclude", "Loop", "StepTime(s)", "Capacity(Ah)", "Energy(Wh)", "Mode", "Data"}
)
"""Flags, loop counters, step time, per-step accumulators and the mode (= sign of the current)."""


def _is_bitrode_row(fields: list[str]) -> bool:
    if len(fields) < len(BITRODE_LAYOUT) - 1 or fields[0] not in ("No", "Yes"):
        return False
    try:
        float(fields[1]), float(fields[8]), float(fields[9])
    except ValueError:
        return False
    return True


def BitrodeCsvReader() -> ColumnMapReader:  # noqa: N802
    """Reader for Bitrode CSV exports, with or without their header row."""
    return ColumnMapReader(
        name="bitrode_csv",
        columns=BITRODE_COLUMNS,
        signature=frozenset({"Exclude", "Time(s)", "Current(A)", "Voltage(V)", "Mode"}),
        suffixes=(".csv",),
        separator=",",
        ignored=BITRODE_IGNORED,
        instrument="Bitrode",
        headerless_names=BITRODE_LAYOUT,
        headerless_row=_is_bitrode_row,
    )
