"""Forecasts from a unit's observed capacity trajectory, with intervals and knee indicators.

**Reference-ensemble forecaster** (Bayesian similarity). Given the unit's history up to now and a
set of reference trajectories that reach the threshold (units of the same family that already aged
further: the fleet in the same table, or a lab's reference data), every reference ``r`` and
time-scale ``s`` on a log grid gives two hypotheses: *offset-aligned*, "this unit ages like ``r``
running ``s`` × faster, offset by ``o``", and *level-aligned*, "from the cycle at which ``r`` had
the unit's present SOH, the unit ages like ``r`` running ``s`` × faster":

* ``o`` is the recency-weighted mean difference between the unit and ``r(s·n)`` (weights
  ``exp((n − n_now)/(τ n_now))``: the present level matters most);
* the log-likelihood is ``−mean_w(residual²) / (2 (σ²/N_eff + d²/K))``: ``σ`` is the unit's
  measurement noise (robust, from its own residuals) averaged over ``N_eff`` points (the history
  length reduced for the residuals' lag-1 autocorrelation); ``d`` is the median misfit between
  aligned references — a shape discrepancy between cells, which averages out only over ``K``
  independent stretches ("discrepancy segments");
* the prior on ``ln s`` is normal with the spread of the references' lives shrunk towards a
  catalogue spread (empirical Bayes with pseudo-references: a few lives cannot tell their spread);
* each hypothesis predicts the cycle at which the unit reaches the threshold (references are
  continued past their last check-up at their last fade rate).

Before fitting, isolated outliers are removed (Hampel filter) and so are the raised check-ups of
transient capacity recoveries — regeneration after rests (:func:`capacity_steps`).

The posterior-weighted median is the forecast. The interval is the posterior's 5–95 % range in
ln(remaining life + resolution), widened as a conformalised quantile (Romano et al. 2019) by the
split-conformal quantile of inner cases computed on the references themselves (each reference
forecast from the others at random 30–70 % cut-offs, grouped by cell), so its coverage is
calibrated without touching the unit being forecast. With enough references ``K`` is chosen the
same way (smallest inner error over a grid); otherwise the catalogue default applies.

**Fallback**: with fewer than ``min_references`` usable references, the history is extrapolated
linearly at the faster of its average and its recent fade rate, with a wide interval; the reason is
reported.

**Knee risk**: the ratio of the recent fade rate (last 20 % of the history) to the preceding 40 %;
≥ 1.5 is *elevated*, ≥ 2.5 *high* (catalogue ``knee``) [S42][S43].

References
----------
T. Wang et al., "A similarity-based prognostics approach for remaining useful life estimation of
engineered systems", PHM 2008.

P. M. Attia et al., "Knees in lithium-ion battery aging trajectories", J. Electrochem. Soc. 169
(2022) 060517.

V. Vovk et al., Algorithmic Learning in a Random World (2005) (split-conformal intervals).

Y. Romano, E. Patterson, E. Candès, "Conformalized quantile regression", NeurIPS 2019.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.ndimage import median_filter

from echelon.errors import EstimationError
from echelon.estimation.conformal import (
    conformal_quantile,
    grouped_conformal_quantile,
    min_calibration_size,
)
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
    steps : tuple of CapacityStep
        Capacity step-ups found in the history (regeneration after rests, level shifts).
    """

    cycle: Array
    soh: Array
    keep: npt.NDArray[np.bool_]
    smooth: Array
    steps: tuple[CapacityStep, ...] = ()

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

    def truncate(
        self, last_cycle: float, *, transients: bool = True, catalog_dir: Path | None = None
    ) -> History:
        """The history up to and including ``last_cycle`` (cleaned again on its own)."""
        mask = self.cycle <= last_cycle
        return clean_history(
            self.cycle[mask], self.soh[mask], transients=transients, catalog_dir=catalog_dir
        )


