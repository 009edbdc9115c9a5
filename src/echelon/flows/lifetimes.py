"""Lifetime distributions of batteries in use, from a mean and a standard deviation.

Dynamic material-flow models describe when a battery put on the market leaves its use with a
lifetime distribution: logistic (Busch et al.), normal (Aguilar Lopez et al.) or Weibull (Wu et al.
2020; the EU-27 study of *J. Clean. Prod.* 393 (2023) 136349). Each is parametrised here by its mean
and standard deviation [years] and truncated at zero (a lifetime is not negative); the Weibull shape
and scale are the method-of-moments equivalents (shared/reference/recycling-passport-flows.md §4.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special, stats

from echelon.errors import UsageError, check_choice

Distribution = Literal["logistic", "normal", "weibull"]
DISTRIBUTIONS: tuple[Distribution, ...] = ("logistic", "normal", "weibull")


def weibull_from_moments(mean_years: float, sd_years: float) -> tuple[float, float]:
    """Weibull ``(shape k, scale λ [years])`` with the given mean and standard deviation.

    Solves CV² = Γ(1 + 2/k) / Γ(1 + 1/k)² − 1 for ``k``; ``λ = mean / Γ(1 + 1/k)``.
    """
    cv = sd_years / mean_years

    def gap(k: float) -> float:
        g1, g2 = special.gamma(1 + 1 / k), special.gamma(1 + 2 / k)
        return float(g2 / g1**2 - 1 - cv**2)

    shape = float(optimize.brentq(gap, 0.2, 100.0))
    return shape, mean_years / float(special.gamma(1 + 1 / shape))


@dataclass(frozen=True)
class Lifetime:
    """A lifetime distribution [years], truncated at zero.

    Attributes
    ----------
    distribution : {"logistic", "normal", "weibull"}
    mean_years, sd_years : float
        Mean and standard deviation of the untruncated distribution.
    """

    distribution: Distribution
    mean_years: float
    sd_years: float

    def __post_init__(self) -> None:
        check_choice("distribution", self.distribution, DISTRIBUTIONS)
        if not (math.isfinite(self.mean_years) and self.mean_years > 0):
            raise UsageError(f"mean_years={self.mean_years!r}: give a positive number of years")
        if not (math.isfinite(self.sd_years) and self.sd_years > 0):
            raise UsageError(f"sd_years={self.sd_years!r}: give a positive number of years")

    def _frozen(self) -> stats.rv_continuous:
        if self.distribution == "logistic":
            return stats.logistic(self.mean_years, self.sd_years * math.sqrt(3) / math.pi)
        if self.distribution == "normal":
            return stats.norm(self.mean_years, self.sd_years)
        shape, scale = weibull_from_moments(self.mean_years, self.sd_years)
        return stats.weibull_min(shape, scale=scale)

    def cdf(self, age_years: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """P(lifetime ≤ age), truncated at zero."""
        dist = self._frozen()
        at_zero = float(dist.cdf(0.0))
        ages = np.maximum(np.asarray(age_years, dtype=np.float64), 0.0)
        return np.asarray((dist.cdf(ages) - at_zero) / (1.0 - at_zero), dtype=np.float64)

    def quantile(self, probability: float) -> float:
        """The age [years] by which ``probability`` of the units have left their use."""
        dist = self._frozen()
        at_zero = float(dist.cdf(0.0))
        return float(dist.ppf(at_zero + probability * (1.0 - at_zero)))
