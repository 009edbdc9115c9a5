"""Validation of the EIS estimator (:mod:`echelon.estimation.eis`) on measured impedance data.

Datasets are read in place from the shared datasets folder (never copied):

* ``eis_zhang2020`` — Y. Zhang et al., *Nat. Commun.* 11, 1706 (2020),
  doi:10.1038/s41467-020-15235-7: LiCoO2/graphite coin cells (Eunicell LR2032), state V (fully
  charged, rested), 25 °C, 8 cells, 1343 spectra 20 kHz–0.02 Hz; processed table of
  battery-data-commons/mrs-sp22-tutorial @ 64b420d (MIT). Labels: capacity over the cell's
  first-cycle capacity (:mod:`echelon.estimation.eis_readers`).
* ``eis_soh`` — chrisw-17/rapid-SOH-prediction @ dab41f2 (MIT): Warwick (24 cells × 15/25/35 °C
  × 5 SOC, SOH 80–100 %; Faraji-Niri et al., *J. Energy Storage* 58 (2023) 106295,
  doi:10.1016/j.est.2022.106295), Stanford (3 cells × 3 SOC × 15 checkpoints; Pozzato et al.,
  *Data in Brief* 41 (2022) 107995, doi:10.1016/j.dib.2022.107995) and TH Köln multisine
  spectra (2 cells × 21 checkpoints, ≈ 2 Ah, chemistry not documented).

Every function returns a tidy table of metrics (one row per split and group): ``split``,
``group``, ``n_samples``, ``n_cells``, ``n_refused`` (rows the model declined: out of domain
with no transfer error to size a wider interval), ``mape_percent``, ``rmse_points``,
``rmse_mah`` (the RMSE converted with each row's nominal capacity), ``worst_points`` (on the
rows estimated), ``rmse_all_points`` (the model's mean on *every* row, refused ones included —
comparable with published figures that score all rows), ``coverage`` and
``mean_width_points`` of the intervals, and ``evaluated_on``. Splits are grouped by physical
cell unless the split's name says otherwise. Each function runs in 5–90 s single-threaded on
an idle two-core machine (the GP is O(n³) in the training rows);
with multi-threaded BLAS competing with other processes it took several minutes — set
``OPENBLAS_NUM_THREADS=1`` when running several in parallel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.estimation.conformal import group_folds
from echelon.estimation.eis import EisMethod, Representation, log_grid, read_eis_samples
from echelon.estimation.gp import fit_gp
from echelon.estimation.model import DEFAULT_COVERAGE, fit_soh_model
from echelon.estimation.readers import ReadOptions
from echelon.estimation.samples import CELL_ID, SAMPLE_ID, SOH, TEMPERATURE

ZHANG_TABLE: Final = "eis_zhang2020/data_eis_zhang2020.csv"
EIS_SOH: Final = "eis_soh"
Subset = Literal["Warwick", "Stanford", "Multisine_EIS_RH"]
KOELN_CHEMISTRY_ASSUMED: Final = "NMC811"
"""[assumption] The Köln cells' chemistry is not documented (eis_soh/PROVENANCE.md); they are
read as NMC811 only so that the transfer experiment applies the NMC model to them."""
WARWICK_T: Final = (15.0, 25.0, 35.0)
"""Measurement temperatures of the Warwick set [°C]."""
Plan = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]
"""(training rows, test rows) of one fold."""


def zhang_samples(datasets: Path | str) -> pl.DataFrame:
    """The labelled Zhang 2020 state-V spectra (1343 rows, 8 cells)."""
    frame = read_eis_samples(Path(datasets) / ZHANG_TABLE, ReadOptions())
    assert frame is not None  # the reader recognises its own dataset
    return frame


def eis_soh_samples(
    datasets: Path | str, subset: Subset, *, chemistry: str | None = None
) -> pl.DataFrame:
    """All spectra of one ``eis_soh`` folder (``chemistry`` for folders that do not state it)."""
    options = ReadOptions(chemistry=chemistry)
    frames = [
        read_eis_samples(path, options)
        for path in sorted((Path(datasets) / EIS_SOH / subset).glob("*.txt"))
    ]
    return pl.concat([f for f in frames if f is not None])


def run_plans(
    table: pl.DataFrame,
    plans: Sequence[Plan],
    *,
    coverage: float = DEFAULT_COVERAGE,
    seed: int = 0,
    cell_column: str = CELL_ID,
) -> pl.DataFrame:
    """Fit on each plan's training rows, predict its test rows, and keep the truth.

    Parameters
    ----------
    table : pl.DataFrame
        Labelled EIS sample table.
    plans : sequence of (train rows, test rows)
    coverage : float
        Nominal coverage of the intervals.
    seed : int
    cell_column : str
        Column used as ``cell_id`` when fitting (``sample_id`` makes every row its own "cell":
        the leaky random-row evaluation).

    Returns
    -------
    pl.DataFrame
        The prediction columns of :meth:`SohModel.predict` plus ``soh_true_percent``,
        ``soh_mean_percent`` (the model's mean even where it refused), ``nominal_capacity_ah``,
        ``temperature_c`` (when known) and ``fold``.
    """
    fit_table = table.with_columns(pl.col(cell_column).alias(CELL_ID))
    parts = []
    for fold, (train, test) in enumerate(plans):
        model = fit_soh_model(fit_table[train], method="eis", seed=seed)
        held = table[test]
        pred = model.predict(held, coverage=coverage)
        parts.append(
            pred.with_columns(
                held.get_column(CELL_ID),
                held.get_column(SOH).alias("soh_true_percent"),
                pl.Series("soh_mean_percent", model.point_estimates(held)),
                held.get_column("nominal_capacity_ah"),
                (
                    held.get_column(TEMPERATURE)
                    if TEMPERATURE in held.columns
                    else pl.lit(None, pl.Float64).alias(TEMPERATURE)
                ),
                pl.lit(fold).alias("fold"),
            )
        )
    return pl.concat(parts).sort(SAMPLE_ID)


def score(predictions: pl.DataFrame, split: str, group: str) -> dict[str, object]:
    """One metrics row (see the module docstring) of scored predictions."""
    est = predictions.filter(pl.col("soh_percent").is_not_null())
    truth = est.get_column("soh_true_percent").to_numpy()
    err = est.get_column("soh_percent").to_numpy() - truth
    lower = est.get_column("soh_lower_percent").to_numpy()
    upper = est.get_column("soh_upper_percent").to_numpy()
    err_all = (
        predictions.get_column("soh_mean_percent").to_numpy()
        - predictions.get_column("soh_true_percent").to_numpy()
    )
    nominal_mah = 1000.0 * est.get_column("nominal_capacity_ah").to_numpy()
    has = len(err) > 0
    return {
        "split": split,
        "group": group,
        "n_samples": predictions.height,
        "n_cells": predictions.get_column(CELL_ID).n_unique(),
        "n_refused": predictions.height - est.height,
        "mape_percent": float(np.mean(np.abs(err) / truth) * 100.0) if has else None,
        "rmse_points": float(np.sqrt(np.mean(err**2))) if has else None,
        "rmse_mah": float(np.sqrt(np.mean((err / 100.0 * nominal_mah) ** 2))) if has else None,
        "worst_points": float(np.max(np.abs(err))) if has else None,
        "rmse_all_points": float(np.sqrt(np.nanmean(err_all**2))),
        "coverage": float(np.mean((truth >= lower) & (truth <= upper))) if has else None,
        "mean_width_points": float(np.mean(upper - lower)) if has else None,
        "evaluated_on": dt.date.today().isoformat(),
    }


def _metrics(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows)


def _cells(table: pl.DataFrame) -> npt.NDArray[np.str_]:
    return np.asarray(table.get_column(CELL_ID).to_list(), dtype=str)


def _grouped_plans(groups: npt.ArrayLike, n_folds: int, seed: int) -> list[Plan]:
    everything = np.arange(len(np.asarray(groups)))
    return [
        (np.setdiff1d(everything, test), test) for test in group_folds(groups, n_folds, seed=seed)
    ]


# --- Zhang 2020 ---------------------------------------------------------------------------


def zhang_loco(
    datasets: Path | str, *, coverage: float = DEFAULT_COVERAGE, seed: int = 0
) -> pl.DataFrame:
    """Leave-one-cell-out over the 8 Zhang 2020 cells (state V, 25 °C).

    Returns
    -------
    pl.DataFrame
        One row per held-out cell and one ``all`` row; ``rmse_mah`` converts the SOH error with
        each cell's first-cycle capacity (the label's reference).
    """
    table = zhang_samples(datasets)
    cells = _cells(table)
    pred = run_plans(table, _grouped_plans(cells, len(set(cells)), seed), coverage=coverage)
    rows = [score(pred, "leave one cell out", "all")]
    for cell in sorted(set(cells)):
        rows.append(score(pred.filter(pl.col(CELL_ID) == cell), "leave one cell out", cell))
    return _metrics(rows)


def zhang_leak(
    datasets: Path | str,
    *,
    grouped: pl.DataFrame | None = None,
    coverage: float = DEFAULT_COVERAGE,
    seed: int = 0,
) -> pl.DataFrame:
    """The leak of random-row splits: 8 random-row folds vs the 8 leave-one-cell-out folds.

    In the random-row split every test spectrum has neighbours of the same cell (the previous
    and next cycle) in training, and the interval calibration is random-row too, so both the
    error and the interval width look far better than on a cell never seen.

    Parameters
    ----------
    datasets : path-like
    grouped : pl.DataFrame, optional
        The output of :func:`zhang_loco` (its ``all`` row is reused instead of refitting).
    coverage : float
    seed : int
    """
    table = zhang_samples(datasets)
    cells = _cells(table)
    ids = np.asarray(table.get_column(SAMPLE_ID).to_list(), dtype=str)
    n = len(set(cells))
    random = run_plans(
        table, _grouped_plans(ids, n, seed), coverage=coverage, cell_column=SAMPLE_ID
    )
    if grouped is None:
        grouped = zhang_loco(datasets, coverage=coverage, seed=seed)
    cell_row = grouped.filter(pl.col("group") == "all").with_columns(
        pl.lit(f"cells, {n} folds (leave one cell out)").alias("split")
    )
    leaky = _metrics([score(random, f"random rows, {n} folds (leaky)", "all")])
    return pl.concat([leaky, cell_row], how="vertical_relaxed")


ZHANG_TRAIN: Final = ("25C01", "25C02", "25C03", "25C04")
"""The training cells of Zhang et al. 2020's 25 °C capacity model; 25C05–25C08 are its test."""