def hampel_keep(y: Array, *, window: int, sigmas: float, floor: float) -> npt.NDArray[np.bool_]:
    """Mask of points within ``sigmas`` robust deviations (+ ``floor``) of the running median."""
    med = median_filter(y, size=window, mode="nearest")
    mad = median_filter(np.abs(y - med), size=window, mode="nearest") * 1.4826
    return np.asarray(np.abs(y - med) <= sigmas * mad + floor, dtype=np.bool_)


def _more(count: int) -> str:
    return f" (and {count - 1} more)" if count > 1 else ""


def _where(cycle: Array, mask: npt.NDArray[np.bool_]) -> str:
    """``cycle 12`` (``check-up 4`` when the cycle itself is missing) of the first masked point,
    with how many more there are."""
    first = int(np.nonzero(mask)[0][0])
    at = f"cycle {cycle[first]:g}" if np.isfinite(cycle[first]) else f"check-up {first + 1}"
    return at + _more(int(mask.sum()))


def clean_history(
    cycle: Array, soh: Array, *, transients: bool = True, catalog_dir: Path | None = None
) -> History:
    """Validate and clean a capacity history.

    Isolated outliers are removed with a Hampel filter; then, with ``transients``, the raised
    check-ups after each capacity step-up that falls back (regeneration after a rest) are left
    out too (:func:`capacity_steps`). A running median of the kept points is the trajectory.

    Raises
    ------
    EstimationError
        Fewer than ``min_points`` check-ups, cycles not strictly increasing, SOH not finite or
        outside 0–1.5; each names the cycle.

    Notes
    -----
    A check-up with zero capacity (a partial cycle at a file boundary, as in CALCE's cycle
    summaries) is left out like an outlier (``keep`` is ``False``), before the Hampel filter.
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
    gaps = ~(np.isfinite(n) & np.isfinite(y))
    if gaps.any():
        raise EstimationError(
            f"history: capacity or cycle missing or not a number at {_where(n, gaps)}; "
            "every check-up needs both (leave out the rows without a measurement)"
        )
    repeated = np.diff(n) <= 0
    if repeated.any():
        at = np.nonzero(repeated)[0] + 1
        raise EstimationError(
            f"history: cycles must be strictly increasing; cycle {n[at[0]]:g} follows cycle "
            f"{n[at[0] - 1]:g}{_more(at.size)} (duplicated check-up?)"
        )
    outside = (y < 0) | (y > 1.5)
    if outside.any():
        first = int(np.nonzero(outside)[0][0])
        raise EstimationError(
            f"history: SOH {y[first] * 100:.4g} % at cycle {n[first]:g}{_more(int(outside.sum()))} "
            "is outside 0–150 % of nominal (wrong nominal capacity?)"
        )
    measured = np.nonzero(y > 0)[0]  # a 0-Ah check-up is a partial cycle, not a measured fade
    keep = np.zeros(y.size, dtype=np.bool_)
    keep[measured] = hampel_keep(
        y[measured],
        window=int(cfg["hampel_window"]),
        sigmas=float(cfg["hampel_sigmas"]),
        floor=float(cfg["hampel_floor"]),
    )
    if measured.size < int(cfg["min_points"]):
        raise EstimationError(
            f"history has {measured.size} check-up(s) with a capacity above 0 "
            f"({y.size - measured.size} at 0: partial cycles?); at least {cfg['min_points']} "
            "are needed"
        )
    steps: tuple[CapacityStep, ...] = ()
    if transients:
        index = np.nonzero(keep)[0]
        steps = capacity_steps(
            n[index],
            y[index],
            sigmas=float(cfg["step_sigmas"]),
            floor=float(cfg["step_floor"]),
            window=int(cfg["regeneration_window"]),
        )
        pending_only = cfg["drop_transients"] == "pending"
        for step in steps:
            if step.transient and (step.stop == index.size or not pending_only):
                keep[index[step.start : step.stop]] = False
    smooth = median_filter(y[keep], size=int(cfg["smooth_window"]), mode="nearest")
    return History(n, y, keep, np.asarray(smooth, dtype=np.float64), steps)


@dataclass(frozen=True)
class CapacityStep:
    """A step up of the capacity between two consecutive check-ups.

    Attributes
    ----------
    cycle : float
        Cycle of the first raised check-up.
    rise_percent : float
        Rise over the previous check-up [SOH points].
    transient : bool
        The capacity falls back to the level before the step within the window (regeneration
        after a rest, or the history ends before it could): the raised points ``start:stop`` are
        left out of the fit. ``False``: the raised level persists (a level shift).
    start, stop : int
        Index range (into the points it was detected on) of the raised points.
    """

    cycle: float
    rise_percent: float
    transient: bool
    start: int
    stop: int


def capacity_steps(
    cycle: Array, soh: Array, *, sigmas: float, floor: float, window: int
) -> tuple[CapacityStep, ...]:
    """Find capacity step-ups and tell transient recoveries from persistent level shifts.

    A step is a rise between consecutive check-ups larger than the median change by ``sigmas``
    robust deviations of the changes and by at least ``floor`` (SOH fraction). It is transient
    when the capacity falls back to or below the last level before the step within ``window``
    check-ups, or when the history ends first (the usual case right after a rest); otherwise the
    raised level persists.

    Parameters
    ----------
    cycle, soh : array
        Check-ups (outliers already removed), SOH as a fraction of nominal.
    sigmas : float
        Robust deviations of the cycle-to-cycle changes that make a step.
    floor : float
        Smallest step [SOH fraction].
    window : int
        Check-ups within which a transient falls back.

    Returns
    -------
    tuple of CapacityStep
        In cycle order.
    """
    if soh.size < 3:
        return ()
    d = np.diff(soh)
    centre = float(np.median(d))
    spread = float(np.median(np.abs(d - centre))) * 1.4826
    limit = centre + max(sigmas * spread, floor)
    out: list[CapacityStep] = []
    i = 1
    while i < soh.size:
        if d[i - 1] <= limit:
            i += 1
            continue
        before = soh[i - 1]
        j = i
        while j < soh.size and j - i < window and soh[j] > before:
            j += 1
        transient = j == soh.size or soh[j] <= before
        out.append(CapacityStep(float(cycle[i]), float(d[i - 1] * 100.0), transient, i, j))
        i = max(j, i + 1)
    return tuple(out)


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


def _offset_hypotheses(
    unit: History, ref: History, s: Array, w: Array, threshold: float, extension: float
) -> tuple[Array, Array, Array]:
    """ "The unit ages like ``ref`` ``s`` × faster from cycle 0, offset by a constant":
    (cycle at the threshold, weighted mean squared residual, valid) per scale."""
    n, y = unit.n, unit.y
    yr = np.interp(s[:, None] * n[None, :], ref.n, ref.smooth)
    offset = (y[None, :] - yr) @ w
    msr = ((y[None, :] - yr - offset[:, None]) ** 2) @ w
    n_ref, env = extended_envelope(ref, extension)
    level = threshold - offset
    # cycle where the reference's envelope falls to the level (envelope is non-increasing)
    at = np.interp(-level, -env, n_ref)
    return at / s, msr, level >= env[-1]


def _shift_hypotheses(
    unit: History, ref: History, s: Array, w: Array, threshold: float, extension: float
) -> tuple[Array, Array, Array]:
    """ "From the cycle at which ``ref`` had the unit's present SOH, the unit ages like ``ref``
    ``s`` × faster": (cycle at the threshold, weighted mean squared residual, valid) per scale.
    Aligning on the present level (a shift in time, not in capacity) lets units that started
    higher or lower than the reference follow its fade from where they are now."""
    n, y = unit.n, unit.y
    now = float(unit.cycle[-1])
    n_ref, env = extended_envelope(ref, extension)
    level = float(unit.smooth[-1])
    valid = np.full(s.size, level <= env[0] and threshold >= env[-1] and level > threshold)
    here = float(np.interp(-level, -env, n_ref))
    at = float(np.interp(-threshold, -env, n_ref))
    x = here + s[:, None] * (n[None, :] - n[-1])
    valid &= x[:, 0] >= ref.n[0]
    yr = np.interp(x, ref.n, ref.smooth)
    msr = ((y[None, :] - yr) ** 2) @ w
    return now + (at - here) / s, msr, valid


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
    extension = float(cfg["reference_extension"])
    families = {"offset": _offset_hypotheses, "shift": _shift_hypotheses}
    eols: list[Array] = []
    logw: list[Array] = []
    for ref in refs.refs:
        ok = scales * n[-1] <= ref.n[-1]
        for name in cfg["alignments"]:
            eol, msr, valid = families[name](unit, ref, scales, w, refs.threshold, extension)
            valid = valid & ok if name == "offset" else valid
            eols.append(np.maximum(eol, unit.cycle[-1] + 1.0)[valid])
            logw.append((-msr / (2 * sig2) + prior)[valid])
    if sum(e.size for e in eols) == 0:
        return None
    e = np.concatenate(eols)
    lw = np.concatenate(logw)
    wt = np.exp(lw - lw.max())
    return e, wt / wt.sum()


def extended_envelope(ref: History, fraction: float) -> tuple[Array, Array]:
    """A reference's non-increasing envelope, continued past its last check-up.

    The continuation follows the fade rate of the last quarter of the record (at least the mean
    rate over the whole record) for ``fraction`` × the record's length, so that a unit aligned
    with a vertical offset can still reach the threshold on a reference that stops just below it.

    Returns
    -------
    cycles, envelope : array
    """
    n, env = ref.n, ref.envelope
    if fraction <= 0 or n.size < 4:
        return n, env
    tail = n >= n[-1] - 0.25 * (n[-1] - n[0])
    rate = max(-np.polyfit(n[tail], env[tail], 1)[0], (env[0] - env[-1]) / (n[-1] - n[0]), 1e-6)
    extra = np.linspace(n[-1], n[-1] + fraction * (n[-1] - n[0]), 9)[1:]
    return (
        np.concatenate([n, extra]),
        np.concatenate([env, env[-1] - rate * (extra - n[-1])]),
    )


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


def _resolution(now: float, cfg: dict[str, Any]) -> float:
    """Cycles added to the remaining life before taking logs (``resolution_fraction`` × the
    unit's age, at least one cycle): a remaining life of a few cycles is not resolved more finely
    than that, so intervals near the threshold do not explode in log space."""
    return max(float(cfg["resolution_fraction"]) * now, 1.0)


def _log_remaining(cycles: float, now: float, c: float) -> float:
    return float(np.log(max(cycles - now, 0.0) + c))


def _inner_cases(
    core: ReferenceSet,
    cfg: dict[str, Any],
    max_cells: int,
    known: Sequence[tuple[float, float, int]] = (),
    known_cells: int = 0,
) -> list[tuple[float, float, int]]:
    """Forecast up to ``max_cells`` references (a seeded draw) from the others at random 30–70 %
    cut-offs (grouped by cell): per case, the |error| of the median and the
    conformalised-quantile score ``max(lo − truth, truth − hi)`` of the raw 5–95 % posterior
    interval, both in ln(remaining life + resolution), and the reference it comes from.
    A cut-off keeps at least ``min_points + 1`` check-ups and leaves at least one out, so a
    reference with ``min_points`` check-ups or fewer (a sparse history) gives no inner case; it
    stays a reference of the others.

    ``known`` are the cases of the first ``known_cells`` references of the same draw, already
    forecast with the same settings (the grid search's): they are kept, not forecast again."""
    rng = np.random.default_rng(int(cfg["calibration_seed"]))
    refs = core.refs
    order = rng.permutation(len(refs))[:max_cells]
    cuts = int(cfg["conformal_cuts_per_cell"])
    cases = list(known)
    for i, j in enumerate(order):
        target = refs[j]
        others = tuple(r for k, r in enumerate(refs) if k != j)
        truth = target.reaches(core.threshold)
        if truth is None or not others:
            continue
        fractions = rng.uniform(0.3, 0.7, cuts)  # drawn either way: the draw stays the same
        if i < known_cells:
            continue
        size, first = target.cycle.size, int(cfg["min_points"])
        if size <= first:
            continue  # too short to cut: no inner case (the draw above stays the same)
        inner = _with_refs(core, others)
        for frac in fractions:
            cut = target.cycle[max(int(frac * size) - 1, first)]
            if cut >= truth:
                continue
            try:
                part = target.truncate(cut)
            except EstimationError:
                continue
            q = _raw_ensemble(part, inner, cfg)
            if q is None:
                continue
            now = part.cycle[-1]
            c = _resolution(now, cfg)
            lo, mid, hi = (
                _log_remaining(float(x), now, c) for x in (q[0], max(q[1], now + 1), q[2])
            )
            true = _log_remaining(truth, now, c)
            cases.append((abs(true - mid), max(lo - true, true - hi), int(j)))
    return cases


def scale_prior_sd(log_lives: Array, *, prior_sd: float, prior_cells: float) -> float:
    """Spread (sd of ln) of the time-scale prior: the references' spread of ln(life), shrunk
    towards ``prior_sd`` with the weight of ``prior_cells`` pseudo-references (a few references
    cannot tell their population's spread; two lives that happen to agree would otherwise make
    the prior falsely sharp)."""
    dof = max(log_lives.size - 1, 0)
    var = float(np.var(log_lives, ddof=1)) if dof else 0.0
    return float(np.sqrt((dof * var + prior_cells * prior_sd**2) / (dof + prior_cells)))


def _with_refs(core: ReferenceSet, refs: tuple[History, ...]) -> ReferenceSet:
    cfg = settings().trajectory
    lives = [r.reaches(core.threshold) for r in refs]
    logs = np.log([life for life in lives if life is not None and life > 0])
    sd = scale_prior_sd(
        logs,
        prior_sd=float(cfg["scale_prior_log_sd"]),
        prior_cells=float(cfg["scale_prior_cells"]),
    )
    return ReferenceSet(refs, core.threshold, core.misfit, sd, core.segments, float("nan"), 0)


def reference_set(
    refs: Sequence[History], threshold: float, *, catalog_dir: Path | None = None
) -> ReferenceSet:
    """Build and calibrate a reference set for ``threshold`` (references that reach it only).

    With at least ``tune_min_references`` references the likelihood's discrepancy segments are
    chosen from ``discrepancy_segments_grid`` by the smallest median inner error over up to
    ``tune_max_cells`` references (else the default); the interval's widening is the
    split-conformal quantile (finite-sample rank) of the conformalised-quantile scores of the
    chosen setting over up to ``conformal_max_cells`` references — both from the references alone
    (inner leave-one-cell-out); with fewer cases than a 90 % quantile needs,
    ``conformal_default``.
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
    best: tuple[float, float, list[tuple[float, float, int]]] | None = None
    for segments in grid:
        trial = ReferenceSet(
            usable, threshold, core.misfit, core.scale_log_sd, float(segments), 0.0, 0
        )
        cases = _inner_cases(trial, cfg, int(cfg["tune_max_cells"]))
        score = float(np.median([c[0] for c in cases])) if cases else np.inf
        if best is None or score < best[0]:
            best = (score, float(segments), cases)
    assert best is not None
    _, segments, cases = best
    if len(usable) > int(cfg["tune_max_cells"]):
        # more cells than the grid search used: calibrate the chosen setting on more of them,
        # so the finite-sample rank (⌈(n + 1) · 0.9⌉ of n) is not needlessly conservative
        chosen = ReferenceSet(usable, threshold, core.misfit, core.scale_log_sd, segments, 0.0, 0)
        tuned = int(cfg["tune_max_cells"])
        cases = _inner_cases(chosen, cfg, int(cfg["conformal_max_cells"]), cases, tuned)
    coverage = float(cfg["conformal_quantile"])
    scores = np.array([score for _, score, _ in cases])
    cells = [cell for _, _, cell in cases]
    if len(set(cells)) >= min_calibration_size(coverage):
        # a reference's cut-offs share its deviation: the finite-sample rank counts references
        factor = grouped_conformal_quantile(scores, cells, coverage)
    elif len(cases) >= min_calibration_size(coverage):
        factor = conformal_quantile(scores, coverage)  # too few references to count them alone
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
    now = float(unit.cycle[-1])
    remaining = max(q[1] - now, 1.0)
    c = _resolution(now, cfg)
    lo = _log_remaining(float(q[0]), now, c) - refs.conformal
    hi = _log_remaining(float(q[2]), now, c) + refs.conformal
    return CycleForecast(
        cycles=now + remaining,
        cycles_lower=now + min(max(float(np.exp(lo)) - c, 0.0), remaining),
        cycles_upper=now + max(float(np.exp(hi)) - c, remaining),
        method="ensemble",
        references=len(refs.refs),
        note=None,
    )


def fallback_rates(unit: History, *, recent_fraction: float) -> tuple[float, float]:
    """The two fade rates [SOH fraction per cycle] the fallback extrapolates with.

    Returns
    -------
    average : float
        From the higher of 100 % and the median of the first five check-ups at cycle 0 to the
        smoothed SOH now, over the cycles since cycle 0.
    recent : float
        Least-squares slope (negated) of the smoothed trajectory over the last
        ``recent_fraction`` of the cycles (at least the last three check-ups).
    """
    n, y, smooth = unit.n, unit.y, unit.smooth
    start = max(1.0, float(np.median(y[: min(5, y.size)])))
    average = (start - float(smooth[-1])) / max(float(n[-1]), 1.0)
    recent_mask = n >= n[-1] * (1.0 - recent_fraction)
    if recent_mask.sum() < 3:
        recent_mask = np.arange(n.size) >= n.size - 3
    recent = -float(np.polyfit(n[recent_mask], smooth[recent_mask], 1)[0])
    return average, recent


def fallback_forecast(
    unit: History,
    threshold: float,
    *,
    reason: str,
    catalog_dir: Path | None = None,
) -> CycleForecast:
    """Linear extrapolation at the faster of the average and the recent fade rate, with a wide
    interval (±``fallback_log_halfwidth`` in ln remaining life).

    Capacity fade in cycling does not slow down on the way to 80 % or 70 % (it is linear or
    accelerates towards a knee), so the faster rate is carried on. Without references no model
    can see a knee coming: the back-tests in docs/validation.md show this forecast too long on
    cells with knees.

    Raises
    ------
    EstimationError
        The history shows no fade to extrapolate (capacity flat or rising).
    """
    cfg = settings(catalog_dir).fallback
    average, recent = fallback_rates(unit, recent_fraction=float(cfg["recent_fraction"]))
    rate = max(average, recent)
    first = float(np.median(unit.y[: min(5, unit.y.size)]))
    own = (first - float(unit.smooth[-1])) / max(float(unit.n[-1] - unit.n[0]), 1.0)
    if max(own, recent) < float(cfg["min_rate_per_cycle"]):
        # a start below 100 % is not fade the history shows
        raise EstimationError(
            "history shows no capacity fade to extrapolate (flat or rising); measure again later"
        )
    # the remaining cycles count from the last check-up, as the ensemble's do, from the SOH of
    # the last kept one: check-ups left out as a transient recovery after a rest (NASA, CALCE)
    # are read as a pause in the fade, not as fade hidden by the recovery. Counting from the last
    # kept check-up instead made NASA's remaining-life MAPE 29.7 / 45.1 % (22.7 / 38.4 %) and its
    # coverage 83 % (92 %) at the 80 / 70 % thresholds (2026-12-07, after a review asked)
    now = float(unit.cycle[-1])
    remaining = max((float(unit.smooth[-1]) - threshold) / rate, 1.0)
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
