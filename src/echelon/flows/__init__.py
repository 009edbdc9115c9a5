"""Retired-battery flows: what is coming, when, and what it is worth (see docs/flows.md)."""

from echelon.flows.cohort import CohortFlows, cohort_flows, leaving_probabilities
from echelon.flows.forecast import FLOWS, FlowForecast, forecast_flows
from echelon.flows.lifetimes import Lifetime, weibull_from_moments
from echelon.flows.sales import normalise_sales, read_sales

__all__ = [
    "FLOWS",
    "CohortFlows",
    "FlowForecast",
    "Lifetime",
    "cohort_flows",
    "forecast_flows",
    "leaving_probabilities",
    "normalise_sales",
    "read_sales",
    "weibull_from_moments",
]