def zhang_published_split(
    datasets: Path | str, *, coverage: float = DEFAULT_COVERAGE, seed: int = 0
) -> pl.DataFrame:
    """The split of Zhang et al. 2020 (Fig. 1a): train on 25C01–25C04, test on 25C05–25C08.

    Adds ``r2_capacity``, the coefficient of determination of the capacity estimates [mA·h]
    (the paper's metric, R² = 0.88 on 25C05 at state V, read second-hand — docs/validation.md):
    an estimate is SOH × the cell's first-cycle capacity (the label's reference), the truth the
    measured capacity; ``r2_capacity_all_rows`` scores refused rows too (with the model's mean),
    as the paper scores every spectrum.

    Returns
    -------
    pl.DataFrame
        One row per test cell and one ``all`` row.
    """
    table = zhang_samples(datasets)
    cells = _cells(table)
    train = np.isin([c.rsplit(":", 1)[-1] for c in cells], ZHANG_TRAIN)
    plan = (np.flatnonzero(train), np.flatnonzero(~train))
    pred = run_plans(table, [plan], coverage=coverage, seed=seed).join(
        table.select(SAMPLE_ID, "measured_capacity_ah"), on=SAMPLE_ID
    )
    groups = [("all", pred)]
    groups += [(str(c), pred.filter(pl.col(CELL_ID) == c)) for c in sorted(set(cells[~train]))]
    return _metrics(
        [
            score(part, "Zhang 2020 split", name)
            | {"r2_capacity": _r2(part), "r2_capacity_all_rows": _r2(part, all_rows=True)}
            for name, part in groups
        ]
    )


