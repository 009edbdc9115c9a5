"""Validation of the pulse and relaxation estimators on the measured PulseBat datasets.

The datasets are read in place (``shared/datasets``; never copied): ``pulsebat`` (S. Tao et al.,
*Nat. Commun.* 15 (2024), doi:10.1038/s41467-024-54454-0; MIT; repository
terencetaothucb/Pulse-Voltage-Response-Generation @ 92aeb9b) and ``pulsebat_lfp`` (Tao, Xia &
Zou 2026, Zenodo doi:10.5281/zenodo.21008092; repository
terencetaothucb/pulse-excitation-informativeness-for-battery-capacity-diagnosis @ ea2dde5).
The 35 Ah LFP group of ``pulsebat_lfp`` is the same 56 cells as ``pulsebat``'s: never both.

The random-SOC sheets (``SOC TEST RANDOM``) have one row per cell at a SOC off the 5 % grid,
with capacities about 1–2 % below the grid sheets' (a later calibration) and no cell ids. Rows
are paired with grid cells by capacity rank within a group (:func:`random_soc_pairs`); a test
fold then trains on grid cells whose rank is more than ``buffer`` ranks from any test row, so a
mispaired neighbour cannot leak the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

import numpy as np
import polars as pl

from echelon.errors import EstimationError
from echelon.estimation.evaluate import summary, with_truth
from echelon.estimation.methods import Method
from echelon.estimation.model import DEFAULT_COVERAGE, fit_soh_model
from echelon.estimation.readers import RANDOM_SHEET, read_pulsebat_workbook
from echelon.estimation.samples import CELL_ID

PULSEBAT: Final[dict[str, str]] = {
    "LMO-10Ah": "pulsebat/processed_features_W5000/10Ah LMO/LMO_10Ah_W_5000.xlsx",
    "NMC-2.1Ah": "pulsebat/processed_features_W5000/2.1Ah NMC/NMC_2.1Ah_W_5000.xlsx",
    "NMC-21Ah": "pulsebat/processed_features_W5000/21Ah NMC/NMC_21Ah_W_5000.xlsx",
    "LFP-35Ah": "pulsebat/processed_features_W5000/35Ah LFP/LFP_35Ah_W_5000.xlsx",
}
"""The four groups of Tao et al. 2024 (5 s pulses, U1–U21, SOC 5–50 %)."""
PULSEBAT_LFP: Final[dict[str, str]] = {
    "LFP-20Ah": "pulsebat_lfp/20Ah LFP/LFP_20Ah_W_5000.xlsx",
    "LFP-35Ah": "pulsebat_lfp/35Ah LFP/LFP_35Ah_W_5000.xlsx",
    "LFP-68Ah": "pulsebat_lfp/68Ah LFP/LFP_68Ah_W_5000.xlsx",
}
"""Retired LFP cells, 5 s pulses, U1–U41, SOC 5–90 % (and a random-SOC sheet)."""
Collection = Literal["pulsebat", "pulsebat+lfp", "lfp"]


def _grid_sheets(path: Path) -> list[str]:
    from echelon.estimation.readers import GRID_SHEET
    from echelon.io.xlsx import open_workbook

    return [s for s in open_workbook(path).sheet_names if GRID_SHEET.match(s)]


def pulse_samples(datasets: Path | str, *, collection: Collection = "pulsebat+lfp") -> pl.DataFrame:
    """Labelled grid-SOC samples of the PulseBat groups.

    Parameters
    ----------
    datasets : path-like
        The shared datasets folder.
    collection : {"pulsebat", "pulsebat+lfp", "lfp"}
        ``pulsebat``: its four groups as published. ``lfp``: the three ``pulsebat_lfp``
        groups. ``pulsebat+lfp``: pulsebat's LMO and NMC groups with the three LFP groups of
        ``pulsebat_lfp`` (its 35 Ah rows replace pulsebat's: same cells, SOC up to 90 %).
    """
    root = Path(datasets)
    files: dict[str, str] = {}
    if collection in ("pulsebat", "pulsebat+lfp"):
        files |= PULSEBAT
    if collection in ("lfp", "pulsebat+lfp"):
        files |= PULSEBAT_LFP
    frames = [
        read_pulsebat_workbook(root / rel, sheets=_grid_sheets(root / rel)).with_columns(
            pl.lit(group).alias("group")
        )
        for group, rel in files.items()
    ]
    return pl.concat(frames, how="diagonal_relaxed")


def random_soc_pairs(grid: pl.DataFrame, random: pl.DataFrame) -> pl.DataFrame:
    """Pair each random-SOC row with a grid cell of its group by capacity rank.

    Returns
    -------
    pl.DataFrame
        ``sample_id`` (of the random row), ``cell_id`` (grid cell), ``rank`` (0 = lowest
        capacity) and ``group``; groups whose counts differ pair the common lowest ranks.
    """
    parts = []
    for group in random.get_column("group").unique().sort():
        cells = (
            grid.filter(pl.col("group") == group)
            .group_by(CELL_ID)
            .agg(pl.col("measured_capacity_ah").first())
            .sort("measured_capacity_ah", CELL_ID)
        )
        rows = random.filter(pl.col("group") == group).sort("measured_capacity_ah", "sample_id")
        n = min(cells.height, rows.height)
        parts.append(
            pl.DataFrame(
                {
                    "sample_id": rows.get_column("sample_id").head(n),
                    CELL_ID: cells.get_column(CELL_ID).head(n),
                    "rank": np.arange(n),
                    "group": [group] * n,
                }
            )
        )
    return pl.concat(parts)


def random_soc_evaluation(
    datasets: Path | str,
    *,
    method: str | Method = "pulse",
    n_folds: int = 10,
    buffer: int = 1,
    coverage: float = DEFAULT_COVERAGE,
    references: int = 0,
    calibrate: bool = True,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score models trained on grid-SOC rows on the random-SOC rows of unseen LFP cells.

    Fold ``k`` tests the random rows whose capacity rank ``r`` has ``r mod n_folds == k`` and
    trains on the grid rows of every cell whose rank is more than ``buffer`` from each of them.
    With ``references`` > 0, that many random-SOC rows of each group outside the fold (drawn
    at random, seeded, not scored) calibrate the fold's model as reference units measured
    with a capacity test (:mod:`echelon.estimation.calibration`); the grid rows of their
    cells, with the same ``buffer``, are left out of training too, so that a reference is as
    new to the model as a tested unit. ``calibrate=False`` is the control: the same references
    are drawn and left out of training, but the model predicts without them (what the smaller
    training set alone does). ``seed`` draws the references and seeds the model's fit.

    Raises
    ------
    EstimationError
        If a group has fewer rows outside a fold than ``references``, or ``n_folds`` < 2 with
        references.

    Returns
    -------
    (predictions, metrics)
        As :class:`echelon.estimation.Evaluation`.
    """
    root = Path(datasets)
    grid = pulse_samples(root, collection="lfp")
    random = pl.concat(
        [
            read_pulsebat_workbook(root / rel, sheets=[RANDOM_SHEET]).with_columns(
                pl.lit(group).alias("group")
            )
            for group, rel in PULSEBAT_LFP.items()
        ],
        how="diagonal_relaxed",
    )
    pairs = random_soc_pairs(grid, random)
    random = random.join(pairs.select("sample_id", "rank"), on="sample_id", how="inner")
    ranks = grid.join(pairs.select(CELL_ID, "rank"), on=CELL_ID, how="left")
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(n_folds):
        if progress:
            progress(k, n_folds)
        train, test, refs = random_soc_fold(ranks, random, k, n_folds, buffer, references, rng)
        model = fit_soh_model(train.drop("rank"), method=method, seed=seed)
        pred = model.predict(
            test.drop("rank"),
            coverage=coverage,
            references=refs.drop("rank") if references and calibrate else None,
        )
        parts.append(with_truth(test, pred, k))
    if progress:
        progress(n_folds, n_folds)
    predictions = pl.concat(parts)
    return predictions, summary(predictions)


def random_soc_fold(
    grid: pl.DataFrame,
    random: pl.DataFrame,
    k: int,
    n_folds: int,
    buffer: int,
    references: int,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Training grid rows, tested random rows and reference random rows of fold ``k``.

    ``grid`` and ``random`` carry ``group`` and the capacity ``rank`` of
    :func:`random_soc_pairs`. The tested rows have ``rank mod n_folds == k``; ``references``
    rows per group are drawn from the others; training keeps the grid rows of cells more than
    ``buffer`` ranks from every tested and every reference row.
    """
    test = random.filter(pl.col("rank") % n_folds == k)
    refs = _draw_references(random.filter(pl.col("rank") % n_folds != k), references, rng)
    held = pl.concat([test.select("group", "rank"), refs.select("group", "rank")])
    near = pl.concat(
        [held.with_columns(pl.col("rank") + d) for d in range(-buffer, buffer + 1)]
    ).unique()
    return grid.join(near, on=["group", "rank"], how="anti"), test, refs


def _draw_references(rows: pl.DataFrame, per_group: int, rng: np.random.Generator) -> pl.DataFrame:
    """``per_group`` rows of each group drawn at random (none when ``per_group`` is 0)."""
    if not per_group:
        return rows.clear()
    if rows.is_empty():
        raise EstimationError(
            "no rows outside the fold to draw reference units from: use 2 or more folds"
        )
    parts = []
    for group in rows.get_column("group").unique().sort():
        mine = rows.filter(pl.col("group") == group)
        if mine.height < per_group:
            raise EstimationError(
                f"group {group} has {mine.height} rows outside the fold, fewer than the "
                f"{per_group} reference units asked for: ask for fewer, or use more folds"
            )
        parts.append(_draw(mine, per_group, rng)[0])
    return pl.concat(parts)


def _draw(
    rows: pl.DataFrame, n: int, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` rows drawn at random and the rest, both in their original order."""
    drawn = np.zeros(rows.height, dtype=bool)
    drawn[rng.choice(rows.height, size=n, replace=False)] = True
    return rows.filter(pl.Series(drawn)), rows.filter(pl.Series(~drawn))


def random_soc_new_format(
    datasets: Path | str,
    *,
    method: str | Method = "pulse",
    references: int = 10,
    coverage: float = DEFAULT_COVERAGE,
    seed: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each LFP capacity group as a new delivery: random-SOC rows, optionally with references.

    The model is trained on the grid rows of the *other two* LFP groups (no cell of the tested
    group is seen, no pairing needed); the tested group's random-SOC rows are predicted
    zero-shot (``references=0``) or after calibrating on ``references`` of them drawn at random
    (seeded; they are not scored).

    Returns
    -------
    (predictions, metrics)
    """
    root = Path(datasets)
    grid = pulse_samples(root, collection="lfp")
    rng = np.random.default_rng(seed)
    parts = []
    for group, rel in PULSEBAT_LFP.items():
        train = grid.filter(pl.col("group") != group)
        test = read_pulsebat_workbook(root / rel, sheets=[RANDOM_SHEET])
        refs = None
        if references:
            refs, test = _draw(test, references, rng)
        model = fit_soh_model(train, method=method, seed=seed)
        pred = model.predict(test, coverage=coverage, references=refs)
        parts.append(with_truth(test, pred, group))
    predictions = pl.concat(parts)
    return predictions, summary(predictions)
