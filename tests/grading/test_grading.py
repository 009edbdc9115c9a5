"""Safety gate, grade bands and first routes: table-driven rules, boundaries and properties."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echelon.catalog._loader import packaged_table_path
from echelon.domain import Application
from echelon.errors import ConfigError, SchemaError
from echelon.estimation.capacity import relative_uncertainty, soh_from_capacity
from echelon.grading import decisions_from_row, grade_table, load_profile
from echelon.routing import routing_inputs

AS_OF = dt.date(2026, 11, 22)
PROFILE = load_profile("baseline")


def unit(**kw: Any) -> dict[str, Any]:
    """A healthy, traceable NMC622 module that passes everything (override fields per case)."""
    base: dict[str, Any] = {
        "battery_id": "U1",
        "chemistry": "NMC622",
        "level": "module",
        "model": "M",
        "origin_application": "automotive",
        "series_count": 12,
        "nominal_capacity_ah": 60.0,
        "nominal_voltage_v": 43.2,
        "soh_percent": 90.0,
        "soh_lower_percent": 89.0,
        "dcir_ohm": 0.010,
        "reference_dcir_ohm": 0.010,
        "ocv_v": 44.0,
        "self_discharge_mv_per_day": 12.0,
        "insulation_mohm": 200.0,
        "visual_flags": "",
        "has_traceability": True,
        "calendar_expiry_date": dt.date(2035, 1, 1),
    }
    base.update(kw)
    return base


def grade_one(*, catalog_dir: Path | None = None, **kw: Any) -> dict[str, Any]:
    frame = grade_table(
        pl.DataFrame([unit(**kw)]), profile=PROFILE, as_of=AS_OF, catalog_dir=catalog_dir
    )
    return frame.row(0, named=True)


def catalog_without_peak(folder: Path, apps: set[str] | None = None) -> Path:
    """A catalogue folder whose applications table knows no peak current for ``apps`` (all when
    None): R_max cannot be computed there, so the ratio-to-new fallback applies."""
    section = ""
    lines = []
    for line in packaged_table_path("applications").read_text(encoding="utf-8").splitlines():
        if line.startswith("[application."):
            section = line.strip("[]").split(".")[1]
        if line.startswith("peak_c_rate") and (apps is None or section in apps):
            continue
        lines.append(line)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "applications.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def no_peak(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Catalogue folder without any application peak current (ratio-to-new fallback only)."""
    return catalog_without_peak(tmp_path_factory.mktemp("no_peak"))


def test_healthy_unit_passes_to_grade_a() -> None:
    row = grade_one()
    assert (row["gate"], row["grade"]) == ("pass", "A")
    assert row["route"] in row["allowed_applications"].split(";")
    assert {"ess", "ev_reman"} <= set(row["allowed_applications"].split(";"))
    # the only reason given is the route's: nothing fired, nothing capped
    assert row["reasons"].startswith(f"{row['route']}: reuse $")


@pytest.mark.parametrize(
    ("change", "rule", "fragment"),
    [
        ({"visual_flags": "swelling"}, "gate.visual_damage", "visual damage: swelling"),
        ({"has_traceability": False}, "gate.traceability", "no lifetime traceability"),
        ({"has_traceability": None}, "gate.traceability", "traceability unknown"),
        (
            {"calendar_expiry_date": dt.date(2026, 11, 21)},
            "gate.calendar_expiry",
            "calendar-expiry",
        ),
        ({"chemistry": "Li-S"}, "gate.reuse_standard", "no reuse standard"),
        ({"chemistry": "unknown"}, "gate.reuse_standard", "no reuse standard"),
        ({"ocv_v": None}, "gate.ocv_measured", "OCV not measured"),
        ({"ocv_v": 0.0}, "gate.ocv_window", "0 V unit"),
        ({"ocv_v": 12 * 2.6}, "gate.ocv_window", "outside the NMC622 window"),
        ({"ocv_v": 12 * 4.3}, "gate.ocv_window", "outside the NMC622 window"),
        ({"insulation_mohm": 0.001}, "gate.insulation", "Ω/V"),
        ({"level": "pack", "insulation_mohm": None}, "gate.insulation", "not measured"),
        ({"self_discharge_mv_per_day": 12 * 60.0}, "gate.self_discharge", "%/day"),
        ({"plating_signature": True}, "gate.lithium_plating", "plating"),
    ],
)
def test_each_gate_rule_quarantines_with_its_reason(
    change: dict[str, Any], rule: str, fragment: str
) -> None:
    row = grade_one(**change)
    assert row["gate"] == "quarantine"
    assert row[f"fail__{rule}"] is True
    assert fragment in row["reasons"]
    assert (row["grade"], row["route"]) == ("D", "recycle")
    gate = decisions_from_row(row, PROFILE)[0]
    assert gate.outcome == "quarantine"
    assert rule in {r.rule for r in gate.fired}


