"""Honest evaluation of SOH estimators: splits grouped by physical cell, and their metrics.

Splits (no physical cell is ever on both sides):

``cells``
    k-fold cross-validation grouped by ``cell_id``: unseen cells, every SOC level seen.
``soc``
    unseen cells *and* unseen SOC levels: SOC levels are dealt into k groups and cells into k
    folds; model (i, j) trains on cells outside fold i measured at SOC levels outside group j
    and is scored on fold i at group j (k² models; every row scored once).
``chemistry``
    leave one batch (one chemistry and format, column ``batch``) out: the held-out batch is
    treated as a new delivery. Zero-shot, and optionally with ``references`` reference units
    of the held-out batch measured by a capacity test (excluded from the scores).

Metrics per group: MAPE [%], RMSE and worst absolute error [SOH points], empirical coverage of
the intervals with a 95 % interval from a bootstrap over cells (the rows of one cell share its
deviation from the model, so they are not independent cases), their mean width [SOH points], and
the share of rows flagged out of domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.errors import EstimationError
from echelon.estimation.conformal import group_folds
from echelon.estimation.methods import Method, method_class
from echelon.estimation.model import DEFAULT_COVERAGE, families, fit_soh_model, prepare
from echelon.estimation.samples import BATCH, CELL_ID, SAMPLE_ID, SOC, SOC_GRID_PERCENT, SOH
from echelon.estimation.shift import soc_level_groups

Split = Literal["cells", "soc", "chemistry"]
SPLITS: Final = ("cells", "soc", "chemistry")
COVERAGE_CI_DRAWS: Final = 2000
"""Bootstrap resamples of cells behind ``coverage_ci_low`` / ``coverage_ci_high``."""
MIN_SCORED_CELLS: Final = 5
"""A held-out batch needs this many cells besides its references to be scored."""
Progress = Callable[[int, int, str], None]
"""``progress(done, total, message)``."""


@dataclass(frozen=True)
class Evaluation:
    """Predictions on held-out rows and their metrics.

    Attributes
    ----------
    predictions : pl.DataFrame
        One row per scored sample: ``sample_id``, ``cell_id``, ``batch``, ``family``,
        ``soc_percent``, ``soh_true_percent``, the prediction columns, ``fold``.
    metrics : pl.DataFrame
        :func:`metrics` by ``group`` (``all``, each family, each batch).
    split : str
    method : str
    coverage : float
    """

    predictions: pl.DataFrame
    metrics: pl.DataFrame
    split: str
    method: str
    coverage: float


def metrics(predictions: pl.DataFrame, by: str | None = None) -> pl.DataFrame:
    """Accuracy and interval metrics of scored predictions, overall or per ``by``.

    Rows without an estimate (refused) count in ``n_refused``, not in the errors.
    """
    scored = predictions.filter(pl.col("soh_percent").is_not_null())
    err = pl.col("soh_percent") - pl.col("soh_true_percent")
    inside = (pl.col("soh_true_percent") >= pl.col("soh_lower_percent")) & (
        pl.col("soh_true_percent") <= pl.col("soh_upper_percent")
    )
    aggs = [
        pl.len().alias("n_samples"),
        pl.col(CELL_ID).n_unique().alias("n_cells"),
        (100.0 * (err.abs() / pl.col("soh_true_percent")).mean()).alias("mape_percent"),
        (err.pow(2).mean().sqrt()).alias("rmse_points"),
        err.abs().max().alias("worst_points"),
        inside.mean().alias("coverage"),
        (pl.col("soh_upper_percent") - pl.col("soh_lower_percent"))
        .mean()
        .alias("mean_width_points"),
        pl.col("out_of_domain").mean().alias("ood_share"),
    ]
    refused = predictions.filter(pl.col("soh_percent").is_null())
    keys = [*([by] if by else []), CELL_ID]
    per_cell = (  # sorted: the same cells give the same bootstrap draws, whatever the grouping
        scored.group_by(keys).agg(inside.sum().alias("hits"), pl.len().alias("rows")).sort(keys)
    )
    if by is None:
        out = scored.select(aggs).with_columns(pl.lit("all").alias("group"))
        out = out.with_columns(pl.lit(refused.height, dtype=pl.UInt32).alias("n_refused"))
        return out.with_columns(*_coverage_ci_columns([per_cell]))
    out = scored.group_by(by).agg(aggs).rename({by: "group"})
    counts = refused.group_by(by).len("n_refused").rename({by: "group"})
    out = out.join(counts, on="group", how="left").with_columns(pl.col("n_refused").fill_null(0))
    parts = [per_cell.filter(pl.col(by) == group) for group in out.get_column("group")]
    return out.with_columns(*_coverage_ci_columns(parts))


def coverage_interval(
    hits: npt.ArrayLike, rows: npt.ArrayLike, *, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of a coverage whose cases come in clusters (cells).

    Parameters
    ----------
    hits, rows : array_like
        Per cell: rows whose interval holds the truth, and rows scored.
    level : float
        Confidence level of the interval.
    seed : int
        Seed of the :data:`COVERAGE_CI_DRAWS` resamples of cells (with replacement).

    Returns
    -------
    tuple of float
        (low, high); ``(nan, nan)`` without cells. With few cells (≲ 20) a percentile
        bootstrap is itself too narrow, so read it as a lower bound on the uncertainty.
    """
    h = np.asarray(hits, dtype=np.float64)
    n = np.asarray(rows, dtype=np.float64)
    if h.size == 0 or n.sum() <= 0:
        return float("nan"), float("nan")
    pick = np.random.default_rng(seed).integers(0, h.size, size=(COVERAGE_CI_DRAWS, h.size))
    share = h[pick].sum(axis=1) / np.maximum(n[pick].sum(axis=1), 1.0)
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(share, [tail, 100.0 - tail])
    return float(low), float(high)


