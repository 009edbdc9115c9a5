"""Application routing and the reuse-or-recycle decision, per jurisdiction.

``route_table`` lists, for every graded unit, each second-life application it may serve with its
fit (series configuration in the voltage window, resistance against the application's R_max,
energy) and value, then chooses the application of highest value — or recycling when that is worth
more. Applications, regulations, prices and costs are catalogue data; the two value inputs
(:func:`expected_second_life_years` from ``echelon.lifetime``, :func:`recycling_value_usd` from
``echelon.recycling``) keep the stable signatures of the placeholders they replaced.
"""

from echelon.routing.applications import (
    ApplicationCatalog,
    ApplicationSpec,
    Regulation,
    load_applications,
    series_options,
    window_fractions,
)
from echelon.routing.economics import Economics, load_economics, parse_overrides
from echelon.routing.explain import (
    fits_summary,
    route_conditions,
    route_decision,
    route_summary,
)
from echelon.routing.placeholders import (
    age_at,
    expected_second_life_years,
    recycling_value_frame,
    recycling_value_usd,
)
from echelon.routing.router import (
    MISFIT_BITS,
    ROUTE_BASES,
    RoutingInputs,
    configuration_table,
    rmax_ohm,
    route_table,
    routing_inputs,
    with_configuration,
)

__all__ = [
    "MISFIT_BITS",
    "ROUTE_BASES",
    "ApplicationCatalog",
    "ApplicationSpec",
    "Economics",
    "Regulation",
    "RoutingInputs",
    "age_at",
    "configuration_table",
    "expected_second_life_years",
    "fits_summary",
    "load_applications",
    "load_economics",
    "parse_overrides",
    "recycling_value_frame",
    "recycling_value_usd",
    "rmax_ohm",
    "route_conditions",
    "route_decision",
    "route_summary",
    "route_table",
    "routing_inputs",
    "series_options",
    "window_fractions",
    "with_configuration",
]
