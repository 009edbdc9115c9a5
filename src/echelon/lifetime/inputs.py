"""Checks of a single-SOH forecast's inputs, shared by :func:`~echelon.lifetime.forecast_unit`
and :func:`~echelon.lifetime.expected_life_years`.

A forecast from one SOH extrapolates far from its inputs, so an invalid input does not give a
slightly wrong answer but the most optimistic or pessimistic one (an SOH of NaN or 150 % gave the
40-year cap, an SOH written as a fraction 0 years). These checks refuse such inputs with the
reason; :func:`~echelon.lifetime.params.origin_key` does the same for the origin application.
"""

from __future__ import annotations

import math
from pathlib import Path

from echelon.domain.plausible import implausible
from echelon.errors import EstimationError
from echelon.lifetime.duty import Duty, duty, resolve_application
from echelon.lifetime.params import settings


def unit_problem(
    soh_percent: float, age_years: float, *, catalog_dir: Path | None = None
) -> str | None:
    """Why a unit's SOH or age cannot be forecast from, or ``None``.

    Parameters
    ----------
    soh_percent : float
        Measured SOH [% of nominal]: refused when not finite, outside the plausible range of
        :data:`echelon.domain.plausible.PLAUSIBLE` (an SOH written as a fraction gets the
        "write 85" hint) or above the catalogue ``single_soh.max_soh_percent`` (110 %).
    age_years : float
        Age at the start of the second life [years]; ``nan`` = unknown; refused when negative.
    """
    why = implausible("soh_percent", soh_percent)
    if why is not None:
        return f"SOH {why}"
    high = float(settings(catalog_dir).single_soh["max_soh_percent"])
    if soh_percent > high:
        return (
            f"SOH {soh_percent:g} % is above {high:g} % of nominal: no fade to start from; check "
            "the nominal capacity the SOH was computed from"
        )
    if math.isfinite(age_years) and age_years < 0:
        return f"age {age_years:.3g} years is negative (a manufacture date after the as-of date?)"
    return None


def resolve_target(application: str | Duty, *, catalog_dir: Path | None = None) -> tuple[str, Duty]:
    """The application id (a user duty's name) and the duty of ``application``.

    Parameters
    ----------
    application : str or Duty
        A catalogue application id or alias, or a :class:`~echelon.lifetime.Duty` (from
        :meth:`~echelon.lifetime.Duty.from_summary`, :meth:`~echelon.lifetime.Duty.from_timeseries`
        or a catalogue duty changed with :meth:`~echelon.lifetime.Duty.with_temperature`).

    Raises
    ------
    EstimationError
        An unknown application (with the closest id), or not a str or Duty.
    """
    if isinstance(application, Duty):
        return application.name, application
    if not isinstance(application, str):
        raise EstimationError(
            f"application must be an application id or a Duty, not {type(application).__name__}"
        )
    key = resolve_application(application, catalog_dir=catalog_dir)
    return key, duty(key, catalog_dir=catalog_dir)


def threshold_problem(target: Duty, family: str | None) -> str | None:
    """Why ``target`` gives no end-of-life threshold for ``family`` (a user duty without one)."""
    if target.eol_for_family(family) is not None:
        return None
    return (
        f"duty {target.name!r} has no end-of-life threshold: give eol_soh_percent= to "
        "Duty.from_summary / Duty.from_timeseries"
    )
