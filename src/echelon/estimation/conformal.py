"""Split-conformal intervals from grouped out-of-fold residuals, and grouped folds.

A model's interval half-width at coverage ``c`` is the ``⌈(n + 1) c⌉``-th smallest of ``n``
absolute out-of-fold residuals (cross-conformal / CV+ in its simplest symmetric form). Folds are
grouped by physical cell, so a residual is always that of a cell the model had not seen.
References: V. Vovk, A. Gammerman, G. Shafer, *Algorithmic Learning in a Random World*,
Springer (2005); R. F. Barber et al., "Predictive inference with the jackknife+", *Ann. Statist.*
49 (2021) 486–507, doi:10.1214/20-AOS1965.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from echelon.errors import EstimationError

Array = npt.NDArray[np.float64]


def min_calibration_size(coverage: float) -> int:
    """Fewest residuals for which a finite ``coverage`` quantile exists: ⌈c / (1 − c)⌉."""
    return math.ceil(coverage / (1.0 - coverage) - 1e-9)


def conformal_quantile(abs_residuals: Array, coverage: float) -> float:
    """Half-width at ``coverage`` from absolute calibration residuals.

    Raises
    ------
    EstimationError
        For a coverage outside (0, 1) or too few residuals for it.
    """
    if not 0.0 < coverage < 1.0:
        raise EstimationError(f"coverage must be in (0, 1), e.g. 0.9 (got {coverage})")
    scores = np.sort(np.asarray(abs_residuals, dtype=np.float64))
    n = len(scores)
    rank = math.ceil((n + 1) * coverage - 1e-9)
    if rank > n:
        raise EstimationError(
            f"{n} calibration residual(s) cannot give a {coverage:.0%} interval: need at "
            f"least {min_calibration_size(coverage)} (measure more reference units, or lower "
            "the coverage)"
        )
    return float(scores[rank - 1])


def grouped_conformal_quantile(
    scores: npt.ArrayLike, groups: npt.ArrayLike, coverage: float
) -> float:
    """Conformal quantile of scores that come in exchangeable groups (cells), not one by one.

    The pooled CDF method of Dunn, Wasserman & Ramdas, "Distribution-free prediction sets for
    two-layer hierarchical models", *J. Am. Stat. Assoc.* 118 (2023) 2491–2502,
    doi:10.1080/01621459.2022.2060112: each of the ``K`` groups weighs ``1/K`` (its scores
    ``1/(K m_k)`` each), and the quantile is taken at ``⌈(K + 1) c⌉ / K`` — the finite-sample
    correction counts groups, not scores, since the scores of one group are not independent.

    Raises
    ------
    EstimationError
        For fewer groups than :func:`min_calibration_size` (too few for ``coverage``).
    """
    values = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(groups).astype(str)
    unique, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    k = len(unique)
    level = math.ceil((k + 1) * coverage - 1e-9) / k if k else math.inf
    if level > 1.0:
        raise EstimationError(
            f"{k} group(s) cannot give a {coverage:.0%} interval: need at least "
            f"{min_calibration_size(coverage)}"
        )
    weights = 1.0 / (k * counts[inverse])
    order = np.argsort(values, kind="stable")
    cdf = np.cumsum(weights[order])
    at = min(int(np.searchsorted(cdf, level - 1e-12)), len(values) - 1)
    return float(values[order][at])


def group_folds(
    groups: npt.ArrayLike, n_folds: int, *, seed: int = 0
) -> list[npt.NDArray[np.intp]]:
    """Test-row indices of ``n_folds`` folds with no group split between folds.

    Groups are shuffled (seeded) and dealt to folds by descending size so that folds have
    similar numbers of rows. With fewer groups than ``n_folds``, one fold per group.
    """
    labels = np.asarray(groups).astype(str)
    unique, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    k = min(n_folds, len(unique))
    if k < 2:
        raise EstimationError(
            f"cross-validation needs at least 2 distinct cells (got {len(unique)})"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique))
    order = order[np.argsort(-counts[order], kind="stable")]
    load = np.zeros(k)
    fold_of = np.empty(len(unique), dtype=np.intp)
    for g in order:
        f = int(np.argmin(load))
        fold_of[g] = f
        load[f] += counts[g]
    row_fold = fold_of[inverse]
    return [np.flatnonzero(row_fold == f) for f in range(k)]
