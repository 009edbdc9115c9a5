"""Tab-separated impedance spectra: the Warwick, Stanford and Köln multisine EIS files.

Layout of the files C. Wett et al. collected in github.com/chrisw-17/rapid-SOH-prediction
(staged in ``../shared/datasets/eis_soh``, PROVENANCE.md "Columns / formats"): one spectrum per
file, a header row ``Freq(Hz)``, ``Zmod(Ohm)``, ``Zphz(Deg)``, ``Zreal(Ohm)``, ``Zimag(Ohm)``,
``Capacity(Ah)``, ``SOH`` [%], tab-separated, rows from high to low frequency. ``Zimag`` is Im Z
itself (> 0 in the inductive high-frequency range, < 0 on the capacitive arc), which is BDF's
convention, so it is stored as written. ``Zmod``/``Zphz`` are derived from the stored columns;
``Capacity(Ah)`` and ``SOH`` are the spectrum's labels (one value repeated on every row), kept in
the metadata (``capacity_ah``, ``soh_percent``) — ``echelon soh`` reads them as its labels
(:mod:`echelon.estimation.eis_readers`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import polars as pl

from echelon.io import bdf
from echelon.io.columnmap import ColumnMapReader, ColumnSpec, RawTable

WETT_COLUMNS: Final[dict[str, ColumnSpec]] = {
    "Freq(Hz)": ColumnSpec(bdf.FREQUENCY),
    "Zreal(Ohm)": ColumnSpec(bdf.Z_REAL),
    "Zimag(Ohm)": ColumnSpec(bdf.Z_IMAG),
}
WETT_SIGNATURE: Final = frozenset({"Freq(Hz)", "Zreal(Ohm)", "Zimag(Ohm)"})
"""Header names that identify the layout (``echelon soh`` recognises it by the same three)."""
WETT_LABELS: Final = {"Capacity(Ah)": "capacity_ah", "SOH": "soh_percent"}
"""Label columns → metadata keys (the value of the first row)."""


def _labels(path: Path, raw: RawTable) -> dict[str, object]:
    """The spectrum's capacity and SOH labels, from the first row (``None`` when absent)."""
    present = [c for c in WETT_LABELS if c in raw.columns]
    if not present:
        return {}
    first = raw.lazy.select(pl.col(present).cast(pl.Float64, strict=False)).head(1).collect()
    if first.height == 0:
        return {}
    return {WETT_LABELS[c]: first.item(0, c) for c in present}


def WettEisTextReader() -> ColumnMapReader:  # noqa: N802  (a factory named like its product)
    """Reader for the tab-separated ``Freq(Hz)``/``Zreal(Ohm)``/``Zimag(Ohm)`` spectra."""
    return ColumnMapReader(
        name="wett_eis_txt",
        columns=WETT_COLUMNS,
        signature=WETT_SIGNATURE,
        suffixes=(".txt", ".tsv"),
        separator="\t",
        ignored=frozenset({"Zmod(Ohm)", "Zphz(Deg)", *WETT_LABELS}),
        metadata_hook=_labels,
    )
