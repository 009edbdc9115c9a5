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

It is sampled by importance sampling with a defensive mixture proposal, half from each of:

* ``ln a ~ N(0, σ_a)``;
* the likelihood: an apparent SOH ``~ N(soh, s)`` is drawn and ``a`` solved from
  ``c0_mean − L(a) = SOH``, whose density in ``ln a`` is ``N(c0_mean − L(a); soh, s) · dL/d ln a``
  with ``dL/d ln a = pc·L_cal + py·L_cyc``.

The age and throughput are drawn from their priors in both halves, so their densities cancel, and a
candidate's weight is ``prior·lik / (½ N(ln a; 0, σ_a) + ½ lik·dL/d ln a)``. A candidate whose
speed is outside :data:`SPEED_RANGE` has no posterior mass. The weighted candidates are resampled
(systematic) to the requested number of samples, and each sample's true SOH ``c0 − L`` takes ``c0``
from its normal conditional given the measurement and ``L``.

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
        Kish effective sample size of each unit's weighted candidates (0: no candidate explains the
        measurement, and the samples are the nearest-speed solutions).
    """

    speed: Array
    soh: Array
    loss_cal: Array
    loss_cyc: Array
    effective_samples: Array


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
        Standard normal draws for the prior half (the first ``m // 2`` candidates), the
        likelihood half (the rest) and the start capacity.
    u : array (n,)
        Uniform offsets in [0, 1) for the resampling.
    speed_log_sd : float
        Prior sd of ``ln a``.
    samples : int
        Samples to return per unit.

    Returns
    -------
    FirstLifeState
    """
    half = days.shape[1] // 2
    meas = soh_measured[:, None]
    c0_mean, c0_sd = start_capacity
    noise_sd = np.maximum(soh_sd[:, None], 1e-4)
    sd = np.sqrt(noise_sd**2 + c0_sd**2)  # measured = c0 − L + noise, c0 marginalised
    kc, ky = k_cal[:, None], k_cyc[:, None]
    # likelihood half: a true SOH drawn around the measurement, the speed that explains it
    needed = c0_mean - (meas + sd * z_soh[:, half:])
    solved = solve_speed(
        np.maximum(needed, 0.0), kc, days[:, half:], ky, throughput[:, half:], model
    )
    speed = np.concatenate([np.exp(speed_log_sd * z_speed[:, :half]), solved], axis=1)
    pc, py = model.calendar.exponent, model.cycle.exponent
    loss_cal = kc * (speed * days) ** pc
    loss_cyc = ky * (speed * throughput) ** py
    loss = loss_cal + loss_cyc
    log_speed = np.log(speed)
    log_proposal = _log_normal_pdf(log_speed, 0.0, speed_log_sd)
    log_prior = log_proposal
    if upper_tail_dof is not None:  # heavy upper tail, continuous at the model's speed
        zero = np.zeros(1)
        lift = _log_normal_pdf(zero, 0.0, speed_log_sd) - _log_student_pdf(
            zero, speed_log_sd, upper_tail_dof
        )
        upper = _log_student_pdf(log_speed, speed_log_sd, upper_tail_dof) + lift
        log_prior = np.where(log_speed > 0.0, upper, log_proposal)
    log_lik = _log_normal_pdf(meas, c0_mean - loss, sd)
    jacobian = np.maximum(pc * loss_cal + py * loss_cyc, 1e-300)
    log_q = np.logaddexp(log_proposal, log_lik + np.log(jacobian)) - math.log(2.0)
    log_w = log_prior + log_lik - log_q
    lo, hi = SPEED_RANGE
    inside = (speed > lo * 1.0001) & (speed < hi * 0.9999)
    inside[:, half:] &= needed > 0
    log_w = np.where(inside, log_w, -np.inf)
    top = np.max(log_w, axis=1, keepdims=True)
    has_mass = np.isfinite(top[:, 0])
    w = np.where(has_mass[:, None], np.exp(log_w - np.where(has_mass[:, None], top, 0.0)), 0.0)
    ess = np.where(has_mass, w.sum(axis=1) ** 2 / np.maximum((w * w).sum(axis=1), 1e-300), 0.0)
    # no candidate explains the measurement: the likelihood half's nearest speeds, equally weighted
    w[~has_mass, half:] = 1.0
    idx = systematic_resample(w, u, samples)
    pick = np.take_along_axis
    picked_loss = pick(loss, idx, axis=1)
    # the start capacity given the measurement and the loss (normal-normal conjugate)
    gain = c0_sd**2 / sd**2
    c0 = (
        c0_mean + gain * (meas - (c0_mean - picked_loss))
        + np.sqrt(gain) * noise_sd * z_start[:, :samples]
    )  # fmt: skip
    return FirstLifeState(
        speed=pick(speed, idx, axis=1),
        soh=c0 - picked_loss,
        loss_cal=pick(loss_cal, idx, axis=1),
        loss_cyc=pick(loss_cyc, idx, axis=1),
        effective_samples=np.asarray(ess, dtype=np.float64),
    )
