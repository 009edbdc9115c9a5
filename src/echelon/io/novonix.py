"""Novonix high-precision charger data files (``.csv``).

A ``[Summary]`` block (``Channel: 01``, ``Cell: …``, ``Protocol: …``, ``Started: 2022-04-11
10:58:07 AM``, ``Version: …``), the protocol between ``[Protocol]`` and ``[End Protocol]``, then
``[Data]`` and a comma-separated table whose lines may each be enclosed whole in double quotes:
``Date and Time``, ``Cycle Number``, ``Step Type`` (a code), ``Run Time (h)``, ``Step Time (h)``,
``Current (A)``, ``Potential (V)``, ``Capacity (Ah)`` and ``Energy (Wh)`` (per step),
``Temperature (°C)``, ``Circuit Temperature (°C)`` (the instrument's), ``dVdt``, ``dIdt``,
``Step Number``, ``Step position``. Layout as in TRI-AMDD/beep,
``beep/tests/test_files/raw/test_Nova_Form-CH01-01_short.csv`` (software version 2.2.1.6). The
current is taken as written (positive on charge, as BDF); the sample seen holds only a rest, so
the sign was not checked against a charge.
"""

from __future__ import annotations

from typing import Final

from echelon.io import bdf
from echelon.io.columnmap import ColumnMapReader, ColumnSpec

NOVONIX_COLUMNS: dict[str, ColumnSpec] = {
    "Run Time (h)": ColumnSpec.with_unit(bdf.TIME, "h"),
    "Potential (V)": ColumnSpec(bdf.VOLTAGE),
    "Current (A)": ColumnSpec(bdf.CURRENT),
    "Date and Time": ColumnSpec(bdf.UNIX_TIME, parse="datetime"),
    "Cycle Number": ColumnSpec(bdf.CYCLE),
    "Step Number": ColumnSpec(bdf.STEP),
    "Temperature (°C)": ColumnSpec(bdf.SURFACE_T),
}
NOVONIX_IGNORED: Final = frozenset(
    {"Step Type", "Step Time (h)", "Capacity (Ah)", "Energy (Wh)", "dVdt (I/h)", "dIdt (V/h)"}
    | {"Step position", "Circuit Temperature (°C)"}
)
"""Step code and time, per-step capacity and energy, derivatives, the step's position and the
instrument's own temperature."""


def NovonixCsvReader() -> ColumnMapReader:  # noqa: N802  (a factory named like its product)
    """Reader for Novonix data files."""
    return ColumnMapReader(
        name="novonix_csv",
        columns=NOVONIX_COLUMNS,
        signature=frozenset({"Date and Time", "Run Time (h)", "Potential (V)", "Current (A)"}),
        suffixes=(".csv", ".txt"),
        ignored=NOVONIX_IGNORED,
        instrument="Novonix",
        metadata_patterns={
            "start_time": r"^Started:\s*(.+?)\s*$",
            "channel": r"^Channel:\s*(\S+)",
            "procedure": r"^Protocol:\s*(.+?)\s*$",
            "cell": r"^Cell:\s*(.+?)\s*$",
            "software_version": r"^Version:\s*(.+?)\s*$",
        },
        start_time_formats=("%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %H:%M:%S"),
    )
