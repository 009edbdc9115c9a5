"""Shift residuals: how wrong a model is on its own batches' cells at SOC levels it never saw.

A row can be out of domain in two ways that call for different interval widths:

* it belongs to a batch (cell make and format) the model was **trained on**, but lies away from
  the training rows — a test at a SOC level between or beyond the trained ones, an unusual cell.
  Its error is that of *shifting within known batches*;
* it belongs to a batch the model **never saw** (another cell model, another laboratory): its
  error is that of *transferring to a new batch* — the model's transfer residuals, usually much
  larger.

Both are measured the same honest way, on the training data only: by leaving out what the new row
would be new in. The shift residuals of a family come from a nested split that leaves out cells
*and* SOC levels together (cell fold j × SOC-level group j, the diagonal of the ``soc`` split of
:mod:`echelon.estimation.evaluate`): every residual is an error on a cell the model did not see,
at a SOC level it did not see.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from echelon.estimation.conformal import group_folds
from echelon.estimation.domain import knn_distance
from echelon.estimation.gp import GaussianProcess, fit_gp
from echelon.estimation.samples import SOC_GRID_PERCENT

Array = npt.NDArray[np.float64]


def soc_level_groups(soc: Array, k: int) -> npt.NDArray[np.intp]:
    """Deal the distinct SOC levels (on the 5 % grid) into ``k`` interleaved groups.

    Level *i* in ascending order goes to group *i* mod ``k``, so every group holds levels spread
    over the range (some interior, some at its ends).
    """
    grid = np.round(np.asarray(soc, dtype=np.float64) / SOC_GRID_PERCENT) * SOC_GRID_PERCENT
    levels = np.unique(grid)
    group_of_level = {float(level): i % k for i, level in enumerate(levels)}
    return np.array([group_of_level[float(v)] for v in grid], dtype=np.intp)


def soc_shift_residuals(
    x: Array,
    y: Array,
    cells: npt.NDArray[np.str_],
    soc: Array | None,
    gp: GaussianProcess,
    *,
    n_folds: int,
    seed: int = 0,
) -> tuple[Array, Array]:
    """Absolute errors [SOH points] on cells and SOC levels both left out of training, and how far
    those rows lay from the rows that were kept.

    Parameters
    ----------
    x, y : ndarray
        Feature rows and SOH [%] of one family.
    cells : ndarray of str
        Physical cell of each row (the folds are grouped by it).
    soc : ndarray or None
        SOC [%] of each row; ``None`` or any missing value gives no residuals.
    gp : GaussianProcess
        The family's fitted GP (its hyper-parameters are reused; only the posterior is refit).
    n_folds : int
        Folds of cells and groups of SOC levels (fewer when there are fewer cells or levels).
    seed : int
        Seeds the cell folds.

    Returns
    -------
    residuals, distances : ndarray
        One value per row for the rows of the diagonal folds (about 1/k of the rows), ``NaN`` for
        the others — all ``NaN`` when the data have fewer than two SOC levels or two cells. The
        distance is the k-NN distance (:func:`echelon.estimation.domain.knn_distance`, in the
        family GP's standardised features) to the fold's training rows: how far a change of SOC
        alone moves a row, which bounds the rows the shift error may size.
    """
    out, far = np.full(len(y), np.nan), np.full(len(y), np.nan)
    if soc is None or not np.all(np.isfinite(soc)):
        return out, far
    n_levels = len(np.unique(np.round(soc / SOC_GRID_PERCENT)))
    k = min(n_folds, n_levels, len(np.unique(cells)))
    if k < 2:
        return out, far
    z = (x - gp.x_mean) / gp.x_scale
    groups = soc_level_groups(soc, k)
    for j, held_cells in enumerate(group_folds(cells, k, seed=seed)):
        in_fold = np.zeros(len(y), dtype=bool)
        in_fold[held_cells] = True
        test = in_fold & (groups == j)
        train = ~in_fold & (groups != j)
        if not test.any() or train.sum() < 2:
            continue
        fold = fit_gp(x[train], y[train], log_theta=gp.log_theta)
        low, high = float(y[train].min()), float(y[train].max())
        out[test] = np.abs(np.clip(fold.predict(x[test]), low, high) - y[test])
        far[test] = knn_distance(z[test], z[train])
    return out, far
