"""Novonix high-precision charger data files (``.csv``).

A ``[Summary]`` block (``Channel: 01``, ``Cell: …``, ``Protocol: …``, ``Started: 2022-04-11
10:58:07 AM``, ``Version: …``), the protocol between ``[Protocol]`` and ``[End Protocol]``, then
``[Data]`` and a comma-separated table whose lines may each be enclosed whole in double quotes:
``Date and Time``, ``Cycle Number``, ``Step Type`` (a code), ``Run Time (h)``, ``Step Time (h)``,
``Current (A)``, ``Potential (V)``, ``Capacity (Ah)`` and ``Energy (Wh)`` (per step),
``Temperature (°C)``, ``Circuit Temperature (°C)`` (the instrument's), ``dVdt``, ``dIdt``,
``Step Number``, ``Step position``. Layout as in TRI-AMDD/beep,
``beep/tests/test_files/raw/test_Nova_Form-CH01-01_short.csv`` (software version 2.2.1.6).

BDF current is positive on charge. The sample seen holds only a rest, so the file's sign is
checked against its step types (:data:`CHARGE_STEP_TYPES`, :data:`DISCHARGE_STEP_TYPES`): a
current negative on charge steps or positive on discharge steps, and never the other way, is
negated, with a note (:mod:`echelon.io.sign`).
"""

from __future__ import annotations

from typing import Final

from echelon.io import bdf
from echelon.io.columnmap import ColumnMapReader, ColumnSpec, RawTable
from echelon.io.sign import SignEvidence, step_type_evidence

CHARGE_STEP_TYPES: Final = frozenset({"7"})
"""``Step Type`` codes that are a charge: 7, the CC part of a CC-CV charge. The codes as
TRI-AMDD/beep (``beep/structure/novonix.py``) and BatLabLancaster/preparenovonix
(``preparenovonix/novonix_variables.py``) both read them; 1 (CC charge) is left out because
preparenovonix notes that a CC discharge is sometimes coded 1, and 8 because the two disagree
(the CV part of a CC-CV charge, or a CV hold on discharge)."""
DISCHARGE_STEP_TYPES: Final = frozenset({"2", "9", "10"})
"""``Step Type`` codes that are a discharge: 2 (CC discharge), 9 and 10 (the CC and CV parts of
a CC-CV discharge), as both sources above read them."""

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


def _sign_evidence(raw: RawTable) -> SignEvidence:
    """What the steps of known type say about the sign of the current."""
    if "Step Type" not in raw.columns or "Current (A)" not in raw.columns:
        return SignEvidence(0, 0, "no step type")
    return step_type_evidence(
        raw.lazy,
        step_type="Step Type",
        current="Current (A)",
        charge=CHARGE_STEP_TYPES,
        discharge=DISCHARGE_STEP_TYPES,
    )


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
        sign_evidence=_sign_evidence,
    )
