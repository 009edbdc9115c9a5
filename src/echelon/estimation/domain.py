"""Is a sample inside a model's training domain? Nearest-neighbour distance in feature space.

The distance of a sample is its mean Euclidean distance to the ``k`` nearest training samples,
in the model's standardised feature space. The threshold is a high quantile of the same distance
for training samples measured against *other cells only* (grouped, like a new cell would be), so
in-domain cells exceed it at about the quantile's complement (1 % by default).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from echelon.estimation.gp import sq_dist

Array = npt.NDArray[np.float64]

K_NEIGHBOURS = 5
"""Neighbours averaged in the distance."""
THRESHOLD_QUANTILE = 0.99
"""Quantile of in-domain (other-cell) distances used as the out-of-domain threshold."""


def knn_distance(
    query: Array,
    train: Array,
    *,
    k: int = K_NEIGHBOURS,
    query_groups: npt.NDArray[np.str_] | None = None,
    train_groups: npt.NDArray[np.str_] | None = None,
    chunk: int = 2048,
) -> Array:
    """Mean distance of each query row to its ``k`` nearest training rows.

    With ``query_groups`` and ``train_groups``, training rows of the query's own group are
    ignored (the leave-cell-out distance used to set the threshold).
    """
    k = max(1, min(k, len(train) - 1))
    out = np.empty(len(query))
    for start in range(0, len(query), chunk):
        d2 = sq_dist(query[start : start + chunk], train)
        if query_groups is not None and train_groups is not None:
            same = query_groups[start : start + chunk, None] == train_groups[None, :]
            d2 = np.where(same, np.inf, d2)
        part = np.partition(d2, k - 1, axis=1)[:, :k]
        out[start : start + chunk] = np.sqrt(part).mean(axis=1)
    return out


def domain_threshold(
    train: Array, groups: npt.NDArray[np.str_], *, quantile: float = THRESHOLD_QUANTILE
) -> float:
    """Out-of-domain threshold: ``quantile`` of leave-cell-out k-NN distances of training rows."""
    distances = knn_distance(train, train, query_groups=groups, train_groups=groups)
    finite = distances[np.isfinite(distances)]
    return float(np.quantile(finite, quantile)) if len(finite) else float("inf")