def _coverage_ci_columns(per_cell: list[pl.DataFrame]) -> list[pl.Series]:
    bounds = [coverage_interval(p.get_column("hits"), p.get_column("rows")) for p in per_cell]
    return [
        pl.Series("coverage_ci_low", [b[0] for b in bounds], dtype=pl.Float64),
        pl.Series("coverage_ci_high", [b[1] for b in bounds], dtype=pl.Float64),
    ]


def summary(predictions: pl.DataFrame) -> pl.DataFrame:
    """:func:`metrics` overall, per family and per batch (one table, ``level`` says which)."""
    parts = [metrics(predictions).with_columns(pl.lit("all").alias("level"))]
    for level in ("family", BATCH):
        parts.append(metrics(predictions, level).with_columns(pl.lit(level).alias("level")))
    columns = ["level", "group", "n_samples", "n_cells", "n_refused", "mape_percent"]
    columns += ["rmse_points", "worst_points", "coverage", "coverage_ci_low", "coverage_ci_high"]
    columns += ["mean_width_points", "ood_share"]
    return pl.concat([p.select(columns) for p in parts]).sort("level", "group")


def with_truth(held: pl.DataFrame, pred: pl.DataFrame, fold: int | str) -> pl.DataFrame:
    """Predictions of the rows ``held`` with their batch, SOC, measured SOH and fold."""
    return pred.with_columns(
        held.get_column(BATCH),
        (
            held.get_column(SOC)
            if SOC in held.columns
            else pl.Series(SOC, [None] * held.height, pl.Float64)
        ),
        held.get_column(SOH).alias("soh_true_percent"),
        pl.lit(fold).alias("fold"),
    )


def _soc_groups(table: pl.DataFrame, k: int) -> npt.NDArray[np.intp]:
    if SOC not in table.columns or table.get_column(SOC).null_count():
        raise EstimationError("the soc split needs soc_percent on every row")
    soc = table.get_column(SOC).to_numpy().astype(np.float64)
    levels = np.unique(np.round(soc / SOC_GRID_PERCENT))
    if len(levels) < k:
        raise EstimationError(f"the soc split needs ≥ {k} SOC levels (found {len(levels)})")
    return soc_level_groups(soc, k)


def cross_validate(
    samples: pl.DataFrame,
    *,
    method: str | Method = "pulse",
    split: Split = "cells",
    n_folds: int = 5,
    coverage: float = DEFAULT_COVERAGE,
    references: int = 0,
    seed: int = 0,
    progress: Progress | None = None,
    source: str = "<evaluation>",
) -> Evaluation:
    """Score a method on a labelled sample table with a grouped split.

    Parameters
    ----------
    samples : pl.DataFrame
        Labelled sample table.
    method : str or Method
        Estimation method (configured from the table when a name is given).
    split : {"cells", "soc", "chemistry"}
        See the module docstring.
    n_folds : int
        Folds of the ``cells`` split (and of each axis of the ``soc`` split).
    coverage : float
        Nominal coverage of the intervals.
    references : int
        ``chemistry`` split only: reference units drawn (seeded) from each held-out batch to
        calibrate it (:mod:`echelon.estimation.calibration`); they are not scored. A batch with
        fewer than ``references`` + :data:`MIN_SCORED_CELLS` cells is not scored.
    seed : int
    progress : callable, optional
    source : str
        Named in validation errors (the files the table was read from).

    Returns
    -------
    Evaluation
    """
    if split not in SPLITS:
        raise EstimationError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if isinstance(method, str):
        method = method_class(method).for_samples(samples)
    table = prepare(samples, method, labelled=True, source=source)
    table = table.with_columns(pl.Series("family", families(table)))
    cells = np.asarray(table.get_column(CELL_ID).to_list(), dtype=str)
    plans: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], int]] = []
    everything = np.arange(table.height)
    if split == "cells":
        for i, held in enumerate(group_folds(cells, n_folds, seed=seed)):
            plans.append((np.setdiff1d(everything, held), held, i))
    elif split == "soc":
        soc_group = _soc_groups(table, n_folds)
        folds = group_folds(cells, n_folds, seed=seed)
        for i, members in enumerate(folds):
            others = np.setdiff1d(everything, members)
            for j in range(n_folds):
                held = members[soc_group[members] == j]
                plans.append((others[soc_group[others] != j], held, i * n_folds + j))
    else:
        batches = np.asarray(table.get_column(BATCH).to_list(), dtype=str)
        for i, batch in enumerate(np.unique(batches)):
            plans.append((np.flatnonzero(batches != batch), np.flatnonzero(batches == batch), i))
    rng = np.random.default_rng(seed)
    parts = []
    for done, (train, test, fold) in enumerate(plans):
        if progress:
            progress(done, len(plans), f"fold {fold}: {len(train)} training, {len(test)} test rows")
        if not len(test):
            continue
        model = fit_soh_model(table[train], method=method, seed=seed)
        refs = None
        if references and split == "chemistry":
            candidates = np.unique(cells[test])
            if len(candidates) < references + MIN_SCORED_CELLS:
                continue  # too few cells to spare the references: the batch is not scored
            chosen = rng.choice(candidates, size=references, replace=False)
            is_ref = np.isin(cells[test], chosen)
            refs, test = table[test[is_ref]], test[~is_ref]
        pred = model.predict(table[test], coverage=coverage, references=refs)
        parts.append(with_truth(table[test], pred, fold))
    if progress:
        progress(len(plans), len(plans), "done")
    predictions = pl.concat(parts).sort(SAMPLE_ID)
    return Evaluation(predictions, summary(predictions), split, method.name, coverage)
