"""`echelon batteries --format grading`: registered units as a table `echelon grade` reads."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.grading import GRADING_SCHEMA
from tests.conftest import empty_registry

runner = CliRunner()
DAY = "2026-11-22"
DECIDED = ["battery_id", "gate", "grade", "route"]


def demo(tmp_path: Path, name: str, *extra: str) -> str:
    """A registry holding a 30-unit synthetic batch that arrived on DAY; its URL."""
    db = f"sqlite:///{tmp_path / name}.db"
    args = ["demo", "--n", "30", "--seed", "5", "--date", DAY, "--workers", "0", "--db", db,
            "--out", str(tmp_path / name)]  # fmt: skip
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture(scope="module")
def eu_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return demo(tmp_path_factory.mktemp("eu"), "eu")


def listing(db: str, *filters: str) -> pl.DataFrame:
    result = runner.invoke(app, ["batteries", "--db", db, "--format", "csv", *filters])
    assert result.exit_code == 0, result.output
    return pl.read_csv(result.stdout.encode())


def regrade(table: Path, tmp_path: Path, *options: str) -> pl.DataFrame:
    out = tmp_path / f"decisions-{table.stem}.csv"
    result = runner.invoke(app, ["grade", str(table), "--as-of", DAY, "-o", str(out), *options])
    assert result.exit_code == 0, result.output
    return pl.read_csv(out).select(DECIDED)


def recorded(db: str) -> pl.DataFrame:
    return listing(db).filter(pl.col("gate").is_not_null()).select(DECIDED)


def same_units(regraded: pl.DataFrame, expected: pl.DataFrame) -> pl.DataFrame:
    return regraded.filter(pl.col("battery_id").is_in(expected["battery_id"].implode()))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_export_grades_to_what_the_registry_recorded(
    eu_db: str, tmp_path: Path, suffix: str
) -> None:
    table = tmp_path / f"units{suffix}"
    result = runner.invoke(
        app, ["batteries", "--db", eu_db, "--format", "grading", "-o", str(table)]
    )
    assert result.exit_code == 0, result.output
    assert f"30 batteries → {table}" in result.output
    expected = recorded(eu_db)
    assert expected["grade"].drop_nulls().n_unique() >= 3  # a batch whose grades differ
    assert expected["gate"].n_unique() == 2
    assert same_units(regrade(table, tmp_path), expected).equals(expected)


def test_stdout_is_the_grading_table_only(eu_db: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["batteries", "--db", eu_db, "--format", "grading"])
    assert result.exit_code == 0, result.output
    table = tmp_path / "piped.csv"
    table.write_text(result.stdout)
    frame = pl.read_csv(table)
    assert frame.columns == list(GRADING_SCHEMA)
    assert frame.height == 30
    assert frame["ocv_v"].null_count() == 0
    assert frame["soh_percent"].null_count() < 30
    assert same_units(regrade(table, tmp_path), recorded(eu_db)).equals(recorded(eu_db))


def test_regrading_under_another_profile_gives_that_profiles_decisions(
    eu_db: str, tmp_path: Path
) -> None:
    table = tmp_path / "units.parquet"
    args = ["batteries", "--db", eu_db, "--format", "grading", "-o", str(table)]
    assert runner.invoke(app, args).exit_code == 0
    cn = recorded(demo(tmp_path, "cn", "--profile", "cn"))
    assert not cn.equals(recorded(eu_db))  # China grades this batch differently
    assert same_units(regrade(table, tmp_path, "--profile", "cn"), cn).equals(cn)


@pytest.mark.parametrize(
    "filters",
    [["--status", "routed", "--grade", "A"], ["--chemistry", "nmc"], ["--level", "module"]],
    ids=["status+grade", "family", "level"],
)
def test_filters_export_the_units_they_list(eu_db: str, tmp_path: Path, filters: list[str]) -> None:
    listed = listing(eu_db, *filters)
    assert 0 < listed.height < 30
    table = tmp_path / "some.csv"
    args = ["batteries", "--db", eu_db, "--format", "grading", "-o", str(table), *filters]
    assert runner.invoke(app, args).exit_code == 0
    exported = pl.read_csv(table)
    assert exported["battery_id"].to_list() == listed["battery_id"].to_list()
    columns = ["battery_id", "chemistry", "level", "soh_percent", "dcir_ohm"]
    assert exported.select(columns).equals(listed.select(columns))


def test_an_empty_registry_or_no_match_exits_4_and_writes_nothing(
    eu_db: str, tmp_path: Path
) -> None:
    table = tmp_path / "none.csv"
    empty = empty_registry(tmp_path)
    result = runner.invoke(
        app, ["batteries", "--db", empty, "--format", "grading", "-o", str(table)]
    )
    assert result.exit_code == 4
    assert "holds no batteries: no grading table written" in result.stderr
    assert "echelon intake" in result.stderr
    assert not table.exists()
    args = ["batteries", "--db", eu_db, "--format", "grading", "--status", "recycled"]
    unmatched = runner.invoke(app, args)
    assert unmatched.exit_code == 4
    assert unmatched.stdout == ""
    assert "match --status recycled: no grading table written" in unmatched.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--format", "json", "-o", "x.csv"], "print JSON to stdout"),
     (["--format", "grading", "-o", "x.xlsx"], "cannot write .xlsx")],
)  # fmt: skip
def test_an_output_it_cannot_write_is_refused_before_the_registry_is_read(
    tmp_path: Path, args: list[str], message: str
) -> None:
    db = tmp_path / "never.db"
    result = runner.invoke(app, ["batteries", "--db", f"sqlite:///{db}", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not db.exists()


def test_the_listing_can_be_written_to_a_file_too(eu_db: str, tmp_path: Path) -> None:
    out = tmp_path / "listing.parquet"
    result = runner.invoke(app, ["batteries", "--db", eu_db, "-o", str(out)])
    assert result.exit_code == 0, result.output
    written, shown = pl.read_parquet(out), listing(eu_db)
    assert written.columns == shown.columns
    assert written.select(DECIDED).equals(shown.select(DECIDED))


def test_a_listing_without_match_says_so_on_stderr_only(tmp_path: Path) -> None:
    """`batteries --format csv > file` with no match leaves the file empty, not a sentence."""
    empty = empty_registry(tmp_path)
    result = runner.invoke(app, ["batteries", "--db", empty, "--format", "csv"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no batteries match" in result.stderr


def test_a_json_listing_without_match_is_an_empty_list(tmp_path: Path) -> None:
    """As `GET /api/batteries` answers `[]`: a JSON reader gets a document, not nothing."""
    empty = empty_registry(tmp_path)
    result = runner.invoke(app, ["batteries", "--db", empty, "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert "no batteries match" in result.stderr