def _r2(predictions: pl.DataFrame, *, all_rows: bool = False) -> float:
    """R² of the capacity estimates (SOH × first-cycle capacity): on the rows with an estimate,
    or with ``all_rows`` on every row, the model's mean standing for refused ones (as the
    published figure, which refuses nothing)."""
    column = "soh_mean_percent" if all_rows else "soh_percent"
    est = predictions.filter(pl.col(column).is_not_null())
    truth = est.get_column("measured_capacity_ah").to_numpy()
    guess = est.get_column(column).to_numpy() / 100.0 * est["nominal_capacity_ah"].to_numpy()
    return float(1.0 - np.sum((guess - truth) ** 2) / np.sum((truth - truth.mean()) ** 2))


# --- eis_soh: Warwick, Stanford, Köln -----------------------------------------------------


def warwick_cells(
    datasets: Path | str, *, coverage: float = DEFAULT_COVERAGE, n_folds: int = 6, seed: int = 0
) -> pl.DataFrame:
    """Warwick cells, grouped by cell: temperatures pooled, and each temperature alone.

    Returns
    -------
    pl.DataFrame
        Rows ``cells, pooled 15/25/35 °C`` (``all`` and one group per temperature) and
        ``cells, T °C only``.
    """
    table = eis_soh_samples(datasets, "Warwick")
    cells = _cells(table)
    temps = table.get_column(TEMPERATURE).to_numpy()
    pooled = run_plans(table, _grouped_plans(cells, n_folds, seed), coverage=coverage)
    split = "cells, pooled 15/25/35 °C"
    rows = [score(pooled, split, "all")]
    rows += [score(pooled.filter(pl.col(TEMPERATURE) == t), split, f"{t:g} °C") for t in WARWICK_T]
    for t in WARWICK_T:
        at = np.flatnonzero(temps == t)
        pred = run_plans(table[at], _grouped_plans(cells[at], n_folds, seed), coverage=coverage)
        rows.append(score(pred, f"cells, {t:g} °C only", f"{t:g} °C"))
    return _metrics(rows)


