"""The inflow-driven cohort model with a second-life branch (pure numpy).

Batteries put on the market in year ``c`` leave their first use in year ``c + a`` (sales mid-year,
a lifetime ``T`` rounded to the year: ``a = ⌊T + ½⌋``). With a **vehicle** lifetime as well, this
is the product–component model of Busch et al. (2025, ``Survival_EV_LIB.R``): in each year of age a
unit still in use has a chance that its vehicle is scrapped and one that its battery fails,
independent of each other; a battery that fails (whether or not its vehicle is scrapped the same
year) goes to recycling, a healthy battery from a scrapped vehicle is *available*. Without a vehicle
lifetime every unit leaving its first use is available. Of the available units that leave at an age
of at most ``second_life_max_age_years``, a share enters a second life and leaves it at a total age
drawn from the second-life distribution given the age it has reached (Busch et al.,
``03-StationaryStorageStock.R``); everything else goes to recycling. The model is linear in the
inflow, so the same kernels move kWh, units or tonnes. Not modelled: replacement batteries for
vehicles whose battery failed (new sales, to be given as such) and reuse in another vehicle (Busch's
default share 0).

References
----------
Busch, P. et al. (submitted 2025), end-of-life lithium-ion batteries in North America,
github.com/pmbusch/EoL-LIB-NorthAmerica (Scripts/Functions/Survival_EV_LIB.R, Scripts/Run Model).
Pauliuk, S. & Heeren, N. (2020), ODYM — an open software framework for studying dynamic material
systems, *J. Ind. Ecol.* 24, 446–458, doi:10.1111/jiec.12952.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from echelon.errors import UsageError
from echelon.flows.lifetimes import Lifetime

F64 = NDArray[np.float64]


def leaving_probabilities(lifetime: Lifetime, max_age_years: int) -> F64:
    """``p[a]``, a = 0 … ``max_age_years``: probability of leaving use in the a-th year after the
    year of sale (the last entry takes everything older)."""
    edges = np.arange(max_age_years + 1, dtype=np.float64) + 0.5
    cdf = lifetime.cdf(edges)
    p = np.diff(np.concatenate([[0.0], cdf]))
    p[-1] += 1.0 - cdf[-1]
    return p


def _hazard(lifetime: Lifetime | None, max_age_years: int) -> F64:
    """Chance of ending in year of age a given use up to its start (1 in the last year)."""
    if lifetime is None:
        return np.zeros(max_age_years + 1)
    upper = lifetime.cdf(np.arange(max_age_years + 1, dtype=np.float64) + 0.5)
    lower = np.concatenate([[0.0], upper[:-1]])
    alive = 1.0 - lower
    hazard = np.divide(upper - lower, alive, out=np.ones_like(alive), where=alive > 0)
    hazard[-1] = 1.0
    return np.asarray(np.clip(hazard, 0.0, 1.0), dtype=np.float64)


def exit_probabilities(
    battery: Lifetime, vehicle: Lifetime | None, max_age_years: int
) -> tuple[F64, F64]:
    """``(available, failed)`` by year of age: the probability that a unit leaves its first use
    in year a with a healthy battery (its vehicle scrapped first) or a failed one.

    Without a vehicle lifetime every unit leaving is available (``failed`` is zero).
    """
    if vehicle is None:
        p = leaving_probabilities(battery, max_age_years)
        return p, np.zeros_like(p)
    hb, hv = _hazard(battery, max_age_years), _hazard(vehicle, max_age_years)
    survival = np.concatenate([[1.0], np.cumprod((1 - hb) * (1 - hv))[:-1]])
    available = survival * hv * (1 - hb)
    failed = survival * hb  # the battery fails, the vehicle scrapped that year or not
    return available, failed


@dataclass(frozen=True)
class CohortFlows:
    """Yearly flows of one inflow series (same unit as the inflow, per calendar year).

    Attributes
    ----------
    retired : array
        Leaving first use.
    available : array
        Of ``retired``, with a healthy battery (all of it without a vehicle lifetime).
    to_second_life : array
        Of ``retired``, entering a second life.
    retired_second_life : array
        Leaving second life (to recycling).
    to_recycling : array
        ``retired − to_second_life + retired_second_life``.
    stock_first_life, stock_second_life : array
        In use at the end of each year.
    """

    retired: F64
    available: F64
    to_second_life: F64
    retired_second_life: F64
    to_recycling: F64
    stock_first_life: F64
    stock_second_life: F64


def cohort_flows(
    inflow: F64,
    first_life: Lifetime,
    *,
    vehicle: Lifetime | None = None,
    second_life: Lifetime | None = None,
    second_life_share: float = 0.0,
    second_life_max_age_years: int = 0,
    max_age_years: int = 60,
) -> CohortFlows:
    """Flows of an inflow series through first use, second life and recycling.

    Parameters
    ----------
    inflow : array
        Put on the market per year (index 0 = the first year), any unit.
    first_life : Lifetime
        Lifetime of the battery in its first use.
    vehicle : Lifetime, optional
        Lifetime of the product it serves (a vehicle); see the module docstring.
    second_life : Lifetime, optional
        Total age at the end of a second life.
    second_life_share : float
        Share of available units leaving first use at an age ≤ ``second_life_max_age_years`` that
        enter a second life (0–1).
    max_age_years : int
        Oldest age modelled; older units are taken out in that year.

    Returns
    -------
    CohortFlows
        Arrays as long as ``inflow``: flows beyond the last year are not reported.
    """
    if not 0.0 <= second_life_share <= 1.0:
        raise UsageError(f"second_life_share={second_life_share}: give a share between 0 and 1")
    n = inflow.size
    p_available, p_failed = exit_probabilities(first_life, vehicle, max_age_years)
    by_age = np.zeros((n, max_age_years + 1))  # [year, age] leaving first use, available
    failed = np.zeros(n)
    for age in range(max_age_years + 1):
        cohort = inflow[: max(n - age, 0)]
        by_age[age:, age] = cohort * p_available[age]
        failed[age:] += cohort * p_failed[age]
    available = by_age.sum(axis=1)
    retired = available + failed
    stock_first = np.cumsum(inflow) - np.cumsum(retired)
    entering = np.zeros_like(by_age)
    second_retired = np.zeros(n)
    if second_life is not None and second_life_share > 0:
        top = min(second_life_max_age_years, max_age_years)
        entering[:, : top + 1] = by_age[:, : top + 1] * second_life_share
        total = np.arange(max_age_years + 2, dtype=np.float64) + 0.5
        cdf2 = second_life.cdf(total)
        for age in range(top + 1):
            survived = 1.0 - cdf2[age]
            if survived <= 0:  # certain to have ended already: leaves the year it enters
                second_retired += entering[:, age]
                continue
            kernel = np.diff(cdf2[age:]) / survived  # leaving d = 1, 2, … years after entry
            kernel[-1] += 1.0 - kernel.sum()
            out = np.convolve(entering[:, age], np.concatenate([[0.0], kernel]))[:n]
            second_retired += out
    to_second = entering.sum(axis=1)
    stock_second = np.cumsum(to_second) - np.cumsum(second_retired)
    return CohortFlows(
        retired=retired,
        available=available,
        to_second_life=to_second,
        retired_second_life=second_retired,
        to_recycling=retired - to_second + second_retired,
        stock_first_life=stock_first,
        stock_second_life=stock_second,
    )
