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
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special

from echelon.errors import UsageError, check_choice

Distribution = Literal["logistic", "normal", "weibull"]
WEIBULL_CV = (0.02, 10.0)
"""Coefficients of variation a Weibull lifetime can take here (shape ≈ 0.2 to 70)."""
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
        spread = self.sd_years / self.mean_years
        if self.distribution == "weibull" and not WEIBULL_CV[0] <= spread <= WEIBULL_CV[1]:
            raise UsageError(
                f"a Weibull lifetime of {self.mean_years:g} ± {self.sd_years:g} years: the spread "
                f"(sd ÷ mean = {spread:.3g}) must lie in {WEIBULL_CV[0]}–{WEIBULL_CV[1]}"
            )

    @cached_property
    def _scale(self) -> tuple[float, float]:
        """``(location, scale)`` for logistic and normal, ``(shape, scale)`` for Weibull."""
        if self.distribution == "logistic":
            return self.mean_years, self.sd_years * math.sqrt(3) / math.pi
        if self.distribution == "normal":
            return self.mean_years, self.sd_years
        return weibull_from_moments(self.mean_years, self.sd_years)

    def _raw_cdf(self, age_years: NDArray[np.float64]) -> NDArray[np.float64]:
        a, b = self._scale
        if self.distribution == "logistic":
            return np.asarray(special.expit((age_years - a) / b), dtype=np.float64)
        if self.distribution == "normal":
            return np.asarray(special.ndtr((age_years - a) / b), dtype=np.float64)
        positive = np.maximum(age_years, 0.0)
        return np.asarray(-np.expm1(-((positive / b) ** a)), dtype=np.float64)

    def _raw_quantile(self, probability: float) -> float:
        a, b = self._scale
        if self.distribution == "logistic":
            return float(a + b * special.logit(probability))
        if self.distribution == "normal":
            return float(a + b * special.ndtri(probability))
        return float(b * (-math.log1p(-probability)) ** (1 / a))

    def cdf(self, age_years: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """P(lifetime ≤ age), truncated at zero."""
        at_zero = float(self._raw_cdf(np.zeros(1))[0])
        ages = np.maximum(np.asarray(age_years, dtype=np.float64), 0.0)
        return (self._raw_cdf(ages) - at_zero) / (1.0 - at_zero)

    def quantile(self, probability: float) -> float:
        """The age [years] by which ``probability`` of the units have left their use."""
        at_zero = float(self._raw_cdf(np.zeros(1))[0])
        return self._raw_quantile(at_zero + probability * (1.0 - at_zero))
