"""A retired unit's first-life state from one SOH measurement (importance sampling).

The chemistry's semi-empirical model gives the capacity lost in the first life as

    L(a) = k_cal · (a·days)^pc + k_cyc · (a·x)^py,

where ``days`` and ``x`` (throughput) come from the unit's age and first-life throughput (known, or
drawn from the origin's prior) and ``a`` is the unit's *ageing speed* relative to the model's cell.
The unit measured ``soh`` (standard uncertainty ``sd``) from a start capacity ``c0 ~ N(c0_mean,
c0_sd)`` (fraction of nominal); with ``c0`` marginalised the measurement is ``N(c0_mean − L(a),
s)``, ``s² = sd² + c0_sd²``. The posterior of ``(a, age, throughput)`` is

    π ∝ prior(ln a) · prior(age, x) · N(soh; c0_mean − L(a), s).

The speed prior is normal in ``ln a`` (sd ``σ_a``) below the model's speed and Student-t above it
(same scale, continuous at ``a = 1``): a unit retires *because* it faded, so the retired population
has a heavy tail of fast agers, and a unit that faded far faster than the model's cell is explained
by its speed rather than by implausible ages and throughputs.

It is sampled by importance sampling with a defensive mixture proposal, a third from each of:

* the prior's shape: ``ln a = σ_a·z`` below 0 and ``σ_a·t`` above (half-normal and half-Student-t,
  each with half the mass);
* a uniform ``ln a`` over :data:`SPEED_RANGE` (reaches a posterior squeezed against a limit: a young
  unit with a heavy fade);
* the likelihood: an apparent SOH is drawn from ``N(soh, s)`` truncated to a positive loss (below
  ``c0_mean``; probability ``P``) and ``a`` solved from ``c0_mean − L(a) = SOH``, whose density in
  ``ln a`` is ``N(c0_mean − L(a); soh, s) · dL/d ln a / P``, where
  ``dL/d ln a = pc·L_cal + py·L_cyc``.

The age and throughput are drawn from their priors in all three, so their densities cancel, and a
candidate's weight is ``prior·lik / (⅓ q_prior + ⅓ q_uniform + ⅓ lik·dL/d ln a / P)``. A
candidate whose speed is outside :data:`SPEED_RANGE` has no posterior mass. The weighted
candidates are resampled (systematic) to the requested number of samples, and each sample's
true SOH ``c0 − L`` takes ``c0`` from its normal conditional given the measurement and ``L``. Two
diagnostics come back: the effective sample size (the sampling's precision) and the misfit (how far
the measurement lies from what the model can produce; a large one means the age, origin or
chemistry is wrong, since the start capacity otherwise absorbs the difference).

Why not solve ``a`` from a drawn SOH alone (the forecaster before 2026-12-07): a healthy unit
(SOH ≈ 100 %) then needs an ageing speed near zero, and is forecast to last for ever. With the prior
such a unit is a young or little-used one (age unknown) or, within the prior's spread, a slowly
ageing one (age known), and its second life ages at a plausible speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from echelon.lifetime.params import AgeingModel

Array = npt.NDArray[np.float64]
SPEED_RANGE = (0.02, 50.0)
"""Ageing speeds the model may take [× the model's cell]: outside it, no posterior mass."""
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True)
class FirstLifeState:
    """Posterior samples of a group of units' first-life state, ``(n, samples)`` each.

    Attributes
    ----------
    speed : array
        Ageing speed relative to the model's cell.
    soh : array
        True SOH at the start of the second life [fraction of nominal].
    loss_cal, loss_cyc : array
        First-life calendar and cycle losses [fraction of nominal] (the simulator's initial states).
    effective_samples : array (n,)
        Kish effective sample size of each unit's weighted candidates (a measure of the sampling's
        precision, not of the fit).
    misfit_sd : array (n,)
        Median over the samples of |measured − (mean start capacity − loss)| in standard
        deviations of the measurement and start capacity: above ~3 the model cannot produce the
        measured fade with the unit's age, throughput and a plausible speed.
    """

    speed: Array
    soh: Array
    loss_cal: Array
    loss_cyc: Array
    effective_samples: Array
    misfit_sd: Array


