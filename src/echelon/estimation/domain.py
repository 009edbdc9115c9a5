"""Is a sample inside a model's training domain? Nearest-neighbour distance in feature space.

The distance of a sample is its mean Euclidean distance to the ``k`` nearest training samples,
in the model's standardised feature space. The threshold is a high quantile of the same distance
for training samples measured against *other cells only* (grouped, like a new cell would be), so
in-domain cells exceed it at about the quantile's complement (1 % by default).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.estimation.gp import sq_dist
from echelon.estimation.samples import CHEMISTRY, NOMINAL, SOC, SOC_GRID_PERCENT, TEMPERATURE

Array = npt.NDArray[np.float64]

K_NEIGHBOURS = 5
"""Neighbours averaged in the distance."""
THRESHOLD_QUANTILE = 0.99
"""Quantile of in-domain (other-cell) distances used as the out-of-domain threshold."""
FORMAT_TOLERANCE: Final = 0.10
"""Rated capacities within ±10 % of a trained one count as that format (cells of one product
spread by a few per cent when each cell's reference capacity is its rating, as in the EIS sets)."""
TEMPERATURE_TOLERANCE_C: Final = 5.0
"""A test more than this far from every temperature in training is out of domain. Engineering
assumption (2026-12-06), half the 10 °C spacing of the Warwick EIS data, on which a temperature left
out of training triples the error and drops the 90 % interval coverage to 0.24–0.58
(docs/validation.md#eis): impedance is strongly temperature dependent (Arrhenius-like charge
transfer), so a spectrum is only comparable with spectra taken near its own temperature."""


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


def format_reasons(
    table: pl.DataFrame, rows: npt.NDArray[np.intp], summary: dict[str, Any]
) -> dict[int, str]:
    """Rows of a chemistry and rated capacity never trained on (another cell model), and why."""
    trained = list(summary.get("format_cells", {}))
    if not trained:
        return {}
    known = [(k.rsplit("-", 1)[0], float(k.rsplit("-", 1)[1][:-2])) for k in trained]
    chem = table.get_column(CHEMISTRY).to_numpy()[rows]
    nominal = table.get_column(NOMINAL).to_numpy()[rows].astype(np.float64)
    return {
        int(r): f"{c} {q:g} Ah is not a format the model was trained on ({', '.join(trained)}): "
        "another cell model; calibrate the batch with capacity-tested reference units"
        for r, c, q in zip(rows, chem, nominal, strict=True)
        if not any(c == kc and abs(q - kq) <= FORMAT_TOLERANCE * kq for kc, kq in known)
    }


def nearest_trained_soc(
    table: pl.DataFrame, rows: npt.NDArray[np.intp], summary: dict[str, Any]
) -> tuple[Array, Array]:
    """Each row's SOC [%] and the nearest SOC the model was trained at (``NaN`` where either is
    unknown): the nearest trained level, or for models that record only the trained range
    (written before 2026-12-07) the SOC clipped to that range."""
    nan = np.full(len(rows), np.nan)
    trained = summary.get("soc_percent_range")
    if trained is None or SOC not in table.columns:
        return nan, nan
    soc = table.get_column(SOC).cast(pl.Float64).to_numpy()[rows]
    levels = np.asarray(summary.get("soc_levels_trained") or [], dtype=np.float64)
    if not len(levels):
        return soc, np.clip(soc, trained[0], trained[1])
    nearest = levels[np.argmin(np.abs(np.nan_to_num(soc)[:, None] - levels[None, :]), axis=1)]
    return soc, np.where(np.isfinite(soc), nearest, np.nan)


def soc_reasons(
    table: pl.DataFrame, rows: npt.NDArray[np.intp], summary: dict[str, Any]
) -> dict[int, str]:
    """Rows tested at a SOC the model never saw, and why: more than half a grid step
    (:data:`~echelon.estimation.samples.SOC_GRID_PERCENT`) from every trained SOC level — outside
    the trained range, or inside it at a gap in the trained levels."""
    soc, nearest = nearest_trained_soc(table, rows, summary)
    flagged = np.abs(soc - nearest) > SOC_GRID_PERCENT / 2.0  # False where NaN
    if not flagged.any():
        return {}
    low, high = summary["soc_percent_range"]
    return {
        int(r): f"SOC {v:.0f} % outside the trained {low:.0f}–{high:.0f} %"
        if v < low or v > high
        else f"SOC {v:.0f} % was not trained (nearest trained level {n:.0f} %)"
        for r, v, n in zip(rows[flagged], soc[flagged], nearest[flagged], strict=True)
    }


def temperature_reasons(
    table: pl.DataFrame, rows: npt.NDArray[np.intp], summary: dict[str, Any]
) -> dict[int, str]:
    """Rows measured more than :data:`TEMPERATURE_TOLERANCE_C` from every trained temperature."""
    trained = summary.get("temperature_c_trained")
    if not trained or TEMPERATURE not in table.columns:
        return {}
    measured = table.get_column(TEMPERATURE).cast(pl.Float64).to_numpy()[rows]
    gap = np.min(np.abs(measured[:, None] - np.asarray(trained)[None, :]), axis=1)
    outside = np.isfinite(gap) & (gap > TEMPERATURE_TOLERANCE_C)
    known = ", ".join(f"{t:g}" for t in trained)
    return {
        int(r): f"measured at {t:g} °C, more than {TEMPERATURE_TOLERANCE_C:g} °C from every "
        f"trained temperature ({known} °C): measure at a trained temperature"
        for r, t in zip(rows[outside], measured[outside], strict=True)
    }


def batch_reason(batch: str, trained: set[str], needed: int) -> str:
    """Why a row of a batch the model was not trained on is out of domain, whatever its features.

    A batch is one delivery of one make and model (the ``batch`` column; by default the format).
    Features cannot tell two makes of the same format apart reliably: the Warwick LG M50 EIS
    model covered 0.48–0.56 of another laboratory's LG M50T cells while none of their spectra
    looked unusual (docs/validation.md#eis), so a batch never trained on is out of domain by
    name, and gets the transfer error (or reference units).
    """
    known = ", ".join(sorted(trained))
    return (
        f"batch {batch} was not in training ({known}): another delivery, make or laboratory — "
        f"calibrate it with at least {needed} capacity-tested reference units"
    )
