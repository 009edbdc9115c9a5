"""The lifetime distributions and the cohort model: known answers and conservation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from echelon.errors import UsageError
from echelon.flows import Lifetime, cohort_flows, leaving_probabilities, weibull_from_moments


@pytest.mark.parametrize(
    ("mean", "sd", "shape", "scale", "p10", "p50", "p90"),
    [  # shared/reference/recycling-passport-flows.md §4.2, the [D] Weibull table (2 decimals)
        (12, 4, 3.30, 13.38, 6.8, 12.0, 17.2),
        (15, 4, 4.23, 16.50, 9.7, 15.1, 20.1),
        (16, 4, 4.54, 17.52, 10.7, 16.2, 21.1),
        (17, 4, 4.85, 18.55, 11.7, 17.2, 22.0),
        (10, 3, 3.71, 11.08, 6.0, 10.0, 13.9),
        (8, 4, 2.10, 9.03, 3.1, 7.6, 13.4),
    ],
)
def test_weibull_equivalents_match_the_reference_table(
    mean: float, sd: float, shape: float, scale: float, p10: float, p50: float, p90: float
) -> None:
    k, lam = weibull_from_moments(mean, sd)
    assert (round(k, 2), round(lam, 2)) == (shape, scale)
    life = Lifetime("weibull", mean, sd)
    assert [round(life.quantile(q), 1) for q in (0.1, 0.5, 0.9)] == [p10, p50, p90]


@pytest.mark.parametrize("distribution", ["logistic", "normal", "weibull"])
def test_lifetimes_are_truncated_at_zero(distribution: str) -> None:
    life = Lifetime(distribution, 8, 4)  # type: ignore[arg-type]
    cdf = life.cdf(np.array([-1.0, 0.0, 4.0, 8.0, 30.0, 200.0]))
    assert cdf[0] == cdf[1] == 0.0
    assert np.all(np.diff(cdf) >= 0)
    assert cdf[-1] == pytest.approx(1.0)


def test_a_lifetime_needs_positive_years() -> None:
    with pytest.raises(UsageError, match="mean_years"):
        Lifetime("normal", 0, 4)
    with pytest.raises(UsageError, match="distribution='gamma'"):
        Lifetime("gamma", 10, 4)  # type: ignore[arg-type]


def _pulse(years: int = 150) -> np.ndarray:
    inflow = np.zeros(years)
    inflow[0] = 1000.0
    return inflow


def test_everything_put_on_the_market_comes_back() -> None:
    flows = cohort_flows(
        _pulse(),
        Lifetime("logistic", 15, 4),
        second_life=Lifetime("logistic", 20, 4),
        second_life_share=0.5,
        second_life_max_age_years=12,
    )
    assert flows.retired.sum() == pytest.approx(1000.0)
    assert flows.to_recycling.sum() == pytest.approx(1000.0)
    assert flows.to_second_life.sum() == pytest.approx(flows.retired_second_life.sum())
    assert flows.stock_first_life[-1] == pytest.approx(0.0, abs=1e-9)
    assert flows.stock_second_life[-1] == pytest.approx(0.0, abs=1e-9)
    assert np.all(flows.stock_second_life >= -1e-9)
    # only units leaving at ≤ 12 years, half of them: P(T ≤ 12.5) / 2 of the pulse
    young = Lifetime("logistic", 15, 4).cdf(12.5)
    assert flows.to_second_life.sum() == pytest.approx(500 * young, rel=1e-9)


def test_mean_age_at_retirement_is_the_mean_lifetime() -> None:
    flows = cohort_flows(_pulse(), Lifetime("normal", 15, 4))
    ages = np.arange(flows.retired.size)
    assert (ages * flows.retired).sum() / 1000 == pytest.approx(15.0, abs=0.01)
    assert np.array_equal(flows.retired, flows.to_recycling)  # no second life asked for


def test_the_model_is_linear_and_time_invariant() -> None:
    life = Lifetime("weibull", 12, 4)
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 100, 80), rng.uniform(0, 100, 80)
    kw = {"second_life": Lifetime("normal", 18, 3), "second_life_share": 0.3,
          "second_life_max_age_years": 10}  # fmt: skip
    fa, fb, fab = (cohort_flows(x, life, **kw) for x in (a, b, 2 * a + b))  # type: ignore[arg-type]
    assert np.allclose(fab.to_recycling, 2 * fa.to_recycling + fb.to_recycling)
    shifted = cohort_flows(np.concatenate([[0.0], a[:-1]]), life, **kw)  # type: ignore[arg-type]
    for name in ("retired", "to_second_life", "retired_second_life", "stock_second_life"):
        assert np.allclose(getattr(shifted, name)[1:], getattr(fa, name)[:-1])


def test_a_second_life_ends_after_the_age_it_starts_at() -> None:
    """Units entering a second life at age 12 leave it, on average, at E[T | T > 12.5]."""
    second = Lifetime("logistic", 20, 4)
    first = Lifetime("normal", 12.0, 1e-6)  # every unit leaves its first use at 12
    flows = cohort_flows(
        _pulse(200), first, second_life=second, second_life_share=1.0, second_life_max_age_years=12
    )
    assert flows.to_second_life[12] == pytest.approx(1000.0)
    ages = np.arange(flows.retired_second_life.size)
    observed = (ages * flows.retired_second_life).sum() / 1000
    logistic = stats.logistic(20, 4 * np.sqrt(3) / np.pi)  # an independent implementation
    survived = logistic.sf(12.5)
    expected = integrate.quad(lambda t: t * logistic.pdf(t), 12.5, np.inf)[0] / survived
    assert observed == pytest.approx(expected, abs=0.05)  # rounding to whole years: ≤ 0.05


def test_leaving_probabilities_are_the_year_bins_of_the_distribution() -> None:
    p = leaving_probabilities(Lifetime("logistic", 15, 4), 20)
    logistic = stats.logistic(15, 4 * np.sqrt(3) / np.pi)  # independent implementation
    z = logistic.cdf(0.0)
    bins = [(logistic.cdf(a + 0.5) - max(logistic.cdf(a - 0.5), z)) / (1 - z) for a in range(20)]
    assert np.allclose(p[:20], bins, atol=1e-12)
    assert p[20] == pytest.approx(logistic.sf(19.5) / (1 - z))  # the last year takes the rest