def solve_speed(
    target: Array, k_cal: Array, days: Array, k_cyc: Array, x: Array, model: AgeingModel
) -> Array:
    """Ageing speed ``a`` with ``k_cal (a·days)^pc + k_cyc (a·x)^py = target``, clipped to
    :data:`SPEED_RANGE`.

    Newton's method on ``f(u) = ln L(e^u) − ln target``: ``ln L`` is a log-sum-exp of two linear
    functions of ``u = ln a``, hence convex, so Newton's iterates from a point with ``f ≥ 0`` (the
    larger of the two one-term solutions) decrease monotonically to the root.
    """
    pc, py = model.calendar.exponent, model.cycle.exponent
    shape = np.broadcast_shapes(target.shape, k_cal.shape, days.shape, k_cyc.shape, x.shape)
    cal = np.broadcast_to(k_cal * days**pc, shape)  # L = cal·a^pc + cyc·a^py
    cyc = np.broadcast_to(k_cyc * x**py, shape)
    log_t = np.log(np.maximum(np.broadcast_to(target, shape), 1e-300))
    with np.errstate(divide="ignore"):
        u_cal = np.where(cal > 0, (log_t - np.log(cal)) / pc, -np.inf)
        u_cyc = np.where(cyc > 0, (log_t - np.log(cyc)) / py, -np.inf)
    lo, hi = math.log(SPEED_RANGE[0]), math.log(SPEED_RANGE[1])
    u = np.clip(np.maximum(u_cal, u_cyc), lo - 1.0, hi + 1.0)
    for _ in range(12):  # quadratic convergence: 4–6 steps reach 1e-12 in practice
        l_cal = cal * np.exp(pc * u)
        l_cyc = cyc * np.exp(py * u)
        total = l_cal + l_cyc
        step = (np.log(total) - log_t) * total / (pc * l_cal + py * l_cyc)
        u = np.where(total > 0, u - step, hi)
        if not np.any(np.abs(step) > 1e-12):  # NaN steps (no ageing at all) are done too
            break
    u = np.where(np.broadcast_to(target, shape) > 0, u, lo)
    return np.asarray(np.exp(np.clip(u, lo, hi)), dtype=np.float64)


def _log_normal_pdf(value: Array, mean: Array | float, sd: Array | float) -> Array:
    r = (value - mean) / sd
    return np.asarray(-0.5 * r * r - np.log(sd) - _LOG_SQRT_2PI, dtype=np.float64)


def _log_student_pdf(value: Array, scale: float, dof: float) -> Array:
    r = value / scale
    const = (
        math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
        - math.log(scale)
    )  # fmt: skip
    return np.asarray(const - (dof + 1) / 2 * np.log1p(r * r / dof), dtype=np.float64)


def systematic_resample(weights: Array, u: Array, samples: int) -> npt.NDArray[np.intp]:
    """Indices ``(n, samples)`` of a systematic resample of each row of ``weights`` (rows sum > 0);
    ``u`` (n,) in [0, 1) is each row's offset."""
    n, m = weights.shape
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    rows = np.arange(n)[:, None]
    positions = (u[:, None] + np.arange(samples)[None, :]) / samples
    flat = np.searchsorted((cum + rows).ravel(), (positions + rows).ravel(), side="right")
    return np.asarray(flat.reshape(n, samples) - rows * m, dtype=np.intp)


def _log_speed_densities(
    log_speed: Array, scale: float, upper_tail_dof: float | None
) -> tuple[Array, Array]:
    """Log densities in ``ln a`` of the speed prior and of the prior draws.

    The prior is normal below 0 and Student-t above, joined continuously at 0 (unnormalised).
    The draws are half-normal below 0 and half-t above, each with half the mass: the prior's
    shape with its halves normalised. Without ``upper_tail_dof`` both are the normal.
    """
    below = _log_normal_pdf(log_speed, 0.0, scale)
    if upper_tail_dof is None:
        return below, below
    zero = np.zeros(1)
    lift = _log_normal_pdf(zero, 0.0, scale) - _log_student_pdf(zero, scale, upper_tail_dof)
    upper = log_speed > 0.0
    draws = np.where(upper, _log_student_pdf(log_speed, scale, upper_tail_dof), below)
    return np.asarray(draws + np.where(upper, lift, 0.0), dtype=np.float64), draws


