"""Inventories of real retired cells from the PulseBat feature tables (read in place).

The PulseBat datasets ([S25]; ``shared/datasets/pulsebat`` and ``pulsebat_lfp``, MIT) hold, per
retired cell, its capacity measured by a full 1 C calibration (``Q`` [A·h]) and the voltages at the
turning points of bipolar current pulses at planned SOC levels. They give the *real* joint spread
of capacity and resistance of retired cells that the pack builder is benchmarked on.

Resistance proxy (documented in ``docs/regroup.md``). In the 5 s-width tables, at a planned SOC,
``U9`` is the voltage at the end of the rest before the ±1 C block, ``U10``/``U11`` the start/end
of the +1 C pulse, ``U12``/``U13`` the start/end of the following rest and ``U14``/``U15`` the
start/end of the −1 C pulse. The 5-second discharge DCIR is

    dcir_ohm = (U13 − U15) / (1 C × Qn)

(``Qn`` the nominal capacity [A·h], so ``1 C × Qn`` is the pulse current [A]): the drop from the
voltage before a 5 s, 1 C discharge pulse to its end — the usual definition of a DCIR at 5 s. The
preceding 75 s rest follows a +1 C pulse and is not a full relaxation, so the proxy carries a
little of that pulse's polarisation: it ranks cells, it is not a datasheet DCIR.
The charge-pulse value ``(U11 − U9) / (1 C × Qn)`` correlates with it at r ≥ 0.98 in every group.
SOC 50 % (sheet ``SOC50``) is used, mid-way in the measured 5–50 % (pulsebat) range.

Groups: ``LMO-10Ah`` (95 HEV cells), ``NMC-21Ah`` (52 BEV cells), ``LFP-35Ah`` (56 HEV cells) from
``pulsebat``; ``LFP-20Ah`` (102 cells) and ``LFP-68Ah`` (96 cells) from ``pulsebat_lfp`` (its
35 Ah group is the same 56 cells as ``pulsebat``'s and is not read twice). The 2.1 Ah NMC group
(67 samples of 12 lab-aged cells) is left out: its rows are repeated measurements of the same
cells, not distinct units. PulseBat names the cathode only "NMC"; it is entered as ``NMC622``
[assumption], as in the grading validation (docs/validation.md; every NMC record of the catalogue
has the same 3.6 V nominal voltage and cut-offs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import polars as pl
from python_calamine import CalamineWorkbook

from echelon.errors import SchemaError
from echelon.regroup.inventory import validate_inventory

GROUPS: Final[dict[str, tuple[str, str, str]]] = {
    # name: (dataset folder, file inside it, chemistry)
    "LMO-10Ah": ("pulsebat", "processed_features_W5000/10Ah LMO/LMO_10Ah_W_5000.xlsx", "LMO"),
    "NMC-21Ah": ("pulsebat", "processed_features_W5000/21Ah NMC/NMC_21Ah_W_5000.xlsx", "NMC622"),
    "LFP-35Ah": ("pulsebat", "processed_features_W5000/35Ah LFP/LFP_35Ah_W_5000.xlsx", "LFP"),
    "LFP-20Ah": ("pulsebat_lfp", "20Ah LFP/LFP_20Ah_W_5000.xlsx", "LFP"),
    "LFP-68Ah": ("pulsebat_lfp", "68Ah LFP/LFP_68Ah_W_5000.xlsx", "LFP"),
}
"""Cell groups available, each one model (one nominal capacity, format and first life)."""
SHEET: Final = "SOC50"
NEEDED: Final = ("Qn", "Q", "U13", "U15")


def _rows(path: Path) -> list[dict[str, object]]:
    try:
        table = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(SHEET).to_python()
    except Exception as exc:  # calamine raises its own types for missing/corrupt files
        raise SchemaError(path, [f"cannot read sheet {SHEET!r}: {exc}"]) from exc
    header = [str(h) for h in table[0]]
    missing = [c for c in NEEDED if c not in header]
    if missing:
        raise SchemaError(path, [f"sheet {SHEET!r} lacks column(s) {missing}"])
    return [dict(zip(header, row, strict=False)) for row in table[1:] if row and row[0] != ""]


def pulsebat_inventory(
    datasets: Path | str, *, groups: tuple[str, ...] = tuple(GROUPS)
) -> pl.DataFrame:
    """An inventory of real retired cells (capacity and pulse-DCIR proxy) from PulseBat.

    Parameters
    ----------
    datasets : path-like
        The shared datasets folder holding ``pulsebat`` and ``pulsebat_lfp``.
    groups : tuple of str
        Groups to read (keys of :data:`GROUPS`).

    Returns
    -------
    pl.DataFrame
        A validated inventory: ``battery_id`` (``PB-<group>-<n>``), ``chemistry``, ``model``
        (the group), ``capacity_ah`` (measured ``Q``), ``dcir_ohm`` (the proxy above),
        ``soh_percent``; no grade and no self-discharge (not measured).

    Raises
    ------
    SchemaError
        When a file or column is missing.
    """
    root = Path(datasets)
    frames = []
    for name in groups:
        folder, relative, chemistry = GROUPS[name]
        rows = _rows(root / folder / relative)
        frames.append(
            pl.DataFrame(
                {
                    "battery_id": [f"PB-{name}-{i + 1:03d}" for i in range(len(rows))],
                    "chemistry": [chemistry] * len(rows),
                    "model": [name] * len(rows),
                    "capacity_ah": [float(r["Q"]) for r in rows],  # type: ignore[arg-type]
                    "dcir_ohm": [
                        (float(r["U13"]) - float(r["U15"])) / float(r["Qn"])  # type: ignore[arg-type]
                        for r in rows
                    ],
                    "soh_percent": [
                        100.0 * float(r["Q"]) / float(r["Qn"])  # type: ignore[arg-type]
                        for r in rows
                    ],
                }
            )
        )
    return validate_inventory(pl.concat(frames), source=root)


def resample_inventory(
    inventory: pl.DataFrame,
    n: int,
    *,
    seed: int = 0,
    capacity_sigma: float = 0.01 / 1.645,
    dcir_sigma: float = 0.02,
) -> pl.DataFrame:
    """A larger inventory with the same joint spread: a smoothed bootstrap of real units.

    Units are drawn with replacement (each group in proportion to its size, capacity and DCIR of
    a draw kept together so their correlation survives) and multiplied by independent
    ``1 + N(0, σ)`` factors, so no two units are identical. The default ``capacity_sigma`` is the
    capacity test's uncertainty (±1 % at 90 %, catalogue ``soh_capacity_test``); ``dcir_sigma``
    2 % is an [assumption] of the same order (the DCIR diagnostic's known-answer tolerance,
    docs/validation.md).

    Parameters
    ----------
    inventory : pl.DataFrame
        Validated inventory of real units.
    n : int
        Units to draw.

    Returns
    -------
    pl.DataFrame
        Validated inventory; ids ``R<k>-<source id>``.
    """
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, inventory.height, n)
    drawn = inventory[pick.tolist()]
    return validate_inventory(
        drawn.with_columns(
            pl.Series("battery_id", [f"R{k:06d}-{b}" for k, b in enumerate(drawn["battery_id"])]),
            pl.col("capacity_ah") * (1 + capacity_sigma * rng.standard_normal(n)),
            pl.col("dcir_ohm") * (1 + dcir_sigma * rng.standard_normal(n)),
        ).select("battery_id", "chemistry", "model", "capacity_ah", "dcir_ohm", "soh_percent"),
        source="resampled PulseBat",
    )
