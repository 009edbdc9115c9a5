"""Vectorised fade simulation: day rates of a duty → capacity-loss trajectories of many units.

:func:`day_rates` turns a duty's day stressors into the model's rates once (time-averaged over the
hourly temperature and SOC, as BLAST-Lite does per segment [S65]); :func:`simulate` then advances
the calendar and cycle loss states of any number of units at once, one step per day (or per block of
days, :func:`aggregate`), cycling through the duty's period. Units differ by their acceleration
factor and initial losses, or by their own duty (rates with a leading unit axis).

With ``conserve_throughput`` (BLAST-Lite's default) a faded unit delivers the same ampere-hours, so
its depth of discharge grows as 1/capacity; unlike BLAST-Lite the SOC level itself is not shifted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from echelon.lifetime.duty import DayStressors, hourly_stressors
from echelon.lifetime.models import (
    calendar_rate,
    cycle_temperature_factor,
    ocv_v,
)
from echelon.lifetime.params import AgeingModel, AnodePotential

Array = npt.NDArray[np.float64]
DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class DayRates:
    """Model rates of a duty, one entry per step (day or block), leading axes = units.

    ``k_cyc = k_cyc_base + k_cyc_dod · min(dod / capacity, 1)`` (every cycle law is linear in DOD).

    Attributes
    ----------
    step_days : array (steps,)
        Duration of each step [days].
    k_cal : array (..., steps)
        Calendar rate [loss per day^p].
    k_cyc_base, k_cyc_dod : array (..., steps)
        DOD-independent part and DOD slope of the cycle rate [loss per throughput^p].
    dod : array (..., steps)
        Depth of discharge at full capacity.
    throughput : array (..., steps)
        Throughput in the cycle law's unit during the step (EFC or reference A·h).
    efc : array (..., steps)
        Equivalent full cycles during the step.
    """

    step_days: Array
    k_cal: Array
    k_cyc_base: Array
    k_cyc_dod: Array
    dod: Array
    throughput: Array
    efc: Array

    @property
    def steps(self) -> int:
        """Steps in one period."""
        return int(self.step_days.shape[0])


def day_rates(model: AgeingModel, stressors: DayStressors, anode: AnodePotential) -> DayRates:
    """Rates of ``model`` for each day of a duty (averaged over the day's samples)."""
    k_cal = calendar_rate(model, stressors.temperature_k, stressors.soc, anode).mean(axis=-1)
    factor = cycle_temperature_factor(model, stressors.temperature_k).mean(axis=-1)
    law = model.cycle
    c = law.coefficients
    if law.form == "dod_crate_temperature":
        base = (c["a"] + c["b_crate"] * stressors.c_rate) * factor
        slope = c["c_dod"] * factor
    elif law.form == "vrms_dod":
        vrms = np.sqrt((ocv_v(stressors.soc, model) ** 2).mean(axis=-1))
        base = c["a_per_volt2"] * (vrms - c["b_volt"]) ** 2 + c["c"]
        slope = np.full_like(base, c["d_dod"])
    else:
        base = np.full_like(k_cal, c["a"])
        slope = np.zeros_like(k_cal)
    return DayRates(
        step_days=np.ones(stressors.days),
        k_cal=k_cal,
        k_cyc_base=np.maximum(base, 0.0),
        k_cyc_dod=slope,
        dod=np.asarray(stressors.dod, dtype=np.float64),
        throughput=stressors.efc * law.throughput_per_efc,
        efc=np.asarray(stressors.efc, dtype=np.float64),
    )


def aggregate(rates: DayRates, block_days: int) -> DayRates:
    """Merge consecutive days into blocks (calendar rate time-averaged, cycle terms weighted by
    throughput), trading a small error for ``block_days`` × fewer steps."""
    if block_days <= 1:
        return rates
    n = rates.steps
    edges = np.arange(0, n, block_days)

    def total(x: Array) -> Array:
        return np.add.reduceat(x, edges, axis=-1)

    dt = total(rates.step_days)
    w = rates.throughput
    wsum = total(w)
    safe = np.where(wsum > 0, wsum, 1.0)

    def weighted(x: Array) -> Array:
        plain = total(x * rates.step_days) / dt
        return np.where(wsum > 0, total(x * w) / safe, plain)

    slope_w = weighted(rates.k_cyc_dod)
    dod_w = np.where(
        slope_w > 0,
        weighted(rates.k_cyc_dod * rates.dod) / np.where(slope_w > 0, slope_w, 1.0),
        weighted(rates.dod),
    )
    return DayRates(
        step_days=dt,
        k_cal=total(rates.k_cal * rates.step_days) / dt,
        k_cyc_base=weighted(rates.k_cyc_base),
        k_cyc_dod=slope_w,
        dod=dod_w,
        throughput=wsum,
        efc=total(rates.efc),
    )


@dataclass(frozen=True)
class Trajectory:
    """Simulated losses of ``n`` units at each recorded time.

    Attributes
    ----------
    time_years : array (records,)
        Time since the start of the simulation [years].
    loss_cal, loss_cyc : array (n, records)
        Calendar and cycle capacity loss (fraction of the model's basis capacity).
    efc : array (n, records)
        Cumulative equivalent full cycles.
    """

    time_years: Array
    loss_cal: Array
    loss_cyc: Array
    efc: Array

    @classmethod
    def join(cls, parts: list[Trajectory]) -> Trajectory:
        """Trajectories of disjoint groups of units (same times) as one."""
        return cls(
            time_years=parts[0].time_years,
            loss_cal=np.concatenate([p.loss_cal for p in parts]),
            loss_cyc=np.concatenate([p.loss_cyc for p in parts]),
            efc=np.concatenate([p.efc for p in parts]),
        )

    @property
    def capacity(self) -> Array:
        """Relative capacity ``1 − loss`` on the model's basis."""
        return np.asarray(1.0 - self.loss_cal - self.loss_cyc, dtype=np.float64)


def _column(x: Array, i: int) -> Array:
    return np.asarray(x[..., i], dtype=np.float64)


def _coupling(dod: Array, capacity: Array, conserve_throughput: bool) -> tuple[Array, Array]:
    """Depth of discharge in effect and the share of the duty's throughput delivered.

    With ``conserve_throughput`` the swing grows as 1/capacity until it spans the whole window;
    beyond that the unit cannot deliver the duty's ampere-hours any more.
    """
    if conserve_throughput:
        return (
            np.minimum(dod / capacity, 1.0),
            np.minimum(1.0, capacity / np.maximum(dod, 1e-12)),
        )
    return np.broadcast_to(dod, capacity.shape), capacity


@dataclass
class _State:
    cal: Array
    cyc: Array
    efc: Array
    years: float = 0.0


def _advance(
    rates: DayRates,
    model: AgeingModel,
    *,
    years: float,
    shape: tuple[int, ...],
    acceleration: Array | float,
    loss_cal0: Array | float,
    loss_cyc0: Array | float,
    conserve_throughput: bool,
) -> Iterator[_State]:
    """Yield the state after each step (the same object, updated in place); constant memory."""
    accel = np.broadcast_to(np.asarray(acceleration, dtype=np.float64), shape)
    p_cal, p_cyc = model.calendar.exponent, model.cycle.exponent
    z_cal = np.broadcast_to(np.asarray(loss_cal0, dtype=np.float64), shape) ** (1.0 / p_cal)
    z_cyc = np.broadcast_to(np.asarray(loss_cyc0, dtype=np.float64), shape) ** (1.0 / p_cyc)
    state = _State(cal=z_cal**p_cal, cyc=z_cyc**p_cyc, efc=np.zeros(shape))
    k_cal_root = np.maximum(rates.k_cal, 0.0) ** (1.0 / p_cal)
    period = rates.steps
    n_steps = int(np.ceil(years * DAYS_PER_YEAR / float(rates.step_days.mean())))
    elapsed = 0.0
    for step in range(n_steps):
        i = step % period
        dt = float(rates.step_days[i])
        capacity = np.maximum(1.0 - state.cal - state.cyc, 1e-3)
        dod_eff, delivered = _coupling(_column(rates.dod, i), capacity, conserve_throughput)
        k_cyc = _column(rates.k_cyc_base, i) + _column(rates.k_cyc_dod, i) * dod_eff
        z_cal = z_cal + _column(k_cal_root, i) * accel * dt
        z_cyc = z_cyc + np.maximum(k_cyc, 0.0) ** (1.0 / p_cyc) * accel * (
            _column(rates.throughput, i) * delivered
        )
        state.cal, state.cyc = z_cal**p_cal, z_cyc**p_cyc
        state.efc = state.efc + _column(rates.efc, i) * delivered
        elapsed += dt
        state.years = elapsed / DAYS_PER_YEAR
        yield state


_FIELDS = ("step_days", "k_cal", "k_cyc_base", "k_cyc_dod", "dod", "throughput", "efc")


def _unit_shape(rates: DayRates, n_units: int | None, *values: Array | float) -> tuple[int, ...]:
    if n_units is not None:
        return (n_units,)
    shapes = [np.shape(v) for v in values]
    if rates.k_cal.ndim > 1:
        shapes.append(rates.k_cal.shape[:-1])
    return tuple(np.broadcast_shapes(*shapes)) or (1,)


def _tiled(x: Array, n_steps: int) -> Array:
    """Repeat the period along the last axis to ``n_steps`` entries."""
    reps = -(-n_steps // x.shape[-1])
    return np.asarray(np.tile(x, (1,) * (x.ndim - 1) + (reps,))[..., :n_steps], dtype=np.float64)


CHUNK_ELEMENTS = 400_000
"""Units × steps simulated at once by :func:`simulate` (larger fleets go in blocks)."""


def _rows(rates: DayRates, rows: slice) -> DayRates:
    """The rates of some units (rates shared by all units are kept as they are)."""
    if rates.k_cal.ndim == 1:
        return rates
    return DayRates(rates.step_days, *(np.asarray(getattr(rates, f))[rows] for f in _FIELDS[1:]))


def _take_rows(value: Array | float, shape: tuple[int, ...], rows: slice) -> Array:
    return np.asarray(np.broadcast_to(np.asarray(value, dtype=np.float64), shape)[rows])


def simulate(
    rates: DayRates,
    model: AgeingModel,
    *,
    years: float,
    n_units: int | None = None,
    acceleration: Array | float = 1.0,
    loss_cal0: Array | float = 0.0,
    loss_cyc0: Array | float = 0.0,
    conserve_throughput: bool = True,
    record_every: int = 1,
    iterations: int = 4,
) -> Trajectory:
    """Loss trajectories of many units through repeated periods of a duty (vectorised in time).

    The calendar state is a cumulative sum (see :mod:`echelon.lifetime.models`). The cycle state
    depends on the capacity through the depth of discharge when throughput is conserved; that
    coupling is resolved by fixed-point iteration over whole trajectories (``iterations`` passes,
    each one vectorised over units and days), which converges to the step-by-step result
    (:func:`years_to_loss` streams the same model one step at a time).

    Parameters
    ----------
    rates : DayRates
        From :func:`day_rates` (optionally :func:`aggregate`-d); a leading axis gives each unit
        its own duty.
    model : AgeingModel
        Supplies the calendar and cycle exponents.
    years : float
        Simulated duration [years] (365-day years).
    n_units : int, optional
        Number of units (default: from the other arguments' shapes).
    acceleration : array or float
        Ageing-speed factor per unit (multiplies time and throughput; 1 = catalogue cell).
    loss_cal0, loss_cyc0 : array or float
        Initial calendar and cycle losses (e.g. from the first life).
    conserve_throughput : bool
        Deliver the same ampere-hours as capacity fades (depth of discharge grows as 1/capacity,
        capped at the full window).
    record_every : int
        Keep every n-th step in the returned trajectory (the last step is always kept).
    iterations : int
        Fixed-point passes for the capacity–DOD coupling (1 = no coupling).

    Returns
    -------
    Trajectory
    """
    shape = _unit_shape(rates, n_units, acceleration, loss_cal0, loss_cyc0)
    n_steps = int(np.ceil(years * DAYS_PER_YEAR / float(rates.step_days.mean())))
    block = max(1, CHUNK_ELEMENTS // max(n_steps, 1))
    if len(shape) == 1 and shape[0] > block:
        # bounded memory and cache-friendly: simulate blocks of units and join them
        parts = []
        for start in range(0, shape[0], block):
            rows = slice(start, min(start + block, shape[0]))
            parts.append(
                simulate(
                    _rows(rates, rows),
                    model,
                    years=years,
                    acceleration=_take_rows(acceleration, shape, rows),
                    loss_cal0=_take_rows(loss_cal0, shape, rows),
                    loss_cyc0=_take_rows(loss_cyc0, shape, rows),
                    conserve_throughput=conserve_throughput,
                    record_every=record_every,
                    iterations=iterations,
                )
            )
        return Trajectory.join(parts)
    col = (*shape, 1)
    accel = np.broadcast_to(np.asarray(acceleration, dtype=np.float64), shape).reshape(col)
    p_cal, p_cyc = model.calendar.exponent, model.cycle.exponent
    z_cal0 = np.broadcast_to(np.asarray(loss_cal0, dtype=np.float64), shape).reshape(col)
    z_cyc0 = np.broadcast_to(np.asarray(loss_cyc0, dtype=np.float64), shape).reshape(col)
    z_cal0, z_cyc0 = z_cal0 ** (1.0 / p_cal), z_cyc0 ** (1.0 / p_cyc)
    tiled = DayRates(*(_tiled(np.asarray(getattr(rates, f)), n_steps) for f in _FIELDS))
    dt = tiled.step_days
    z_cal = z_cal0 + np.cumsum(np.maximum(tiled.k_cal, 0.0) ** (1.0 / p_cal) * accel * dt, axis=-1)
    cal = np.concatenate([np.broadcast_to(z_cal0, col), z_cal], axis=-1) ** p_cal
    cyc = np.broadcast_to(z_cyc0**p_cyc, (*shape, n_steps + 1))
    for _ in range(max(iterations, 1)):
        capacity = np.maximum(1.0 - cal[..., :-1] - cyc[..., :-1], 1e-3)
        dod_eff, delivered = _coupling(tiled.dod, capacity, conserve_throughput)
        k_cyc = np.maximum(tiled.k_cyc_base + tiled.k_cyc_dod * dod_eff, 0.0)
        z_cyc = z_cyc0 + np.cumsum(
            k_cyc ** (1.0 / p_cyc) * accel * tiled.throughput * delivered, axis=-1
        )
        cyc = np.concatenate([np.broadcast_to(z_cyc0, col), z_cyc], axis=-1) ** p_cyc
    efc = np.concatenate([np.zeros(col), np.cumsum(tiled.efc * delivered, axis=-1)], axis=-1)
    times = np.concatenate([[0.0], np.cumsum(dt)]) / DAYS_PER_YEAR
    keep = np.arange(0, n_steps + 1, max(record_every, 1))
    if keep[-1] != n_steps:
        keep = np.append(keep, n_steps)
    return Trajectory(
        time_years=times[keep],
        loss_cal=np.ascontiguousarray(cal[..., keep]),
        loss_cyc=np.ascontiguousarray(cyc[..., keep]),
        efc=np.ascontiguousarray(np.broadcast_to(efc, cal.shape)[..., keep]),
    )


def years_to_loss(
    rates: DayRates,
    model: AgeingModel,
    *,
    max_loss: Array,
    horizon_years: float,
    acceleration: Array | float = 1.0,
    loss_cal0: Array | float = 0.0,
    loss_cyc0: Array | float = 0.0,
    conserve_throughput: bool = True,
) -> Array:
    """Years until each unit's total loss first reaches ``max_loss`` (``nan`` beyond the horizon).

    Streams through the steps without storing trajectories and stops once every unit has crossed,
    so it scales to many units × Monte-Carlo samples.
    """
    shape = _unit_shape(rates, None, max_loss, acceleration, loss_cal0, loss_cyc0)
    limit = np.broadcast_to(np.asarray(max_loss, dtype=np.float64), shape)
    previous = np.broadcast_to(
        np.asarray(loss_cal0, dtype=np.float64) + np.asarray(loss_cyc0, dtype=np.float64), shape
    ).copy()
    crossed = np.where(previous >= limit, 0.0, np.nan)
    last_years = 0.0
    for state in _advance(
        rates,
        model,
        years=horizon_years,
        shape=shape,
        acceleration=acceleration,
        loss_cal0=loss_cal0,
        loss_cyc0=loss_cyc0,
        conserve_throughput=conserve_throughput,
    ):
        loss = state.cal + state.cyc
        new = np.isnan(crossed) & (loss >= limit)
        if new.any():
            frac = (limit - previous) / np.where(loss > previous, loss - previous, 1.0)
            at = last_years + np.clip(frac, 0.0, 1.0) * (state.years - last_years)
            crossed = np.where(new, at, crossed)
            if not np.isnan(crossed).any():
                break
        previous, last_years = loss, state.years
    return crossed


def simulate_hourly(
    soc: Array,
    temperature_celsius: Array,
    model: AgeingModel,
    anode: AnodePotential,
    *,
    record_every: int = 365,
    chunk_units: int = 32,
    conserve_throughput: bool = True,
) -> Trajectory:
    """Simulate units that each have their own hourly profile, over the profile's length.

    Parameters
    ----------
    soc, temperature_celsius : array (units, hours)
        Hourly state of charge (0–1) and cell temperature [°C]; whole days.
    model, anode
        Ageing model and the anode-potential curve.
    record_every : int
        Days between recorded points (default: yearly).
    chunk_units : int
        Units processed together (bounds memory: ~10 arrays of chunk × hours floats).

    Returns
    -------
    Trajectory
        Rows = units.
    """
    s = np.atleast_2d(np.asarray(soc, dtype=np.float64))
    t = np.broadcast_to(np.asarray(temperature_celsius, dtype=np.float64), s.shape)
    years = s.shape[1] / 24 / DAYS_PER_YEAR
    parts = []
    for start in range(0, s.shape[0], chunk_units):
        stress = hourly_stressors(s[start : start + chunk_units], t[start : start + chunk_units])
        parts.append(
            simulate(
                day_rates(model, stress, anode),
                model,
                years=years,
                record_every=record_every,
                conserve_throughput=conserve_throughput,
            )
        )
    return Trajectory.join(parts)


def first_crossing(time: Array, value: Array, threshold: Array | float) -> Array:
    """Time at which each row of ``value`` first falls to ``threshold`` (linear interpolation).

    Rows that never reach it get ``nan``; rows already at or below it at the start get ``time[0]``.
    """
    v = np.atleast_2d(np.asarray(value, dtype=np.float64))
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), v.shape[:1])[:, None]
    below = v <= thr
    hit = below.any(axis=1)
    j = np.argmax(below, axis=1)
    jm = np.maximum(j - 1, 0)
    rows = np.arange(v.shape[0])
    v0, v1 = v[rows, jm], v[rows, j]
    t0, t1 = time[jm], time[j]
    frac = np.where(v0 > v1, (v0 - thr[:, 0]) / np.where(v0 > v1, v0 - v1, 1.0), 0.0)
    out = np.where(j == 0, time[0], t0 + np.clip(frac, 0.0, 1.0) * (t1 - t0))
    return np.where(hit, out, np.nan)