def test_passed_gate_rules_carry_the_numbers_compared() -> None:
    """A passed gate rule read "gate.ocv_window: ok" with observed and limit null; now it names
    the value and the limit it was compared with (docs/grading.md, explanations)."""
    row = grade_one(
        plating_signature=False, max_charge_voltage_v=12 * 4.2, min_discharge_voltage_v=12 * 2.7
    )
    gate = {r.rule: r for r in decisions_from_row(row, PROFILE)[0].reasons}
    assert all(r.passed for r in gate.values())
    window = gate["gate.ocv_window"]
    assert window.observed == pytest.approx(44.0 / 12, abs=1e-3)
    assert (
        window.limit == f"[{row['ocv_min_v']}, {row['ocv_max_v']}] V per cell, ≥ 0.5 V (0 V unit)"
    )
    assert "3.667 V per cell" in window.message
    insulation = gate["gate.insulation"]
    assert insulation.observed == pytest.approx(200e6 / row["unit_voltage_v"], abs=0.1)
    assert insulation.limit == PROFILE.gate.insulation_min_ohm_per_volt
    sd = gate["gate.self_discharge"]
    assert sd.limit == PROFILE.gate.self_discharge_max_percent_per_day
    assert sd.observed == pytest.approx(1.0 / row["ocv_slope_mv_per_percent"], abs=1e-3)
    expiry = gate["gate.calendar_expiry"]
    assert (expiry.observed, expiry.limit) == ("2035-01-01", "on or after 2026-11-22")
    trace = gate["gate.traceability"]
    assert trace.observed is True
    levels = ", ".join(lvl.value for lvl in PROFILE.gate.require_traceability_levels)
    assert trace.limit == f"required for {levels}"
    assert gate["gate.lithium_plating"].observed is False
    for reason in gate.values():
        assert reason.observed is not None, reason


def test_cells_need_traceability_but_packs_do_not() -> None:
    assert (
        grade_one(level="cell", series_count=1, ocv_v=3.7, has_traceability=False)["gate"]
        == "quarantine"
    )
    assert grade_one(level="pack", has_traceability=False)["gate"] == "pass"


@pytest.mark.parametrize(
    ("soh", "lower", "grade"),
    [
        (80.0, 80.0, "A"),
        (80.5, 79.99, "B"),
        (79.99, None, "B"),
        (70.0, None, "B"),
        (69.9, None, "C"),
        (60.0, None, "C"),
        (59.9, None, "D"),
    ],
)
def test_soh_band_boundaries_use_the_lower_bound(
    soh: float, lower: float | None, grade: str
) -> None:
    assert grade_one(soh_percent=soh, soh_lower_percent=lower)["grade"] == grade


def test_lfp_reaches_grade_c_down_to_50_percent() -> None:
    lfp = {"chemistry": "LFP", "series_count": 16, "ocv_v": 16 * 3.28, "nominal_voltage_v": 51.2}
    assert grade_one(soh_percent=55.0, soh_lower_percent=None, **lfp)["grade"] == "C"
    assert grade_one(soh_percent=55.0, soh_lower_percent=None)["grade"] == "D"


