"""Impedance files → EIS sample tables (one row per spectrum, see :mod:`echelon.estimation.eis`).

Formats, tried in this order:

1. **Zhang 2020 processed table** (CSV with ``seriesIdx``, ``cycle``, ``Q``, ``q`` and
   ``ZReal_<f>Hz``/``ZImag_<f>Hz`` columns; one row per spectrum; ``ZImag`` holds −Im Z), as
   built by P. Gasper et al. (NREL) for the MRS 2022 tutorial from Y. Zhang et al.,
   *Nat. Commun.* 11, 1706 (2020), doi:10.1038/s41467-020-15235-7. Frequencies come from the
   sibling ``freq_eis_zhang2020.csv`` when present (the column names round them to 2
   digits). Labels: ``soh_percent = q × 100`` (capacity over the cell's first-cycle capacity,
   the dataset's convention) and ``nominal_capacity_ah = Q / q`` (the first-cycle capacity,
   34–37 mA·h — *not* the 45 mA·h rating the paper quotes for the Eunicell LR2032, which no
   cell of the table reaches); ``--nominal-capacity-ah`` overrides it and the label becomes
   ``Q / nominal × 100``. State V (fully charged, rested), 25 °C.
2. **Tab-separated spectra with** ``Freq(Hz) Zmod(Ohm) Zphz(Deg) Zreal(Ohm) Zimag(Ohm)
   [Capacity(Ah) SOH]`` (the Warwick, Stanford and Köln multisine files collected by C. Wett
   et al., github.com/chrisw-17/rapid-SOH-prediction). ``Zimag`` is Im Z itself. When the
   file carries ``Capacity(Ah)`` and ``SOH`` [%], the label is ``SOH`` and the nominal
   capacity is ``Capacity / SOH × 100`` (each cell's reference capacity).
3. **Gamry** ``.DTA`` **text** (``EXPLAIN`` header, ``ZCURVE TABLE`` with ``Freq``, ``Zreal``,
   ``Zimag``; decimal commas accepted) — unlabelled.
4. **Any tester file** :func:`echelon.io.read` reads into BDF impedance columns (e.g. BioLogic
   EC-Lab ``.mpt`` PEIS/GEIS exports, BDF Parquet) — one sample per sweep
   (:func:`echelon.diagnostics.eis.spectra`), unlabelled. The raw Zhang 2020 text files
   (``EIS_state_<S>_<T>C<NN>.txt``, several cycles per file) are read this way.

File names of the published datasets give the cell, SOC and temperature (:data:`DATASETS`).
Chemistry and nominal capacity come from ``--chemistry`` / ``--nominal-capacity-ah``
(:class:`~echelon.estimation.readers.ReadOptions`; the chemistry option overrides the file),
else from the file or its dataset; when still unknown a :class:`SchemaError` names the option
to pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from echelon.errors import ReaderError, SchemaError
from echelon.estimation.eis import FREQUENCY, Z_IMAG, Z_REAL
from echelon.estimation.readers import ReadOptions
from echelon.estimation.samples import (
    BATCH,
    CELL_ID,
    CHEMISTRY,
    NOMINAL,
    SAMPLE_ID,
    SOC,
    SOH,
    SOURCE,
    TEMPERATURE,
)
from echelon.io import bdf
from echelon.io.base import sniff
from echelon.io.eis_text import WETT_SIGNATURE
from echelon.io.gamry import is_gamry_impedance, zcurve_tables

MEASURED: Final = "measured_capacity_ah"
CYCLE: Final = "cycle"
LIST = pl.List(pl.Float64)
SCHEMA: Final[dict[str, Any]] = {
    SAMPLE_ID: pl.String,
    CELL_ID: pl.String,
    CHEMISTRY: pl.String,
    NOMINAL: pl.Float64,
    SOC: pl.Float64,
    SOH: pl.Float64,
    MEASURED: pl.Float64,
    TEMPERATURE: pl.Float64,
    CYCLE: pl.Int64,
    BATCH: pl.String,
    SOURCE: pl.String,
    FREQUENCY: LIST,
    Z_REAL: LIST,
    Z_IMAG: LIST,
}
"""Columns of every table these readers return (unknown values are null)."""
ZHANG_FREQUENCY_FILE: Final = "freq_eis_zhang2020.csv"
ZHANG_COLUMN: Final = re.compile(r"^ZReal_(.+)Hz$")


@dataclass(frozen=True)
class Dataset:
    """What a published dataset's file names say, and what its papers say about the cells.

    Attributes
    ----------
    pattern : re.Pattern
        Matched against the file stem; named groups ``cell``, ``soc``, ``temperature``,
        ``cycle`` are used when present.
    prefix : str
        Prepended to the cell id (``Warwick:Cell02``).
    batch : str
    chemistry : str or None
        Catalogue chemistry, ``None`` when no source states it (``--chemistry`` needed).
    soc_percent : float or None
        SOC of every file when the names do not carry it.
    """

    pattern: re.Pattern[str]
    prefix: str
    batch: str
    chemistry: str | None
    soc_percent: float | None = None


DATASETS: Final[tuple[Dataset, ...]] = (
    # Warwick (WMG) second-life set: Faraji-Niri et al., J. Energy Storage 58 (2023) 106295,
    # doi:10.1016/j.est.2022.106295; data Rashid et al., Data in Brief (2023),
    # doi:10.1016/j.dib.2023.109157. Cells: LG INR21700-M50 (NMC811 / graphite-SiOx, 5 Ah) per
    # third-party dataset lists citing the Mendeley Data record mn9fb7xdx6 — the cell model is
    # not stated in eis_soh/PROVENANCE.md [moderately sure].
    Dataset(
        re.compile(
            r"^Cell(?P<cell>\d+)_\d+SOH_(?P<temperature>-?\d+)degC_(?P<soc>\d+)SOC_\d+_"
            r"(?P<cycle>\d+)Cycles$"
        ),
        "Warwick:Cell",
        "warwick-lg-m50",
        "NMC811",
    ),
    # Stanford: Pozzato, Allam, Onori, Data in Brief 41 (2022) 107995,
    # doi:10.1016/j.dib.2022.107995 — LG INR21700-M50T (NMC811 / graphite-Si), as listed by
    # the JieChungChen/LIB_Aging_Dataset_Collection index [moderately sure].
    Dataset(
        re.compile(r"^W(?P<cell>\d+)_(?P<soc>\d+)SOC_(?P<cycle>\d+)Cycles$"),
        "Stanford:W",
        "stanford-lg-m50t",
        "NMC811",
    ),
    # TH Köln (Wett et al., in preparation): ≈ 2 Ah cells whose chemistry no source states.
    # The multisine file names carry no SOC (the authors' script assumes 50 %, undocumented).
    Dataset(
        re.compile(r"^MultiSine_(?P<cell>NC\d+)_.*_Cyc(?P<cycle>\d+)$"),
        "Koeln:",
        "koeln-multisine",
        None,
    ),
    Dataset(
        re.compile(r"^SingleSine_(?P<cell>NC\d+)_.*_Cyc(?P<cycle>\d+)_SOC(?P<soc>\d+)$"),
        "Koeln:",
        "koeln-singlesine",
        None,
    ),
    # Zhang et al. 2020 raw spectra: Eunicell LR2032 LiCoO2/graphite coin cells; state V is
    # "fully charged and rested" (eis_zhang2020/PROVENANCE.md), the other states have no
    # documented SOC.
    Dataset(
        re.compile(r"^EIS_state_V_(?P<temperature>\d+)C(?P<cell>\d+)$"),
        "Zhang2020:",
        "zhang2020-lr2032",
        "LCO",
        soc_percent=100.0,
    ),
    Dataset(
        re.compile(r"^EIS_state_[IVX]+_(?P<temperature>\d+)C(?P<cell>\d+)$"),
        "Zhang2020:",
        "zhang2020-lr2032",
        "LCO",
    ),
)


def dataset_of(path: Path) -> tuple[Dataset | None, dict[str, str]]:
    """The published dataset a file name belongs to, and its named fields."""
    for dataset in DATASETS:
        match = dataset.pattern.match(path.stem)
        if match:
            return dataset, {k: v for k, v in match.groupdict().items() if v is not None}
    return None, {}


def _cell_id(dataset: Dataset | None, fields: dict[str, str], path: Path) -> str:
    if dataset is None or "cell" not in fields:
        return path.stem
    if dataset.prefix.startswith("Zhang2020"):
        return f"{dataset.prefix}{fields.get('temperature', '')}C{fields['cell']}"
    return f"{dataset.prefix}{fields['cell']}"


def _chemistry(path: Path, options: ReadOptions, dataset: Dataset | None) -> str:
    chemistry = options.chemistry or (dataset.chemistry if dataset else None)
    if chemistry is None:
        raise SchemaError(
            path,
            [
                "the file does not say the cell chemistry: pass --chemistry (a catalogue name "
                "such as NMC811, NMC622, LFP, LCO; `unknown` if it cannot be identified)"
            ],
        )
    return chemistry


def _nominal(path: Path, options: ReadOptions, from_file: float | None) -> float:
    nominal = from_file if from_file is not None else options.nominal_capacity_ah
    if nominal is None:
        raise SchemaError(
            path,
            [
                "the file does not give the rated capacity: pass --nominal-capacity-ah "
                "(the cell's rated capacity [A·h])"
            ],
        )
    return float(nominal)


def _float(fields: dict[str, str], key: str) -> float | None:
    return float(fields[key]) if key in fields else None


def _soc(fields: dict[str, str], dataset: Dataset | None) -> float | None:
    """SOC [%] from the file name, else the dataset's (``None`` when neither says)."""
    return _float(fields, "soc") if "soc" in fields else (dataset.soc_percent if dataset else None)


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA)


