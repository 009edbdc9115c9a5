"""The target application's voltage window on built packs (:mod:`echelon.regroup.application`)."""

from __future__ import annotations

import pytest

from echelon.errors import UsageError
from echelon.regroup import PackSpec, regroup
from echelon.regroup.application import application_window, outside_window, route_application
from tests.regroup.conftest import synthetic_inventory


def test_a_route_naming_one_application_selects_it() -> None:
    assert route_application("UPS") == "ups"
    assert route_application("recycle") is None
    assert route_application("forklift") is None
    assert route_application(None) is None


def test_nominal_voltage_and_an_imposed_charge_voltage_are_checked() -> None:
    ups = application_window("ups")
    # 224S LFP = 716.8 V (the reviewer's 14 modules of 16 cells): above 600 V
    assert outside_window(ups, ["LFP"] * 3, [224, 16, 10], [716.8, 51.2, 32.0]).tolist() == [
        True,
        False,
        True,
    ]
    # auto12v charges to 14.4 V by itself: 3S LFP (9.6 V) is below the window, 4S fits, and
    # 3S NMC (11.1 V nominal) would be charged to 4.8 V per cell, above its 4.2 V cut-off
    car = application_window("auto12v")
    assert outside_window(car, ["LFP", "LFP", "NMC622"], [3, 4, 3], [9.6, 12.8, 11.1]).tolist() == [
        True,
        False,
        True,
    ]
    assert not outside_window(application_window("ev_reman"), ["LFP"], [500], [1600.0]).any()


def test_regroup_flags_packs_outside_the_window_whatever_the_method() -> None:
    inventory = synthetic_inventory(60, seed=3)
    for method in ("auto", "sort_chunk"):
        result = regroup(
            inventory, PackSpec(series=10, parallel=1), method=method, application="ups"
        )
        assert result.packs_outside_window == result.packs.height > 0
    result = regroup(inventory, PackSpec(series=10, parallel=1))
    assert result.packs_outside_window == 0
    with pytest.raises(UsageError, match="'telecom', 'ups'"):
        regroup(inventory, PackSpec(series=10, parallel=1), application="stationary_storage")
