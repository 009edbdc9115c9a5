"""Forecasts from a unit's observed capacity trajectory, with intervals and knee indicators.

**Reference-ensemble forecaster** (Bayesian similarity). Given the unit's history up to now and a
set of reference trajectories that reach the threshold (units of the same family that already aged
further: the fleet in the same table, or a lab's reference data), every reference ``r`` and
time-scale ``s`` on a log grid is a hypothesis "this unit ages like ``r`` running ``s`` × faster,
offset by ``o``":

* ``o`` is the recency-weighted mean difference between the unit and ``r(s·n)`` (weights
  ``exp((n − n_now)/(τ n_now))``: the present level matters most);
* the log-likelihood is ``−mean_w(residual²) / (2 (σ²/N_eff + d²/K))``: ``σ`` is the unit's
  measurement noise (robust, from its own residuals) averaged over ``N_eff`` points (the history
  length reduced for the residuals' lag-1 autocorrelation); ``d`` is the median misfit between
  aligned references — a shape discrepancy between cells, which averages out only over ``K``
  independent stretches ("discrepancy segments");
* the prior on ``ln s`` is normal with the spread of the references' lives (empirical Bayes);
* each hypothesis predicts the cycle at which the unit reaches the threshold: where ``r + o`` does,
  divided by ``s``.

The posterior-weighted median is the forecast. The interval is the posterior's 5–95 % range widened
in ln(remaining life) by a split-conformal factor computed on the references themselves (each
reference forecast from the others at random 30–70 % cut-offs, grouped by cell), so its coverage is
calibrated without touching the unit being forecast. With enough references ``K`` is chosen the
same way (smallest inner error over a grid); otherwise the catalogue default applies.

**Fallback**: with fewer than ``min_references`` usable references, a power law ``y0 − a n^z`` is
fitted with a prior on ``z`` centred on the chemistry's cycle-ageing exponent, and the interval is
wide; the reason is reported.

**Knee risk**: the ratio of the recent fade rate (last 20 % of the history) to the preceding 40 %;
≥ 1.5 is *elevated*, ≥ 2.5 *high* (catalogue ``knee``) [S42][S43].

References
----------
T. Wang et al., "A similarity-based prognostics approach for remaining useful life estimation of
engineered systems", PHM 2008.

P. M. Attia et al., "Knees in lithium-ion battery aging trajectories", J. Electrochem. Soc. 169
(2022) 060517.

V. Vovk et al., Algorithmic Learning in a Random World (2005) (split-conformal intervals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.ndimage import median_filter
from scipy.optimize import least_squares

from echelon.errors import EstimationError
from echelon.lifetime.params import settings

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class History:
    """A unit's cleaned capacity history.

    Attributes
    ----------
    cycle : array
        Cycle count or equivalent full cycles, strictly increasing.
    soh : array
        State of health (fraction of nominal) at each check-up.
    keep : array of bool
        Points kept by the outlier filter (regeneration spikes, anomalous runs removed).
    smooth : array
        Running-median trajectory of the kept points (same length as ``cycle[keep]``).
    """

    cycle: Array
    soh: Array
    keep: npt.NDArray[np.bool_]
    smooth: Array

    @property
    def n(self) -> Array:
        """Cycles of the kept points."""
        return np.asarray(self.cycle[self.keep], dtype=np.float64)

    @property
    def y(self) -> Array:
        """SOH of the kept points."""
        return np.asarray(self.soh[self.keep], dtype=np.float64)

    @property
    def envelope(self) -> Array:
        """Non-increasing envelope of the smoothed trajectory (for threshold crossings)."""
        return np.asarray(np.minimum.accumulate(self.smooth), dtype=np.float64)

    def reaches(self, threshold: float) -> float | None:
        """First cycle at which the smoothed trajectory is at or below ``threshold``."""
        below = np.nonzero(self.smooth <= threshold)[0]
        return float(self.n[below[0]]) if below.size else None

    def truncate(self, last_cycle: float, *, catalog_dir: Path | None = None) -> History:
        """The history up to and including ``last_cycle`` (cleaned again on its own)."""
        mask = self.cycle <= last_cycle
        return clean_history(self.cycle[mask], self.soh[mask], catalog_dir=catalog_dir)


def hampel_keep(y: Array, *, window: int, sigmas: float, floor: float) -> npt.NDArray[np.bool_]:
    """Mask of points within ``sigmas`` robust deviations (+ ``floor``) of the running median."""
    med = median_filter(y, size=window, mode="nearest")
    mad = median_filter(np.abs(y - med), size=window, mode="nearest") * 1.4826
    return np.asarray(np.abs(y - med) <= sigmas * mad + floor, dtype=np.bool_)


def clean_history(cycle: Array, soh: Array, *, catalog_dir: Path | None = None) -> History:
    """Validate and clean a capacity history.

    Raises
    ------
    EstimationError
        Fewer than ``min_points`` check-ups, cycles not strictly increasing, SOH not finite or
        outside 0–1.5.
    """
    cfg = settings(catalog_dir).trajectory
    n = np.asarray(cycle, dtype=np.float64)
    y = np.asarray(soh, dtype=np.float64)
    if n.shape != y.shape or n.ndim != 1:
        raise EstimationError("history: cycle and capacity columns must have the same length")
    if n.size < int(cfg["min_points"]):
        raise EstimationError(
            f"history has {n.size} check-up(s); at least {cfg['min_points']} are needed to "
            "forecast a trajectory"
        )
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(y))):
        raise EstimationError("history: cycle and capacity must be numbers (no gaps)")
    if np.any(np.diff(n) <= 0):
        raise EstimationError("history: cycles must be strictly increasing (duplicated check-up?)")
    if np.any(y <= 0) or np.any(y > 1.5):
        raise EstimationError(
            "history: SOH must be between 0 and 150 % of nominal (wrong nominal capacity?)"
        )
    keep = hampel_keep(
        y,
        window=int(cfg["hampel_window"]),
        sigmas=float(cfg["hampel_sigmas"]),
        floor=float(cfg["hampel_floor"]),
    )
    smooth = median_filter(y[keep], size=int(cfg["smooth_window"]), mode="nearest")
    return History(n, y, keep, np.asarray(smooth, dtype=np.float64))


@dataclass(frozen=True)
class CycleForecast:
    """Forecast of the cycle at which a unit reaches a threshold (counted from cycle 0).

    Attributes
    ----------
    cycles, cycles_lower, cycles_upper : float
        Median and 90 % interval.
    method : str
        ``ensemble`` or ``fallback``.
    references : int
        References used.
    note : str or None
        Why the forecast is a fallback or uncertain.
    """

    cycles: float
    cycles_lower: float
    cycles_upper: float
    method: str
    references: int
    note: str | None = None


def _noise(y: Array, window: int) -> tuple[float, float]:
    resid = y - median_filter(y, size=window, mode="nearest")
    sigma = float(np.median(np.abs(resid)) * 1.4826) + 1e-4
    if resid.size > 5 and np.std(resid) > 0:
        rho = float(np.corrcoef(resid[:-1], resid[1:])[0, 1])
    else:
        rho = 0.0
    return sigma, float(np.clip(np.nan_to_num(rho), 0.0, 0.95))


def _scales(cfg: dict[str, Any]) -> Array:
    return np.exp(
        np.linspace(
            np.log(float(cfg["scale_min"])),
            np.log(float(cfg["scale_max"])),
            int(cfg["scale_points"]),
        )
    )


def reference_misfit(refs: Sequence[History], scales: Array) -> float:
    """Median RMS misfit between time-scaled, offset-aligned pairs of references (first 60 %)."""
    values = []
    for a in range(len(refs)):
        for b in range(a + 1, min(len(refs), a + 4)):
            na, ya = refs[a].n, refs[a].smooth
            nb, yb = refs[b].n, refs[b].smooth
            grid = np.linspace(na[0], 0.6 * min(na[-1], nb[-1]), 60)
            ok = scales * grid[-1] <= nb[-1]
            if not ok.any():
                continue
            diff = np.interp(grid, na, ya)[None, :] - np.interp(
                scales[ok, None] * grid[None, :], nb, yb
            )
            diff -= diff.mean(axis=1, keepdims=True)
            values.append(float(np.sqrt((diff**2).mean(axis=1)).min()))
    return float(np.median(values)) if values else 0.005


@dataclass(frozen=True)
class ReferenceSet:
    """References for one threshold with the settings derived from them (empirical Bayes)."""

    refs: tuple[History, ...]
    threshold: float
    misfit: float
    scale_log_sd: float
    segments: float
    conformal: float
    calibration_cases: int


def _posterior(
    unit: History, refs: ReferenceSet, cfg: dict[str, Any]
) -> tuple[Array, Array] | None:
    n, y = unit.n, unit.y
    sigma, rho = _noise(y, int(cfg["smooth_window"]))
    n_eff = max(n.size * (1 - rho) / (1 + rho), 1.0)
    # the noise averages out over the history; the shape discrepancy between cells only over a
    # few independent stretches of it
    sig2 = sigma**2 / n_eff + refs.misfit**2 / refs.segments
    w = np.exp((n - n[-1]) / (float(cfg["recency_tau"]) * n[-1]))
    w /= w.sum()
    scales = _scales(cfg)
    prior = -(np.log(scales) ** 2) / (2 * refs.scale_log_sd**2)
    eols: list[Array] = []
    logw: list[Array] = []
    for ref in refs.refs:
        ok = scales * n[-1] <= ref.n[-1]
        if not ok.any():
            continue
        s = scales[ok]
        yr = np.interp(s[:, None] * n[None, :], ref.n, ref.smooth)
        offset = (y[None, :] - yr) @ w
        resid = y[None, :] - yr - offset[:, None]
        loglik = -((resid**2) @ w) / (2 * sig2)
        env = ref.envelope
        level = refs.threshold - offset
        reach = level >= env[-1]
        # cycle where the reference's envelope falls to the level (envelope is non-increasing)
        at = np.interp(-level, -env, ref.n)
        eol = np.maximum(at / s, n[-1] + 1.0)
        eols.append(eol[reach])
        logw.append((loglik + prior[ok])[reach])
    if not eols or sum(e.size for e in eols) == 0:
        return None
    e = np.concatenate(eols)
    lw = np.concatenate(logw)
    wt = np.exp(lw - lw.max())
    return e, wt / wt.sum()


def weighted_quantiles(values: Array, weights: Array, qs: Sequence[float]) -> Array:
    """Quantiles of a weighted sample (mid-point interpolation of the weighted CDF)."""
    keep = weights > 0
    order = np.argsort(values[keep])
    v, w = values[keep][order], weights[keep][order] / weights[keep].sum()
    cdf = np.cumsum(w) - w / 2
    return np.asarray(np.interp(qs, cdf, v), dtype=np.float64)


def _raw_ensemble(unit: History, refs: ReferenceSet, cfg: dict[str, Any]) -> Array | None:
    post = _posterior(unit, refs, cfg)
    if post is None:
        return None
    return weighted_quantiles(post[0], post[1], (0.05, 0.5, 0.95))


def _log_halfwidth(q: Array, now: float) -> float:
    lo, hi = max(q[0] - now, 1.0), max(q[2] - now, 1.0)
    return float((np.log(hi) - np.log(lo)) / 2)


def _inner_cases(core: ReferenceSet, cfg: dict[str, Any]) -> list[tuple[float, float]]:
    """Forecast each reference from the others at random 30–70 % cut-offs (grouped by cell):
    (|ln error of remaining life|, ln half-width of the raw posterior interval) per case."""
    rng = np.random.default_rng(int(cfg["calibration_seed"]))
    refs = core.refs
    order = rng.permutation(len(refs))[: int(cfg["conformal_max_cells"])]
    cases = []
    for j in order:
        target = refs[j]
        others = tuple(r for k, r in enumerate(refs) if k != j)
        truth = target.reaches(core.threshold)
        if truth is None or not others:
            continue
        inner = _with_refs(core, others)
        for frac in rng.uniform(0.3, 0.7, int(cfg["conformal_cuts_per_cell"])):
            cut = target.cycle[max(int(frac * target.cycle.size) - 1, int(cfg["min_points"]))]
            if cut >= truth:
                continue
            try:
                part = target.truncate(cut)
            except EstimationError:
                continue
            q = _raw_ensemble(part, inner, cfg)
            if q is None:
                continue
            now = part.n[-1]
            err = abs(np.log(truth - now) - np.log(max(q[1] - now, 1.0)))
            cases.append((float(err), _log_halfwidth(q, now)))
    return cases


def _with_refs(core: ReferenceSet, refs: tuple[History, ...]) -> ReferenceSet:
    lives = [r.reaches(core.threshold) for r in refs]
    logs = np.log([life for life in lives if life is not None and life > 0])
    sd = float(np.std(logs)) if logs.size > 1 else 0.5
    return ReferenceSet(
        refs, core.threshold, core.misfit, max(sd, 0.1), core.segments, float("nan"), 0
    )


def reference_set(
    refs: Sequence[History], threshold: float, *, catalog_dir: Path | None = None
) -> ReferenceSet:
    """Build and calibrate a reference set for ``threshold`` (references that reach it only).

    With at least ``tune_min_references`` references the likelihood's discrepancy segments are
    chosen from ``discrepancy_segments_grid`` by the smallest median inner error (else the default);
    the conformal factor is the ``conformal_quantile`` of the normalised inner errors — both from
    the references alone (inner leave-one-cell-out).
    """
    cfg = settings(catalog_dir).trajectory
    usable = tuple(r for r in refs if r.reaches(threshold) is not None)
    base = ReferenceSet(
        (), threshold, reference_misfit(usable, _scales(cfg)), 0.5,
        float(cfg["discrepancy_segments_default"]), float(cfg["conformal_default"]), 0,
    )  # fmt: skip
    core = _with_refs(base, usable)
    if len(usable) < int(cfg["min_references"]):
        return ReferenceSet(
            usable, threshold, core.misfit, core.scale_log_sd, core.segments,
            float(cfg["conformal_default"]), 0,
        )  # fmt: skip
    grid = cfg["discrepancy_segments_grid"]
    if len(usable) < int(cfg["tune_min_references"]):
        grid = [cfg["discrepancy_segments_default"]]
    best: tuple[float, float, list[tuple[float, float]]] | None = None
    for segments in grid:
        trial = ReferenceSet(
            usable, threshold, core.misfit, core.scale_log_sd, float(segments), 0.0, 0
        )
        cases = _inner_cases(trial, cfg)
        score = float(np.median([c[0] for c in cases])) if cases else np.inf
        if best is None or score < best[0]:
            best = (score, float(segments), cases)
    assert best is not None
    _, segments, cases = best
    floor = float(cfg["interval_floor_log"])
    if len(cases) >= int(cfg["conformal_min_cases"]):
        factor = float(
            np.quantile([e / (h + floor) for e, h in cases], float(cfg["conformal_quantile"]))
        )
    else:
        factor = float(cfg["conformal_default"])
    return ReferenceSet(
        usable, threshold, core.misfit, core.scale_log_sd, segments, factor, len(cases)
    )


def ensemble_forecast(
    unit: History, refs: ReferenceSet, *, catalog_dir: Path | None = None
) -> CycleForecast | None:
    """Reference-ensemble forecast of the cycle at ``refs.threshold`` (``None`` if no reference
    can be aligned with the unit)."""
    cfg = settings(catalog_dir).trajectory
    if len(refs.refs) < int(cfg["min_references"]):
        return None
    q = _raw_ensemble(unit, refs, cfg)
    if q is None:
        return None
    now = float(unit.n[-1])
    remaining = max(q[1] - now, 1.0)
    half = refs.conformal * (_log_halfwidth(q, now) + float(cfg["interval_floor_log"]))
    return CycleForecast(
        cycles=now + remaining,
        cycles_lower=now + remaining * float(np.exp(-half)),
        cycles_upper=now + remaining * float(np.exp(half)),
        method="ensemble",
        references=len(refs.refs),
        note=None,
    )


def fallback_forecast(
    unit: History,
    threshold: float,
    *,
    exponent_prior: float,
    reason: str,
    catalog_dir: Path | None = None,
) -> CycleForecast:
    """Power-law extrapolation ``y0 − a n^z`` with a prior on ``z`` and a wide interval.

    Raises
    ------
    EstimationError
        The history shows no fade to extrapolate (capacity flat or rising).
    """
    cfg = settings(catalog_dir).fallback
    n, y = unit.n, unit.y
    sd = float(cfg["exponent_prior_sd"])
    scale = float(n[-1])

    def residuals(p: Array) -> Array:
        y0, log_a, z = p
        model = y0 - np.exp(log_a) * (n / scale) ** z
        return np.concatenate(
            [(model - y) / max(_noise(y, 9)[0], 1e-3), [(z - exponent_prior) / sd]]
        )

    start = np.array([float(np.median(y[: min(5, y.size)])), np.log(0.05), exponent_prior])
    fit = least_squares(
        residuals, start, bounds=([0.3, -20.0, 0.1], [1.6, 3.0, 4.0]), loss="soft_l1"
    )
    y0, log_a, z = fit.x
    fade = np.exp(log_a)
    if fade < 1e-4:
        raise EstimationError(
            "history shows no capacity fade to extrapolate (flat or rising); measure again later"
        )
    eol = scale * max((y0 - threshold) / fade, 0.0) ** (1.0 / z)
    now = float(n[-1])
    remaining = max(eol - now, 1.0)
    half = float(cfg["fallback_log_halfwidth"])
    return CycleForecast(
        cycles=now + remaining,
        cycles_lower=now + remaining * float(np.exp(-half)),
        cycles_upper=now + remaining * float(np.exp(half)),
        method="fallback",
        references=0,
        note=reason,
    )


@dataclass(frozen=True)
class KneeIndicators:
    """Accelerating-fade indicators of a history.

    Attributes
    ----------
    fade_acceleration_ratio : float
        Recent fade rate ÷ earlier fade rate (``nan`` when the earlier fade is within noise).
    knee_risk : str
        ``low``, ``elevated`` or ``high``.
    knee_onset_cycle : float or None
        Break point of a two-line fit when the fade accelerates (Bacon–Watts-style).
    """

    fade_acceleration_ratio: float
    knee_risk: str
    knee_onset_cycle: float | None


def _slope(n: Array, y: Array) -> float:
    if n.size < 3 or np.ptp(n) == 0:
        return float("nan")
    return float(-np.polyfit(n, y, 1)[0])


def knee_indicators(unit: History, *, catalog_dir: Path | None = None) -> KneeIndicators:
    """Fade-acceleration ratio, knee risk and knee onset of a history."""
    cfg = settings(catalog_dir).knee
    n, s = unit.n, unit.smooth
    span = n[-1] - n[0]
    recent = n >= n[-1] - 0.2 * span
    earlier = (n >= n[-1] - 0.6 * span) & ~recent
    r_recent, r_earlier = _slope(n[recent], s[recent]), _slope(n[earlier], s[earlier])
    noise = _noise(unit.y, 9)[0] / max(span, 1.0)
    ratio = r_recent / r_earlier if r_earlier > noise else float("nan")
    if np.isfinite(ratio) and ratio >= float(cfg["acceleration_high"]):
        risk = "high"
    elif np.isfinite(ratio) and ratio >= float(cfg["acceleration_elevated"]):
        risk = "elevated"
    else:
        risk = "low"
    onset = _two_line_break(n, s) if risk != "low" else None
    return KneeIndicators(float(ratio), risk, onset)


def _two_line_break(n: Array, y: Array) -> float | None:
    best, where = np.inf, None
    for k in range(3, n.size - 3):
        a = np.polyfit(n[:k], y[:k], 1)
        b = np.polyfit(n[k:], y[k:], 1)
        sse = float(
            ((np.polyval(a, n[:k]) - y[:k]) ** 2).sum()
            + ((np.polyval(b, n[k:]) - y[k:]) ** 2).sum()
        )
        if sse < best and b[0] < 2 * a[0]:
            best, where = sse, float(n[k])
    return where
