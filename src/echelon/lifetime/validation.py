"""Back-tests of the trajectory forecaster on measured ageing data (NASA, CALCE, Severson/MATR).

The datasets are read in place with polars (``../shared/datasets``; see each ``PROVENANCE.md``):

* **NASA** B0005/6/7/18 — discharge capacity per cycle from ``metadata_all_cells.csv``, nominal
  2 Ah, 24 °C; capacity regenerates after rests (kept, handled by the outlier filter).
* **CALCE** CS2_35–38 — ``CS2_35-38_cycle_summary.csv``: partial cycles at workbook boundaries are
  dropped (discharge capacity > 0.05 Ah and median discharge current within 0.05 A of −1.1 A) and so
  are re-submitted workbooks whose cycles repeat an earlier workbook's data exactly (recognised by
  their data, not their name); cycles are renumbered. Nominal 1.1 Ah, LCO.
* **MATR** (Severson et al. 2019, batch 2017-06-30, 43 cells) — ``DiscCapaAh`` per cycle, nominal
  1.1 Ah, LFP; records end near 75 % of nominal, so the 70 % threshold is censored for every cell.

Protocol (:func:`backtest`): leave-one-cell-out — the references and the interval calibration use
the other cells of the dataset only. Cut-offs a user could observe: a random fraction of the cell's
record drawn uniformly from 30–70 % (several draws per cell), or the first cycle at which the
trailing median SOH falls to a level. The truth is the first cycle at which the whole record,
cleaned by the Hampel filter and smoothed by a running median, reaches the threshold — a fixed
definition (``histories(frame, transients=False)``) that does not move when the forecaster's own
cleaning (regeneration transients) changes. Cells that never reach it are censored; cut-offs at or
after the truth are not scored. The random cut-offs come from ``numpy.random.default_rng(seed)``
(``seed = 0`` in docs/validation.md), drawn per cell in cell order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.ndimage import median_filter
from scipy.stats import beta

from echelon.errors import EstimationError
from echelon.lifetime.trajectory import (
    CycleForecast,
    History,
    ReferenceSet,
    clean_history,
    ensemble_forecast,
    fallback_forecast,
    reference_set,
)

Array = npt.NDArray[np.float64]
NASA_CELLS = ("B0005", "B0006", "B0007", "B0018")


def load_nasa(root: Path) -> pl.DataFrame:
    """NASA B0005/6/7/18 discharge capacities: ``battery_id``, ``cycle``, ``capacity_ah``,
    ``nominal_capacity_ah``, ``chemistry`` (null: not stated by NASA), ``temperature_celsius``."""
    meta = pl.read_csv(root / "metadata_all_cells.csv", infer_schema_length=None)
    return (
        meta.filter(pl.col("type") == "discharge", pl.col("battery_id").is_in(NASA_CELLS))
        .sort("battery_id", "test_id")
        .select(
            "battery_id",
            pl.int_range(1, pl.len() + 1).over("battery_id").cast(pl.Float64).alias("cycle"),
            pl.col("Capacity").cast(pl.Float64).alias("capacity_ah"),
            pl.lit(2.0).alias("nominal_capacity_ah"),
            pl.lit(None, dtype=pl.String).alias("chemistry"),
            pl.col("ambient_temperature").cast(pl.Float64).alias("temperature_celsius"),
        )
    )


def load_calce(root: Path) -> pl.DataFrame:
    """CALCE CS2_35–38 per-cycle discharge capacity (partial cycles and duplicated workbooks
    removed, cycles renumbered), with ``time_day`` from the test clock."""
    raw = pl.read_csv(root / "CS2_35-38_cycle_summary.csv")
    full = raw.filter(
        pl.col("discharge_capacity_Ah") > 0.05,
        (pl.col("median_discharge_current_A") + 1.1).abs() < 0.05,
    )
    for cell, source in duplicated_workbooks(full):
        full = full.filter(~((pl.col("cell") == cell) & (pl.col("source_file") == source)))
    return full.sort("cell", "cycle_global").select(
        pl.col("cell").alias("battery_id"),
        pl.int_range(1, pl.len() + 1).over("cell").cast(pl.Float64).alias("cycle"),
        pl.col("discharge_capacity_Ah").alias("capacity_ah"),
        pl.lit(1.1).alias("nominal_capacity_ah"),
        pl.lit("LCO").alias("chemistry"),
    )


def duplicated_workbooks(summary: pl.DataFrame) -> list[tuple[str, str]]:
    """(cell, workbook) pairs of a CALCE cycle summary whose cycles repeat, value for value, an
    earlier workbook of the same cell (a re-submitted test recognised by its data)."""
    sig = summary.group_by("cell", "source_file", maintain_order=True).agg(
        pl.col("discharge_capacity_Ah").round(6).alias("data")
    )
    seen: set[tuple[str, tuple[float, ...]]] = set()
    out = []
    for row in sig.iter_rows(named=True):
        key = (row["cell"], tuple(row["data"]))
        if key in seen:
            out.append((row["cell"], row["source_file"]))
        seen.add(key)
    return out


def load_matr(root: Path) -> pl.DataFrame:
    """Severson et al. 2019 batch 2017-06-30: per-cycle discharge capacity of 43 LFP cells."""
    frame = pl.read_csv(root / "OneCycle_MITA123_2017-06-30_per_cycle.csv")
    return frame.filter(pl.col("DiscCapaAh").is_not_nan()).select(
        pl.format("MATR-{}", pl.col("cell_index")).alias("battery_id"),
        pl.col("cycle").cast(pl.Float64),
        pl.col("DiscCapaAh").alias("capacity_ah"),
        pl.lit(1.1).alias("nominal_capacity_ah"),
        pl.lit("LFP").alias("chemistry"),
    )


LOADERS: dict[str, tuple[str, Callable[[Path], pl.DataFrame]]] = {
    "nasa": ("nasa", load_nasa),
    "calce": ("calce", load_calce),
    "matr": ("matr_subset", load_matr),
}
"""Dataset name → (folder under the shared datasets, loader)."""


def histories(frame: pl.DataFrame, *, transients: bool = True) -> dict[str, History]:
    """Cleaned histories (SOH = capacity ÷ nominal) of every cell in a loaded dataset.

    ``transients=True`` is the forecaster's view (regeneration transients left out);
    ``transients=False`` is the fixed definition of the truth (Hampel filter and running median
    only), which does not change when the forecaster's cleaning does.
    """
    out = {}
    for (cell,), part in frame.sort("battery_id", "cycle").group_by(
        "battery_id", maintain_order=True
    ):
        soh = (part["capacity_ah"] / part["nominal_capacity_ah"]).to_numpy()
        out[str(cell)] = clean_history(part["cycle"].to_numpy(), soh, transients=transients)
    return out


CutoffKind = Literal["random_fraction", "capacity_level"]


def _cutoffs(
    cell: History, kind: CutoffKind, rng: np.random.Generator, draws: int, level: float
) -> list[float]:
    if kind == "random_fraction":
        size = cell.cycle.size
        return [
            float(cell.cycle[max(round(f * size), 8) - 1]) for f in rng.uniform(0.3, 0.7, draws)
        ]
    trailing = median_filter(cell.soh, size=9, origin=4, mode="nearest")
    below = np.nonzero(trailing <= level)[0]
    return [float(cell.cycle[max(below[0], 8)])] if below.size else []


@dataclass(frozen=True)
class Case:
    """One scored, censored or already-passed back-test case."""

    dataset: str
    battery_id: str
    threshold_percent: float
    cutoff_cycle: float
    true_cycle: float | None
    status: str
    method: str
    cutoff: str
    forecast: CycleForecast | None


def _forecast_or_none(
    part: History, refs: ReferenceSet | None, threshold: float
) -> CycleForecast | None:
    try:
        out = ensemble_forecast(part, refs) if refs is not None else None
        if out is not None:
            return out
        return fallback_forecast(part, threshold, reason="back-test fallback")
    except EstimationError:
        return None


def backtest(
    dataset: str,
    frame: pl.DataFrame,
    *,
    thresholds_percent: tuple[float, ...] = (80.0, 70.0),
    cutoff: CutoffKind = "random_fraction",
    draws: int = 10,
    seed: int = 0,
    method: Literal["ensemble", "fallback"] = "ensemble",
    level_above_threshold_percent: float = 8.0,
    cells: list[str] | None = None,
    ref_cache: dict[tuple[str, float], ReferenceSet] | None = None,
) -> list[Case]:
    """Leave-one-cell-out back-test of one dataset.

    Parameters
    ----------
    dataset : str
        Label of the dataset.
    frame : pl.DataFrame
        From a ``load_*`` function.
    thresholds_percent : tuple of float
        SOH thresholds [% of nominal].
    cutoff : {"random_fraction", "capacity_level"}
        How the history is cut: a random 30–70 % of the record (``draws`` per cell, seeded), or
        the first cycle at which the trailing median SOH falls to the threshold +
        ``level_above_threshold_percent``.
    method : {"ensemble", "fallback"}
        Reference ensemble (other cells as references) or the single-unit fallback.
    cells : list of str, optional
        Test only these cells (references are still all other cells).
    ref_cache : dict, optional
        Reference sets by (test cell, threshold), reused across calls (they depend on the other
        cells only).

    Returns
    -------
    list of Case
    """
    all_cells = histories(frame)
    truths = histories(frame, transients=False)
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    cache = {} if ref_cache is None else ref_cache
    for cell_id, cell in all_cells.items():
        random_cuts = _cutoffs(cell, "random_fraction", rng, draws, 0.0)
        if cells is not None and cell_id not in cells:
            continue
        others = [h for k, h in all_cells.items() if k != cell_id]
        for thr in thresholds_percent:
            threshold = thr / 100.0
            truth = truths[cell_id].reaches(threshold)
            refs = None
            if method == "ensemble":
                if (cell_id, thr) not in cache:
                    cache[cell_id, thr] = reference_set(others, threshold)
                refs = cache[cell_id, thr]
            level = (thr + level_above_threshold_percent) / 100.0
            cuts = (
                random_cuts
                if cutoff == "random_fraction"
                else _cutoffs(cell, cutoff, rng, draws, level)
            )
            for cut in cuts:
                part = cell.truncate(cut)
                seen = truths[cell_id].truncate(cut, transients=False)
                if truth is None:
                    status = "censored"
                elif truth <= cut or seen.smooth[-1] <= threshold:
                    status = "passed"
                else:
                    status = "scored"
                forecast = None
                if status != "passed":
                    forecast = _forecast_or_none(part, refs, threshold)
                cases.append(
                    Case(dataset, cell_id, thr, cut, truth, status, method, cutoff, forecast)
                )
    return cases


CASE_SCHEMA = {
    "dataset": pl.String(),
    "battery_id": pl.String(),
    "threshold_percent": pl.Float64(),
    "cutoff_cycle": pl.Float64(),
    "true_cycle": pl.Float64(),
    "status": pl.String(),
    "method": pl.String(),
    "cutoff": pl.String(),
    "pred_cycle": pl.Float64(),
    "pred_lower": pl.Float64(),
    "pred_upper": pl.Float64(),
    "forecast_method": pl.String(),
}


def cases_frame(cases: list[Case]) -> pl.DataFrame:
    """Cases as a frame (one row per case) with the forecast columns."""
    rows = []
    for c in cases:
        f = c.forecast
        rows.append(
            {
                "dataset": c.dataset,
                "battery_id": c.battery_id,
                "threshold_percent": c.threshold_percent,
                "cutoff_cycle": c.cutoff_cycle,
                "true_cycle": c.true_cycle,
                "status": c.status,
                "method": c.method,
                "cutoff": c.cutoff,
                "pred_cycle": None if f is None else f.cycles,
                "pred_lower": None if f is None else f.cycles_lower,
                "pred_upper": None if f is None else f.cycles_upper,
                "forecast_method": None if f is None else f.method,
            }
        )
    return pl.DataFrame(rows, schema=CASE_SCHEMA)


def with_baselines(frame: pl.DataFrame, all_cells: dict[str, History]) -> pl.DataFrame:
    """Add baseline predictions to scored cases: ``leak_2x`` (2 × cut-off, what a fixed 50 % cut
    would give away), ``population`` (median life of the other cells) and ``linear`` (robust
    linear extrapolation of the last 25 % of the history)."""
    pop, lin = [], []
    for row in frame.iter_rows(named=True):
        thr = row["threshold_percent"] / 100.0
        lives = [h.reaches(thr) for k, h in all_cells.items() if k != row["battery_id"]]
        known = [x for x in lives if x is not None]
        pop.append(max(float(np.median(known)), row["cutoff_cycle"] + 1) if known else None)
        part = all_cells[row["battery_id"]].truncate(row["cutoff_cycle"], transients=False)
        n, y = part.n, part.y
        tail = n >= n[-1] - 0.25 * (n[-1] - n[0])
        slope, icpt = np.polyfit(n[tail], y[tail], 1)
        lin.append(float((thr - icpt) / slope) if slope < 0 else None)
    return frame.with_columns(
        (2.0 * pl.col("cutoff_cycle")).alias("leak_2x_cycle"),
        pl.Series("population_cycle", pop, dtype=pl.Float64),
        pl.Series("linear_cycle", lin, dtype=pl.Float64),
    )


def _ape(pred: str) -> pl.Expr:
    remaining = pl.col("true_cycle") - pl.col("cutoff_cycle")
    return (pl.col(pred) - pl.col("true_cycle")).abs() / remaining * 100.0


def summarise(frame: pl.DataFrame) -> pl.DataFrame:
    """Per dataset and threshold: counts, remaining-life MAPE and median APE (and MAPE over the
    cases with at least 10 % of the life left), total-life MAPE,
    mean absolute error [cycles], 90 % interval coverage and median relative interval width
    (width ÷ predicted remaining life), plus the baselines' remaining-life MAPE when present."""
    scored = frame.filter(pl.col("status") == "scored", pl.col("pred_cycle").is_not_null())
    keys = ["dataset", "method", "cutoff", "threshold_percent"]
    counts = frame.group_by(keys).agg(
        (pl.col("status") == "scored").sum().alias("scored"),
        (pl.col("status") == "censored").sum().alias("censored"),
        (pl.col("status") == "passed").sum().alias("passed"),
        pl.col("battery_id").n_unique().alias("cells"),
    )
    metrics = [
        _ape("pred_cycle").mean().alias("mape_remaining_percent"),
        _ape("pred_cycle").median().alias("median_ape_remaining_percent"),
        _ape("pred_cycle")
        .filter(pl.col("true_cycle") - pl.col("cutoff_cycle") >= 0.1 * pl.col("true_cycle"))
        .mean()
        .alias("mape_remaining_10pct_percent"),
        ((pl.col("pred_cycle") - pl.col("true_cycle")).abs() / pl.col("true_cycle") * 100.0)
        .mean()
        .alias("mape_total_percent"),
        (pl.col("pred_cycle") - pl.col("true_cycle")).abs().mean().alias("mae_cycles"),
        (
            (pl.col("pred_lower") <= pl.col("true_cycle"))
            & (pl.col("true_cycle") <= pl.col("pred_upper"))
        )
        .mean()
        .mul(100.0)
        .alias("coverage_90_percent"),
        (
            (pl.col("pred_upper") - pl.col("pred_lower"))
            / (pl.col("pred_cycle") - pl.col("cutoff_cycle"))
        )
        .median()
        .alias("median_relative_width"),
    ]
    for base in ("leak_2x_cycle", "population_cycle", "linear_cycle"):
        if base in frame.columns:
            metrics.append(
                _ape(base).mean().alias(f"{base.removesuffix('_cycle')}_mape_remaining_percent")
            )
    metrics.append(
        (
            (pl.col("pred_lower") <= pl.col("true_cycle"))
            & (pl.col("true_cycle") <= pl.col("pred_upper"))
        )
        .sum()
        .alias("covered")
    )
    metrics.append(pl.len().alias("n_forecast"))
    result = scored.group_by(keys).agg(metrics)
    low, high = clopper_pearson(
        result["covered"].to_numpy().astype(np.int64),
        result["n_forecast"].to_numpy().astype(np.int64),
    )
    result = result.with_columns(
        pl.Series("coverage_ci_low_percent", 100.0 * low, dtype=pl.Float64),
        pl.Series("coverage_ci_high_percent", 100.0 * high, dtype=pl.Float64),
    ).drop("covered", "n_forecast")
    return counts.join(result, on=keys, how="left").sort(
        keys, descending=[False, False, True, True]
    )


