"""Commands that issue records refuse a unit whose event chain does not verify, as the API's
passport view does: before 2026-12-07 `echelon passport` and `echelon certificate` published
values edited in the database (and recorded that they did), and `echelon recycle` appended
events to such units."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.registry import events_frame, list_batteries, open_registry
from tests.conftest import registry_copy

runner = CliRunner()


def _tamper(url: str, *statements: str) -> None:
    """Run SQL on a SQLite registry behind Echelon's back."""
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        for sql in statements:
            conn.execute(sql)
        conn.commit()


def _events(url: str) -> int:
    with open_registry(url) as registry:
        return events_frame(registry).height


def _text(output: str) -> str:
    """``output`` with the console's line wrapping undone."""
    return " ".join(output.split())


@pytest.fixture
def copy(served_registry: str, tmp_path: Path) -> str:
    """URL of a copy of the served registry (40 units and one with an odd id) to alter."""
    return registry_copy(served_registry, tmp_path)


def test_passport_refuses_a_measurement_edited_in_the_database(
    copy: str, passport_data: Path, tmp_path: Path
) -> None:
    _tamper(
        copy,
        "UPDATE measurements SET value = 59.9 WHERE battery_id = 'PT-00001' "
        "AND quantity IN ('capacity_ah', 'soh_percent')",
    )
    before = _events(copy)
    out = tmp_path / "passport.json"
    for record in ("--record", "--no-record"):
        result = runner.invoke(
            app,
            ["passport", "PT-00001", "--db", copy, "--data", str(passport_data),
             "--in-service", "2027-03-01", "--allow-incomplete", "-o", str(out), record],
        )  # fmt: skip
        assert result.exit_code == 6, result.output
        text = _text(result.output)
        assert "PT-00001: the event chain does not verify — PT-00001 event #" in text
        assert "measurements rows differ from what the event recorded" in text
        assert "so no passport is written or recorded (`echelon verify` lists" in text
    assert not out.exists()
    assert _events(copy) == before  # no passport_issued event


def test_certificate_refuses_a_grade_edited_in_the_database(copy: str, tmp_path: Path) -> None:
    _tamper(
        copy, "UPDATE decisions SET outcome = 'A' WHERE battery_id = 'PT-00001' AND kind = 'grade'"
    )
    before = _events(copy)
    out = tmp_path / "cert.html"
    result = runner.invoke(app, ["certificate", "PT-00001", "--db", copy, "-o", str(out)])
    assert result.exit_code == 6, result.output
    assert "decisions rows differ from what the event recorded" in _text(result.output)
    assert "so no certificate is written or recorded" in _text(result.output)
    assert not out.exists()
    assert _events(copy) == before


def test_recycle_refuses_units_whose_chains_do_not_verify(copy: str, tmp_path: Path) -> None:
    with open_registry(copy) as registry:
        to_recycle = list_batteries(registry).filter(pl.col("route") == "recycle")
    edited, cut = to_recycle["battery_id"].to_list()[:2]
    _tamper(
        copy,
        f"UPDATE measurements SET value = 99.0 WHERE battery_id = '{edited}'",
        "DROP TRIGGER events_append_only_delete",
        f"DELETE FROM events WHERE battery_id = '{cut}' AND kind = 'routed'",
    )
    before = _events(copy)
    out = tmp_path / "lot"
    result = runner.invoke(app, ["recycle", "route:recycle", "--db", copy, "-o", str(out)])
    assert result.exit_code == 6, result.output
    text = _text(result.output)
    assert f"2 of the {to_recycle.height} units' chains do not verify" in text
    assert edited in text
    assert cut in text
    assert "so the lot is neither reported nor recorded" in text
    assert not out.exists()
    table = tmp_path / "lot.csv"  # a table naming a registered unit, to be recorded
    table.write_text(f"battery_id,chemistry,level,mass_kg\n{cut},LFP,cell,1\n")
    recorded = runner.invoke(app, ["recycle", str(table), "--db", copy, "--record", "-o", str(out)])
    assert recorded.exit_code == 6, recorded.output
    assert f"{cut}: the event chain does not verify" in _text(recorded.output)
    assert "its head record says" in _text(recorded.output)
    assert _events(copy) == before


