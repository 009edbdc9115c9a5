"""The router: every fit rule and its boundary, the value choice, break-even and explanations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echelon.catalog import chemistry
from echelon.grading import decisions_from_row, grade_table, load_profile
from echelon.routing import MISFIT_BITS, load_economics, routing_inputs
from echelon.routing.placeholders import expected_second_life_years
from tests.grading.test_grading import catalog_without_peak, unit

AS_OF = dt.date(2026, 11, 22)
BITS = MISFIT_BITS


def module(**kw: Any) -> dict[str, Any]:
    """A healthy, traceable 12S NMC622 EV module, grade A (override fields per case)."""
    return unit(**({"battery_id": "M1"} | kw))


def lfp_cell(**kw: Any) -> dict[str, Any]:
    """A 100 Ah LFP prismatic cell."""
    return (
        module(
            battery_id="C1",
            chemistry="LFP",
            level="cell",
            series_count=1,
            nominal_capacity_ah=100.0,
            nominal_voltage_v=3.2,
            ocv_v=3.29,
            dcir_ohm=0.0006,
            reference_dcir_ohm=0.0006,
            self_discharge_mv_per_day=0.5,
        )
        | kw
    )


def ebike_pack(**kw: Any) -> dict[str, Any]:
    """A 10S NMC811 36 V e-bike pack."""
    return (
        module(
            battery_id="E1",
            chemistry="NMC811",
            level="pack",
            origin_application="ebike_lev",
            series_count=10,
            nominal_capacity_ah=12.0,
            nominal_voltage_v=36.0,
            ocv_v=37.5,
            dcir_ohm=0.12,
            reference_dcir_ohm=0.12,
        )
        | kw
    )


def route_one(unit: dict[str, Any], profile: str = "baseline", **kw: Any) -> dict[str, Any]:
    frame = grade_table(pl.DataFrame([unit]), profile=profile, as_of=AS_OF, **kw)
    return frame.row(0, named=True)


@pytest.mark.parametrize(
    ("unit", "profile", "app", "bit"),
    [
        (module(soh_lower_percent=75.0), "baseline", "ev_reman", "grade"),
        (module(origin_application="energy_storage"), "baseline", "ev_reman", "unit"),
        (module(), "baseline", "telecom", "unit"),  # NMC in float backup: LFP only
        (lfp_cell(), "baseline", "lsv", "unit"),  # cells are not accepted
        (ebike_pack(), "cn", "ebike", "regulation"),  # GB 43854-2024
        (module(), "baseline", "auto12v", "voltage"),  # no NMC series count fits 12 V
        (
            module(
                level="pack",
                series_count=96,
                nominal_voltage_v=345.6,
                ocv_v=96 * 3.7,
                nominal_capacity_ah=150.0,
            ),
            "baseline",
            "telecom",
            "voltage",
        ),
        (module(), "baseline", "ebike", "energy"),  # a 2.6 kWh module is not an e-bike battery
        (module(dcir_ohm=None), "baseline", "ess", "missing"),
        (module(nominal_voltage_v=None, series_count=None), "baseline", "ess", "missing"),
    ],
)
def test_each_fit_rule_excludes_an_application_with_its_reason(
    unit: dict[str, Any], profile: str, app: str, bit: str
) -> None:
    row = route_one(unit, profile)
    assert row[f"misfit__{app}"] & BITS[bit]
    assert app not in row["allowed_applications"].split(";")
    route = decisions_from_row(row, load_profile(profile))[-1]
    reason = next(r for r in route.reasons if r.rule == f"route.{app}")
    assert not reason.passed
    fragment = {
        "grade": "may not serve it",
        "unit": "not accepted",
        "regulation": "forbidden by cn.gb43854_ebike",
        "voltage": "series",
        "energy": "kWh >",
        "missing": "missing:",
    }[bit]
    assert fragment in reason.message


def test_the_same_ebike_pack_may_serve_ebikes_in_the_eu() -> None:
    row = route_one(ebike_pack(), "eu")
    assert row["misfit__ebike"] == 0
    assert "ebike" in row["allowed_applications"].split(";")


def test_resistance_limit_is_derived_from_the_peak_current() -> None:
    """R_max = margin × s × (OCV(power SOC) − V_min,load per cell) / (C-rate × capacity)."""
    profile = load_profile("baseline")
    row = route_one(module())
    spec = routing_inputs(profile).applications.application["ess"]
    ocv = float(chemistry("NMC622").ocv.ocv(spec.power_soc))
    v_load = max(2.7, 40.0 / 12)  # the 40 V window floor over 12 cells, above the cut-off
    capacity_ah = 60.0 * 0.89  # the SOH lower bound
    expected = 0.8 * 12 * (ocv - v_load) / (1.0 * capacity_ah)
    rmax = row["rmax_v__ess"] / (spec.peak_c_rate * capacity_ah)  # type: ignore[operator]
    assert rmax == pytest.approx(expected)
    just_under = route_one(module(dcir_ohm=expected * 0.999, reference_dcir_ohm=expected))
    just_over = route_one(module(dcir_ohm=expected * 1.001, reference_dcir_ohm=expected))
    assert just_under["misfit__ess"] == 0
    assert just_over["misfit__ess"] & BITS["resistance"]
    reasons = decisions_from_row(just_over, profile)[-1].reasons
    message = next(r.message for r in reasons if r.rule == "route.ess")
    # the numbers compared: R measured, R_max and its terms, the margin and the profile version
    i_peak = 1.0 * capacity_ah
    assert f"DCIR {expected * 1.001 * 1e3:.3g} mΩ > R_max {expected * 1e3:.3g} mΩ" in message
    assert f"80% × 12 cells × {ocv - v_load:.3f} V (OCV − V_min,load per cell)" in message
    assert f"/ {i_peak:.1f} A (I_peak = 1 C × 60 Ah × SOH 89.0 %, at 20% SOC" in message
    assert "grading_baseline@4" in message
    fits = decisions_from_row(just_under, profile)[-1].reasons
    assert "≤ R_max" in next(r.message for r in fits if r.rule == "route.ess")


def test_without_a_reference_a_unit_is_routed_by_each_application_r_max() -> None:
    """No new-cell reference, peaks known: not capped at B, so mobility applications stay open,
    each admitted or refused by its own R_max (ev_reman 51.2 mΩ at 3 C, lsv 19.8 mΩ at 2 C)."""
    row = route_one(module(reference_dcir_ohm=None, dcir_ohm=0.030))
    assert (row["grade"], row["resistance_criterion"]) == ("A", "application_r_max")
    assert row["misfit__ev_reman"] == 0
    assert row["misfit__lsv"] == BITS["resistance"]
    assert row["route"] == "ev_reman"
    reasons = decisions_from_row(row, load_profile("baseline"))[-1].reasons
    lsv = next(r.message for r in reasons if r.rule == "route.lsv")
    assert lsv.startswith("lsv: DCIR 30 mΩ > R_max 19.8 mΩ = 80% × 12 cells")


@pytest.mark.parametrize(
    ("ratio", "ratio_grade", "fits"),
    [(1.0, "A", True), (2.0, "B", True), (2.4, "C", False), (2.6, "D", False)],
)
def test_an_application_without_a_known_peak_falls_back_to_the_ratio_to_new(
    ratio: float, ratio_grade: str, fits: bool, tmp_path: Path
) -> None:
    """ess without a peak current: no R_max for it, so the unit's ratio-to-new grade must be one
    that may serve ess (grade B or better); the other applications keep their R_max."""
    folder = catalog_without_peak(tmp_path, {"ess"})
    row = route_one(module(dcir_ohm=0.010 * ratio), catalog_dir=folder)
    assert (row["grade"], row["resistance_criterion"]) == ("A", "application_r_max")
    assert row["rmax_v__ess"] is None
    assert "rmax_ohm__ess" not in row
    assert row["resistance_ratio_grade"] == ratio_grade
    assert bool(row["misfit__ess"] & BITS["resistance"]) is not fits
    assert row["misfit__ev_reman"] == 0  # 10–26 mΩ ≤ its R_max of 51.2 mΩ
    inputs = routing_inputs(load_profile("baseline"), catalog_dir=folder)
    ess = next(r for r in decisions_from_row(row, inputs)[-1].reasons if r.rule == "route.ess")
    assert "ratio-to-new fallback" in ess.message
    if not fits:
        expected = f"R/R_ref {ratio:.2f} gives resistance grade {ratio_grade}, ess needs grade B"
        assert expected in ess.message


def test_value_is_usable_energy_times_years_times_price_minus_costs() -> None:
    row = route_one(module())
    econ = load_economics()
    kwh = 60.0 * 43.2 / 1000
    usable = kwh * 0.89 * row["window__ess"]
    # the lifetime model's median years at the SOH lower bound with the prior of the unit's
    # origin (no manufacture date: the origin's age prior), capped at the longest ess life
    grid = pl.DataFrame(
        {"application": ["ess"], "chemistry": ["NMC622"], "soh_percent": [89.0],
         "origin_application": ["automotive"]}
    )  # fmt: skip
    years = min(10.0, expected_second_life_years(grid)[0])
    assert 0.0 < years < 10.0
    rate = econ.labour_rate("none")
    repurposing = (0.2 + 0.06 * kwh) * rate + 28.0 * kwh
    testing = 3.0 * 1.0 + 0.1 * rate
    assert row["usable_kwh__ess"] == pytest.approx(usable)
    assert row["years__ess"] == pytest.approx(years)
    assert row["value__ess"] == pytest.approx(usable * years * 8.0 - repurposing - testing)


def test_only_missing_data_sends_a_unit_to_retest_not_to_recycling() -> None:
    row = route_one(module(dcir_ohm=None))
    assert (row["grade"], row["route"], row["route_basis"]) == ("B", "retest", "missing_data")
    assert "DCIR" in " ".join(
        r.message for r in decisions_from_row(row, load_profile("baseline"))[-1].reasons
    )


def test_the_router_chooses_the_application_of_highest_value() -> None:
    row = route_one(module())
    allowed = row["allowed_applications"].split(";")
    values = {a: row[f"value__{a}"] for a in allowed}
    assert row["route"] == max(values, key=lambda a: values[a])
    assert row["value_usd"] == pytest.approx(max(values.values()))


def test_recycling_wins_when_it_is_worth_more() -> None:
    cheap = load_economics(
        overrides={
            f"price.{a}": 0.5
            for a in ("ess", "ups", "telecom", "ebike", "auto12v", "lsv", "ev_reman")
        }
    )
    row = route_one(module(), economics=cheap)
    assert row["route"] == "recycle"
    assert row["route_basis"] == "value"
    assert row["value_usd"] == pytest.approx(row["recycle_value_usd"])
    assert row["reasons"].startswith("recycle: recycling $")


def _price_everywhere(app: str, price: float) -> dict[str, float]:
    apps = ("ess", "ups", "telecom", "ebike", "auto12v", "lsv", "ev_reman")
    return {f"price.{a}": (price if a == app else 0.0) for a in apps}


@pytest.mark.parametrize(
    "unit", [module(), lfp_cell(), module(soh_percent=72.0, soh_lower_percent=71.0)]
)
def test_the_break_even_price_flips_the_decision(unit: dict[str, Any]) -> None:
    row = route_one(unit)
    app, flip = row["best_application"], row["break_even_price_usd_per_kwh_year"]
    assert flip is not None
    assert flip > 0
    above = route_one(unit, economics=load_economics(overrides=_price_everywhere(app, flip * 1.01)))
    below = route_one(unit, economics=load_economics(overrides=_price_everywhere(app, flip * 0.99)))
    assert above["route"] == app
    assert below["route"] == "recycle"


def test_the_break_even_soh_flips_the_decision() -> None:
    # an LFP module in backup duty, which grades A to C may all serve
    unit = module(
        battery_id="L1",
        chemistry="LFP",
        series_count=16,
        nominal_capacity_ah=100.0,
        nominal_voltage_v=51.2,
        ocv_v=16 * 3.29,
        soh_percent=85.0,
        soh_lower_percent=None,
        self_discharge_mv_per_day=2.0,
    )
    econ = load_economics(overrides=_price_everywhere("telecom", 3.0))
    row = route_one(unit, economics=econ)
    flip = row["break_even_soh_percent"]
    assert row["route"] == "telecom"
    assert flip is not None
    assert 50.0 < flip < 85.0
    for soh, route in ((flip + 0.5, "telecom"), (flip - 0.5, "recycle")):
        again = route_one(unit | {"soh_percent": soh}, economics=econ)
        assert again["grade"] in {"A", "B", "C"}
        assert again["route"] == route


def test_route_decision_records_rules_numbers_profile_and_prices() -> None:
    econ = load_economics(overrides={"price.ess": 9.5})
    profile = load_profile("cn")
    row = route_one(module(), "cn", economics=econ)
    inputs = routing_inputs(profile, economics=econ)
    route = decisions_from_row(row, inputs)[-1]
    assert (route.profile, route.profile_version) == ("grading_cn", "3")
    assert route.inputs["economics"] == "routing_economics@1 (price.ess=9.5)"
    assert route.inputs["jurisdiction"] == "CN"
    rules = [r.rule for r in route.reasons]
    assert rules[0] == "route.choice"
    assert {f"route.{a}" for a in inputs.applications.application} <= set(rules)
    assert "route.recycling_value" in rules
    if route.outcome == "ess":
        assert "condition.cn.nea_large_ess" in rules  # the NEA rule is a condition on ESS
    choice = route.reasons[0]
    assert "flips to recycling below a price of" in choice.message


@settings(max_examples=40, deadline=None)
@given(
    st.floats(min_value=40, max_value=100),
    st.floats(min_value=0.002, max_value=0.05),
    st.floats(min_value=1.0, max_value=3.0),
    st.sampled_from(["baseline", "eu", "cn", "us"]),
)
def test_a_higher_price_never_turns_reuse_into_recycling(
    soh: float, dcir: float, factor: float, profile: str
) -> None:
    unit = module(soh_percent=soh, soh_lower_percent=None, dcir_ohm=dcir)
    base = route_one(unit, profile)
    apps = ("ess", "ups", "telecom", "ebike", "auto12v", "lsv", "ev_reman")
    econ = load_economics()
    richer = load_economics(
        overrides={f"price.{a}": econ.price_for(a, "none") * factor for a in apps}
    )
    higher = route_one(unit, profile, economics=richer)
    assert higher["grade"] == base["grade"]
    if base["route"] not in {"recycle", "retest"}:
        assert higher["route"] not in {"recycle", "retest"}
        assert higher["value_usd"] >= base["value_usd"]


def test_money_in_explanations_puts_the_sign_first() -> None:
    from echelon.routing.explain import usd_text

    assert [usd_text(v) for v in (-41.2, -7.0, 7.0, 1234.4, None)] == [
        "-$41",
        "-$7.00",
        "$7.00",
        "$1,234",
        "?",
    ]


def test_set_overrides_apply_to_the_table_the_profile_names(tmp_path: Path) -> None:
    """A profile routing with its own economics table keeps it when ``--set`` is given: the
    overrides change that table's numbers (they used to swap in the packaged table)."""
    from echelon.catalog._loader import packaged_table_path
    from echelon.routing.economics import overrides_for_profiles

    own = tmp_path / "facility_econ.toml"
    text = packaged_table_path("routing_economics").read_text()
    own.write_text(text.replace("usd_per_kwh_year = 9.0", "usd_per_kwh_year = 30.0", 1))
    eu = load_profile("eu")
    profile = eu.model_copy(
        update={"routing": eu.routing.model_copy(update={"economics": str(own)})}
    )
    plain = routing_inputs(profile).economics
    assert plain.price_for("ups", "EU") == 30.0
    overridden = routing_inputs(profile, economics=overrides_for_profiles({"labour.EU": 55.0}))
    assert overridden.economics.price_for("ups", "EU") == 30.0  # the profile's own price kept
    assert overridden.economics.labour_rate("EU") == 55.0
    assert overridden.economics.label == f"{plain.label} (labour.EU=55)"
    graded = grade_table(
        pl.DataFrame([module()]),
        profile=profile,
        as_of=AS_OF,
        economics=overrides_for_profiles({"labour.EU": 55.0}),
    )
    assert graded["economics"][0] == f"{plain.label} (labour.EU=55)"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({}, "30% of its contained Ni + Co value at Ni $16.85/kg, Co $50.35/kg"),
        (
            {"recycling.metal_usd_per_kg.Ni": 1000.0, "recycling.metal_usd_per_kg.Co": 1000.0},
            "Ni $1,000.00/kg, Co $1,000.00/kg (recycling_prices@1 (metal:Co=1000, metal:Ni=1000)",
        ),
    ],
)
def test_the_recycling_value_reason_is_the_arithmetic_that_gave_it(
    overrides: dict[str, float], fragment: str
) -> None:
    """``show`` and the certificate printed an old placeholder product that did not give the
    value ($14 = 8.27 kg × $1.51/kg; × $60.01/kg with Ni and Co at 1000, still $14); now the
    mass × price per kg is the value, and the override moves it."""
    import re

    econ = load_economics(overrides=overrides)
    row = route_one(module(), "eu", economics=econ)
    route = decisions_from_row(row, routing_inputs(load_profile("eu"), economics=econ))[-1]
    reason = next(r for r in route.reasons if r.rule == "route.recycling_value")
    found = re.search(
        r"= ([\d.]+) kg \(module, cells and hardware\) × \$([\d.,]+)/kg", reason.message
    )
    assert found is not None, reason.message
    mass, per_kg = float(found[1]), float(found[2].replace(",", ""))
    assert mass * per_kg == pytest.approx(row["recycle_value_usd"], rel=2e-3)
    assert reason.observed == pytest.approx(row["recycle_value_usd"], abs=0.01)
    assert fragment in reason.message
    base = route_one(module(), "eu")["recycle_value_usd"]
    assert (row["recycle_value_usd"] > 30 * base) == bool(overrides)  # the override is applied


def test_an_ungraded_unit_is_said_to_be_not_graded() -> None:
    """Its route reasons said 'grade none may not serve it'."""
    row = route_one(module(soh_percent=None, soh_lower_percent=None, soh_upper_percent=None))
    route = decisions_from_row(row, load_profile("baseline"))[-1]
    reason = next(r for r in route.reasons if r.rule == "route.ess")
    assert "not graded: it may not serve it" in reason.message
    assert "grade none" not in reason.message