@pytest.mark.parametrize(
    ("ratio", "grade"), [(1.5, "A"), (1.51, "B"), (2.0, "B"), (2.4, "C"), (2.6, "D")]
)
def test_resistance_ratio_bands_are_the_fallback_without_a_known_peak(
    ratio: float, grade: str, no_peak: Path
) -> None:
    row = grade_one(dcir_ohm=0.010 * ratio, catalog_dir=no_peak)
    assert (row["grade"], row["resistance_criterion"]) == (grade, "ratio_to_new")
    assert row["resistance_ratio_grade"] == grade


@pytest.mark.parametrize("ratio", [1.51, 2.0, 2.4, 2.6])
def test_with_a_known_peak_the_ratio_to_new_does_not_set_the_grade(ratio: float) -> None:
    """R_max from the application is the criterion; the ratio-to-new is only the fallback."""
    row = grade_one(dcir_ohm=0.010 * ratio)  # 15–26 mΩ: within the R_max of ess and ev_reman
    assert (row["grade"], row["resistance_criterion"]) == ("A", "application_r_max")
    assert row["resistance_ratio_grade"] != "A"  # still reported, not applied
    assert {"ess", "ev_reman"} <= set(row["allowed_applications"].split(";"))


def test_missing_reference_does_not_cap_the_grade_when_r_max_applies() -> None:
    row = grade_one(reference_dcir_ohm=None)
    assert row["resistance_ratio"] is None
    assert (row["grade"], row["resistance_criterion"]) == ("A", "application_r_max")
    assert "ev_reman" in row["allowed_applications"].split(";")  # mobility: grade A only
    assert "reference_dcir_ohm" not in row["unchecked"]
    assert "capped" not in row["reasons"]
    grade = decisions_from_row(row, PROFILE)[1]
    reason = next(r for r in grade.reasons if r.rule == "grade.resistance")
    # the criterion used and the numbers compared: DCIR, each R_max, the margin, the profile
    assert reason.observed == pytest.approx(0.010)
    assert "application R_max" in reason.message
    assert "DCIR 10 mΩ" in reason.message
    assert "ev_reman ≤ 51.2 mΩ (3 C)" in reason.message  # 0.8 × 12 × headroom / (3 C × 53.4 Ah)
    assert "80% × (OCV − V_min,load)/I_peak" in reason.message
    assert "grading_baseline@4" in reason.message


def test_missing_reference_caps_at_b_in_the_ratio_fallback(no_peak: Path) -> None:
    row = grade_one(reference_dcir_ohm=None, catalog_dir=no_peak)
    assert (row["grade"], row["resistance_criterion"]) == ("B", "ratio_to_new")
    assert "reference_dcir_ohm" in row["unchecked"]
    assert "grade capped at B" in row["reasons"]
    grade = decisions_from_row(row, routing_inputs(PROFILE, catalog_dir=no_peak))[1]
    messages = [r.message for r in grade.reasons if r.rule.endswith(".resistance")]
    assert len(messages) == 3  # one per band
    assert all("ratio-to-new (fallback: no application of applications@" in m for m in messages)
    assert all("capped at B (grading_baseline@4)" in m for m in messages)


def test_an_out_of_domain_soh_estimate_caps_at_b() -> None:
    """A widened out-of-domain interval is not calibrated (docs/validation.md: 0.54–0.79 coverage
    on three of five new formats): no mobility grade on it, whatever its lower bound."""
    assert grade_one()["grade"] == "A"
    row = grade_one(soh_out_of_domain=True)
    assert row["grade"] == "B"
    assert "ev_reman" not in row["allowed_applications"].split(";")
    assert "grade capped at B: the SOH is an estimate out of its model's domain" in row["reasons"]
    grade = decisions_from_row(row, PROFILE)[1]
    domain = [r for r in grade.reasons if r.rule == "grade.soh_domain"]
    assert len(domain) == 1
    assert not domain[0].passed
    assert "grading_baseline@4" in domain[0].message
    # a unit graded C by its SOH is not lowered further, and the cap is reported as not biting
    low = grade_one(soh_percent=66.0, soh_lower_percent=65.0, soh_out_of_domain=True)
    assert low["grade"] == "C"
    assert [r.passed for r in decisions_from_row(low, PROFILE)[1].reasons
            if r.rule == "grade.soh_domain"] == [True]  # fmt: skip


