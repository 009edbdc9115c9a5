"""`echelon grade`, `echelon certificate` and `echelon applications` as users run them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.registry import battery_record, open_registry, verify
from echelon.synth import SynthBatch

runner = CliRunner()
CONTRACT = ["battery_id", "gate", "grade", "route", "allowed_applications", "value_usd", "reasons"]
TABLE = """battery_id,chemistry,level,nominal_capacity_ah,nominal_voltage_v,soh_percent,measured_capacity_ah,soh_lower_percent,dcir_ohm,ocv_v,self_discharge_mv_per_day,insulation_mohm,visual_flags,has_traceability,calendar_expiry_date
M1,NMC622,module,60,43.2,90,,88,0.012,44.0,10,,,yes,2035-01-01
M2,LFP,module,100,51.2,,78,,0.015,52.6,5,,,yes,
P1,NMC811,pack,150,355,85,,,0.1,370,,500,,,
Q1,NMC622,module,60,43.2,90,,,0.012,44.0,10,,swelling,yes,
X1,,module,,,,,,,,,,,,
"""  # noqa: E501


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "units.csv"
    path.write_text(TABLE)
    return path


@pytest.mark.parametrize("profile", ["eu", "cn", "us"])
def test_grade_writes_the_documented_columns(tmp_path: Path, table: Path, profile: str) -> None:
    out = tmp_path / f"decisions-{profile}.csv"
    result = runner.invoke(app, ["grade", str(table), "--profile", profile, "-o", str(out)])
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(out)
    assert frame.columns[: len(CONTRACT)] == CONTRACT
    assert frame["battery_id"].to_list() == ["M1", "M2", "P1", "Q1", "X1"]
    rows = {r["battery_id"]: r for r in frame.iter_rows(named=True)}
    assert rows["Q1"]["gate"] == "quarantine"
    assert rows["Q1"]["route"] == "recycle"
    assert "visual damage: swelling" in rows["Q1"]["reasons"]
    assert rows["X1"]["route"] == "recycle"
    assert "OCV not measured" in rows["X1"]["reasons"]
    # from the measured capacity, with the capacity test's uncertainty (as at intake)
    assert rows["M2"]["soh_basis_percent"] == pytest.approx(78.0 * 0.99)
    assert rows["M2"]["soh_source"] == "capacity_test"
    assert set(frame["profile"]) == {f"grading_{profile}@3"}
    # CN: packs need traceability data (MIIT 2021); the EU and US do not
    assert (rows["P1"]["gate"] == "quarantine") is (profile == "cn")
    for row in rows.values():
        if row["route"] not in ("recycle", "retest"):
            assert row["route"] in row["allowed_applications"].split(";")
            assert row["value_usd"] == pytest.approx(row["reuse_value_usd"])


@pytest.mark.parametrize(
    ("profile", "conditions"),
    [
        ("cn", {"cn.nea_large_ess", "cn.miit_2021"}),
        ("us", {"us.ul1974", "us.ul9540", "us.same_model"}),
        ("eu", {"eu.new_product"}),
        ("baseline", set()),
    ],
)
def test_grade_output_names_the_route_conditions(
    tmp_path: Path, profile: str, conditions: set[str]
) -> None:
    """An EV module routed to ESS carries its jurisdiction's conditions (CN: small/distributed
    ESS only) in the grading table, as the route decision does."""
    units = tmp_path / "ev.csv"
    units.write_text(
        "battery_id,chemistry,level,nominal_capacity_ah,nominal_voltage_v,soh_percent,"
        "soh_lower_percent,dcir_ohm,ocv_v,insulation_mohm,has_traceability,origin_application,"
        "series_count\nE1,NMC622,module,60,43.2,75,74,0.012,44.0,500,yes,automotive,12\n"
    )
    out = tmp_path / "d.csv"
    args = ["grade", str(units), "--profile", profile, "--set", "price.ess=60", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    row = pl.read_csv(out).row(0, named=True)
    assert row["route"] == "ess"
    listed = row["route_conditions"] or ""
    assert {item.split(":", 1)[0].strip() for item in listed.split(";") if ":" in item} == (
        conditions
    )
    if profile == "cn":
        assert "small or distributed ESS only" in listed


def test_grade_takes_parquet_and_price_overrides(tmp_path: Path, table: Path) -> None:
    parquet = tmp_path / "units.parquet"
    pl.read_csv(table).write_parquet(parquet)
    out = tmp_path / "d.parquet"
    args = ["grade", str(parquet), "--profile", "eu", "-o", str(out), "--set", "price.ess=0.1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    assert set(frame["economics"]) == {"routing_economics@1 (price.ess=0.1)"}
    assert "ess" not in frame["route"].to_list()


def test_grade_prints_a_summary_without_output(table: Path) -> None:
    result = runner.invoke(app, ["grade", str(table), "--profile", "eu"])
    assert result.exit_code == 0, result.output
    assert "Decisions" in result.output
    assert "first 5 of 5 units" in result.output


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--profile", "fr"], 2, "no grading profile named 'fr'; available: baseline"),
        (["--set", "price.bess=3"], 7, "did you mean 'ess'"),
        (["--set", "price.ess=inf"], 7, "inf is not a finite number"),
        (["-o", "decisions.xlsx"], 2, "give a .csv or .parquet file"),
        (["--as-of", "22/11/2026"], 2, "'22/11/2026' is not a YYYY-MM-DD date"),
    ],
)
def test_grade_refuses_bad_options_with_a_reason(
    table: Path, tmp_path: Path, args: list[str], code: int, fragment: str
) -> None:
    args = [a.replace("decisions.xlsx", str(tmp_path / "decisions.xlsx")) for a in args]
    result = runner.invoke(app, ["grade", str(table), *args])
    assert result.exit_code == code
    assert fragment in " ".join(result.output.split())


def test_grade_checks_the_output_type_before_grading(table: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["grade", str(table), "-o", str(tmp_path / "d.xlsx")])
    assert result.exit_code == 2  # a bad option value (docs/cli.md), not a configuration error
    assert "Decisions" not in result.output  # refused before any unit was graded
    assert list(tmp_path.iterdir()) == [table]


def _refused(path: Path, content: str) -> str:
    """Grade a table that must be refused as bad input (exit 3); the output on one line."""
    path.write_text(content)
    result = runner.invoke(app, ["grade", str(path)])
    assert result.exit_code == 3, result.output
    return " ".join(result.output.split())


def test_grade_refuses_a_bad_table_naming_row_and_column(tmp_path: Path) -> None:
    text = _refused(tmp_path / "bad.csv", "battery_id,level,soh_percent\nU1,modul,abc\n")
    assert "row 1, column 'soh_percent': 'abc' is not a number" in text
    assert "did you mean 'module'" in text


def test_grade_reads_numbers_written_with_their_columns_unit(tmp_path: Path, table: Path) -> None:
    """Cells typed as '90 %', '44.0 V', '500 MΩ' grade as the bare numbers do; a DCIR in mΩ in
    the Ω column is refused (exit 3) with the number to write, never converted silently."""
    rows = TABLE.splitlines()
    rows[1] = "M1,NMC622,module,60 Ah,43.2V,90 %,,88%,0.012 Ω,44.0 V,10 mV/d,,,yes,2035-01-01"
    rows[3] = "P1,NMC811,pack,150 Ah,355 V,85%,,,0.1 Ohm,370V,,500 MΩ,,,"
    with_units = tmp_path / "with_units.csv"
    with_units.write_text("\n".join(rows) + "\n", encoding="utf-8")
    decisions = []
    for path in (table, with_units):
        out = tmp_path / f"{path.stem}-decisions.csv"
        result = runner.invoke(app, ["grade", str(path), "--profile", "eu", "-o", str(out)])
        assert result.exit_code == 0, result.output
        decisions.append(pl.read_csv(out))
    assert decisions[1].equals(decisions[0])
    text = _refused(tmp_path / "mohm.csv", TABLE.replace(",0.015,", ",15 mΩ,"))
    assert (
        "row 2, column 'dcir_ohm': '15 mΩ' is in mΩ, not in Ω as the column's name says: "
        "write 0.015" in text
    )


def test_grade_names_the_missing_id_column_and_what_to_rename(tmp_path: Path) -> None:
    text = _refused(tmp_path / "g_bad.csv", "id,chemistry,level\nU1,LFP,cell\n")
    assert "column 'battery_id': required column missing (the table has 'id', 'chemistry'" in text
    assert "rename 'id'" in text


def test_grade_warns_once_about_columns_the_whole_table_lacks(tmp_path: Path) -> None:
    listing = tmp_path / "units.csv"  # like `echelon batteries --format csv`: no OCV, rating, …
    listing.write_text(
        "battery_id,level,chemistry,model,status,gate,grade,route,soh_percent,dcir_ohm\n"
        "C1,cell,LFP,X,routed,pass,A,ess,91,0.002\nC2,cell,LFP,X,routed,pass,B,ess,75,0.003\n"
    )
    result = runner.invoke(app, ["grade", str(listing), "--profile", "cn"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert text.count("column ocv_v absent: every unit fails the safety gate's OCV check") == 1
    assert "column has_traceability absent" in text
    assert "column nominal_capacity_ah absent" in text
    assert "soh_percent" not in text.split("Decisions")[0]  # present: no warning about it


def test_grade_does_not_warn_about_a_complete_table(tmp_path: Path) -> None:
    full = pl.read_csv(TABLE.encode(), infer_schema=False).with_columns(
        pl.lit("false").alias("plating_signature")
    )
    path = tmp_path / "full.csv"
    full.write_csv(path)
    result = runner.invoke(app, ["grade", str(path), "--profile", "eu"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_grade_refuses_implausible_values_like_intake(tmp_path: Path) -> None:
    bad = tmp_path / "m.csv"
    bad.write_text(
        TABLE.replace("M1,NMC622,module,60,43.2,90,,88,", "M1,NMC622,module,60,43.2,0.9,,0.88,")
    )
    result = runner.invoke(app, ["grade", str(bad), "--profile", "cn"])
    assert result.exit_code == 3  # bad input, nothing graded (as for every unreadable cell)
    text = " ".join(result.output.split())
    assert str(bad) in text
    assert (
        "row 1, column 'soh_percent': 0.9 outside the plausible range [1.5, 150] "
        "(wrong unit? SOH written as a fraction: write 90)" in text
    )
    assert "Decisions" not in text


def test_applications_lists_requirements_and_restrictions() -> None:
    result = runner.invoke(app, ["applications", "--profile", "cn"])
    assert result.exit_code == 0, result.output
    for fragment in ("auto12v", "telecom", "cn.gb43854_ebike", "forbid"):
        assert fragment in result.output


def test_applications_shows_an_application_the_profile_forbids_with_no_grade() -> None:
    """CN forbids e-bike reuse (GB 43854-2024): the listing showed it allowed for grade A."""

    def grades(profile: str) -> str:
        """The e-bike row's grades cell, its folded lines joined."""
        lines = runner.invoke(app, ["applications", "--profile", profile]).output.splitlines()
        at = next(i for i, line in enumerate(lines) if "│ ebike" in line)
        cell = [lines[at].split("│")[2]]
        for line in lines[at + 1 :]:
            cells = line.split("│")
            if len(cells) < 3 or cells[1].strip():
                break
            cell.append(cells[2])
        return "".join("".join(cell).split())

    assert grades("cn") == "—(forbidden:cn.gb43854_ebike)"
    assert grades("baseline") == "A"


