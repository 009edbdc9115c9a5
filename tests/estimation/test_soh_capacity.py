"""SOH from a capacity test: definition, interval from the catalogue, bad input."""

from __future__ import annotations

import pytest

from echelon.errors import EstimationError
from echelon.estimation import soh_from_capacity


def test_soh_is_measured_over_rated() -> None:
    est = soh_from_capacity(1.6, 2.0)
    assert est.soh_percent == pytest.approx(80.0)
    # interval = ±1 % of the reading (catalogue table soh_capacity_test)
    assert est.soh_lower_percent == pytest.approx(79.2)
    assert est.soh_upper_percent == pytest.approx(80.8)
    assert est.coverage == 0.9
    assert est.method == "capacity_test"


@pytest.mark.parametrize(("measured", "rated"), [(-1.0, 2.0), (1.0, 0.0), (float("nan"), 2.0)])
def test_impossible_capacities(measured: float, rated: float) -> None:
    with pytest.raises(EstimationError, match="capacities must be finite"):
        soh_from_capacity(measured, rated)


def test_a_capacity_far_above_the_rated_one_is_refused_with_the_likely_unit_mistake() -> None:
    """A capacity test logged in mA gives 1000× the capacity: no SOH of 74,435 % (graded A before
    2026-12-07), but an error that names the mA reading; 150 % is still an SOH."""
    assert soh_from_capacity(3.0, 2.0).soh_percent == pytest.approx(150.0)
    with pytest.raises(EstimationError, match=r"1488\.7 A·h is 74435 % .*÷ 1000: 1\.4887 A·h"):
        soh_from_capacity(1488.7, 2.0)
    with pytest.raises(EstimationError, match="above the plausible 150 %; or the rated") as err:
        soh_from_capacity(3.2, 2.0)  # not a factor 1000: no unit hint
    assert "mA" not in str(err.value)