def test_a_profile_without_the_domain_cap_grades_on_the_lower_bound(tmp_path: Path) -> None:
    text = packaged_table_path("grading_baseline").read_text()
    assert 'cap_out_of_domain = "B"' in text
    path = tmp_path / "mine.toml"
    path.write_text(text.replace('cap_out_of_domain = "B"\n', ""))
    frame = grade_table(pl.DataFrame([unit(soh_out_of_domain=True)]), profile=path, as_of=AS_OF)
    assert frame["grade"][0] == "A"


def test_missing_resistance_caps_at_b_with_a_reason() -> None:
    row = grade_one(dcir_ohm=None)
    assert (row["grade"], row["resistance_criterion"]) == ("B", "ratio_to_new")
    grade = decisions_from_row(row, PROFILE)[1]
    assert any("capped at B" in r.message and "no DCIR" in r.message for r in grade.reasons)


def test_missing_soh_is_ungraded_and_sent_to_retest() -> None:
    row = grade_one(soh_percent=None, soh_lower_percent=None)
    assert (row["gate"], row["grade"], row["route"]) == ("pass", None, "retest")
    assert "no SOH" in row["reasons"]


def test_reference_resistance_falls_back_to_batch_median(no_peak: Path) -> None:
    rows = [unit(battery_id=f"U{i}", reference_dcir_ohm=None, dcir_ohm=0.010) for i in range(6)]
    rows.append(unit(battery_id="HOT", reference_dcir_ohm=None, dcir_ohm=0.030))
    out = grade_table(pl.DataFrame(rows), profile=PROFILE, as_of=AS_OF, catalog_dir=no_peak)
    hot = out.filter(pl.col("battery_id") == "HOT").row(0, named=True)
    assert hot["resistance_ratio"] == pytest.approx(3.0)
    assert hot["grade"] == "D"  # the fallback: R/R_ref 3.0 is beyond grade C's 2.5
    # with the applications' peaks known, each application's R_max decides instead
    out = grade_table(pl.DataFrame(rows), profile=PROFILE, as_of=AS_OF)
    hot = out.filter(pl.col("battery_id") == "HOT").row(0, named=True)
    assert (hot["grade"], hot["resistance_ratio_grade"]) == ("A", "D")
    allowed = set(hot["allowed_applications"].split(";"))
    assert "ev_reman" in allowed  # 30 mΩ ≤ its R_max of 51.2 mΩ
    assert "lsv" not in allowed  # 30 mΩ > its R_max of 19.8 mΩ


def test_self_discharge_batch_outlier() -> None:
    rows = [
        unit(battery_id=f"U{i}", self_discharge_mv_per_day=12.0 + 0.5 * (i % 3)) for i in range(10)
    ]
    rows.append(unit(battery_id="LEAKY", self_discharge_mv_per_day=40.0))
    out = grade_table(pl.DataFrame(rows), profile=PROFILE, as_of=AS_OF)
    assert out.filter(pl.col("gate") == "quarantine")["battery_id"].to_list() == ["LEAKY"]


def test_unrecognised_chemistry_is_recycled_with_a_note() -> None:
    row = grade_one(chemistry="NMX622")
    assert row["chemistry"] == "unknown"
    assert row["route"] == "recycle"
    assert "did you mean" in row["reasons"]


@pytest.mark.parametrize("spelling", ["NMC", "nmc", "NCM", "Ternary", "ternary lithium", "Li-NMC"])
def test_a_family_only_nmc_spelling_is_graded_as_the_generic_nmc_with_a_note(
    spelling: str,
) -> None:
    row = grade_one(chemistry=spelling)
    assert (row["chemistry"], row["family"]) == ("NMC622", "NMC")
    assert (row["gate"], row["grade"]) == ("pass", "A")
    assert row["route"] not in {"recycle", "retest"}
    assert f"chemistry {spelling!r} names no composition: graded as NMC622" in row["reasons"]
    assert row["reasons"] == grade_one(chemistry=spelling)["reasons"]  # reproducible


