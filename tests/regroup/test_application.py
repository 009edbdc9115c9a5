"""The target application's voltage window on built packs (:mod:`echelon.regroup.application`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from echelon import catalog as chemistries_module
from echelon.catalog import chemistries
from echelon.domain import Chemistry
from echelon.errors import InfeasibleError, UsageError
from echelon.grading import load_profile
from echelon.regroup import PackSpec, regroup, validate_inventory
from echelon.regroup.application import (
    application_window,
    fitting_series,
    outside_window,
    peak_rmax_ohm,
    route_application,
)
from echelon.routing import routing_inputs
from echelon.routing.applications import series_options, window_fractions
from echelon.routing.router import configuration_table, load_cell_voltage_v
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


def test_regroup_refuses_packs_outside_the_window_naming_the_series_that_fit() -> None:
    """10 LFP cells in series (32 V) are below the UPS window (40–600 V): no pack is built (they
    were built and flagged before 2026-12-07), the refusal says which --series fit, whatever
    the method; 14 fit."""
    inventory = synthetic_inventory(60, seed=3)
    for method in ("auto", "sort_chunk"):
        with pytest.raises(InfeasibleError) as info:
            regroup(inventory, PackSpec(series=10, parallel=1), method=method, application="ups")
        assert info.value.binding_constraint == "application_voltage"
        assert "10S pack of 32 V nominal; --series 13–181 would fit" in str(info.value)
    fits = regroup(inventory, PackSpec(series=14, parallel=1), application="ups")
    assert fits.packs.height == 4
    assert fits.packs_outside_window == 0
    result = regroup(inventory, PackSpec(series=10, parallel=1))
    assert result.packs_outside_window == 0
    with pytest.raises(UsageError, match="'telecom', 'ups'"):
        regroup(inventory, PackSpec(series=10, parallel=1), application="stationary_storage")


def test_units_whose_packs_miss_the_window_are_left_out_with_the_series_that_fit() -> None:
    """Cells and 16S modules for a UPS with 14 in series: the cells' packs (44.8 V) fit, the
    modules' (224S, 716.8 V) would not — they are excluded, each with the reason and the series
    count that fits, and only fitting packs are built."""
    cells = synthetic_inventory(60, seed=3)
    modules = synthetic_inventory(30, seed=4).with_columns(
        pl.lit(51.2).alias("nominal_voltage_v"), ("M" + pl.col("battery_id")).alias("battery_id")
    )
    result = regroup(
        pl.concat([cells, modules], how="vertical_relaxed"),
        PackSpec(series=14, parallel=1),
        application="ups",
    )
    assert result.packs.height == 4
    assert result.packs_outside_window == 0
    assert result.packs["nominal_voltage_v"].round(1).to_list() == [44.8] * 4
    left = result.excluded.filter(pl.col("battery_id").str.starts_with("M"))
    assert left.height == 30
    assert left["reason"].unique().to_list() == [
        "outside the voltage window (ups: 40–600 V): 14 of these 51.2 V LFP units in series make "
        "a 224S pack of 716.8 V nominal; --series 1–11 would fit"
    ]
    assert any("30 unit(s) left out" in note for note in result.notes)


def test_fitting_series_of_an_imposed_charge_window() -> None:
    """auto12v charges to 14.4 V: LFP cells fit only 4 in series, NMC622 cells none (3S would be
    charged above their 4.2 V cut-off, 4S is 14.8 V nominal, above the window)."""
    car = application_window("auto12v")
    assert fitting_series(car, "LFP", 3.2, 1) == [4]
    assert fitting_series(car, "NMC622", 3.7, 1) == []


def test_a_pack_gets_the_routers_r_max_with_the_load_voltage_dip() -> None:
    """A 4S LFP pack for auto12v has the R_max the router gives a 4S LFP module of the same
    capacity: the 5 C cranking current may pull the system to load_voltage_min_v (8.0 V), not
    only to the window's 10.5 V (R_max 13.7 mΩ at 60 A·h: 4 × 3 mΩ cells pass, 4 × 5 mΩ do not)."""
    inputs = routing_inputs(load_profile("baseline"))
    config = configuration_table(pl.DataFrame({"chemistry": ["LFP"], "series_count": [4]}), inputs)
    router_rmax_ohm = config["rmax_v__auto12v"][0] / (5.0 * 60.0)
    car = application_window("auto12v")
    pack = peak_rmax_ohm(car, ["LFP"], [4], [60.0], margin=0.8)
    assert pack[0] == pytest.approx(router_rmax_ohm)
    ocv = float(chemistries()[Chemistry.LFP].ocv.ocv(0.5))
    assert pack[0] == pytest.approx(0.8 * 4 * (ocv - 8.0 / 4) / 300.0)


