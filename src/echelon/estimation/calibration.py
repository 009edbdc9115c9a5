"""Calibrating a model on a new batch with a few reference units (measured by a capacity test).

Retired units arrive in batches of one make and model, often one no model was trained on; the
pulse response of one cell model says little about another's SOH (docs/validation.md: zero-shot
transfer between PulseBat groups is no better than guessing the batch mean). What a facility
does have is a handful of units of the batch measured with a full capacity test. With their
short-test samples and labels, three estimators are scored by leave-one-reference-cell-out:

``source``
    the trained model as is (its error on the references is a true held-out error);
``source+offset``
    the trained model plus the batch's mean residual (a systematic shift, e.g. another
    tester or another capacity definition);
``references``
    a ridge regression on the method's features fitted to the references alone.

The one with the smallest mean absolute error is kept, and its leave-one-out residuals on the
references are the conformal calibration set of the batch's intervals. The choice among three
makes the intervals slightly optimistic; coverage on held-out units is reported in
docs/validation.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.errors import EstimationError
from echelon.estimation.conformal import conformal_quantile, min_calibration_size
from echelon.estimation.samples import BATCH, CELL_ID, SOH

Array = npt.NDArray[np.float64]
Kind = Literal["source", "source+offset", "references"]
RIDGE_ALPHAS: Final = tuple(float(a) for a in np.logspace(-3, 4, 15))
"""Ridge penalties tried (on standardised features), chosen by leave-one-cell-out error."""


@dataclass(frozen=True)
class Ridge:
    """Ridge regression on standardised features (closed form)."""

    x_mean: Array
    x_scale: Array
    coef: Array
    intercept: float

    def predict(self, x: Array) -> Array:
        """Predictions at feature rows ``x``."""
        out: Array = ((x - self.x_mean) / self.x_scale) @ self.coef + self.intercept
        return out


def fit_ridge(x: Array, y: Array, alpha: float) -> Ridge:
    """Ridge fit with penalty ``alpha`` on standardised ``x`` (intercept unpenalised)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = (x - mean) / scale
    y0 = float(y.mean())
    coef = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - y0))
    return Ridge(mean, scale, coef, y0)


def _loco(x: Array, y: Array, cells: npt.NDArray[np.str_], predict: Any) -> Array:
    """Leave-one-cell-out predictions: ``predict(train_rows, test_rows)`` for each cell."""
    out = np.empty(len(y))
    for cell in np.unique(cells):
        test = cells == cell
        out[test] = predict(np.flatnonzero(~test), np.flatnonzero(test))
    return out


@dataclass(frozen=True)
class BatchCalibration:
    """How one batch's units are estimated after calibration on its reference units.

    Attributes
    ----------
    batch : str
    kind : {"source", "source+offset", "references"}
        The estimator kept.
    offset : float
        Added to the source model (``source+offset``) [SOH points].
    ridge : Ridge or None
        The reference-only regression (``references``).
    residuals : ndarray
        Absolute leave-one-cell-out residuals of the kept estimator on the references.
    n_reference_cells : int
    mae_points : dict of str to float
        Leave-one-cell-out mean absolute error of every candidate.
    """

    batch: str
    kind: Kind
    offset: float
    ridge: Ridge | None
    residuals: Array
    n_reference_cells: int
    mae_points: dict[str, float]

    def predict(self, x: Array, source: Array | None) -> Array:
        """Point estimates of a batch's rows (``source``: the trained model's, or ``None``)."""
        if self.kind == "references":
            assert self.ridge is not None
            return self.ridge.predict(x)
        assert source is not None
        return source + self.offset

    def half_width(self, coverage: float) -> float:
        """Interval half-width at ``coverage`` [SOH points]."""
        return conformal_quantile(self.residuals, coverage)

    def describe(self) -> str:
        """One line for a prediction's ``reason``."""
        maes = ", ".join(f"{k} {v:.2f}" for k, v in self.mae_points.items())
        return (
            f"calibrated on {self.n_reference_cells} reference units of batch {self.batch}: "
            f"kept {self.kind} (leave-one-out MAE: {maes} SOH points)"
        )


def calibrate_batch(
    x: Array,
    y: Array,
    cells: npt.NDArray[np.str_],
    source: Array | None,
    *,
    batch: str,
    coverage: float,
) -> BatchCalibration:
    """Choose and calibrate the estimator of one batch from its reference rows.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        Method features of the reference rows.
    y : ndarray, shape (n,)
        Their measured SOH [%].
    cells : ndarray of str
        Their ``cell_id`` (leave-one-out is per cell).
    source : ndarray or None
        The trained model's predictions at ``x`` (``None`` if it has no model for the family).
    batch : str
    coverage : float
        Checked against the number of reference cells.

    Raises
    ------
    EstimationError
        With fewer reference cells than ``coverage`` needs (⌈c / (1 − c)⌉, 9 for 90 %).
    """
    n_cells = len(np.unique(cells))
    need = min_calibration_size(coverage)
    if n_cells < need:
        raise EstimationError(
            f"batch {batch}: {n_cells} reference unit(s) cannot calibrate a {coverage:.0%} "
            f"interval; measure at least {need} units of the batch with a capacity test"
        )
    candidates: dict[str, Array] = {}
    if source is not None:
        candidates["source"] = source
        candidates["source+offset"] = _loco(
            x, y, cells, lambda tr, te: source[te] + float(np.mean(y[tr] - source[tr]))
        )
    best_alpha, best_mae = RIDGE_ALPHAS[0], np.inf
    ridge_loo = np.empty(0)
    for alpha in RIDGE_ALPHAS:
        loo = _loco(x, y, cells, lambda tr, te, a=alpha: fit_ridge(x[tr], y[tr], a).predict(x[te]))
        mae = float(np.mean(np.abs(loo - y)))
        if mae < best_mae:
            best_alpha, best_mae, ridge_loo = alpha, mae, loo
    candidates["references"] = ridge_loo
    maes = {k: float(np.mean(np.abs(v - y))) for k, v in candidates.items()}
    kind = cast(Kind, min(maes, key=maes.__getitem__))
    offset = float(np.mean(y - source)) if kind == "source+offset" and source is not None else 0.0
    return BatchCalibration(
        batch=batch,
        kind=kind,
        offset=offset,
        ridge=fit_ridge(x, y, best_alpha) if kind == "references" else None,
        residuals=np.abs(candidates[kind] - y),
        n_reference_cells=n_cells,
        mae_points=maes,
    )


def reference_batches(references: pl.DataFrame) -> dict[str, npt.NDArray[np.intp]]:
    """Row indices of each batch in a validated, labelled reference table."""
    if references.get_column(SOH).null_count():
        raise EstimationError("every reference row needs its measured soh_percent")
    batches = np.asarray(references.get_column(BATCH).to_list(), dtype=str)
    return {str(b): np.flatnonzero(batches == b) for b in np.unique(batches)}


def reference_cells(references: pl.DataFrame) -> npt.NDArray[np.str_]:
    """``cell_id`` of every reference row."""
    return np.asarray(references.get_column(CELL_ID).to_list(), dtype=str)