def clopper_pearson(
    successes: npt.NDArray[np.int64], trials: npt.NDArray[np.int64], *, level: float = 0.95
) -> tuple[Array, Array]:
    """Exact (Clopper–Pearson) binomial interval of a proportion, per element.

    The back-test's cases are not independent (several cut-offs per cell), so this interval is
    the *narrowest* honest statement about coverage; with cell-level dependence the uncertainty
    is larger.

    Returns
    -------
    lower, upper : array
        Bounds of the proportion (0–1).
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    alpha = 1.0 - level
    with np.errstate(invalid="ignore"):
        lower = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        upper = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)


@dataclass(frozen=True)
class ValidationRun:
    """Cases and summary of :func:`run_validation`."""

    cases: pl.DataFrame
    summary: pl.DataFrame
    notes: list[str]


CONFIGURATIONS: tuple[tuple[Literal["ensemble", "fallback"], CutoffKind], ...] = (
    ("ensemble", "random_fraction"),
    ("fallback", "random_fraction"),
    ("ensemble", "capacity_level"),
)
"""(method, cut-off) pairs of the published validation."""


def run_validation(
    root: Path,
    *,
    datasets: tuple[str, ...] = tuple(LOADERS),
    draws: int = 10,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> ValidationRun:
    """Back-test every configuration on every dataset found under ``root``.

    Datasets whose folder is missing are skipped (named in ``notes``).
    """
    parts, notes = [], []
    for name in datasets:
        folder, loader = LOADERS[name]
        if not (root / folder).is_dir():
            notes.append(f"{name}: {root / folder} not found, skipped")
            continue
        frame = loader(root / folder)
        if name == "calce":
            raw = pl.read_csv(root / folder / "CS2_35-38_cycle_summary.csv")
            dup = duplicated_workbooks(raw)
            notes.append("calce: dropped re-submitted workbooks " + ", ".join(f for _, f in dup))
        cells = histories(frame, transients=False)
        cache: dict[tuple[str, float], ReferenceSet] = {}
        for method, cutoff in CONFIGURATIONS:
            if progress is not None:
                progress(f"{name}: {method}, {cutoff}")
            cases = backtest(name, frame, cutoff=cutoff, draws=draws, seed=seed, method=method,
                             ref_cache=cache)  # fmt: skip
            parts.append(with_baselines(cases_frame(cases), cells))
    cases_all = pl.concat(parts) if parts else cases_frame([])
    return ValidationRun(cases_all, summarise(cases_all), notes)


def markdown_table(summary: pl.DataFrame) -> str:
    """The summary as a Markdown table (for docs/validation.md)."""
    cols = {
        "dataset": "dataset",
        "method": "method",
        "cutoff": "cut-off",
        "threshold_percent": "threshold",
        "cells": "cells",
        "scored": "scored",
        "censored": "censored",
        "passed": "passed",
        "mape_remaining_percent": "remaining-life MAPE %",
        "median_ape_remaining_percent": "median APE %",
        "mape_remaining_10pct_percent": "MAPE % (≥ 10 % of life left)",
        "mape_total_percent": "total-life MAPE %",
        "mae_cycles": "MAE cycles",
        "coverage_90_percent": "90 % coverage %",
        "coverage_ci_low_percent": "coverage 95 % CI low",
        "coverage_ci_high_percent": "coverage 95 % CI high",
        "median_relative_width": "median rel. width",
        "population_mape_remaining_percent": "population baseline MAPE %",
        "linear_mape_remaining_percent": "linear baseline MAPE %",
    }
    lines = ["| " + " | ".join(cols.values()) + " |", "|" + "---|" * len(cols)]
    for row in summary.iter_rows(named=True):
        cells = []
        for key in cols:
            value = row.get(key)
            if value is None:
                cells.append("–")
            elif isinstance(value, float):
                cells.append(f"{value:.0f}" if key == "threshold_percent" else f"{value:.1f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
