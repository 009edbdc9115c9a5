"""Gamry Framework ``.DTA`` text files of impedance runs (potentiostatic or galvanostatic EIS).

A ``.DTA`` file starts with ``EXPLAIN``, then one ``KEY<TAB>TYPE<TAB>VALUE<TAB>LABEL`` line per
setting (``TAG GALVEIS``, ``DATE``, ``TIME``, ``PSTAT REF3000-39109``, ``FREQINIT``, …) and a
``ZCURVE<TAB>TABLE`` block: a header line (``<TAB>Pt<TAB>Time<TAB>Freq<TAB>Zreal<TAB>Zimag<TAB>
Zsig<TAB>Zmod<TAB>Zphz<TAB>Idc<TAB>Vdc<TAB>IERange``), a units line (``#``, ``s``, ``Hz``,
``ohm``, …) and one tab-indented row per frequency; the table ends at the first line that is not
indented. Numbers carry a decimal comma under a German Windows locale (``10078,13``). Layout as in
the Köln single-sine files of ``../shared/datasets/eis_soh`` (PROVENANCE.md, Experimental_Data_RH).
``Zimag`` is Im Z itself (negative on the capacitive arc), BDF's convention; stored as written.
Only the impedance is stored (frequency, Re Z, Im Z; each ZCURVE table is a sweep, numbered in
``cycle_count`` when the file holds several).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from echelon._version import __version__
from echelon.errors import ReaderError
from echelon.io import bdf
from echelon.io.base import RunMetadata, sniff
from echelon.io.dates import numeric_date

ZCURVE_COLUMNS: Final = ("Freq", "Zreal", "Zimag")
"""ZCURVE columns read, in this order: Hz, Ω, Ω."""
GAMRY_SUFFIXES: Final = (".dta", ".txt")


def is_gamry_impedance(path: Path) -> bool:
    """A Gamry text file (``EXPLAIN`` first) of an impedance run (``ZCURVE`` or ``FREQINIT``)."""
    head = sniff(path)
    return head.lstrip().startswith(b"EXPLAIN") and (b"ZCURVE" in head or b"FREQINIT" in head)


def _lines(path: Path) -> list[str]:
    return path.read_bytes().decode("latin-1").splitlines()


def _number(text: str) -> float:
    return float(text.strip().replace(",", "."))


def zcurve_tables(path: Path) -> list[np.ndarray[Any, Any]]:
    """Each ``ZCURVE`` table of a Gamry file as an ``(n, 3)`` array: Hz, Re Z [Ω], Im Z [Ω].

    Raises
    ------
    ReaderError
        Naming the line, when the file has no ZCURVE table, a table lacks a column of
        :data:`ZCURVE_COLUMNS` or has no rows, or a row does not parse.
    """
    return _zcurve_tables(_lines(path), path)


def _zcurve_tables(lines: list[str], path: Path) -> list[np.ndarray[Any, Any]]:
    starts = [i for i, line in enumerate(lines) if line.split("\t", 1)[0] == "ZCURVE"]
    if not starts:
        raise ReaderError(path, ["Gamry file without a ZCURVE table (not an impedance run)"])
    return [_zcurve(lines, start, path) for start in starts]


def _zcurve(lines: list[str], start: int, path: Path) -> np.ndarray[Any, Any]:
    header = [c.strip() for c in lines[start + 1].split("\t")] if start + 1 < len(lines) else []
    missing = [c for c in ZCURVE_COLUMNS if c not in header]
    if missing:
        raise ReaderError(path, [f"ZCURVE table (line {start + 2}) lacks column(s) {missing}"])
    cols = [header.index(c) for c in ZCURVE_COLUMNS]
    values: list[list[float]] = []
    for n, line in enumerate(lines[start + 3 :], start=start + 4):
        if not line.startswith("\t") or not line.strip():
            break
        parts = line.split("\t")
        try:
            values.append([_number(parts[c]) for c in cols])
        except (ValueError, IndexError) as exc:
            raise ReaderError(path, [f"line {n}: unreadable ZCURVE row ({exc})"]) from exc
    if not values:
        raise ReaderError(path, [f"the ZCURVE table at line {start + 1} has no rows"])
    return np.asarray(values)


def _settings(lines: list[str]) -> dict[str, str]:
    """``KEY → VALUE`` of the setting lines before the first table."""
    found: dict[str, str] = {}
    for line in lines:
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0]:
            if parts[1] == "TABLE":
                break
            found.setdefault(parts[0], parts[2].strip())
    return found


@dataclass(frozen=True)
class GamryDtaReader:
    """Reader for Gamry ``.DTA`` impedance files (text; also exported under ``.txt``)."""

    name: str = "gamry_dta"
    version: str = __version__

    def can_read(self, path: Path) -> bool:
        """Suffix ``.dta``/``.txt``, ``EXPLAIN`` first and an impedance run's keys in the head."""
        path = Path(path)
        return path.suffix.lower() in GAMRY_SUFFIXES and is_gamry_impedance(path)

    def read(self, path: Path) -> tuple[pl.LazyFrame, RunMetadata]:
        """The ZCURVE tables as one impedance-only BDF frame, plus the file's metadata."""
        path = Path(path)
        lines = _lines(path)  # read once: the tables and the settings
        tables = _zcurve_tables(lines, path)
        columns: dict[str, Any] = {
            bdf.FREQUENCY: np.concatenate([t[:, 0] for t in tables]),
            bdf.Z_REAL: np.concatenate([t[:, 1] for t in tables]),
            bdf.Z_IMAG: np.concatenate([t[:, 2] for t in tables]),
        }
        if len(tables) > 1:
            columns[bdf.CYCLE] = np.repeat(np.arange(1, len(tables) + 1), [len(t) for t in tables])
        settings = _settings(lines)
        comma = "," in settings.get("FREQINIT", "")
        stamp = numeric_date(f"{settings.get('DATE', '')} {settings.get('TIME', '')}".strip(),
                             decimal_comma=comma)  # fmt: skip
        extra: dict[str, str | int | float | bool | None] = {
            k.lower(): settings[k] for k in ("TAG", "TITLE") if k in settings
        }
        note = stamp.note(settings["DATE"]) if stamp is not None else None
        if note is not None:
            extra["start_time_note"] = note
        meta = RunMetadata.for_file(
            path,
            self,
            instrument=f"Gamry {settings['PSTAT']}" if "PSTAT" in settings else "Gamry",
            start_time=stamp.value if stamp is not None else None,
            extra=extra,
        )
        return pl.DataFrame(columns).lazy(), meta
