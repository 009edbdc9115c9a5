"""One chemistry family's regressor, its calibration residuals and domain, and the per-row checks
:class:`~echelon.estimation.model.SohModel` applies with it.

A family (``LFP``, ``NMC``, ``LMO`` …) gets its own regressor because the pulse response of an LFP
cell says nothing about an NMC cell; :func:`fit_family` fits it with its out-of-fold residuals
(the split-conformal calibration set) and its nearest-neighbour domain threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from echelon.estimation.conformal import group_folds
from echelon.estimation.domain import domain_threshold, knn_distance
from echelon.estimation.gp import GaussianProcess, fit_gp

Array = npt.NDArray[np.float64]
CV_FOLDS: Final = 5
MIN_FORMAT_CELLS: Final = 10
"""Training cells a format needs for intervals of its own (else the family's pooled residuals)."""


@dataclass(frozen=True)
class FamilyModel:
    """The regressor, calibration residuals and domain of one chemistry family.

    Attributes
    ----------
    family : str
    gp : GaussianProcess or None
        ``None`` for the identity (capacity) method.
    residuals : ndarray
        Absolute out-of-fold residuals [SOH points] (conformal calibration set).
    residual_formats : ndarray of str
        ``format_key`` of each residual: a format with at least :data:`MIN_FORMAT_CELLS`
        training cells gets intervals from its own residuals (Mondrian conformal), others
        from the family's pool.
    threshold : float
        Domain threshold of the k-NN distance (standardised feature units).
    summary : dict
        ``n_samples``, ``n_cells``, ``batches``, ``chemistries`` and the ranges of
        ``soh_percent``, ``nominal_capacity_ah`` and ``soc_percent`` seen in training.
    shift_residuals, shift_formats : ndarray
        Absolute errors on training cells and SOC levels both left out
        (:func:`echelon.estimation.shift.soc_shift_residuals`) and the format of each: they size
        the widened interval of an out-of-domain row of a *trained* batch, per format as the
        in-domain residuals (empty: the transfer error is used).
    """

    family: str
    gp: GaussianProcess | None
    residuals: Array
    residual_formats: npt.NDArray[np.str_]
    threshold: float
    summary: dict[str, Any]
    shift_residuals: Array = field(default_factory=lambda: np.zeros(0))
    shift_formats: npt.NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, dtype=str))

    def calibration_set(self, key: str, *, shift: bool = False) -> Array:
        """Residuals that size the interval of a row of format ``key``: the in-domain ones, or
        with ``shift`` those of a row out of domain within a trained batch."""
        residuals, formats = (
            (self.shift_residuals, self.shift_formats)
            if shift
            else (self.residuals, self.residual_formats)
        )
        if self.summary.get("format_cells", {}).get(key, 0) >= MIN_FORMAT_CELLS:
            own: Array = residuals[formats == key]
            return own
        return residuals

    def mean(self, x: Array) -> Array:
        """Point estimate [%] of feature rows ``x``.

        A GP far from its data extrapolates freely; estimates are clipped to the SOH range the
        family was trained on (nothing in the data supports a value outside it).
        """
        return clip_to(self.raw_mean(x), self.summary.get("soh_percent_range"))

    def raw_mean(self, x: Array) -> Array:
        """The regressor's estimate [%] before clipping (the feature itself for the identity)."""
        return x[:, 0].copy() if self.gp is None else self.gp.predict(x)

    def distance(self, x: Array) -> Array:
        """k-NN distance of ``x`` to the training samples (0 for the identity method)."""
        if self.gp is None:
            return np.zeros(len(x))
        z = (x - self.gp.x_mean) / self.gp.x_scale
        return knn_distance(z, self.gp.x_train)


def extrapolation_reasons(
    model: FamilyModel, raw: Array, rows: npt.NDArray[np.intp], half: Array
) -> dict[int, str]:
    """Rows whose unclipped estimate lies beyond the SOH range the family was trained on by more
    than the row's own interval: the regressor extrapolates, so the clipped value at the range's
    edge carries no information (a batch of cells unlike any trained one can all land there)."""
    bounds = model.summary.get("soh_percent_range")
    if model.gp is None or bounds is None:
        return {}
    low, high = float(bounds[0]), float(bounds[1])
    beyond = (raw < low - half) | (raw > high + half)
    return {
        int(r): f"the model extrapolates: its estimate {v:.1f} % lies beyond the trained SOH range "
        f"{low:.1f}–{high:.1f} % by more than the interval (±{h:.1f}); no estimate — run a "
        "capacity test or calibrate the batch with reference units"
        for r, v, h in zip(rows[beyond], raw[beyond], half[beyond], strict=True)
    }


RANGE: Final = "soh_percent_range"
"""Model-card key of the SOH range a family was trained on [%]."""


def edge_reasons(
    families: dict[str, FamilyModel],
    fam: npt.NDArray[np.str_],
    raw: Array,
    ood: npt.NDArray[np.bool_],
) -> dict[int, str]:
    """Out-of-domain rows whose unclipped estimate ``raw`` lies beyond the SOH range their family
    was trained on, by however little: the clipped value is the range's edge, not an estimate,
    and the widened interval around that edge is not calibrated for the row (a batch of grade-D
    e-bike packs all "at 100.9 %", lower bound 82.6 %; since 2026-12-07). In domain a value just
    past the edge is the regressor's noise, and clipping it stays."""
    flagged = ood & np.isfinite(raw)
    found: dict[int, str] = {}
    for family in np.unique(fam[flagged]):  # a family's model and range once, not per row
        model = families.get(str(family)) or families.get("*")
        bounds = None if model is None or model.gp is None else model.summary.get(RANGE)
        if bounds is None:
            continue
        low, high = float(bounds[0]), float(bounds[1])
        for r in np.flatnonzero(flagged & (fam == family) & ((raw < low) | (raw > high))):
            found[int(r)] = (
                f"the model extrapolates out of its domain: its estimate {raw[r]:.1f} % lies "
                f"beyond the trained SOH range {low:.1f}–{high:.1f} %, so the range's edge it "
                "would be clipped to carries no information; no estimate — run a capacity test "
                "or calibrate the batch with reference units"
            )
    return dict(sorted(found.items()))


def add_reason(reasons: list[str | None], row: int, why: str) -> None:
    """Append ``why`` to the reasons of ``row`` (every flag of a row is kept, joined by "; ")."""
    reasons[row] = f"{reasons[row]}; {why}" if reasons[row] else why


def clip_to(values: Array, bounds: list[float] | None) -> Array:
    """``values`` clipped to ``[bounds[0], bounds[1]]`` (unchanged without bounds)."""
    return values if not bounds else np.clip(values, bounds[0], bounds[1])


def fit_family(
    x: Array, y: Array, cells: npt.NDArray[np.str_], *, n_folds: int = CV_FOLDS, seed: int = 0
) -> tuple[GaussianProcess, Array, float]:
    """Fit one family's GP, its out-of-fold residuals (grouped by cell) and domain threshold.

    Hyper-parameters are learnt once on all rows; each fold refits the posterior with them.
    """
    gp = fit_gp(x, y, seed=seed)
    oof = np.empty(len(y))
    for test in group_folds(cells, n_folds, seed=seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        fold = fit_gp(x[train], y[train], log_theta=gp.log_theta)
        oof[test] = clip_to(fold.predict(x[test]), [float(y[train].min()), float(y[train].max())])
    return gp, np.abs(oof - y), domain_threshold(gp.x_train, cells)