def _spectrum_row(
    f: np.ndarray[Any, Any], re_ohm: np.ndarray[Any, Any], im_ohm: np.ndarray[Any, Any]
) -> dict[str, list[float]]:
    return {
        FREQUENCY: [float(v) for v in f],
        Z_REAL: [float(v) for v in re_ohm],
        Z_IMAG: [float(v) for v in im_ohm],
    }


# --- 1. Zhang 2020 processed table -------------------------------------------------------


def is_zhang_table(path: Path) -> bool:
    """A CSV whose header has ``seriesIdx``, ``Q``, ``q`` and ``ZReal_…Hz`` columns."""
    if path.suffix.lower() != ".csv":
        return False
    head = sniff(path, 4096).split(b"\n", 1)[0].decode("utf-8", "replace").strip().split(",")
    return {"seriesIdx", "cycle", "Q", "q"} <= set(head) and any(
        ZHANG_COLUMN.match(c) for c in head
    )


def read_zhang_table(path: Path, options: ReadOptions) -> pl.DataFrame:
    """Sample table of the Zhang 2020 processed CSV (see the module docstring)."""
    raw = pl.read_csv(path)
    real = [c for c in raw.columns if ZHANG_COLUMN.match(c)]
    imag = [c.replace("ZReal_", "ZImag_") for c in real]
    missing = [c for c in imag if c not in raw.columns]
    if missing:
        raise SchemaError(path, [f"ZReal column(s) without their ZImag partner: {missing[:5]}"])
    freq = _zhang_frequencies(path, real)
    re_ohm = raw.select(real).to_numpy().astype(np.float64)
    im_ohm = -raw.select(imag).to_numpy().astype(np.float64)  # the table holds −Im Z
    capacity_mah = raw.get_column("Q").cast(pl.Float64).to_numpy()
    q = raw.get_column("q").cast(pl.Float64).to_numpy()
    cells = raw.get_column("seriesIdx").cast(pl.Int64).to_numpy()
    cycles = raw.get_column("cycle").cast(pl.Int64).to_numpy()
    chemistry = options.chemistry or "LCO"
    first_cycle_ah = {
        c: float(np.median(capacity_mah[cells == c] / q[cells == c])) / 1000.0
        for c in set(cells.tolist())
    }
    rows = []
    for i in range(raw.height):
        nominal = options.nominal_capacity_ah or first_cycle_ah[int(cells[i])]
        cell = f"Zhang2020:25C{int(cells[i]):02d}"
        rows.append(
            {
                SAMPLE_ID: f"{cell}:cycle{int(cycles[i])}",
                CELL_ID: cell,
                CHEMISTRY: chemistry,
                NOMINAL: nominal,
                SOC: 100.0,
                SOH: 100.0 * capacity_mah[i] / 1000.0 / nominal
                if options.nominal_capacity_ah
                else 100.0 * q[i],
                MEASURED: capacity_mah[i] / 1000.0,
                TEMPERATURE: 25.0,
                CYCLE: int(cycles[i]),
                BATCH: "zhang2020-lr2032",
                SOURCE: str(path),
                **_spectrum_row(freq, re_ohm[i], im_ohm[i]),
            }
        )
    return _frame(rows)