def first_life_state(
    soh_measured: Array,
    soh_sd: Array,
    *,
    model: AgeingModel,
    k_cal: Array,
    k_cyc: Array,
    days: Array,
    throughput: Array,
    start_capacity: tuple[float, float],
    z_speed: Array,
    z_soh: Array,
    z_start: Array,
    u: Array,
    speed_log_sd: float,
    samples: int,
    upper_tail_dof: float | None = None,
    chi2: Array | None = None,
) -> FirstLifeState:
    """Posterior samples of the first-life state of ``n`` units (see the module docstring).

    Parameters
    ----------
    soh_measured, soh_sd : array (n,)
        Measured SOH and its standard uncertainty [fraction of nominal].
    model : AgeingModel
        The chemistry's model (basis: new cell).
    k_cal, k_cyc : array (n,)
        First-life calendar and cycle rate constants of the unit's origin duty.
    days, throughput : array (n, m)
        Each candidate's first-life age [days] and throughput [model units], drawn from their
        priors.
    start_capacity : (mean, sd)
        Normal prior of the capacity when new [fraction of nominal]. It adds to the measurement
        noise (it is marginalised out of the weights) and is drawn from its conditional for the
        returned true SOH.
    z_speed, z_soh, z_start : array (n, m)
        Standard normal draws for the prior and uniform thirds (the first and second ``m // 3``
        candidates), the likelihood draws (the rest) and the start capacity.
    u : array (n,)
        Uniform offsets in [0, 1) for the resampling.
    speed_log_sd : float
        Prior scale of ``ln a``.
    samples : int
        Samples to return per unit.
    upper_tail_dof : float, optional
        Degrees of freedom of the prior's Student-t upper tail (``None``: normal both sides).
    chi2 : array (n, m), optional
        Chi-square draws with ``upper_tail_dof`` degrees of freedom (needed with it): the prior
        draws above the model's speed are ``scale · z / sqrt(chi2 / dof)``.

    Returns
    -------
    FirstLifeState
    """
    from scipy.special import ndtr, ndtri  # not at import: the CLI starts without scipy

    m = days.shape[1]
    k1 = k2 = m // 3  # prior draws [0, k1), uniform draws [k1, k1 + k2), likelihood draws the rest
    lik0 = k1 + k2
    lo, hi = math.log(SPEED_RANGE[0]), math.log(SPEED_RANGE[1])
    meas = soh_measured[:, None]
    c0_mean, c0_sd = start_capacity
    noise_sd = np.maximum(soh_sd[:, None], 1e-4)
    sd = np.sqrt(noise_sd**2 + c0_sd**2)  # measured = c0 − L + noise, c0 marginalised
    kc, ky = k_cal[:, None], k_cyc[:, None]
    # prior draws: ln a from the prior's shape (normal below 0, Student-t above)
    z = z_speed[:, :k1]
    if upper_tail_dof is not None:
        if chi2 is None:
            raise ValueError("first_life_state: a Student-t upper tail needs chi2 draws")
        z = np.where(z > 0, z / np.sqrt(chi2[:, :k1] / upper_tail_dof), z)
    # uniform draws over the speed range: they reach a posterior squeezed against a limit
    uniform = lo + (hi - lo) * ndtr(z_speed[:, k1:lik0])
    # likelihood draws: an apparent SOH drawn around the measurement, truncated to a positive
    # loss (below the mean start capacity), and the speed that explains it
    p_ok = np.maximum(ndtr((c0_mean - meas) / sd), 1e-300)
    apparent = meas + sd * ndtri(np.clip(ndtr(z_soh[:, lik0:]) * p_ok, 1e-300, 1.0 - 1e-16))
    needed = c0_mean - apparent
    solved = solve_speed(
        np.maximum(needed, 0.0), kc, days[:, lik0:], ky, throughput[:, lik0:], model
    )
    speed = np.concatenate([np.exp(speed_log_sd * z), np.exp(uniform), solved], axis=1)
    pc, py = model.calendar.exponent, model.cycle.exponent
    loss_cal = kc * (speed * days) ** pc
    loss_cyc = ky * (speed * throughput) ** py
    loss = loss_cal + loss_cyc
    log_speed = np.log(speed)
    log_lik = _log_normal_pdf(meas, c0_mean - loss, sd)
    jacobian = np.maximum(pc * loss_cal + py * loss_cyc, 1e-300)
    log_prior, log_draws = _log_speed_densities(log_speed, speed_log_sd, upper_tail_dof)
    log_q = np.logaddexp(
        np.logaddexp(math.log(k1 / m) + log_draws, math.log(k2 / m) - math.log(hi - lo)),
        math.log((m - lik0) / m) + log_lik + np.log(jacobian) - np.log(p_ok),
    )
    log_w = log_prior + log_lik - log_q
    inside = (log_speed > lo + 1e-4) & (log_speed < hi - 1e-4)
    inside[:, lik0:] &= needed > 0
    log_w = np.where(inside, log_w, -np.inf)
    top = np.max(log_w, axis=1, keepdims=True)
    w = np.exp(log_w - np.where(np.isfinite(top), top, 0.0))
    ess = w.sum(axis=1) ** 2 / np.maximum((w * w).sum(axis=1), 1e-300)
    w[~np.isfinite(top[:, 0]), :k1] = 1.0  # no candidate inside: the prior (cannot happen)
    idx = systematic_resample(w, u, samples)
    pick = np.take_along_axis
    picked_loss = pick(loss, idx, axis=1)
    residual = (meas - (c0_mean - picked_loss)) / sd
    # the start capacity given the measurement and the loss (normal-normal conjugate)
    gain = c0_sd**2 / sd**2
    c0 = c0_mean + gain * sd * residual + np.sqrt(gain) * noise_sd * z_start[:, :samples]
    return FirstLifeState(
        speed=pick(speed, idx, axis=1),
        soh=c0 - picked_loss,
        loss_cal=pick(loss_cal, idx, axis=1),
        loss_cyc=pick(loss_cyc, idx, axis=1),
        effective_samples=np.asarray(ess, dtype=np.float64),
        misfit_sd=np.asarray(np.median(np.abs(residual), axis=1), dtype=np.float64),
    )