def test_allowed_applications_follow_chemistry_and_origin() -> None:
    automotive = set(grade_one()["allowed_applications"].split(";"))
    stationary = set(
        grade_one(origin_application="energy_storage")["allowed_applications"].split(";")
    )
    assert "ev_reman" in automotive
    assert "ev_reman" not in stationary
    lfp_backup = grade_one(
        chemistry="LFP",
        series_count=16,
        ocv_v=16 * 3.28,
        soh_percent=65.0,
        soh_lower_percent=None,
        nominal_voltage_v=51.2,
    )
    assert lfp_backup["grade"] == "C"
    assert set(lfp_backup["allowed_applications"].split(";")) == {"telecom", "ups"}
    assert lfp_backup["route"] in {"telecom", "ups"}


def test_profile_validation_reports_bad_edits(tmp_path: Path) -> None:
    text = packaged_table_path("grading_baseline").read_text()
    overlapping = tmp_path / "overlap.toml"
    overlapping.write_text(text.replace("soh_min_percent = 70.0", "soh_min_percent = 85.0"))
    with pytest.raises(ConfigError, match="overlapping SOH bands"):
        load_profile(overlapping)
    unknown = tmp_path / "unknown_key.toml"
    unknown.write_text(text.replace("[gate]\n", "[gate]\nmax_temperature_c = 45\n"))
    with pytest.raises(ConfigError, match="max_temperature_c"):
        load_profile(unknown)
    routes = tmp_path / "routes.toml"
    routes.write_text(text.replace('C = ["telecom", "ups"]', 'C = ["telecom", "landfill"]'))
    with pytest.raises(ConfigError, match="undefined applications"):
        load_profile(routes)
    copy = tmp_path / "mine.toml"
    shutil.copy(packaged_table_path("grading_baseline"), copy)
    assert load_profile(copy).meta.name == "grading_baseline"


measure = st.fixed_dictionaries(
    {
        "soh": st.floats(min_value=30, max_value=105),
        "ratio": st.floats(min_value=0.5, max_value=4.0),
        "sd": st.floats(min_value=0.0, max_value=200.0),
        "ocv": st.floats(min_value=0.0, max_value=4.4),
    }
)
ORDER = {"A": 0, "B": 1, "C": 2, "D": 3}


@settings(max_examples=60, deadline=None)
@given(
    measure,
    st.floats(min_value=0, max_value=20),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=20),
)
def test_better_measurements_never_give_a_worse_grade(
    m: dict[str, float], d_soh: float, d_ratio: float, d_sd: float
) -> None:
    worse = unit(
        soh_percent=m["soh"],
        soh_lower_percent=None,
        dcir_ohm=0.01 * m["ratio"],
        self_discharge_mv_per_day=m["sd"],
        ocv_v=12 * m["ocv"],
    )
    better = dict(
        worse,
        battery_id="U2",
        soh_percent=m["soh"] + d_soh,
        dcir_ohm=0.01 * max(m["ratio"] - d_ratio, 0.5),
        self_discharge_mv_per_day=max(m["sd"] - d_sd, 0.0),
    )
    out = grade_table(pl.DataFrame([worse, better]), profile=PROFILE, as_of=AS_OF)
    g_worse, g_better = out["grade"].to_list()
    assert ORDER[g_better] <= ORDER[g_worse]


@settings(max_examples=60, deadline=None)
@given(
    measure,
    st.sampled_from(["", "swelling", "leakage"]),
    st.booleans(),
    st.sampled_from(["cell", "module", "pack"]),
)
def test_quarantined_units_are_never_routed_to_reuse(
    m: dict[str, float], flags: str, trace: bool, level: str
) -> None:
    row = grade_one(
        soh_percent=m["soh"],
        dcir_ohm=0.01 * m["ratio"],
        ocv_v=12 * m["ocv"],
        visual_flags=flags,
        has_traceability=trace,
        level=level,
    )
    if row["gate"] == "quarantine":
        assert row["route"] == "recycle"
        assert row["allowed_applications"] == ""
    else:
        assert row["route"] in {"recycle", "retest", *(a.value for a in Application)}


