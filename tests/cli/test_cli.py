"""The CLI as users run it: exit codes, messages, and the main commands end to end."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from echelon.cli import app
from echelon.registry import open_registry
from echelon.synth import SynthBatch

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_demo_runs_and_writes_report(tmp_path: Path, db: str) -> None:
    out = tmp_path / "out"
    args = ["demo", "--n", "25", "--seed", "3", "--db", db, "--out", str(out), "--workers", "0",
            "--date", "2026-11-22"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Intake summary" in result.output
    assert "demo done" in result.output
    html = (out / "report.html").read_text()
    for marker in ("chart-grades", "chart-soh", "chart-routes", 'id="units"', "vegaEmbed"):
        assert marker in html
    # a second demo with the same seed and date changes nothing in the registry
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert "25 already registered" in again.output


def test_intake_list_show_verify(small_batch: SynthBatch, db: str) -> None:
    result = runner.invoke(app, ["intake", str(small_batch.manifest), "--db", db, "--workers", "0"])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["batteries", "--db", db, "--format", "csv"])
    frame = pl.read_csv(listed.output.encode())
    assert frame.height == 40
    assert {"status", "grade", "route", "soh_percent", "soh_method"} <= set(frame.columns)
    graded = frame.filter(pl.col("grade") == "A")
    if graded.height:
        only_a = runner.invoke(app, ["batteries", "--db", db, "--grade", "A", "--format", "json"])
        assert len(json.loads(only_a.output)) == graded.height
    # filters: spellings the manifest accepts, a family, and values that are not offered
    lfp = frame.filter(pl.col("chemistry") == "LFP").height
    by_alias = runner.invoke(app, ["batteries", "--db", db, "--chemistry", "LiFePO4", "--format",
                                   "csv"])  # fmt: skip
    assert by_alias.exit_code == 0, by_alias.output
    assert (pl.read_csv(by_alias.output.encode()).height if lfp else 0) == lfp
    nmc = frame.filter(pl.col("chemistry").str.starts_with("NMC")).height
    by_family = runner.invoke(app, ["batteries", "--db", db, "--chemistry", "nmc", "--format",
                                    "csv"])  # fmt: skip
    assert (pl.read_csv(by_family.output.encode()).height if nmc else 0) == nmc
    for option, value in (("--status", "bogus"), ("--chemistry", "kryptonite")):
        refused = runner.invoke(app, ["batteries", "--db", db, option, value])
        assert refused.exit_code == 2, refused.output
    routed = runner.invoke(app, ["batteries", "--db", db, "--status", "ROUTED", "--format", "csv"])
    assert (
        pl.read_csv(routed.output.encode()).height
        == frame.filter(pl.col("status") == "routed").height
    )
    some_id = frame.filter(pl.col("status") == "routed")["battery_id"][0]
    shown = runner.invoke(app, ["show", some_id, "--db", db])
    assert shown.exit_code == 0
    assert "decision · grade" in shown.output
    assert "gate.level: gate.level" not in shown.output  # the rule is named once
    assert "history" in shown.output
    as_json = json.loads(runner.invoke(app, ["show", some_id, "--db", db, "--json"]).output)
    assert as_json["battery"]["battery_id"] == some_id
    assert as_json["decisions"]
    verified = runner.invoke(app, ["verify", "--db", db])
    assert verified.exit_code == 0
    assert "verified" in verified.output


def test_tampering_fails_verify_with_exit_6(small_batch: SynthBatch, db: str) -> None:
    runner.invoke(app, ["intake", str(small_batch.manifest), "--db", db, "--workers", "0"])
    engine = sa.create_engine(db)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER events_append_only_update"))
        conn.execute(sa.text("UPDATE events SET kind = 'graded' WHERE id = 5"))
        bid, seq = conn.execute(sa.text("SELECT battery_id, seq FROM events WHERE id = 5")).one()
    engine.dispose()
    result = runner.invoke(app, ["verify", "--db", db])
    assert result.exit_code == 6
    assert f"{bid} event #{seq} (events.id=5)" in result.output


def test_bad_manifest_exit_3_without_traceback(tmp_path: Path, db: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text("battery_id,level,chemistry,nominal_capacity_ah\nA,cell,NMX,2\nB,cell,LFP,-1\n")
    result = runner.invoke(app, ["intake", str(path), "--db", db])
    assert result.exit_code == 3
    assert "row 1, column 'chemistry'" in result.output
    assert "row 2" in result.output
    assert "Traceback" not in result.output


def test_failed_units_give_exit_10(small_batch: SynthBatch, tmp_path: Path, db: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "battery_id,level,chemistry,nominal_capacity_ah,ocv_v,test_files\n"
        f"A,cell,LFP,2,3.3,capacity:{tmp_path / 'missing.csv'}\n"
    )
    result = runner.invoke(app, ["intake", str(path), "--db", db, "--workers", "0"])
    assert result.exit_code == 10
    assert "file not found" in result.output
    flat = " ".join(result.output.split())
    assert (
        "1 units: 0 recorded, 0 already registered (skipped), 1 failed (1 recorded as failed)"
        in flat
    )


def test_show_unknown_is_exit_4(db: str) -> None:
    open_registry(db).close()  # an empty registry (a missing file is exit 5)
    result = runner.invoke(app, ["show", "NOPE-1", "--db", db])
    assert result.exit_code == 4
    assert "no battery 'NOPE-1'" in result.output


def test_bad_db_url_is_exit_5(tmp_path: Path) -> None:
    result = runner.invoke(app, ["batteries", "--db", "nonsense://"])
    assert result.exit_code == 5
    missing = runner.invoke(app, ["batteries", "--db", f"sqlite:///{tmp_path}/no/such/dir/x.db"])
    assert missing.exit_code == 5
    assert "no registry at" in missing.output
    # a valid manifest: an invalid one is refused (exit 3) before the registry is opened
    (tmp_path / "m.csv").write_text(
        "battery_id,level,chemistry,nominal_capacity_ah\nE1,cell,LFP,100\n"
    )
    unwritable = runner.invoke(app, ["intake", str(tmp_path / "m.csv"), "--db",
                                     f"sqlite:///{tmp_path}/no/such/dir/x.db"])  # fmt: skip
    assert unwritable.exit_code == 5
    assert "cannot open the registry" in unwritable.output


def test_read_converts_to_bdf_parquet(small_batch: SynthBatch, tmp_path: Path) -> None:
    source = next((small_batch.folder / "tests").glob("*_pulse.csv"))
    target = tmp_path / "p.bdf.parquet"
    result = runner.invoke(app, ["read", str(source), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(target).columns[:3] == [
        "test_time_second",
        "voltage_volt",
        "current_ampere",
    ]
    garbage = tmp_path / "g.csv"
    garbage.write_text("hello\nworld\n")
    bad = runner.invoke(app, ["read", str(garbage)])
    assert bad.exit_code == 3
    assert "no reader recognises" in bad.output


def test_readers_and_version() -> None:
    assert "arbin_csv" in runner.invoke(app, ["readers"]).output
    assert runner.invoke(app, ["--version"]).output.startswith("echelon ")


def test_demo_refuses_a_foreign_folder_with_exit_2(tmp_path: Path, db: str) -> None:
    (tmp_path / "out" / "batch").mkdir(parents=True)
    (tmp_path / "out" / "batch" / "notes.txt").write_text("not the simulator's")
    result = runner.invoke(app, ["demo", "--n", "5", "--out", str(tmp_path / "out"), "--db", db])
    assert result.exit_code == 2
    assert "was not made by `echelon demo`" in result.output
    assert (tmp_path / "out" / "batch" / "notes.txt").exists()  # nothing deleted


def test_python_dash_m_runs_the_cli() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "echelon", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "echelon" in done.stdout.lower()


def test_cli_start_does_not_import_the_slow_optional_modules() -> None:
    """Starting the CLI imports neither Alembic (needed only when a database is opened) nor
    rfc3987-syntax (jsonschema's IRI checker, which builds a grammar at import: 4-7 s on every
    start before 2026-12-07) nor scipy.stats (0.3 s; the history forecast's fade test imports it
    when it runs). A structural check of the import graph, not a timing."""
    import subprocess
    import sys

    code = (
        "import sys, echelon.cli; "
        "print(sorted(m for m in ('alembic', 'rfc3987_syntax', 'scipy.stats') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_intake_as_of_dates_the_calendar_expiry_check(tmp_path: Path) -> None:
    """A unit that expires on 2026-06-30 passes an intake dated before that and fails the gate
    of one dated after; a date that is not YYYY-MM-DD is a usage error (exit 2)."""
    path = tmp_path / "m.csv"
    path.write_text(
        "battery_id,level,chemistry,nominal_capacity_ah,ocv_v,has_traceability,"
        "calendar_expiry_date\n"
        "E1,cell,LFP,100,3.3,yes,2026-06-30\n"
    )
    outcomes = {}
    for day in ("2026-01-15", "2026-12-01"):
        db = f"sqlite:///{tmp_path / (day + '.db')}"
        result = runner.invoke(app, ["intake", str(path), "--db", db, "--as-of", day])
        assert result.exit_code == 0, result.output
        shown = runner.invoke(app, ["show", "E1", "--db", db])
        outcomes[day] = " ".join(shown.output.split())
    assert "calendar-expiry" not in outcomes["2026-01-15"]
    assert "past the OEM calendar-expiry date 2026-06-30" in outcomes["2026-12-01"]
    bad = runner.invoke(app, ["intake", str(path), "--as-of", "30/06/2026"])
    assert bad.exit_code == 2


def test_read_of_a_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "cap.csv").write_text("x")
    result = runner.invoke(app, ["read", str(tmp_path)])
    assert result.exit_code == 3
    flat = " ".join(result.output.split())
    assert "is a folder, not a tester file (it holds 1 file(s), e.g. 'cap.csv')" in flat
    assert "not found" not in flat


def test_a_folder_in_test_files_says_it_is_a_folder(tmp_path: Path, db: str) -> None:
    (tmp_path / "tests").mkdir()
    path = tmp_path / "m.csv"
    path.write_text(
        "battery_id,level,chemistry,nominal_capacity_ah,test_files\nA,cell,LFP,2,tests\n"
    )
    result = runner.invoke(app, ["intake", str(path), "--db", db, "--workers", "0"])
    assert result.exit_code == 10
    flat = " ".join(result.output.split())
    assert "is a folder, not a tester file (it is empty)" in flat
    assert "name its tester files in test_files, separated by ';'" in flat
    # show says why the unit failed (it listed only a 'failed' event)
    shown = runner.invoke(app, ["show", "A", "--db", db])
    assert shown.exit_code == 0, shown.output
    flat = " ".join(shown.output.replace("│", "").split())
    assert "intake failed" in flat
    assert "is a folder, not a tester file" in flat
    assert "run the intake again" in flat


def test_intake_refuses_a_non_finite_set_before_recording(tmp_path: Path) -> None:
    """``--set price.ess=inf`` is a configuration error (exit 7) and no unit is recorded: the
    append-only registry cannot take back a decision worth $inf."""
    path = tmp_path / "m.csv"
    path.write_text(
        "battery_id,level,chemistry,nominal_capacity_ah,ocv_v,has_traceability\n"
        "E1,cell,LFP,100,3.3,yes\n"
    )
    db = f"sqlite:///{tmp_path / 'r.db'}"
    result = runner.invoke(app, ["intake", str(path), "--db", db, "--set", "price.ess=inf"])
    assert result.exit_code == 7, result.output
    assert "not a finite number" in " ".join(result.output.split())
    if (tmp_path / "r.db").exists():  # opened before the refusal: it must hold no unit
        listed = runner.invoke(app, ["batteries", "--db", db, "--format", "json"])
        assert listed.exit_code == 0, listed.output
        assert json.loads(listed.output) == []


OUTPUT_CASES = [
    ("regroup {t}/inv.csv -s 2 -p 1 --plot {t}/p.pdf", "give a .png, .svg or .html file"),
    ("regroup {t}/inv.csv -s 2 -p 1 -o {t}/packs.parquet", "cannot write .parquet; give a .csv"),
    ("recycle {t}/lot.csv -o {t}/afile", "afile is a file, not a folder"),
    ("recycle {t}/lot.csv -o {t}/afile/sub", "afile is a file, not a folder"),
    ("recycle-lots --year 2028 -o {t}/c.txt --db {db}", "give a .csv file"),
    ("certificate X-1 -o {t}/cert.txt --db {db}", "cannot write .txt; give a .html file"),
    ("passport X-1 -o {t}/p.txt --db {db}", "give a .json file"),
    ("flows {t}/sales.csv --plot {t}/f.pdf", "give a .png, .svg or .html file"),
    ("plot {t}/cap.csv --kind capacity -o {t}/x.pdf", "cannot write .pdf"),
    ("summarize {t}/cap.csv -o {t}/x.xlsx", "give a .csv or .parquet file"),
    ("soh predict {t}/d.csv --model {t}/m.soh.npz -o {t}/p.xlsx", "give a .csv file"),
    ("soh evaluate {t}/d.csv --model {t}/m.soh.npz --plot {t}/p.pdf", "cannot write .pdf"),
    ("intake {t}/manifest.csv --db {db} --report {t}/r.pdf", "give a .html file"),
    ("demo --db {db} --out {t}/afile", "afile is a file, not a folder"),
    ("forecast --history {t}/h.csv -o {t}/f.xlsx", "give a .csv or .parquet file"),
    ("forecast X-1 --application ess -o {t}/afile --db {db}", "afile is a file, not a folder"),
    ("read {t}/cap.csv -o {t}/out.csv", "cannot write .csv; give a .parquet file"),
    ("recycle-lots -o {t}/c.csv --db {db}", "give --year too"),
    ("forecast --history {t}/h.csv -o {t}/f.json", "Invalid value for -o/--out"),
    ("soh train {t}/d.csv -o {t}/m.json", "cannot write .json; give a .npz file"),
]
"""Commands with an output they cannot write, and the words of the refusal. The inputs do not
exist: a command that looked at them before its outputs would exit 3 or 4, not 2."""


@pytest.mark.parametrize(("command", "fragment"), OUTPUT_CASES)
def test_an_output_a_command_cannot_write_is_refused_before_any_work(
    tmp_path: Path, command: str, fragment: str
) -> None:
    """docs/cli.md: an output suffix the command cannot write (or a folder that is a file) exits 2,
    checked before any work is done — nothing is read, solved or written, no database created."""
    (tmp_path / "afile").write_text("")
    args = command.format(t=tmp_path, db=f"sqlite:///{tmp_path / 'none.db'}").split()
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    # rich wraps the message in its box wherever the (per-worker) temporary path ends
    assert "".join(fragment.split()) in "".join(result.output.replace("│", "").split())
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]
