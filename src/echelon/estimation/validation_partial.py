"""Validation of the partial-charge SOH method on measured data, split by physical cell.

Datasets are read in place from the shared datasets folder (each ``PROVENANCE.md``); nothing is
copied. Samples are built with the method's own reader path (:func:`echelon.io.read` →
:func:`echelon.estimation.partial.segment_samples`), labels from the capacity the datasets state:

* **NASA PCoE** B0005/6/7/18 — one 2 A (≈ 1 C) CC discharge per file
  (``nasa/discharge/<cell>/dis_<k>_cap_<Ah>.csv``); label = NASA's capacity in the file name
  (integral to 2.7 V) ÷ 2.0 Ah rated. NASA does not state the cathode: the 4.2 V / 2.7 V limits
  fit LiCoO₂, entered as ``LCO`` [assumption]. Every ``every``-th discharge is kept.
* **CALCE CS2_35** (LCO, 1.1 Ah) — CC 0.5 C charges and 1 C discharges of every cycle of the
  25 Arbin workbooks; label = the same cycle's 1 C discharge capacity ÷ 1.1 Ah (cycles with a
  discharge ≤ 0.05 Ah or a median discharge current not within 0.05 A of −1.1 A are dropped, as
  PROVENANCE prescribes); the re-submitted workbook (same data, other file) is dropped by its
  data hash. One cell only: workbooks (test sessions) stand in for cells in its splits, so its
  numbers are a within-cell sanity check, not unseen-cell accuracy.
* **MATR** 2017-06-30 batch — :func:`matr_check` says why it cannot be used (no time base).

Every split keeps a cell (or session) on one side only; window and features are chosen inside
the training side (nested). Metrics: MAPE [%], RMSE and worst absolute error [SOH points] of the
point estimate on every test row; coverage and mean width [SOH points] of the 90 % interval of
:meth:`SohModel.predict` on the rows it answers (out-of-domain rows are widened, or refused when
no transfer error is known: ``answered`` says how many). The GP is O(n³): cycles are subsampled
(``every``) to keep each function within about two minutes on two cores.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.estimation.conformal import group_folds
from echelon.estimation.gp import fit_gp
from echelon.estimation.model import SohModel, fit_soh_model
from echelon.estimation.partial import (
    Direction,
    PartialChargeMethod,
    coverage_mask,
    segment_samples,
    window_key,
)
from echelon.estimation.samples import CELL_ID, SAMPLE_ID, SOH

Array = npt.NDArray[np.float64]
NASA_CELLS: Final = ("B0005", "B0006", "B0007", "B0018")
NASA_NOMINAL_AH: Final = 2.0
"""Rated capacity of the NASA PCoE 18650 cells (NASA_README_05_06_07_18.txt)."""
NASA_CHEMISTRY: Final = "LCO"
"""[assumption] NASA states no cathode; 4.2 V charge / 2.7 V discharge limits fit LiCoO₂."""
CALCE_NOMINAL_AH: Final = 1.1
"""Rated capacity of CALCE CS2 cells (calce/PROVENANCE.md)."""
CALCE_DISCHARGE_A: Final = -1.1
COVERAGE: Final = 0.9
FEATURE_SETS: Final[tuple[tuple[str, ...], ...]] = (
    ("window",),
    ("bins",),
    ("peak",),
    ("bins", "peak"),
)
WINDOWS_V: Final[dict[Direction, tuple[tuple[float, float], ...]]] = {
    "charge": ((3.85, 4.05), (3.8, 4.0), (3.9, 4.1)),
    "discharge": ((3.6, 3.9), (3.5, 3.8), (3.7, 3.9)),
}
"""Candidate windows [V] of the grouped cross-validation (4.2 V layered cathodes, 0.5–1 C)."""


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread where threadpoolctl is installed (many small O(n³) solves run
    faster single-threaded, and do not oversubscribe a shared machine)."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - scikit-learn (the ml extra) brings it
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --- samples -----------------------------------------------------------------------------------


def nasa_samples(
    datasets: Path,
    *,
    every: int = 2,
    cells: Sequence[str] = NASA_CELLS,
    chemistry: str = NASA_CHEMISTRY,
) -> pl.DataFrame:
    """Labelled samples of the NASA PCoE discharges (one per file, every ``every``-th).

    Returns
    -------
    pl.DataFrame
        Sample table (:func:`segment_samples` columns) with ``soh_percent``, ``cycle`` (NASA's
        discharge index) and ``dataset`` = ``nasa``.
    """
    from echelon.io import read

    frames = []
    for cell in cells:
        folder = Path(datasets) / "nasa" / "discharge" / cell
        for path in sorted(folder.glob("dis_*.csv"), key=lambda p: int(p.name.split("_")[1])):
            match = re.match(r"dis_(\d+)_cap_([0-9.]+)\.csv$", path.name)
            if match is None or int(match.group(1)) % every:
                continue
            frame, _ = read(path)
            segs = segment_samples(
                frame,
                chemistry=chemistry,
                nominal_capacity_ah=NASA_NOMINAL_AH,
                cell_id=cell,
                source=str(path),
                directions=("discharge",),
            )
            main = segs.sort("duration_s", descending=True).head(1)
            frames.append(
                main.with_columns(
                    (pl.lit(f"{cell}:") + pl.col(SAMPLE_ID)).alias(SAMPLE_ID),
                    pl.lit(100.0 * float(match.group(2)) / NASA_NOMINAL_AH).alias(SOH),
                    pl.lit(int(match.group(1))).alias("cycle"),
                    pl.lit("nasa").alias("dataset"),
                )
            )
    return pl.concat(frames, how="diagonal_relaxed")


def _session_order(path: Path) -> tuple[int, int, int]:
    """(year, month, day) of a CALCE workbook ``CS2_35_<m>_<d>_<yy>.xlsx``."""
    month, day, year = (int(x) for x in path.stem.split("_")[-3:])
    return year, month, day


def calce_samples(
    datasets: Path, *, direction: Direction = "charge", every: int = 4
) -> pl.DataFrame:
    """Labelled CC segments of CALCE CS2_35 (every ``every``-th cycle over the whole life).

    Returns
    -------
    pl.DataFrame
        Sample table with ``soh_percent`` (the same cycle's 1 C discharge ÷ 1.1 Ah), ``cycle``
        (continuous over the workbooks in date order), ``session`` (workbook stem; also the
        ``cell_id``, see the module docstring) and ``dataset`` = ``calce``.
    """
    from echelon.diagnostics import step_table
    from echelon.io import read
    from echelon.io.bdf import CYCLE, frame_sha256

    seen: set[str] = set()
    frames, offset = [], 0
    paths = sorted((Path(datasets) / "calce" / "CS2_35").glob("*.xlsx"), key=_session_order)
    for path in paths:
        frame, _ = read(path)
        digest = frame_sha256(frame)
        if digest in seen:  # a re-submitted workbook (PROVENANCE): same data, other file
            continue
        seen.add(digest)
        labels = (
            step_table(frame)
            .filter(pl.col("step_type") == "cc_discharge")
            .group_by(CYCLE)
            .agg(pl.col("discharge_ah").sum(), pl.col("mean_current_a").median())
            .filter(
                (pl.col("discharge_ah") > 0.05)
                & ((pl.col("mean_current_a") - CALCE_DISCHARGE_A).abs() < 0.05)
            )
            .select(CYCLE, (100.0 * pl.col("discharge_ah") / CALCE_NOMINAL_AH).alias(SOH))
        )
        segs = segment_samples(
            frame,
            chemistry="LCO",
            nominal_capacity_ah=CALCE_NOMINAL_AH,
            cell_id=path.stem,
            source=str(path),
            directions=(direction,),
        )
        frames.append(
            segs.join(labels, on=CYCLE, how="inner").with_columns(
                (pl.lit(f"{path.stem}:") + pl.col(SAMPLE_ID)).alias(SAMPLE_ID),
                (pl.col(CYCLE) + offset).alias("cycle"),
                pl.lit(path.stem).alias("session"),
                pl.lit("calce").alias("dataset"),
            )
        )
        offset += int(frame.get_column(CYCLE).to_numpy().max())
    table = pl.concat(frames, how="diagonal_relaxed")
    return table.filter(pl.col("cycle") % every == 0)


# --- metrics and selection ---------------------------------------------------------------------


Scored = tuple[Array, Array, Array, Array, Array]
"""Measured SOH, point estimate, interval lower and upper bounds [%], out-of-domain flags."""


def _scored(model: SohModel, test: pl.DataFrame, coverage: float) -> Scored:
    pred = model.predict(test, coverage=coverage, out_of_domain="widen")
    return (
        test.get_column(SOH).to_numpy().astype(np.float64),
        model.point_estimates(test),
        pred.get_column("soh_lower_percent").to_numpy().astype(np.float64),
        pred.get_column("soh_upper_percent").to_numpy().astype(np.float64),
        pred.get_column("out_of_domain").to_numpy(),
    )


def _scores(truth: Array, point: Array, lower: Array, upper: Array, ood: Array) -> dict[str, float]:
    answered = np.isfinite(lower) & np.isfinite(upper)
    error = point - truth
    inside = (lower[answered] <= truth[answered]) & (truth[answered] <= upper[answered])
    return {
        "n_samples": float(len(truth)),
        "soh_min_percent": float(truth.min()),
        "soh_max_percent": float(truth.max()),
        "mape_percent": float(np.mean(np.abs(error) / truth) * 100.0),
        "rmse_soh_points": float(np.sqrt(np.mean(error**2))),
        "max_abs_error_soh_points": float(np.abs(error).max()),
        "bias_soh_points": float(error.mean()),
        "coverage": float(inside.mean()) if answered.any() else float("nan"),
        "mean_width_soh_points": float(np.mean(upper[answered] - lower[answered]))
        if answered.any()
        else float("nan"),
        "answered": float(answered.mean()),
        "out_of_domain": float(ood.mean()),
    }


def metrics(model: SohModel, test: pl.DataFrame, *, coverage: float = COVERAGE) -> dict[str, float]:
    """MAPE [%], RMSE and worst error [SOH points] on all rows; interval coverage and mean width
    [SOH points] on the rows :meth:`SohModel.predict` answers; shares answered / out of domain."""
    return _scores(*_scored(model, test, coverage))


def candidates(family: str, direction: Direction) -> list[PartialChargeMethod]:
    """Methods compared by the grouped cross-validation: windows × feature sets (3 bins)."""
    return [
        PartialChargeMethod(windows_v={window_key(family, direction): window}, features=features)
        for window in WINDOWS_V[direction]
        for features in FEATURE_SETS
    ]


def describe(method: PartialChargeMethod, direction: Direction = "discharge") -> str:
    """``3.60–3.90 V, bins+peak`` — a method's LCO window of a direction and feature groups."""
    window = method.window_for("LCO", direction)
    where = "no LCO window" if window is None else f"{window[0]:.2f}–{window[1]:.2f} V"
    return f"{where}, {'+'.join(method.feature_groups)}"


def grouped_cv_rmse(
    method: PartialChargeMethod, samples: pl.DataFrame, groups: str, *, n_folds: int = 5
) -> tuple[float, float]:
    """RMSE [SOH points] of GP point estimates in grouped CV, and the share of rows used (rows
    that do not cover the method's window are left out of both sides)."""
    usable = coverage_mask(method, samples)
    table = samples.filter(pl.Series(usable))
    x = method.features(table)
    y = table.get_column(SOH).to_numpy().astype(np.float64)
    labels = np.asarray(table.get_column(groups).to_list(), dtype=str)
    pred = np.empty(len(y))
    for test in group_folds(labels, n_folds):
        train = np.setdiff1d(np.arange(len(y)), test)
        pred[test] = fit_gp(x[train], y[train]).predict(x[test])
    return float(np.sqrt(np.mean((pred - y) ** 2))), float(usable.mean())


def select_method(
    samples: pl.DataFrame, options: Sequence[PartialChargeMethod], groups: str
) -> tuple[PartialChargeMethod, pl.DataFrame]:
    """The option with the lowest grouped-CV RMSE among those that ≥ 90 % of the rows can use.

    Options that leave out more than 10 % of the rows (window not covered) are not chosen: a
    window that late-life segments miss would hide exactly the cells hardest to grade.
    """
    rows = []
    for method in options:
        rmse, used = grouped_cv_rmse(method, samples, groups)
        charge = any(k.endswith("/charge") for k in method.windows_v)
        direction: Direction = "charge" if charge else "discharge"
        rows.append(
            {"method": describe(method, direction), "rmse_soh_points": rmse, "rows_used": used}
        )
    table = pl.DataFrame(rows)
    score = np.where(table.get_column("rows_used").to_numpy() >= 0.9, 0.0, np.inf)
    best = int(np.argmin(table.get_column("rmse_soh_points").to_numpy() + score))
    return options[best], table


def _with_coverage(method: PartialChargeMethod, samples: pl.DataFrame) -> pl.DataFrame:
    return samples.filter(pl.Series(coverage_mask(method, samples)))


# --- the validations ---------------------------------------------------------------------------


def feature_selection(datasets: Path) -> pl.DataFrame:
    """Grouped-CV RMSE of every candidate window × feature set on each dataset (for the docs).

    NASA: leave-one-cell-out over the 4 cells (every 3rd discharge); CALCE: 5 folds of sessions
    (every 4th cycle), charges and discharges. Columns ``dataset``, ``direction``, ``method``,
    ``rmse_soh_points``, ``rows_used``.
    """
    with _one_blas_thread():
        sets: list[tuple[str, Direction, str, pl.DataFrame]] = [
            ("nasa", "discharge", CELL_ID, nasa_samples(datasets, every=3)),
            ("calce", "charge", "session", calce_samples(datasets, direction="charge")),
            ("calce", "discharge", "session", calce_samples(datasets, direction="discharge")),
        ]
        out = []
        for name, direction, groups, samples in sets:
            _, table = select_method(samples, candidates("LCO", direction), groups)
            out.append(
                table.select(
                    pl.lit(name).alias("dataset"), pl.lit(direction).alias("direction"), pl.all()
                )
            )
    return pl.concat(out)


def _choose(
    train: pl.DataFrame, direction: Direction, groups: str, method: PartialChargeMethod | None
) -> PartialChargeMethod:
    """``method`` if given, else the candidate chosen by grouped CV on ``train`` only."""
    return method or select_method(train, candidates("LCO", direction), groups)[0]


def nasa_leave_one_cell_out(
    datasets: Path,
    *,
    every: int = 2,
    select_every: int = 4,
    method: PartialChargeMethod | None = None,
) -> pl.DataFrame:
    """Leave-one-cell-out on NASA B0005/6/7/18: train on 3 cells, test on the 4th.

    In each fold the window and feature set are chosen by leave-one-cell-out CV on the three
    training cells only (every ``select_every``-th discharge) — unless ``method`` fixes them
    (e.g. ``PartialChargeMethod()``, the defaults) — then ``fit_soh_model`` is trained on them
    (every ``every``-th discharge) and scored on the held-out cell. Returns one row per
    held-out cell and one ``all`` row (pooled): ``dataset``, ``split``, ``test``, ``chosen`` and
    :func:`metrics`.
    """
    with _one_blas_thread():
        samples = nasa_samples(datasets, every=every)
        coarse = samples.filter(pl.col("cycle") % select_every == 0)
        rows, pooled = [], []
        for cell in NASA_CELLS:
            train = samples.filter(pl.col(CELL_ID) != cell)
            test = samples.filter(pl.col(CELL_ID) == cell)
            chosen = _choose(coarse.filter(pl.col(CELL_ID) != cell), "discharge", CELL_ID, method)
            model = fit_soh_model(_with_coverage(chosen, train), method=chosen, seed=0)
            test = _with_coverage(chosen, test)
            rows.append({"test": cell, "chosen": describe(chosen), **metrics(model, test)})
            pooled.append((model, test))
    return _table("nasa", "leave one cell out (train 3 cells, test the 4th)", rows, pooled)


def _table(
    dataset: str,
    split: str,
    rows: Sequence[Mapping[str, object]],
    pooled: list[tuple[SohModel, pl.DataFrame]],
) -> pl.DataFrame:
    """Per-fold rows plus a pooled ``all`` row (errors of every fold's test rows together)."""
    table = [dict(r) for r in rows]
    if pooled:
        table.append({"test": "all", "chosen": "per fold", **_pooled_metrics(pooled)})
    return pl.DataFrame(table).select(
        pl.lit(dataset).alias("dataset"), pl.lit(split).alias("split"), pl.all()
    )


def _pooled_metrics(folds: list[tuple[SohModel, pl.DataFrame]]) -> dict[str, float]:
    """:func:`metrics` of several folds pooled row by row."""
    parts = [_scored(model, test, COVERAGE) for model, test in folds]
    pooled = [np.concatenate(column) for column in zip(*parts, strict=True)]
    return _scores(*pooled)


def calce_within_cell(
    datasets: Path,
    *,
    direction: Direction = "charge",
    every: int = 4,
    n_folds: int = 5,
    method: PartialChargeMethod | None = None,
) -> pl.DataFrame:
    """Within-cell sanity check on CALCE CS2_35: folds of whole test sessions (workbooks).

    One cell only, so this measures how well a model interpolates along one cell's life from
    other sessions of the same cell — an upper bound, not unseen-cell accuracy. Window and
    features are chosen by session-grouped CV on the training sessions of each fold, unless
    ``method`` fixes them.
    """
    with _one_blas_thread():
        samples = calce_samples(datasets, direction=direction, every=every)
        cells = np.asarray(samples.get_column(CELL_ID).to_list(), dtype=str)
        rows, pooled = [], []
        for k, test_rows in enumerate(group_folds(cells, n_folds, seed=1), start=1):
            mask = np.zeros(samples.height, dtype=bool)
            mask[test_rows] = True
            train = samples.filter(pl.Series(~mask))
            chosen = _choose(train, direction, CELL_ID, method)
            model = fit_soh_model(_with_coverage(chosen, train), method=chosen, seed=0)
            test = _with_coverage(chosen, samples.filter(pl.Series(mask)))
            left_out = int(mask.sum()) - test.height
            rows.append(
                {
                    "test": f"fold {k}",
                    "chosen": describe(chosen, direction),
                    "not_covered": left_out,
                }
                | metrics(model, test)
            )
            pooled.append((model, test))
    split = f"{n_folds} folds of whole sessions, {direction} (within one cell)"
    return _table("calce", split, rows, pooled)


def cross_dataset(
    datasets: Path,
    *,
    nasa_every: int = 2,
    calce_every: int = 4,
    method: PartialChargeMethod | None = None,
) -> pl.DataFrame:
    """Transfer between NASA and CALCE 1 C discharges (both 4.2 V cells; window and features
    chosen on NASA unless ``method`` fixes them): a model of one dataset scored on the other,
    on all rows and on the rows within the training SOH range."""
    with _one_blas_thread():
        nasa = nasa_samples(datasets, every=nasa_every)
        calce = calce_samples(datasets, direction="discharge", every=calce_every)
        chosen = _choose(nasa.filter(pl.col("cycle") % 4 == 0), "discharge", CELL_ID, method)
        nasa, calce = _with_coverage(chosen, nasa), _with_coverage(chosen, calce)
        rows = []
        for source, target in (("nasa", calce), ("calce", nasa)):
            train = nasa if source == "nasa" else calce
            model = fit_soh_model(train, method=chosen, seed=0)
            trained = train.get_column(SOH).to_numpy()
            lo, hi = float(trained.min()), float(trained.max())
            inside = target.filter(pl.col(SOH).is_between(lo, hi))
            for subset, test in (("all", target), (f"SOH {lo:.0f}–{hi:.0f} %", inside)):
                name = "calce" if source == "nasa" else "nasa"
                rows.append(
                    {"test": f"{source} → {name}, {subset}", "chosen": describe(chosen)}
                    | metrics(model, test)
                )
    return _table("nasa+calce", "cross-dataset (train one, test the other)", rows, [])


def matr_check(datasets: Path) -> pl.DataFrame:
    """Whether the MATR subset (43 LFP cells) yields labelled partial-charge samples.

    It gives one raw cycle per cell (current, voltage, **no time**) and per-cycle capacities.
    Capacity along the curve needs time; this checks whether the sample count of the 4 C CC
    discharge could stand in for time (equal time steps would make it proportional to the
    cell's capacity). Returns ``check``, ``value``, ``note``.
    """
    root = Path(datasets) / "matr_subset"
    one = pl.read_csv(root / "OneCycle_MITA123_2017-06-30_one_cycle.csv")
    per_cycle = pl.read_csv(root / "OneCycle_MITA123_2017-06-30_per_cycle.csv")
    counts = (
        one.filter((pl.col("current_A") + 4.0).abs() < 0.05)
        .group_by("cell_index")
        .agg(pl.len().alias("n_cc"))
        .join(
            per_cycle.filter(pl.col("cycle") == 1).select("cell_index", "orig_capacity_Ah"),
            on="cell_index",
        )
    )
    r = float(np.corrcoef(counts.get_column("n_cc"), counts.get_column("orig_capacity_Ah"))[0, 1])
    soh = 100.0 * counts.get_column("orig_capacity_Ah").to_numpy() / 1.1
    has_time = float(any("time" in c.lower() for c in one.columns))
    rows = [
        ("cells", float(one.get_column("cell_index").n_unique()), "one raw cycle each"),
        ("time column in the raw cycle", has_time, f"columns: {', '.join(one.columns)}"),
        (
            "corr(4 C CC samples, capacity)",
            r,
            "equal time steps would give ≈ 1 (logging plausibly on voltage change and time)",
        ),
        ("SOH of the raw cycles, min [%]", float(soh.min()), "orig_capacity_Ah ÷ 1.1 Ah"),
        ("SOH of the raw cycles, max [%]", float(soh.max()), "first cycle of each cell"),
        ("usable for partial charge", has_time, "needs A·h along the curve, i.e. a time base"),
    ]
    return pl.DataFrame(rows, schema=["check", "value", "note"], orient="row")