@pytest.mark.parametrize(
    ("soh", "lower", "grade"),
    [
        (81.0, 79.0, "B"),  # the interval straddles the A/B boundary: the lower bound decides
        (80.0, None, "A"),  # exactly 80 % is grade A
        (71.0, 69.9, "C"),  # straddles B/C
        (61.0, 59.5, "D"),  # straddles C/D
    ],
)
def test_an_interval_straddling_a_band_takes_the_lower_band(
    soh: float, lower: float | None, grade: str
) -> None:
    row = grade_one(soh_percent=soh, soh_lower_percent=lower)
    assert row["grade"] == grade
    assert row["soh_basis_percent"] == (lower if lower is not None else soh)


def test_grading_can_stop_before_routing() -> None:
    row = grade_table(pl.DataFrame([unit()]), profile=PROFILE, as_of=AS_OF, route=False).row(
        0, named=True
    )
    assert (row["gate"], row["grade"], row["route"]) == ("pass", "A", None)
    assert [d.kind for d in decisions_from_row(row, PROFILE)] == ["gate", "grade"]


def test_measured_capacity_gives_the_soh_when_no_estimate() -> None:
    row = grade_one(soh_percent=None, soh_lower_percent=None, measured_capacity_ah=45.0)
    assert row["soh_estimate_percent"] == pytest.approx(75.0)
    assert row["soh_basis_percent"] == pytest.approx(75.0 * (1 - relative_uncertainty()))
    assert (row["grade"], row["soh_source"]) == ("B", "capacity_test")


def test_measured_capacity_has_the_intake_capacity_test_uncertainty() -> None:
    """48.45 of 60 A·h is 80.75 %: A on the point, B on the lower bound intake computes."""
    row = grade_one(soh_percent=None, soh_lower_percent=None, measured_capacity_ah=48.45)
    intake = soh_from_capacity(48.45, 60.0)
    assert row["soh_basis_percent"] == pytest.approx(intake.soh_lower_percent)
    assert row["grade"] == "B"
    assert "from the measured capacity 48.45 A·h" in row["reasons"]


def test_measured_capacity_replaces_a_conflicting_estimate_and_says_so() -> None:
    row = grade_one(soh_percent=90.0, soh_lower_percent=88.0, measured_capacity_ah=45.0)
    assert row["soh_estimate_percent"] == pytest.approx(75.0)
    assert row["soh_basis_percent"] == pytest.approx(
        soh_from_capacity(45.0, 60.0).soh_lower_percent
    )
    assert (row["grade"], row["soh_source"]) == ("B", "capacity_test")
    assert "replaces the given estimate soh_percent 90.0 %" in row["reasons"]


def test_measured_capacity_lifts_the_out_of_domain_cap() -> None:
    row = grade_one(soh_out_of_domain=True, measured_capacity_ah=55.0)
    assert row["grade"] == "A"
    assert not any(
        r.rule == "grade.soh_domain" for r in decisions_from_row(row, PROFILE)[1].reasons
    )


@pytest.mark.parametrize(("measured_ah", "source"), [(45.0, "capacity_test"), (None, "estimate")])
def test_recorded_grade_and_route_decisions_say_which_soh_they_used(
    measured_ah: float | None, source: str
) -> None:
    """The decisions the registry stores carry ``soh_source`` (as the output column does), so a
    recorded grade or route says whether it rests on a measured capacity or an estimate."""
    row = grade_one(soh_percent=90.0, soh_lower_percent=88.0, measured_capacity_ah=measured_ah)
    decisions = {d.kind: d for d in decisions_from_row(row, PROFILE)}
    assert decisions["grade"].inputs["soh_source"] == source
    assert decisions["grade"].inputs["measured_capacity_ah"] == measured_ah
    assert decisions["grade"].inputs["soh_basis_percent"] == row["soh_basis_percent"]
    assert decisions["route"].inputs["soh_source"] == source


