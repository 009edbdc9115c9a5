"""The inflow-driven cohort model with a second-life branch (pure numpy).

Units put on the market in year ``c`` leave their first use in year ``c + a`` with probability
``p[a]`` (sales mid-year, a lifetime ``T`` rounded to the year: ``a = ⌊T + ½⌋``). Of those that
leave at an age ``a ≤ max_age``, a share enters a second life (Busch et al.: stationary storage) and
leaves it at a total age drawn from the second-life distribution given that it has survived to
``a`` (Busch et al. 2025, ``03-StationaryStorageStock.R``); the rest go to recycling. Everything is
linear in the inflow, so the same kernel moves kWh, units or tonnes.

References
----------
Busch, P. et al. (submitted 2025), end-of-life lithium-ion batteries in North America,
github.com/pmbusch/EoL-LIB-NorthAmerica. Pauliuk, S. & Heeren, N. (2020), ODYM — an open software
framework for studying dynamic material systems, *J. Ind. Ecol.* 24, 446–458,
doi:10.1111/jiec.12952.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

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


@dataclass(frozen=True)
class CohortFlows:
    """Yearly flows of one inflow series (same unit as the inflow, per calendar year).

    Attributes
    ----------
    retired : array
        Leaving first use.
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
    to_second_life: F64
    retired_second_life: F64
    to_recycling: F64
    stock_first_life: F64
    stock_second_life: F64


def cohort_flows(
    inflow: F64,
    first_life: Lifetime,
    *,
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
    first_life, second_life : Lifetime
        Lifetime in first use; total age at the end of a second life.
    second_life_share : float
        Share of units leaving first use at an age ≤ ``second_life_max_age_years`` that enter a
        second life (0–1).
    max_age_years : int
        Oldest age modelled; older units are taken out in that year.

    Returns
    -------
    CohortFlows
        Arrays as long as ``inflow``: flows beyond the last year are not reported.
    """
    if not 0.0 <= second_life_share <= 1.0:
        raise ValueError(f"second_life_share={second_life_share}: give a share between 0 and 1")
    n = inflow.size
    p = leaving_probabilities(first_life, max_age_years)
    by_age = np.zeros((n, max_age_years + 1))  # [year, age] leaving first use
    for age, prob in enumerate(p):
        by_age[age:, age] = inflow[: max(n - age, 0)] * prob
    retired = by_age.sum(axis=1)
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
        to_second_life=to_second,
        retired_second_life=second_retired,
        to_recycling=retired - to_second + second_retired,
        stock_first_life=stock_first,
        stock_second_life=stock_second,
    )
