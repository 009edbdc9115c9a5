"""Calibrating a model on a new batch with a few reference units (measured by a capacity test).

Retired units arrive in batches of one make and model, often one no model was trained on; the
pulse response of one cell model says little about another's SOH (docs/validation.md: zero-shot
transfer between PulseBat groups is no better than guessing the batch mean). What a facility
does have is a handful of units of the batch measured with a full capacity test. With their
short-test samples and labels, four estimators are scored by leave-one-reference-cell-out:

``source``
    the trained model as is (its error on the references is a true held-out error);
``source+offset``
    the trained model plus the batch's mean residual (a systematic shift, e.g. another
    tester or another capacity definition);
``source+linear``
    a straight line through the trained model's estimates (shift and scale);
``references``
    a ridge regression on the method's features fitted to the references alone.

They are ordered from simplest to most flexible, and the simplest whose leave-one-cell-out mean
absolute error is within one standard error of the smallest is kept — the one-standard-error rule
of Breiman et al. (1984) and Hastie, Tibshirani & Friedman, *The Elements of Statistical
Learning* (2nd ed. 2009, §7.10): on ten units the smallest error is itself noisy, and taking it
favours the flexible candidates, whose error on new units is the largest. The conformal
calibration set of the batch's intervals is the residual of the *whole procedure* on each
reference cell left out — the choice among candidates is redone without that cell — so choosing
on a few units does not make the intervals optimistic. Coverage on held-out units:
docs/validation.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.errors import EstimationError
from echelon.estimation.conformal import conformal_quantile, group_folds, min_calibration_size
from echelon.estimation.samples import BATCH, CELL_ID, SOH, SOH_BOUNDS

Array = npt.NDArray[np.float64]
Kind = Literal["source", "source+offset", "source+linear", "references"]
RIDGE_ALPHAS: Final = tuple(float(a) for a in np.logspace(-3, 4, 8))
"""Ridge penalties tried (on standardised features), chosen by leave-one-cell-out error."""
MAX_FOLDS: Final = 10
"""Leave-one-cell-out up to this many reference cells, grouped folds beyond."""
MAX_SLOPE: Final = 3.0
"""Largest slope of ``source+linear`` (a batch's SOH spread at most 3× the model's)."""


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
    """Out-of-fold predictions ``predict(train_rows, test_rows)``: leave one cell out, or
    :data:`MAX_FOLDS` folds grouped by cell when there are more cells (same purpose, bounded
    cost: the nested choice is quadratic in the number of folds)."""
    del x
    out = np.empty(len(y))
    everything = np.arange(len(y))
    for test in group_folds(cells, min(MAX_FOLDS, len(np.unique(cells)))):
        out[test] = predict(np.setdiff1d(everything, test), test)
    return out


@dataclass(frozen=True)
class Fitted:
    """One calibrated estimator of a batch: ``kind``, its parameters and the SOH range it knows.

    ``bounds`` is the SOH range [%] it knows: the references' measured range for the ridge on
    the references alone (fitted on ten units, it extrapolates to absurd values — a negative
    SOH — on a unit unlike them), the plausible :data:`~echelon.estimation.samples.SOH_BOUNDS`
    for the corrections of the trained model, whose own estimates stay within its trained range.
    A batch's final estimates are clipped to it (:meth:`BatchCalibration.predict`); the nested
    residuals that size the intervals are not, so they keep the cost of extrapolating.
    """

    kind: Kind
    offset: float = 0.0
    slope: float = 1.0
    ridge: Ridge | None = None
    bounds: tuple[float, float] = SOH_BOUNDS

    def predict(self, x: Array, source: Array | None) -> Array:
        """Point estimates at feature rows ``x`` (``source``: the trained model's estimates)."""
        if self.kind == "references":
            assert self.ridge is not None
            return self.ridge.predict(x)
        assert source is not None
        out: Array = self.offset + self.slope * source
        return out


def _fit(kind: Kind, x: Array, y: Array, source: Array | None, alpha: float) -> Fitted:
    if kind == "references":
        return Fitted(kind, ridge=fit_ridge(x, y, alpha), bounds=(float(y.min()), float(y.max())))
    assert source is not None
    if kind == "source":
        return Fitted(kind)
    if kind == "source+offset":
        return Fitted(kind, offset=float(np.mean(y - source)))
    spread = float(np.var(source))
    slope = float(np.cov(source, y, bias=True)[0, 1] / spread) if spread > 0 else 1.0
    slope = min(max(slope, 0.0), MAX_SLOPE)
    return Fitted(kind, offset=float(np.mean(y) - slope * np.mean(source)), slope=slope)


def choose(
    x: Array, y: Array, cells: npt.NDArray[np.str_], source: Array | None
) -> tuple[Fitted, dict[str, float]]:
    """The simplest candidate within one standard error of the best, refitted on every row.

    Candidates are tried from simplest to most flexible (``source``, ``source+offset``,
    ``source+linear``, ``references``); the standard error is that of the best candidate's
    per-cell mean absolute error over the reference cells.

    Returns
    -------
    (fitted, maes)
        The chosen estimator and every candidate's leave-one-cell-out MAE [SOH points].
    """
    kinds: list[Kind] = ["references"]
    if source is not None:
        kinds = ["source", "source+offset", "source+linear", "references"]
    maes: dict[str, float] = {}
    per_cell: dict[str, Array] = {}
    best_alpha: dict[str, float] = {}
    for kind in kinds:
        alphas = RIDGE_ALPHAS if kind == "references" else (0.0,)
        for alpha in alphas:
            loo = _loco(
                x,
                y,
                cells,
                lambda tr, te, k=kind, a=alpha: _fit(
                    k, x[tr], y[tr], None if source is None else source[tr], a
                ).predict(x[te], None if source is None else source[te]),
            )
            mae = float(np.mean(np.abs(loo - y)))
            if mae < maes.get(kind, np.inf):
                maes[kind], best_alpha[kind] = mae, alpha
                per_cell[kind] = _cell_means(np.abs(loo - y), cells)
    best = min(maes, key=maes.__getitem__)
    errors = per_cell[best]
    tolerance = float(np.std(errors, ddof=1) / np.sqrt(len(errors))) if len(errors) > 1 else 0.0
    kind = next(k for k in kinds if maes[k] <= maes[best] + tolerance)
    return _fit(kind, x, y, source, best_alpha[kind]), maes


def _cell_means(values: Array, cells: npt.NDArray[np.str_]) -> Array:
    """Mean of ``values`` per cell (in the order of :func:`numpy.unique`)."""
    _, index = np.unique(cells, return_inverse=True)
    out: Array = np.bincount(index, weights=values) / np.bincount(index)
    return out


@dataclass(frozen=True)
class BatchCalibration:
    """How one batch's units are estimated after calibration on its reference units.

    Attributes
    ----------
    batch : str
    fitted : Fitted
        The estimator kept (chosen on all references).
    residuals : ndarray
        Absolute residuals of the *whole procedure* (choice included) on each reference cell
        left out: the choice is redone without that cell, so the intervals carry the cost of
        choosing among candidates on a few units.
    n_reference_cells : int
    mae_points : dict of str to float
        Leave-one-cell-out mean absolute error of every candidate on all references.
    reach_points : float
        How far beyond the other references' SOH range a left-out reference lay (the largest
        such distance [SOH points]): the nested residuals, and so the intervals, have been
        tested on extrapolations that far.
    """

    batch: str
    fitted: Fitted
    residuals: Array
    n_reference_cells: int
    mae_points: dict[str, float]
    reach_points: float = 0.0

    @property
    def kind(self) -> Kind:
        """The estimator kept."""
        return self.fitted.kind

    def predict(self, x: Array, source: Array | None) -> Array:
        """Point estimates of a batch's rows (``source``: the trained model's, or ``None``),
        within the SOH range the kept estimator knows (``fitted.bounds``)."""
        return np.clip(self.fitted.predict(x, source), *self.fitted.bounds)

    def half_width(self, coverage: float) -> float:
        """Interval half-width at ``coverage`` [SOH points]."""
        return conformal_quantile(self.residuals, coverage)

    def extrapolations(self, x: Array, source: Array | None, half: float) -> dict[int, str]:
        """Rows (indices into ``x``) whose unclipped estimate lies beyond the SOH range the kept
        estimator knows by more than the interval's half-width ``half`` and more than
        :attr:`reach_points`, and why: the clipped value at the range's edge carries no
        information, so they get no number (the rule of the trained models,
        :func:`echelon.estimation.family.extrapolation_reasons`, with the calibration's own
        tested reach)."""
        raw = self.fitted.predict(x, source)
        low, high = self.fitted.bounds
        margin = max(half, self.reach_points)
        beyond = np.flatnonzero((raw < low - margin) | (raw > high + margin))
        return {
            int(r): f"the calibration ({self.kind}) extrapolates: its estimate {raw[r]:.1f} % lies "
            f"beyond {low:.1f}–{high:.1f} % by more than {margin:.1f} points (the interval, or how "
            "far the references were tested beyond each other); no estimate — run a capacity "
            "test, or add reference units like this one"
            for r in beyond
        }

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
    fitted, maes = choose(x, y, cells, source)
    nested = _loco(
        x,
        y,
        cells,
        lambda tr, te: choose(x[tr], y[tr], cells[tr], None if source is None else source[tr])[
            0
        ].predict(x[te], None if source is None else source[te]),
    )
    reach = max(
        max(float(y[~c].min() - y[c].min()), float(y[c].max() - y[~c].max()), 0.0)
        for c in (cells == cell for cell in np.unique(cells))
    )
    return BatchCalibration(batch, fitted, np.abs(nested - y), n_cells, maes, reach)


def reference_batches(references: pl.DataFrame) -> dict[str, npt.NDArray[np.intp]]:
    """Row indices of each batch in a validated, labelled reference table."""
    if references.get_column(SOH).null_count():
        raise EstimationError("every reference row needs its measured soh_percent")
    batches = np.asarray(references.get_column(BATCH).to_list(), dtype=str)
    return {str(b): np.flatnonzero(batches == b) for b in np.unique(batches)}


def reference_cells(references: pl.DataFrame) -> npt.NDArray[np.str_]:
    """``cell_id`` of every reference row."""
    return np.asarray(references.get_column(CELL_ID).to_list(), dtype=str)