@pytest.mark.parametrize(("dcir_ohm", "flagged"), [(0.003, False), (0.005, True)])
def test_regroup_flags_packs_above_the_applications_r_max(dcir_ohm: float, flagged: bool) -> None:
    inventory = validate_inventory(
        pl.DataFrame(
            {
                "battery_id": [f"C{i}" for i in range(8)],
                "chemistry": "LFP",
                "capacity_ah": 60.0,
                "dcir_ohm": dcir_ohm,
                "grade": "A",
            }
        )
    )
    result = regroup(inventory, PackSpec(series=4, parallel=1), application="auto12v")
    assert result.packs.height == 2
    assert result.packs_over_peak_rmax == (2 if flagged else 0)
    assert result.summary()["packs_over_application_rmax"] == result.packs_over_peak_rmax
    assert (result.packs["violations"] == "application_peak_current").all() is flagged
    assert result.packs["application_rmax_ohm"].to_list() == pytest.approx(
        [peak_rmax_ohm(application_window("auto12v"), ["LFP"], [4], [60.0], margin=0.8)[0]] * 2
    )


def test_a_pack_needs_the_routers_usable_share_of_the_window() -> None:
    """15S NMC622 (54.75 V nominal) lies inside telecom's 40.5–57 V window but only 66 % of its
    capacity is usable there: the router needs 80 % (``min_window_fraction``) and routes no such
    unit to telecom, so regroup must not build such a pack for it either (it built it: only a
    share of 0 counted as outside)."""
    telecom = application_window("telecom")
    spec = telecom.spec()
    minimum = load_profile().routing.min_window_fraction
    share = float(window_fractions(spec, "NMC622", [15])[0])
    assert 0.0 < share < minimum
    assert outside_window(telecom, ["NMC622"], [15], [15 * 3.65]).tolist() == [True]
    option = series_options(spec, "NMC622", min_fraction=minimum)
    assert fitting_series(telecom, "NMC622", 3.65, 1) == list(
        range(option.cells_min, option.cells_max + 1)
    )


def test_the_peak_current_check_reads_a_custom_catalogue(tmp_path: Path) -> None:
    """The lowest cell voltage under load is never below the discharge cut-off: a custom
    catalogue's LFP cut-off of 3.0 V (packaged 2.5 V) lowers the headroom and so R_max; the
    cut-off came from the packaged catalogue whatever ``catalog_dir`` said."""
    packaged = Path(chemistries_module.__file__).parent / "data" / "chemistries.toml"
    text = packaged.read_text(encoding="utf-8")
    lfp = text.index("[chemistry.LFP]")
    cutoff = text.index("discharge_cutoff_v = 2.5", lfp)
    (tmp_path / "chemistries.toml").write_text(
        text[:cutoff] + "discharge_cutoff_v = 3.0" + text[cutoff + 24 :], encoding="utf-8"
    )
    spec = application_window("ups").spec()
    assert spec.load_voltage_min_v is None
    assert spec.voltage_min_v is not None
    cells = 100  # 40 V over 100 cells is 0.4 V a cell: the cut-off decides
    assert load_cell_voltage_v(spec, Chemistry.LFP, cells) == pytest.approx(2.5)
    assert load_cell_voltage_v(spec, Chemistry.LFP, cells, catalog_dir=tmp_path) == pytest.approx(
        3.0
    )
    ups = application_window("ups")
    rmax = peak_rmax_ohm(ups, ["LFP"], [cells], [50.0], margin=0.8)
    custom = peak_rmax_ohm(ups, ["LFP"], [cells], [50.0], margin=0.8, catalog_dir=tmp_path)
    assert custom[0] < rmax[0]


def test_a_shortfall_the_window_did_not_cause_is_not_blamed_on_it() -> None:
    """55 cells give 3 packs of 14S for a UPS, 5 are asked for; 5 16S modules are left out for
    the window, but with them there would be no more packs (5 modules cannot make a 14S pack):
    the refusal is the inventory's own shortfall, not 'application_voltage' (it was)."""
    cells = synthetic_inventory(55, seed=3)
    modules = synthetic_inventory(5, seed=4).with_columns(
        pl.lit(51.2).alias("nominal_voltage_v"), ("M" + pl.col("battery_id")).alias("battery_id")
    )
    inventory = pl.concat([cells, modules], how="vertical_relaxed")
    with pytest.raises(InfeasibleError) as info:
        regroup(inventory, PackSpec(series=14, parallel=1, packs=5), application="ups")
    assert info.value.binding_constraint != "application_voltage"
    # 30 modules would make 2 packs of their own: then the window is what left the run short
    more = synthetic_inventory(30, seed=4).with_columns(
        pl.lit(51.2).alias("nominal_voltage_v"), ("M" + pl.col("battery_id")).alias("battery_id")
    )
    with pytest.raises(InfeasibleError) as info:
        regroup(
            pl.concat([cells, more], how="vertical_relaxed"),
            PackSpec(series=14, parallel=1, packs=5),
            application="ups",
        )
    assert info.value.binding_constraint == "application_voltage"