def _zhang_frequencies(path: Path, real_columns: list[str]) -> np.ndarray[Any, Any]:
    from_names = np.array([float(ZHANG_COLUMN.sub(r"\1", c)) for c in real_columns])
    sibling = path.with_name(ZHANG_FREQUENCY_FILE)
    if not sibling.is_file():
        return from_names
    exact = np.loadtxt(sibling, dtype=np.float64, ndmin=1)
    # the names round to 2 significant digits; the sibling file must agree with them
    if len(exact) != len(from_names) or not np.allclose(exact, from_names, rtol=0.06):
        raise SchemaError(
            sibling,
            [
                f"{len(exact)} frequencies that do not match the {len(from_names)} columns "
                f"of {path.name}"
            ],
        )
    return exact


# --- 2. tab-separated Freq(Hz)/Zreal(Ohm)/Zimag(Ohm) spectra ------------------------------


def is_impedance_text(path: Path) -> bool:
    """A text file whose first line has ``Freq(Hz)``, ``Zreal(Ohm)`` and ``Zimag(Ohm)``."""
    head = sniff(path, 1024).split(b"\n", 1)[0].decode("latin-1").strip().split("\t")
    return set(head) >= WETT_SIGNATURE


def read_impedance_text(path: Path, options: ReadOptions) -> pl.DataFrame:
    """One sample from a ``Freq(Hz)``/``Zreal(Ohm)``/``Zimag(Ohm)`` text file."""
    try:
        raw = pl.read_csv(path, separator="\t", infer_schema_length=0)
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(path, [f"cannot read the table: {exc}"]) from exc
    data = raw.select(pl.all().str.strip_chars().cast(pl.Float64, strict=False))
    dataset, fields = dataset_of(path)
    f = data.get_column("Freq(Hz)").to_numpy()
    soh, nominal_from_file, measured = _text_labels(data, path)
    row = {
        SAMPLE_ID: path.stem,
        CELL_ID: _cell_id(dataset, fields, path),
        CHEMISTRY: _chemistry(path, options, dataset),
        NOMINAL: _nominal(path, options, nominal_from_file),
        SOC: _soc(fields, dataset),
        SOH: soh,
        MEASURED: measured,
        TEMPERATURE: _float(fields, "temperature"),
        CYCLE: int(fields["cycle"]) if "cycle" in fields else None,
        BATCH: dataset.batch if dataset else None,
        SOURCE: str(path),
        **_spectrum_row(
            f, data.get_column("Zreal(Ohm)").to_numpy(), data.get_column("Zimag(Ohm)").to_numpy()
        ),
    }
    return _frame([row])