def test_applications_help_gives_its_real_default() -> None:
    """The command has no units: its --profile default is baseline, not "each unit's region"."""
    shown = " ".join(runner.invoke(app, ["applications", "--help"]).output.split())
    assert "each unit's region" not in shown
    assert "[default: baseline]" in shown
    assert "grading_baseline@" in runner.invoke(app, ["applications"]).output


def test_intake_grades_with_the_region_profile_then_certifies(
    small_batch: SynthBatch, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    result = runner.invoke(app, ["intake", str(small_batch.manifest), "--db", db, "-j", "0"])
    assert result.exit_code == 0, result.output
    listed = pl.read_csv(
        runner.invoke(app, ["batteries", "--db", db, "--format", "csv"]).output.encode()
    )
    unit = listed.filter(pl.col("route").is_in(["ess", "ups", "telecom", "ev_reman", "lsv"]))
    some_id = (unit if unit.height else listed.filter(pl.col("gate").is_not_null()))["battery_id"][
        0
    ]
    shown = json.loads(runner.invoke(app, ["show", some_id, "--db", db, "--json"]).output)
    route = next(d for d in shown["decisions"] if d["kind"] == "route")
    assert route["profile"] == "grading_eu"  # the synthetic batch arrives in the EU
    assert route["inputs"]["economics"] == "routing_economics@1"
    text = runner.invoke(app, ["show", some_id, "--db", db]).output
    assert "decision · route" in text
    assert "route.choice" in text

    cert = tmp_path / "certs" / "cert.html"
    issued = runner.invoke(app, ["certificate", some_id, "--db", db, "-o", str(cert)])
    assert issued.exit_code == 0, issued.output
    html = cert.read_text()
    for fragment in (
        "Grading certificate",
        some_id,
        "grading_eu@3",
        "Safety gate",
        "gate.ocv_window",
        "<svg",
        "Route:",
    ):
        assert fragment in html
    with open_registry(db) as registry:
        record = battery_record(registry, some_id)
        assert record.events[-1].kind == "certificate_issued"
        assert record.events[-1].payload["sha256"] == hashlib.sha256(cert.read_bytes()).hexdigest()
        assert verify(registry).ok
    missing = runner.invoke(app, ["certificate", "NOPE-1", "--db", db, "-o", str(cert)])
    assert missing.exit_code == 4


def test_set_keeps_the_economics_table_a_profile_names(
    table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A facility profile routes with its own price table (ups 30 USD/(kWh·y)); ``--set
    labour.EU=55`` overrides that table's labour rate and keeps its prices (it used to swap
    every price back to the packaged table's, ups 9)."""
    from echelon.catalog._loader import packaged_table_path

    folder = tmp_path / "catalog"
    folder.mkdir()
    profile = packaged_table_path("grading_eu").read_text()
    (folder / "grading_fac.toml").write_text(
        profile.replace('name = "grading_eu"', 'name = "grading_fac"').replace(
            'economics = "routing_economics"', 'economics = "facility_econ"'
        )
    )
    econ = packaged_table_path("routing_economics").read_text()
    (folder / "facility_econ.toml").write_text(
        econ.replace('name = "routing_economics"', 'name = "facility_econ"').replace(
            "usd_per_kwh_year = 9.0", "usd_per_kwh_year = 30.0", 1
        )
    )
    monkeypatch.setenv("ECHELON_CATALOG_DIR", str(folder))
    out = tmp_path / "d.csv"
    args = ["grade", str(table), "--profile", "fac", "--set", "labour.EU=55", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(out)
    assert set(frame["economics"]) == {"facility_econ@1 (labour.EU=55)"}


def test_grade_names_the_profile_and_says_when_it_fell_back_to_baseline(
    tmp_path: Path, table: Path
) -> None:
    """No region column and no --profile: the baseline profile, said on stderr and named in
    the summary (it was silent)."""
    result = runner.invoke(app, ["grade", str(table)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "no region column and no --profile" in text
    assert "baseline profile grading_baseline@4" in text
    assert "Decisions (profile grading_baseline@4)" in text
    chosen = runner.invoke(app, ["grade", str(table), "--profile", "cn"])
    assert "no region column" not in chosen.output
    assert "Decisions (profile grading_cn@3)" in " ".join(chosen.output.split())
    regions = tmp_path / "regions.csv"
    pl.read_csv(table).with_columns(region=pl.lit("EU")).write_csv(regions)
    by_region = runner.invoke(app, ["grade", str(regions)])
    assert "no region column" not in by_region.output
    assert "Decisions (profile grading_eu@3)" in " ".join(by_region.output.split())
