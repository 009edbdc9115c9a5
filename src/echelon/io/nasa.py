"""NASA PCoE battery ageing data exported as one CSV per charge or discharge.

Layout of the per-cycle CSV exports of the NASA Ames Prognostics Center of Excellence data
(B. Saha and K. Goebel, "Battery Data Set", NASA Prognostics Data Repository, 2007), as staged in
``../shared/datasets/nasa`` (PROVENANCE.md): ``voltage`` = Voltage_measured [V], ``current`` =
Current_measured [A] (negative on discharge), ``temperature`` = Temperature_measured [°C],
``discharge_time`` / ``charge_time`` = Time [s]. ``current_load``/``voltage_load`` (discharge) and
``current_charge``/``voltage_charge`` (charge) are the load's and charger's set-points, and ``ic``
is a column added by a third party (undocumented): none has a BDF equivalent, so they are named
in the warning and not stored.
"""

from __future__ import annotations

from echelon.io import bdf
from echelon.io.columnmap import ColumnMapReader, ColumnSpec

NASA_COLUMNS: dict[str, ColumnSpec] = {
    "discharge_time": ColumnSpec(bdf.TIME),
    "charge_time": ColumnSpec(bdf.TIME),
    "voltage": ColumnSpec(bdf.VOLTAGE),
    "current": ColumnSpec(bdf.CURRENT),
    "temperature": ColumnSpec(bdf.SURFACE_T),
}


def NasaCycleCsvReader() -> ColumnMapReader:  # noqa: N802
    """Reader for NASA PCoE per-charge / per-discharge CSV exports."""
    return ColumnMapReader(
        name="nasa_pcoe_csv",
        columns=NASA_COLUMNS,
        signature=frozenset({"voltage", "current", "temperature"}),
        signature_any=frozenset({"discharge_time", "charge_time"}),
        suffixes=(".csv",),
        instrument="NASA Ames PCoE test bed",
    )
