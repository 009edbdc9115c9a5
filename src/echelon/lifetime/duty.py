"""Duty cycles: what a unit will do in its second life, as day-by-day stressors.

A :class:`Duty` is an hourly state-of-charge and cell-temperature profile over a period (usually one
year, repeated) or a set of summary statistics. The library of applications (canonical ids ``ess``,
``ups``, ``telecom``, ``fcr``, ``ebike``, ``auto12v``, ``lsv``, ``ev_reman``) lives in the catalogue
table ``lifetime_duties``; users bring their own as a time series (:meth:`Duty.from_timeseries`) or
as summary statistics (:meth:`Duty.from_summary`).

Stressors follow BLAST-Lite's per-segment definitions [S65] with one segment per day: equivalent
full cycles EFC = Σ|ΔSOC|/2, depth of discharge = max − min SOC, C-rate = time average of |dSOC/dt|
ignoring storage (< 0.01 /h), and rates averaged over the hourly temperature and SOC.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from echelon.catalog import load_table
from echelon.domain.parse import normalise_token, suggest
from echelon.errors import CatalogError, EstimationError
from echelon.lifetime.models import KELVIN

Array = npt.NDArray[np.float64]
HOURS_PER_DAY = 24
DAYS_PER_YEAR = 365
STORAGE_C_RATE = 0.01
"""|dSOC/dt| below this [1/h] counts as storage, not cycling (BLAST-Lite's convention)."""

CANONICAL_APPLICATIONS = ("ess", "ups", "telecom", "fcr", "ebike", "auto12v", "lsv", "ev_reman")
"""Application ids shared with ``echelon.routing``."""


@dataclass(frozen=True)
class DayStressors:
    """Stressors of a duty, one row per day of its period (repeated cyclically in simulations).

    Attributes
    ----------
    soc : array (days, samples)
        State of charge (0–1) at each sample of the day (hourly, or one mean value).
    temperature_k : array (days, samples)
        Cell temperature [K] at each sample.
    efc : array (days,)
        Equivalent full cycles per day (nominal basis).
    dod : array (days,)
        Depth of discharge of the day (0–1).
    c_rate : array (days,)
        Mean absolute C-rate while cycling [1/h].
    """

    soc: Array
    temperature_k: Array
    efc: Array
    dod: Array
    c_rate: Array

    @property
    def days(self) -> int:
        """Days in the period."""
        return int(self.efc.shape[-1])


@dataclass(frozen=True)
class Duty:
    """A duty cycle: hourly SOC and temperature over a period, or summary statistics.

    Attributes
    ----------
    name : str
        Application id (``ess``, ``ups``, …) or a user label.
    soc : array (hours,)
        Hourly state of charge (0–1); empty for summary duties.
    temperature_celsius : array (hours,)
        Hourly cell temperature [°C]; empty for summary duties.
    eol_soh_percent : float or None
        End-of-life threshold of the application [% of nominal capacity].
    summary : dict or None
        For :meth:`from_summary` duties: ``efc_per_year``, ``mean_soc``, ``dod``, ``c_rate``,
        ``temperature_celsius``.
    """

    name: str
    soc: Array
    temperature_celsius: Array
    eol_soh_percent: float | None = None
    eol_soh_percent_by_family: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    source: str = ""
    summary: Mapping[str, float] | None = None

    @classmethod
    def from_timeseries(
        cls,
        time_s: Array,
        soc: Array,
        temperature_celsius: Array | float,
        *,
        name: str = "user",
        eol_soh_percent: float | None = None,
    ) -> Duty:
        """A duty from a measured or planned profile (any sampling, resampled to hourly).

        Parameters
        ----------
        time_s : array
            Sample times [s], strictly increasing, spanning at least one day.
        soc : array
            State of charge (0–1) at each time.
        temperature_celsius : array or float
            Cell temperature [°C] at each time (or a constant).
        name : str
            Label of the duty.
        eol_soh_percent : float, optional
            End-of-life threshold [%].

        Raises
        ------
        EstimationError
            Non-increasing time, SOC outside 0–1, or less than a day of data.
        """
        t = np.asarray(time_s, dtype=np.float64)
        s = np.asarray(soc, dtype=np.float64)
        temp = np.broadcast_to(np.asarray(temperature_celsius, dtype=np.float64), t.shape)
        if t.ndim != 1 or t.shape != s.shape:
            raise EstimationError("duty time series: time_s and soc must be 1-D of equal length")
        if np.any(np.diff(t) <= 0):
            raise EstimationError("duty time series: time_s must be strictly increasing")
        if np.nanmin(s) < -1e-9 or np.nanmax(s) > 1 + 1e-9:
            raise EstimationError("duty time series: soc must be a fraction between 0 and 1")
        span_h = (t[-1] - t[0]) / 3600.0
        if span_h < HOURS_PER_DAY:
            raise EstimationError("duty time series: give at least one day of data")
        hours = t[0] + 3600.0 * np.arange(int(span_h // HOURS_PER_DAY) * HOURS_PER_DAY)
        return cls(
            name=name,
            soc=np.clip(np.interp(hours, t, s), 0.0, 1.0),
            temperature_celsius=np.interp(hours, t, temp),
            eol_soh_percent=eol_soh_percent,
            description="user time series",
        )

    @classmethod
    def from_summary(
        cls,
        *,
        efc_per_year: float,
        mean_soc: float,
        dod: float,
        temperature_celsius: float,
        c_rate: float = 0.5,
        name: str = "user",
        eol_soh_percent: float | None = None,
    ) -> Duty:
        """A duty from summary statistics (no time series).

        Parameters
        ----------
        efc_per_year : float
            Equivalent full cycles per year (charge throughput ÷ 2 × nominal capacity).
        mean_soc : float
            Time-averaged state of charge (0–1).
        dod : float
            Typical depth of discharge of a cycle (0–1).
        temperature_celsius : float
            Mean cell temperature [°C].
        c_rate : float
            Mean absolute C-rate while cycling [1/h].
        """
        checks = {
            "efc_per_year": (efc_per_year, 0.0, 5000.0),
            "mean_soc": (mean_soc, 0.0, 1.0),
            "dod": (dod, 0.0, 1.0),
            "temperature_celsius": (temperature_celsius, -40.0, 80.0),
            "c_rate": (c_rate, 0.0, 20.0),
        }
        for key, (value, low, high) in checks.items():
            if not low <= value <= high:
                raise EstimationError(f"duty summary: {key}={value} outside {low}–{high}")
        empty = np.zeros(0)
        summary = {
            "efc_per_year": efc_per_year,
            "mean_soc": mean_soc,
            "dod": dod,
            "c_rate": c_rate,
            "temperature_celsius": temperature_celsius,
        }
        return cls(name, empty, empty, eol_soh_percent, description="summary", summary=summary)

    def with_temperature(
        self,
        *,
        mean_celsius: float,
        seasonal_amplitude_celsius: float = 0.0,
        daily_amplitude_celsius: float = 0.0,
    ) -> Duty:
        """The same duty at another site's cell temperature (annual + daily cosines, see
        :func:`temperature_profile`); a summary duty takes the mean."""
        if self.summary is not None:
            return replace(self, summary={**self.summary, "temperature_celsius": mean_celsius})
        temp = temperature_profile(
            self.soc.size // HOURS_PER_DAY,
            mean=mean_celsius,
            seasonal_amplitude=seasonal_amplitude_celsius,
            daily_amplitude=daily_amplitude_celsius,
        )
        return replace(self, temperature_celsius=temp)

    def eol_for_family(self, family: str | None) -> float | None:
        """The end-of-life threshold [%] for a chemistry family (family override first)."""
        if family is not None and family in self.eol_soh_percent_by_family:
            return float(self.eol_soh_percent_by_family[family])
        return self.eol_soh_percent

    def stressors(self) -> DayStressors:
        """Day-by-day stressors of the duty's period."""
        if self.summary is not None:
            s = self.summary
            one = np.ones((1, 1))
            return DayStressors(
                soc=one * s["mean_soc"],
                temperature_k=one * (s["temperature_celsius"] + KELVIN),
                efc=np.array([s["efc_per_year"] / DAYS_PER_YEAR]),
                dod=np.array([s["dod"]]),
                c_rate=np.array([s["c_rate"]]),
            )
        return hourly_stressors(self.soc, self.temperature_celsius)

    def stats(self) -> dict[str, float]:
        """Yearly EFC, mean SOC, share of time at SOC ≥ 95 %, mean depth and temperature."""
        st = self.stressors()
        return {
            "efc_per_year": float(st.efc.mean() * DAYS_PER_YEAR),
            "mean_soc": float(st.soc.mean()),
            "time_at_soc_95_percent": float((st.soc >= 0.95).mean() * 100.0),
            "mean_daily_dod": float(st.dod.mean()),
            "mean_temperature_celsius": float(st.temperature_k.mean() - KELVIN),
        }


def hourly_stressors(soc: Array, temperature_celsius: Array) -> DayStressors:
    """Day stressors from hourly profiles; leading axes (units) are kept.

    Parameters
    ----------
    soc, temperature_celsius : array (..., hours)
        Hourly samples; the length must be a multiple of 24.
    """
    s = np.asarray(soc, dtype=np.float64)
    temp = np.asarray(temperature_celsius, dtype=np.float64)
    hours = s.shape[-1]
    if hours == 0 or hours % HOURS_PER_DAY:
        raise EstimationError(f"hourly profile needs whole days, got {hours} hours")
    lead = s.shape[:-1]
    days = hours // HOURS_PER_DAY
    step = np.abs(np.diff(s, axis=-1, prepend=s[..., :1]))
    by_day = step.reshape(*lead, days, HOURS_PER_DAY)
    soc_d = s.reshape(*lead, days, HOURS_PER_DAY)
    moving = np.where(by_day < STORAGE_C_RATE, 0.0, by_day)
    return DayStressors(
        soc=soc_d,
        temperature_k=temp.reshape(*lead, days, HOURS_PER_DAY) + KELVIN,
        efc=by_day.sum(axis=-1) / 2.0,
        dod=soc_d.max(axis=-1) - soc_d.min(axis=-1),
        c_rate=moving.mean(axis=-1),
    )


# --------------------------------------------------------------------------------------------------
# Catalogue duties


def temperature_profile(
    days: int, *, mean: float, seasonal_amplitude: float, daily_amplitude: float
) -> Array:
    """Hourly cell temperature [°C]: annual cosine peaking mid-July plus a daily cosine at 15:00."""
    hour = np.arange(days * HOURS_PER_DAY, dtype=np.float64)
    day = hour // HOURS_PER_DAY
    return np.asarray(
        mean
        + seasonal_amplitude * np.cos(2 * np.pi * (day - 196.0) / DAYS_PER_YEAR)
        + daily_amplitude * np.cos(2 * np.pi * ((hour % HOURS_PER_DAY) - 15.0) / HOURS_PER_DAY),
        dtype=np.float64,
    )


def _daily_knots(spec: Mapping[str, Any]) -> Array:
    hours = np.arange(HOURS_PER_DAY, dtype=np.float64)
    return np.asarray(np.interp(hours, spec["knots_hour"], spec["knots_soc"]), dtype=np.float64)


def _daily_profile(spec: Mapping[str, Any], days: int) -> Array:
    shape = _daily_knots(spec)
    top = float(np.max(spec["knots_soc"]))
    day = np.arange(days)
    depth = 1.0 + spec.get("depth_seasonal_amplitude", 0.0) * np.cos(
        2 * np.pi * (day - spec.get("depth_peak_day", 172)) / DAYS_PER_YEAR
    )
    active = (day % 7) < spec.get("active_days_per_week", 7)
    soc = top - (top - shape[None, :]) * depth[:, None]
    soc = np.where(active[:, None], soc, spec.get("rest_soc", top))
    return np.asarray(np.clip(soc, 0.0, 1.0).ravel(), dtype=np.float64)


def _float_profile(spec: Mapping[str, Any], days: int) -> Array:
    level = float(spec["float_soc"])
    soc = np.full((days, HOURS_PER_DAY), level)
    cycle_days = int(spec.get("cycle_days_per_year", 0))
    if cycle_days:
        chosen = np.linspace(0, days - 1, cycle_days).round().astype(int)
        soc[chosen] = _daily_knots(spec)
    events = int(spec.get("events_per_year", 0))
    for d in np.linspace(3, days - 3, events).round().astype(int) if events else []:
        dod, down, up = (
            float(spec["event_dod"]),
            int(spec["event_hours"]),
            int(spec["recharge_hours"]),
        )
        start = 10  # outages and self-tests during the working day [assumption]
        ramp_down = level - dod * np.arange(1, down + 1) / down
        ramp_up = level - dod + dod * np.arange(1, up + 1) / up
        soc[d, start : start + down] = ramp_down
        soc[d, start + down : start + down + up] = ramp_up
    return np.asarray(np.clip(soc, 0.0, 1.0).ravel(), dtype=np.float64)


def _random_walk_profile(spec: Mapping[str, Any], days: int) -> Array:
    rng = np.random.default_rng(int(spec["seed"]))
    n = days * HOURS_PER_DAY
    steps = rng.normal(0.0, float(spec["step_sd"]), n)
    soc = np.empty(n)
    level = float(spec["mean_soc"])
    lo, hi, pull = float(spec["soc_min"]), float(spec["soc_max"]), float(spec["reversion_per_hour"])
    for i in range(n):
        level = min(max(level + steps[i] + pull * (spec["mean_soc"] - level), lo), hi)
        soc[i] = level
    return soc


_PROFILES = {"daily": _daily_profile, "float": _float_profile, "random_walk": _random_walk_profile}


@functools.lru_cache(maxsize=8)
def _duty_table(catalog_dir: Path | None) -> dict[str, Any]:
    return load_table("lifetime_duties", catalog_dir=catalog_dir)


def resolve_application(name: str, *, catalog_dir: Path | None = None) -> str:
    """Canonical application id of a spelling (canonical ids and route-table aliases accepted).

    Raises
    ------
    EstimationError
        For an unknown application, with the closest known id.
    """
    doc = _duty_table(catalog_dir)
    duties = doc.get("duty", {})
    token = normalise_token(name)
    for key in duties:
        if normalise_token(key) == token:
            return str(key)
    aliases = {normalise_token(k): v for k, v in doc.get("aliases", {}).items() if k != "source"}
    if token in aliases and aliases[token] in duties:
        return str(aliases[token])
    known = sorted(duties)
    raise EstimationError(
        f"unknown application or duty {name!r}{suggest(name, known)}; known: {', '.join(known)} "
        "(in Python, application= also takes a Duty from Duty.from_summary / Duty.from_timeseries)"
    )


@functools.lru_cache(maxsize=32)
def _catalogue_duty(key: str, catalog_dir: Path | None) -> Duty:
    spec = _duty_table(catalog_dir)["duty"][key]
    kind = spec.get("kind")
    if kind not in _PROFILES:
        raise CatalogError(f"lifetime_duties table, record {key!r}: unknown kind {kind!r}")
    try:
        soc = _PROFILES[kind](spec, DAYS_PER_YEAR)
        temp = temperature_profile(
            DAYS_PER_YEAR,
            mean=float(spec["temperature_mean_celsius"]),
            seasonal_amplitude=float(spec["temperature_seasonal_amplitude_celsius"]),
            daily_amplitude=float(spec["temperature_daily_amplitude_celsius"]),
        )
        eol = float(spec["eol_soh_percent"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"lifetime_duties table, record {key!r}: {exc}") from exc
    by_family = {str(k): float(v) for k, v in spec.get("eol_soh_percent_by_family", {}).items()}
    soc.setflags(write=False)
    temp.setflags(write=False)
    return Duty(
        name=key,
        soc=soc,
        temperature_celsius=temp,
        eol_soh_percent=eol,
        eol_soh_percent_by_family=by_family,
        description=str(spec.get("description", "")),
        source=str(spec.get("source", "")),
    )


def duty(name: str, *, catalog_dir: Path | None = None) -> Duty:
    """A catalogue duty by application id or alias (one year, hourly)."""
    return _catalogue_duty(resolve_application(name, catalog_dir=catalog_dir), catalog_dir)


def duty_names(*, catalog_dir: Path | None = None) -> list[str]:
    """Application ids of the catalogue duties."""
    return sorted(_duty_table(catalog_dir).get("duty", {}))