def test_a_capacity_giving_no_soh_is_refused_naming_row_and_field() -> None:
    with pytest.raises(SchemaError) as info:
        grade_one(measured_capacity_ah=-1.0)
    problem = info.value.problems[0]
    assert (problem.row, problem.column) == (1, "measured_capacity_ah")


@pytest.mark.parametrize("level", [None, "modul", "rack"])
def test_unknown_or_missing_level_quarantines_with_its_reason(level: str | None) -> None:
    row = grade_one(level=level)
    assert row["gate"] == "quarantine"
    assert row["fail__gate.level"] is True
    assert "is not cell, module or pack" in row["reasons"]


@pytest.mark.parametrize("peak_known", [True, False])
def test_rules_without_their_input_pass_with_a_note_never_silently(
    peak_known: bool, no_peak: Path
) -> None:
    row_catalog = None if peak_known else no_peak
    row = grade_one(
        self_discharge_mv_per_day=None,
        calendar_expiry_date=None,
        reference_dcir_ohm=None,
        catalog_dir=row_catalog,
    )
    assert row["gate"] == "pass"
    # the new-cell reference is only needed by the ratio-to-new fallback
    assert set(row["unchecked"].split(";")) == {
        "calendar_expiry_date",
        "self_discharge_mv_per_day",
        "plating_signature",
        "max_charge_voltage_v",
    } | (set() if peak_known else {"reference_dcir_ohm"})
    gate = decisions_from_row(row, routing_inputs(PROFILE, catalog_dir=row_catalog))[0]
    notes = {r.rule: r.message for r in gate.reasons if "not checked" in r.message}
    assert set(notes) == {
        "gate.calendar_expiry",
        "gate.self_discharge",
        "gate.self_discharge_outlier",
        "gate.lithium_plating",
        "gate.chemistry_voltage",
    }
    if peak_known:
        assert row["grade"] == "A"  # each application's R_max is checked by the router
    else:
        assert row["grade"] == "B"  # no R/R_ref: capped at B, with the reason in the text
        assert "grade capped at B" in row["reasons"]


FIELDS = [
    "chemistry",
    "level",
    "series_count",
    "nominal_capacity_ah",
    "nominal_voltage_v",
    "soh_percent",
    "soh_lower_percent",
    "dcir_ohm",
    "reference_dcir_ohm",
    "ocv_v",
    "self_discharge_mv_per_day",
    "insulation_mohm",
    "visual_flags",
    "has_traceability",
    "calendar_expiry_date",
]


@settings(max_examples=40, deadline=None)
@given(st.sets(st.sampled_from(FIELDS)), st.sampled_from(["baseline", "eu", "cn", "us"]))
def test_missing_fields_never_crash_and_never_pass_silently(
    missing: set[str], profile: str
) -> None:
    row = grade_table(
        pl.DataFrame([unit(**dict.fromkeys(missing))]), profile=profile, as_of=AS_OF
    ).row(0, named=True)
    decisions = decisions_from_row(row, load_profile(profile))
    assert decisions[0].kind == "gate"
    assert row["route"] in {"recycle", "retest", *(a.value for a in Application)}
    if row["gate"] == "quarantine":
        assert row["reasons"]  # the rule that fired is named
        assert row["route"] == "recycle"
    if row["route"] not in {"recycle", "retest"}:
        # reused: every input the reuse relies on was there (SOH from the estimate or its bound)
        assert not {"nominal_capacity_ah", "ocv_v", "chemistry", "level"} & missing
        assert not {"soh_percent", "soh_lower_percent"} <= missing
    if "dcir_ohm" in missing or (
        "reference_dcir_ohm" in missing and row["resistance_criterion"] == "ratio_to_new"
    ):
        # never certified A without a resistance criterion: no DCIR, or no R_max and no R/R_ref
        assert row["grade"] in {None, "B", "C", "D"}
    if row["grade"] == "A":
        assert row["resistance_criterion"] == "application_r_max" or (
            row["resistance_ratio"] is not None
        )
    for field in missing & {"self_discharge_mv_per_day", "calendar_expiry_date"}:
        if row["gate"] == "pass":
            assert field in row["unchecked"]