def _text_labels(data: pl.DataFrame, path: Path) -> tuple[float | None, float | None, float | None]:
    """``(soh_percent, nominal_ah, measured_ah)`` from the repeated Capacity/SOH columns."""
    if "Capacity(Ah)" not in data.columns or "SOH" not in data.columns:
        return None, None, None
    capacity = data.get_column("Capacity(Ah)").drop_nulls()
    soh = data.get_column("SOH").drop_nulls()
    if not len(capacity) or not len(soh):
        return None, None, None
    if capacity.n_unique() > 1 or soh.n_unique() > 1:
        raise SchemaError(
            path,
            [
                "Capacity(Ah) or SOH changes within one spectrum (expected one value repeated "
                "on every row)"
            ],
        )
    soh_value = float(soh[0])
    soh_percent = soh_value * 100.0 if soh_value <= 1.5 else soh_value
    measured = float(capacity[0])
    return soh_percent, measured / (soh_percent / 100.0), measured


# --- 3. Gamry DTA ------------------------------------------------------------------------


def read_gamry_dta(path: Path, options: ReadOptions) -> pl.DataFrame:
    """One sample per ``ZCURVE`` table of a Gamry ``.DTA`` text file (unlabelled)."""
    try:
        tables = zcurve_tables(path)
    except ReaderError as exc:
        raise SchemaError(path, exc.problems) from exc
    dataset, fields = dataset_of(path)
    rows = []
    for k, table in enumerate(tables, start=1):
        rows.append(
            {
                SAMPLE_ID: path.stem if len(tables) == 1 else f"{path.stem}:{k}",
                CELL_ID: _cell_id(dataset, fields, path),
                CHEMISTRY: _chemistry(path, options, dataset),
                NOMINAL: _nominal(path, options, None),
                SOC: _float(fields, "soc"),
                TEMPERATURE: _float(fields, "temperature"),
                CYCLE: int(fields["cycle"]) if "cycle" in fields else None,
                BATCH: dataset.batch if dataset else None,
                SOURCE: str(path),
                **_spectrum_row(table[:, 0], table[:, 1], table[:, 2]),
            }
        )
    return _frame(rows)