def warwick_unseen_temperature(
    datasets: Path | str, *, coverage: float = DEFAULT_COVERAGE, n_folds: int = 6, seed: int = 0
) -> pl.DataFrame:
    """Warwick cells at a temperature the model never saw: trained on the other two
    temperatures *and* on other cells (folds grouped by cell)."""
    table = eis_soh_samples(datasets, "Warwick")
    cells = _cells(table)
    temps = table.get_column(TEMPERATURE).to_numpy()
    plans = []
    for test in group_folds(cells, n_folds, seed=seed):
        for t in WARWICK_T:
            train = np.flatnonzero((temps != t) & ~np.isin(cells, cells[test]))
            plans.append((train, test[temps[test] == t]))
    pred = run_plans(table, plans, coverage=coverage)
    return _metrics(
        [
            score(pred.filter(pl.col(TEMPERATURE) == t), f"cells, {t:g} °C unseen", f"{t:g} °C")
            for t in WARWICK_T
        ]
    )


def eis_soh_transfer(
    datasets: Path | str, *, coverage: float = DEFAULT_COVERAGE, seed: int = 0
) -> pl.DataFrame:
    """Cross-dataset transfer: train on one laboratory's cells, test on another's.

    Pairs: Warwick → Stanford (both LG 21700, NMC811), Stanford → Warwick, Warwick → Köln
    multisine, and Warwick + Stanford → Köln multisine (two training batches, so the model
    knows a transfer error and widens out-of-domain intervals instead of refusing). Köln cells
    are read as :data:`KOELN_CHEMISTRY_ASSUMED` (an assumption, see there).
    """
    warwick = eis_soh_samples(datasets, "Warwick")
    stanford = eis_soh_samples(datasets, "Stanford")
    koeln = eis_soh_samples(datasets, "Multisine_EIS_RH", chemistry=KOELN_CHEMISTRY_ASSUMED)
    pairs = [
        ("Warwick → Stanford", [warwick], stanford),
        ("Stanford → Warwick", [stanford], warwick),
        ("Warwick → Köln multisine", [warwick], koeln),
        ("Warwick + Stanford → Köln multisine", [warwick, stanford], koeln),
    ]
    rows = []
    for name, train_frames, test in pairs:
        train = pl.concat(train_frames, how="diagonal_relaxed")
        both = pl.concat([train, test], how="diagonal_relaxed")
        plan = (np.arange(train.height), np.arange(train.height, both.height))
        pred = run_plans(both, [plan], coverage=coverage, seed=seed)
        rows.append(score(pred, "transfer (new laboratory and cells)", name))
    return _metrics(rows)


# --- the feature choice -----------------------------------------------------------------

