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
