"""Jurisdiction profiles: provenance, differences that matter, validation, choice by region."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from echelon.catalog import load_table
from echelon.catalog._loader import packaged_table_path
from echelon.domain import Application, Grade
from echelon.errors import ConfigError
from echelon.grading import grade_by_region, grade_table, load_profile, profile_for_region
from tests.grading.test_grading import unit

AS_OF = dt.date(2026, 11, 22)
JURISDICTIONS = {"baseline": "none", "eu": "EU", "cn": "CN", "us": "US"}


def pack(**kw: Any) -> dict[str, Any]:
    """A healthy 96S NMC622 EV pack with every measurement, traceability unknown, in the EU."""
    fields: dict[str, Any] = {
        "battery_id": "P1",
        "level": "pack",
        "series_count": 96,
        "nominal_capacity_ah": 150.0,
        "nominal_voltage_v": 345.6,
        "dcir_ohm": 0.12,
        "reference_dcir_ohm": 0.1,
        "ocv_v": 96 * 3.8,
        "insulation_mohm": 500.0,
        "has_traceability": None,
        "region": "EU",
    }
    return unit(**(fields | kw))


@pytest.mark.parametrize(("name", "jurisdiction"), JURISDICTIONS.items())
def test_every_profile_loads_with_provenance_and_marks_assumptions(
    name: str, jurisdiction: str
) -> None:
    profile = load_profile(name)
    assert profile.meta.jurisdiction == jurisdiction
    assert profile.meta.as_of
    assert profile.meta.source
    text = packaged_table_path(f"grading_{name}").read_text()
    assert "[assumption]" in text  # engineering defaults are marked as such
    assert all(band.source for band in profile.grade)
    for grade in Grade:
        for app in profile.applications_for(grade):
            assert app in {a.value for a in Application}
    assert profile.applications_for(Grade.D) == ()


def test_a_grade_serves_every_lower_grades_applications() -> None:
    profile = load_profile("eu")
    assert set(profile.applications_for(Grade.C)) <= set(profile.applications_for(Grade.B))
    assert set(profile.applications_for(Grade.B)) <= set(profile.applications_for(Grade.A))
    assert "ev_reman" in profile.applications_for(Grade.A)
    assert "ev_reman" not in profile.applications_for(Grade.B)


def test_china_requires_traceability_for_packs_the_eu_does_not() -> None:
    table = pl.DataFrame([pack()])
    eu = grade_table(table, profile="eu", as_of=AS_OF).row(0, named=True)
    cn = grade_table(table, profile="cn", as_of=AS_OF).row(0, named=True)
    assert eu["gate"] == "pass"
    assert cn["gate"] == "quarantine"
    assert "MIIT" in cn["reasons"]


def test_profile_is_chosen_by_region_and_order_is_kept() -> None:
    rows = [
        pack(battery_id="A", region="CN", has_traceability=True),
        pack(battery_id="B", region="US"),
        pack(battery_id="C", region="EU"),
        pack(battery_id="D", region="other"),
        pack(battery_id="E", region=None),
    ]
    graded, inputs = grade_by_region(pl.DataFrame(rows), as_of=AS_OF)
    assert graded["battery_id"].to_list() == list("ABCDE")
    assert graded["profile"].to_list() == [
        "grading_cn@3",
        "grading_us@3",
        "grading_eu@3",
        "grading_baseline@4",
        "grading_baseline@4",
    ]
    assert set(inputs) == set(graded["profile"])
    forced, _ = grade_by_region(pl.DataFrame(rows), profile="us", as_of=AS_OF)
    assert set(forced["profile"]) == {"grading_us@3"}
    empty, _ = grade_by_region(pl.DataFrame(rows).clear(), as_of=AS_OF)
    assert empty.height == 0
    assert "route" in empty.columns
    assert profile_for_region("CN") == "cn"
    assert profile_for_region("mars") == "baseline"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[gate]\n", "[gate]\nmax_temperature_c = 45\n"), "max_temperature_c"),
        (("soh_min_percent = 70.0", "soh_min_percent = 85.0"), "overlapping SOH bands"),
        (("resistance_ratio_max = 2.0", "resistance_ratio_max = 1.2"), "must widen"),
        (('C = ["telecom", "ups"]', 'C = ["telecom", "landfill"]'), "undefined applications"),
        (("D = []", 'D = ["ess"]'), "route D must be empty"),
        (('jurisdiction = "EU"', 'jurisdiction = "FR"'), "jurisdiction"),
        (("resistance_margin = 0.8", "resistance_margin = 1.5"), "resistance_margin"),
        (("[routing]\n", "[routing]\nmargin = 1\n"), "margin"),
        # before, these were accepted: fractional bands made a 59.99 % unit grade A
        (
            ("soh_min_percent = 80.0", "soh_min_percent = 0.8"),
            r"grade.0.soh_min_percent: .*write 80",
        ),
        (("LFP = 50.0", "LFP = 0.5"), r"soh_min_percent_by_family: LFP: .*write 50 for 50 %"),
        # before, these unit slips were accepted too (5 %/day as 0.05, 100 Ω/V as 0.1 kΩ/V)
        (
            (
                "self_discharge_max_percent_per_day = 5.0",
                "self_discharge_max_percent_per_day = 0.05",
            ),
            r"gate.self_discharge_max_percent_per_day: .*wrong unit\? .*write 5",
        ),
        (
            ("insulation_min_ohm_per_volt = 100.0", "insulation_min_ohm_per_volt = 0.1"),
            r"gate.insulation_min_ohm_per_volt: .*kΩ/V written for Ω/V: write 100",
        ),
        (('as_of = "2026-11-22"', 'as_of = "someday"'), r"meta.as_of: as_of 'someday' is not a"),
        (('source = "shared/', 'source = "  "\n# "'), r"meta.source: empty source"),
        (('ocv_source = "', 'ocv_source = ""\n# "'), r"gate.ocv_source: empty source"),
    ],
)
def test_an_edited_profile_is_validated_when_loaded(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    text = packaged_table_path("grading_eu").read_text()
    assert edit[0] in text
    path = tmp_path / "mine.toml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError, match=message):
        load_profile(path)


def test_a_copied_profile_loads_by_path(tmp_path: Path) -> None:
    copy = tmp_path / "my_cn.toml"
    shutil.copy(packaged_table_path("grading_cn"), copy)
    assert load_profile(copy) == load_profile("cn")
    assert load_table("grading_cn")["meta"]["jurisdiction"] == "CN"


def test_an_unknown_profile_lists_the_profiles() -> None:
    """Not the catalogue's internal table names: the profiles a user can pass (exit 2)."""
    from echelon.errors import UsageError
    from echelon.grading.profile import load_profile, profile_names

    assert {"baseline", "eu", "cn", "us"} <= set(profile_names())
    with pytest.raises(UsageError, match=r"no grading profile named 'xx'; available: baseline, cn"):
        load_profile("xx")
    assert load_profile("EU").meta.jurisdiction == load_profile("eu").meta.jurisdiction


def test_a_profile_is_loaded_in_any_case_as_it_is_listed(tmp_path: Path) -> None:
    """``grading_Facility.toml`` was listed as 'Facility' but loadable under no spelling."""
    from echelon.grading.profile import profile_names

    shutil.copy(packaged_table_path("grading_eu"), tmp_path / "grading_Facility.toml")
    assert "Facility" in profile_names(catalog_dir=tmp_path)
    eu = load_profile("eu")
    for spelling in ("Facility", "facility", "FACILITY"):
        assert load_profile(spelling, catalog_dir=tmp_path) == eu
    assert load_profile("Baseline", catalog_dir=tmp_path) == load_profile("baseline")