# --- 4. any tester file with BDF impedance columns ----------------------------------------


def may_hold_impedance(path: Path) -> bool:
    """Cheap pre-check before a full tester read: the file mentions a frequency column."""
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return bdf.FREQUENCY in pl.read_parquet_schema(path)
        except (OSError, pl.exceptions.PolarsError):
            return False
    return b"freq" in sniff(path).lower()


def read_tester_impedance(path: Path, options: ReadOptions) -> pl.DataFrame | None:
    """One sample per impedance sweep of a file :func:`echelon.io.read` reads (else ``None``)."""
    from echelon.io import read

    if not may_hold_impedance(path):
        return None
    try:
        frame, _ = read(path)
    except ReaderError:
        return None
    if bdf.FREQUENCY not in frame.columns:
        return None
    dataset, fields = dataset_of(path)
    swept = frame.filter(pl.col(bdf.FREQUENCY).is_not_null() & (pl.col(bdf.FREQUENCY) > 0))
    if swept.height == 0:
        return None
    swept = swept.with_columns(_sweep_number(swept).alias("__sweep"))
    temperature = bdf.SURFACE_T if bdf.SURFACE_T in swept.columns else None
    rows = []
    for part in swept.partition_by("__sweep", maintain_order=True):
        number = int(part.get_column("__sweep")[0])
        cycle = int(part.get_column(bdf.CYCLE)[0]) if bdf.CYCLE in part.columns else number
        rows.append(
            {
                SAMPLE_ID: f"{path.stem}:{cycle}",
                CELL_ID: _cell_id(dataset, fields, path),
                CHEMISTRY: _chemistry(path, options, dataset),
                NOMINAL: _nominal(path, options, None),
                SOC: _soc(fields, dataset),
                TEMPERATURE: float(part.get_column(temperature).mean())  # type: ignore[arg-type]
                if temperature and part.get_column(temperature).null_count() < part.height
                else _float(fields, "temperature"),
                CYCLE: cycle,
                BATCH: dataset.batch if dataset else None,
                SOURCE: str(path),
                **_spectrum_row(
                    part.get_column(bdf.FREQUENCY).to_numpy(),
                    part.get_column(bdf.Z_REAL).to_numpy(),
                    part.get_column(bdf.Z_IMAG).to_numpy(),
                ),
            }
        )
    return _frame(rows)


def _sweep_number(frame: pl.DataFrame) -> pl.Expr:
    """Sweep index per row: by ``cycle_count`` when present, else where the frequency jumps up
    (the rule of :func:`echelon.diagnostics.eis.spectra`)."""
    if bdf.CYCLE in frame.columns:
        return pl.col(bdf.CYCLE).rank("dense").cast(pl.Int64)
    jump = pl.col(bdf.FREQUENCY) > pl.col(bdf.FREQUENCY).shift(1) * 1.5
    return jump.fill_null(False).cum_sum().cast(pl.Int64) + 1


# --- dispatch ------------------------------------------------------------------------------

FileReader = Callable[[Path, ReadOptions], pl.DataFrame]
FORMATS: Final[tuple[tuple[str, Callable[[Path], bool], FileReader], ...]] = (
    ("Zhang 2020 processed table", is_zhang_table, read_zhang_table),
    ("Freq(Hz)/Zreal(Ohm)/Zimag(Ohm) text", is_impedance_text, read_impedance_text),
    ("Gamry DTA", is_gamry_impedance, read_gamry_dta),
)
"""Name, recogniser and reader of each dedicated format (tester files are tried last)."""


def read_eis_file(path: Path, options: ReadOptions) -> pl.DataFrame | None:
    """Sample table of one impedance file, or ``None`` when it holds no impedance spectra (or
    the samples are asked for another method: ``options.method`` not ``eis``)."""
    if options.method not in (None, "eis"):
        return None
    for _, recognise, reader in FORMATS:
        if recognise(path):
            return reader(path, options)
    return read_tester_impedance(path, options)