CANDIDATES: Final[tuple[tuple[str, tuple[float, float], Representation, bool], ...]] = (
    ("log|Z|/phase, Ω, 0.1 Hz–1 kHz (default)", (0.1, 1000.0), "mod_phase", False),
    ("Re/−Im, Ω, 0.1 Hz–1 kHz", (0.1, 1000.0), "re_im", False),
    ("Re/−Im, Ω, 0.1 Hz–10 kHz", (0.1, 10000.0), "re_im", False),
    ("log|Z|/phase, Ω, 0.1 Hz–10 kHz", (0.1, 10000.0), "mod_phase", False),
    ("log|Z|/phase, Ω·Ah, 0.1 Hz–1 kHz", (0.1, 1000.0), "mod_phase", True),
    ("ECM parameters, Ω, 0.1 Hz–1 kHz", (0.1, 1000.0), "ecm", False),
)
"""Feature sets compared by :func:`feature_choice` (name, band [Hz], representation, Ω·Ah)."""
Comparison = Literal[
    "zhang", "warwick", "warwick_to_stanford", "stanford_to_warwick", "warwick_to_koeln"
]


def _comparison(
    datasets: Path | str, dataset: Comparison, seed: int
) -> tuple[pl.DataFrame, list[Plan]]:
    """Table and folds of one :func:`feature_choice` comparison."""
    if dataset == "zhang":
        table = zhang_samples(datasets)
        return table, _grouped_plans(_cells(table), 8, seed)
    warwick = eis_soh_samples(datasets, "Warwick")
    if dataset == "warwick":
        return warwick, _grouped_plans(_cells(warwick), 6, seed)
    other = (
        eis_soh_samples(datasets, "Multisine_EIS_RH", chemistry=KOELN_CHEMISTRY_ASSUMED)
        if dataset == "warwick_to_koeln"
        else eis_soh_samples(datasets, "Stanford")
    )
    table = pl.concat([warwick, other], how="diagonal_relaxed")
    first, second = np.arange(warwick.height), np.arange(warwick.height, table.height)
    return table, [(second, first) if dataset == "stanford_to_warwick" else (first, second)]


def feature_choice(
    datasets: Path | str,
    *,
    dataset: Comparison = "warwick",
    points_per_decade: int = 3,
    max_fit_samples: int = 400,
    seed: int = 0,
) -> pl.DataFrame:
    """Grouped cross-validation of the candidate feature sets (:data:`CANDIDATES`).

    Uses the project's GP directly (hyper-parameters learnt on each training fold, on at most
    ``max_fit_samples`` rows) without the conformal layer: the comparison is of point accuracy.

    Parameters
    ----------
    datasets : path-like
    dataset : {"zhang", "warwick", "warwick_to_stanford", "stanford_to_warwick", \
"warwick_to_koeln"}
        Zhang leave-one-cell-out, Warwick 6-fold grouped by cell (pooled temperatures), or
        train on one laboratory's cells and test on another's (Köln read as
        :data:`KOELN_CHEMISTRY_ASSUMED`).
    points_per_decade : int
        Grid density.
    max_fit_samples : int
    seed : int
        Seeds the folds and the hyper-parameter subsample.

    Returns
    -------
    pl.DataFrame
        ``dataset``, ``features``, ``n_features``, ``rmse_points``, ``mape_percent``,
        ``worst_points``, ``evaluated_on``.
    """
    table, plans = _comparison(datasets, dataset, seed)
    y = table.get_column(SOH).to_numpy().astype(np.float64)
    rows = []
    for name, band, representation, per_ah in CANDIDATES:
        method = EisMethod(
            log_grid(*band, points_per_decade), representation=representation, per_ah=per_ah
        )
        x = method.features(table)
        pred = np.full(len(y), np.nan)
        for train, test in plans:
            gp = fit_gp(x[train], y[train], max_fit_samples=max_fit_samples, seed=seed)
            pred[test] = gp.predict(x[test])
        tested = np.isfinite(pred)
        err = pred[tested] - y[tested]
        rows.append(
            {
                "dataset": dataset,
                "features": name,
                "n_features": x.shape[1],
                "rmse_points": float(np.sqrt(np.mean(err**2))),
                "mape_percent": float(np.mean(np.abs(err) / y[tested]) * 100.0),
                "worst_points": float(np.max(np.abs(err))),
                "evaluated_on": dt.date.today().isoformat(),
            }
        )
    return pl.DataFrame(rows)