def test_listings_and_show_flag_a_grade_edited_in_the_database(copy: str) -> None:
    """Before 2026-12-07 a grade edited from D to A was listed and shown as A without a flag
    (only the battery's web page warned)."""
    _tamper(
        copy, "UPDATE decisions SET outcome = 'A' WHERE battery_id = 'PT-00001' AND kind = 'grade'"
    )
    listed = runner.invoke(app, ["batteries", "--db", copy, "--grade", "A"])
    assert listed.exit_code == 0, listed.output
    text = _text(listed.output)
    assert "warning: 1 listed unit(s) show values their event chain does not prove" in text
    assert "PT-00001: grade A differs from what event #" in text
    as_csv = runner.invoke(app, ["batteries", "--db", copy, "--format", "csv"])
    frame = pl.read_csv(as_csv.stdout.encode())
    warned = frame.filter(pl.col("warning").is_not_null())
    assert warned["battery_id"].to_list() == ["PT-00001"]
    shown = runner.invoke(app, ["show", "PT-00001", "--db", copy])
    assert shown.exit_code == 0
    assert _text(shown.output).startswith("╭")
    assert "This battery's event chain does not verify" in _text(shown.output)
    assert "- PT-00001 event #" in _text(shown.output)  # the problem (wrapped in its panel)
    as_json = json.loads(runner.invoke(app, ["show", "PT-00001", "--db", copy, "--json"]).stdout)
    assert as_json["chain"]["ok"] is False
    assert as_json["chain"]["problems"][0]["battery_id"] == "PT-00001"
    clean = runner.invoke(app, ["show", "PT-00003", "--db", copy])
    assert "does not verify" not in clean.output


def test_one_value_edited_into_text_does_not_take_the_listing_down(copy: str) -> None:
    """Before 2026-12-07 every listing failed (exit 6) with polars' internals in the message,
    even one whose filter excludes the unit."""
    _tamper(
        copy,
        "UPDATE measurements SET value = 'abc' WHERE battery_id = 'PT-00002' "
        "AND quantity = 'soh_percent'",
    )
    with open_registry(copy) as registry:
        listed = list_batteries(registry)
    chemistry = listed.filter(pl.col("battery_id") == "PT-00002")["chemistry"][0]
    other = listed.filter(pl.col("chemistry") != chemistry)
    excluded = runner.invoke(app, ["batteries", "--db", copy, "--chemistry", other["chemistry"][0]])
    assert excluded.exit_code == 0, excluded.output
    assert "PT-00002" not in excluded.output
    listed = runner.invoke(app, ["batteries", "--db", copy, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    row = next(r for r in json.loads(listed.stdout) if r["battery_id"] == "PT-00002")
    assert row["soh_percent"] is None
    assert row["warning"].startswith("measurements.value = 'abc' is not a number")
    assert "PT-00002: measurements.value = 'abc' is not a number" in _text(listed.stderr)
    for internal in ("ComputeError", "infer_schema_length", "append value"):
        assert internal not in listed.output


def test_regroup_record_refuses_a_unit_whose_rows_were_edited(copy: str, tmp_path: Path) -> None:
    """Before 2026-12-07 `regroup --record` built a pack of a unit whose rows were edited in the
    database (its chain head intact) and appended a ``regrouped`` event to it."""
    out = tmp_path / "packs.csv"
    args = ["regroup", "--from-registry", "-s", "2", "-p", "1", "--db", copy, "-o", str(out)]
    planned = runner.invoke(app, args)
    assert planned.exit_code == 0, planned.output
    member = pl.read_csv(out)["battery_id"][0]
    _tamper(  # (a value the plan does not read: the same plan, now to be recorded)
        copy, f"UPDATE decisions SET profile_version = '9' WHERE battery_id = '{member}'"
    )
    before = _events(copy)
    result = runner.invoke(app, [*args, "--record"])
    assert result.exit_code == 6, result.output
    text = _text(result.output)
    members = pl.read_csv(out).height
    assert f"1 of the {members} units' chains do not verify" in text
    assert f"({member})" in text
    assert "decisions rows differ from what the event recorded" in text
    assert "so no pack is recorded" in text
    assert _events(copy) == before
