"""Second-life lifetime forecasting: semi-empirical ageing models, duty cycles, fits with intervals.

* :mod:`~echelon.lifetime.models`, :mod:`~echelon.lifetime.simulator` — calendar + cycle fade models
  per chemistry family (catalogue ``lifetime_models``) and a vectorised simulator.
* :mod:`~echelon.lifetime.duty` — the duty-cycle library (``ess``, ``ups``, ``telecom``, ``fcr``,
  ``ebike``, ``auto12v``, ``lsv``, ``ev_reman``) and user profiles.
* :mod:`~echelon.lifetime.second_life`, :mod:`~echelon.lifetime.unit` — years to an application's
  threshold from one SOH measurement (Monte Carlo), packs from their blocks;
  :func:`expected_life_years` is the router's vectorised entry point.
* :mod:`~echelon.lifetime.trajectory`, :mod:`~echelon.lifetime.history` — forecasts from observed
  capacity trajectories (reference ensemble with calibrated intervals), knee indicators.
* :mod:`~echelon.lifetime.validation` — back-tests on NASA, CALCE and Severson/MATR data.

See docs/lifetime.md.
"""

from echelon.lifetime.duty import (
    CANONICAL_APPLICATIONS,
    Duty,
    duty,
    duty_names,
    resolve_application,
)
from echelon.lifetime.history import FORECAST_SCHEMA, forecast_histories, read_history
from echelon.lifetime.params import AgeingModel, model_for, model_table
from echelon.lifetime.second_life import expected_life_years, pack_life_years
from echelon.lifetime.simulator import day_rates, simulate, years_to_loss
from echelon.lifetime.trajectory import (
    CycleForecast,
    History,
    clean_history,
    ensemble_forecast,
    knee_indicators,
    reference_set,
)
from echelon.lifetime.unit import UnitForecast, forecast_unit

__all__ = [
    "CANONICAL_APPLICATIONS",
    "FORECAST_SCHEMA",
    "AgeingModel",
    "CycleForecast",
    "Duty",
    "History",
    "UnitForecast",
    "clean_history",
    "day_rates",
    "duty",
    "duty_names",
    "ensemble_forecast",
    "expected_life_years",
    "forecast_histories",
    "forecast_unit",
    "knee_indicators",
    "model_for",
    "model_table",
    "pack_life_years",
    "read_history",
    "reference_set",
    "resolve_application",
    "simulate",
    "years_to_loss",
]
