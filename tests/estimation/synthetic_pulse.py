"""Closed-form PulseBat turning points of a 1-RC cell, for fast unit tests of the estimators.

Not evidence that a model works (that is docs/validation.md, on measured data): these rows only
need a known, learnable link between SOH and the pulse response. Resistance grows as SOH falls
(R0 = r·(1 + 2·(1 − SOH)) with a per-cell spread), the OCV follows the catalogue table at the
cell's actual SOC, and the RC branch carries over from pulse to rest exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from echelon.catalog import chemistry
from echelon.estimation.samples import family_of

AMPLITUDES_C = (0.5, 1.0, 1.5)
PULSE_S = 5.0
REST_S = 75.0


def _block(ocv: float, r0: float, r1: float, tau: float, current: float, u: list[float]) -> None:
    """Append the 8 turning points of ±``current`` pulses to ``u`` (starting relaxed)."""
    decay_p, decay_r = np.exp(-PULSE_S / tau), np.exp(-REST_S / tau)
    v_rc = 0.0
    for sign in (1.0, -1.0):
        i = sign * current
        u.append(ocv + i * r0 + v_rc)  # pulse start (after the ohmic jump)
        v_rc = i * r1 + (v_rc - i * r1) * decay_p
        u.append(ocv + i * r0 + v_rc)  # pulse end
        u.append(ocv + v_rc)  # rest start
        v_rc *= decay_r
        u.append(ocv + v_rc)  # rest end


def pulse_samples(
    n_cells: int,
    *,
    chemistry_name: str = "NMC622",
    nominal_capacity_ah: float = 20.0,
    socs: tuple[float, ...] = (10.0, 20.0, 30.0, 40.0, 50.0),
    soh_range: tuple[float, float] = (65.0, 98.0),
    r_ohm_ah: float = 0.03,
    seed: int = 0,
    prefix: str = "C",
) -> pl.DataFrame:
    """A labelled sample table of ``n_cells`` cells × ``socs`` with ``u1_v`` … ``u21_v``."""
    rng = np.random.default_rng(seed)
    table = chemistry(chemistry_name).ocv
    rows = []
    for c in range(n_cells):
        soh = rng.uniform(*soh_range)
        spread = rng.normal(1.0, 0.02)
        r0 = r_ohm_ah / nominal_capacity_ah * (1.0 + 2.0 * (1.0 - soh / 100.0)) * spread
        r1, tau = 0.6 * r0, 20.0
        for soc in socs:
            actual = min(0.98, soc / soh)  # SOC set relative to nominal capacity, as PulseBat
            ocv = float(table.ocv(actual)) + rng.normal(0.0, 0.0005)
            u = [ocv]
            for a in AMPLITUDES_C:
                _block(ocv, r0, r1, tau, a * nominal_capacity_ah, u)
            row = {f"u{i + 1}_v": v for i, v in enumerate(u[:21])}
            row |= {
                "sample_id": f"{prefix}{c:03d}@{soc:.0f}",
                "cell_id": f"{prefix}{c:03d}",
                "chemistry": chemistry_name,
                "nominal_capacity_ah": nominal_capacity_ah,
                "soc_percent": soc,
                "soh_percent": soh,
            }
            rows.append(row)
    return pl.DataFrame(rows)


Cell = str | float | None
"""A workbook cell as written (text where a number belongs, for bad-input tests)."""


def pulsebat_workbook(
    path: Path,
    samples: pl.DataFrame,
    *,
    layout: Literal["grid", "all", "both"] = "grid",
    cells: Mapping[tuple[str, int, str], Cell] | None = None,
    blank_after: int | None = None,
    points: int = 21,
    random_sheet: bool = False,
) -> Path:
    """Write ``samples`` (of :func:`pulse_samples`) as a PulseBat-format feature workbook.

    Parameters
    ----------
    path : Path
        The ``.xlsx`` to write.
    samples : pl.DataFrame
        Sample table with ``u1_v`` … ``u21_v``.
    layout : {"grid", "all", "both"}
        One ``SOC<n>`` sheet per SOC level, one ``SOC ALL`` sheet, or both (as published).
    cells : mapping, optional
        ``(sheet, spreadsheet row, column) → value`` overwrites (row 1 is the header; rows
        counted before ``blank_after`` moves them).
    blank_after : int, optional
        Leave an empty line after this spreadsheet row of every sheet (rows below move down).
    points : int
        Write ``U1`` … ``U<points>`` only.
    random_sheet : bool
        Also a ``SOC TEST RANDOM`` sheet: the first SOC level's rows at 3 % SOC more, without
        ``ID`` (as published).
    """
    import xlsxwriter

    header = ["Mat", "ID", "Qn", "Q", "SOH", "Pt", "SOC", *(f"U{i}" for i in range(1, points + 1))]
    rows = [
        [
            family_of(r["chemistry"]),
            r["cell_id"],
            r["nominal_capacity_ah"],
            r["soh_percent"] / 100.0 * r["nominal_capacity_ah"],
            r["soh_percent"] / 100.0,
            PULSE_S,
            r["soc_percent"],
            *(r[f"u{i}_v"] for i in range(1, points + 1)),
        ]
        for r in samples.iter_rows(named=True)
    ]
    sheets: dict[str, list[list[Cell]]] = {}
    if layout in ("all", "both"):
        sheets["SOC ALL"] = rows
    if layout in ("grid", "both"):
        for row in rows:
            sheets.setdefault(f"SOC{row[6]:.0f}", []).append(row)
    if random_sheet:
        first = min(row[6] for row in rows)
        sheets["SOC TEST RANDOM"] = [
            [*row[:6], row[6] + 3.0, *row[7:]] for row in rows if row[6] == first
        ]
    for (sheet, number, column), value in (cells or {}).items():
        sheets[sheet][number - 2][header.index(column)] = value
    with xlsxwriter.Workbook(path) as book:
        for name, body in sheets.items():
            sheet = book.add_worksheet(name)
            sheet.write_row(0, 0, header)
            for i, row in enumerate(body):
                line = i + 1 if blank_after is None or i + 2 <= blank_after else i + 2
                sheet.write_row(line, 0, row)
    return path