def test_the_zero_volt_threshold_decides_below_it_not_at_it() -> None:
    """``zero_volt_threshold_v_per_cell`` changed only the message before: a unit inside its
    chemistry's window passed whatever the threshold."""
    ocv_v = 12 * 3.75  # 3.75 V per cell, inside the NMC622 window

    def graded(threshold: float) -> dict[str, Any]:
        gate = PROFILE.gate.model_copy(update={"zero_volt_threshold_v_per_cell": threshold})
        profile = PROFILE.model_copy(update={"gate": gate})
        frame = grade_table(pl.DataFrame([unit(ocv_v=ocv_v)]), profile=profile, as_of=AS_OF)
        return frame.row(0, named=True)

    assert graded(3.75)["gate"] == "pass"  # "below the threshold": equal passes
    raised = graded(3.76)
    assert raised["gate"] == "quarantine"
    assert raised["fail__gate.ocv_window"] is True
    assert "0 V unit: 3.75 V per cell" in raised["reasons"]


def test_a_zero_volt_threshold_in_millivolts_is_refused(tmp_path: Path) -> None:
    text = packaged_table_path("grading_eu").read_text()
    path = tmp_path / "mv.toml"
    path.write_text(
        text.replace("zero_volt_threshold_v_per_cell = 0.5", "zero_volt_threshold_v_per_cell = 500")
    )
    with pytest.raises(ConfigError, match=r"zero_volt_threshold_v_per_cell: 500 V .*write 0.5"):
        load_profile(path)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"ocv_v": None}, "gate.ocv_window"),
        ({"series_count": None, "nominal_voltage_v": None}, "gate.ocv_window"),
        ({"series_count": None, "nominal_voltage_v": None}, "gate.self_discharge"),
        ({"series_count": None, "nominal_voltage_v": None}, "gate.insulation"),
    ],
)
def test_a_gate_rule_without_its_value_is_not_checked_never_ok_on_none(
    change: dict[str, Any], rule: str
) -> None:
    """``show`` read "gate.ocv_window: ok — OCV None V per cell in [2.45, 3.7]" for a unit
    without OCV: a rule whose compared value does not exist is "not checked", never a pass."""
    row = grade_one(**change)
    reason = {r.rule: r for r in decisions_from_row(row, PROFILE)[0].reasons}[rule]
    assert reason.observed is None
    assert "not checked" in reason.message, reason.message
    assert "None" not in reason.message
    assert row[f"unchecked__{rule}"] is True


def test_a_tester_file_contradicting_the_declared_chemistry_fails_the_gate() -> None:
    """An NMC file (long charges to 4.20 V, discharges to 2.70 V) declared LFP passed the gate:
    only the opening rest voltage was checked against the LFP window."""
    lfp = {"chemistry": "LFP", "ocv_v": 12 * 3.3, "nominal_voltage_v": 38.4}
    nmc_file = {"max_charge_voltage_v": 12 * 4.2, "min_discharge_voltage_v": 12 * 2.7}
    row = grade_one(**lfp, **nmc_file)
    assert row["gate"] == "quarantine"
    assert row["fail__gate.chemistry_voltage"] is True
    assert (
        "max charge 4.2 V per cell in the tester file exceeds LFP's 3.7 V upper protection limit"
        in (row["reasons"])
    )
    lmo = grade_one(
        chemistry="LMO", ocv_v=12 * 3.8, max_charge_voltage_v=12 * 4.2, min_discharge_voltage_v=12
    )
    assert "below LMO's 1.95 V lower protection limit" in lmo["reasons"]
    fits = grade_one(**lfp, max_charge_voltage_v=12 * 3.65, min_discharge_voltage_v=12 * 2.5)
    assert fits["fail__gate.chemistry_voltage"] is False
    reason = {r.rule: r for r in decisions_from_row(fits, PROFILE)[0].reasons}
    assert "fits LFP" in reason["gate.chemistry_voltage"].message
    unmeasured = grade_one(**lfp, max_charge_voltage_v=None, min_discharge_voltage_v=None)
    assert unmeasured["unchecked__gate.chemistry_voltage"] is True
