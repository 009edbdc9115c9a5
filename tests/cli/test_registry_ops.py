"""Operating a registry from the command line: a mistyped SQLite path, the file store of a
server database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.domain import Battery
from echelon.registry import list_batteries, open_registry
from echelon.synth import SynthBatch
from tests.conftest import postgres_schema
from tests.registry.test_registry import unit

runner = CliRunner()

READING = [
    ["batteries"],
    ["show", "X-1"],
    ["verify"],
    ["recycle-lots"],
    ["forecast", "X-1", "--application", "ess"],
    ["passport", "X-1", "--no-record"],
    ["certificate", "X-1", "--no-record"],
    ["recycle", "route:recycle", "--process", "hydro", "-o", "OUT"],
    ["regroup", "--from-registry", "-s", "2", "-p", "1"],
    ["serve", "--port", "0"],
    ["backup", "OUT"],
]
"""Commands that need registered units: none may make a new, empty registry."""


@pytest.mark.parametrize("command", READING, ids=lambda c: " ".join(c[:2]))
def test_a_missing_sqlite_file_is_refused_not_created(
    tmp_path: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_server(*_: object, **__: object) -> None:
        raise AssertionError("serve started a server on a registry that does not exist")

    monkeypatch.setattr("echelon.api.server.server", no_server)
    typo = tmp_path / "typo.db"
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    result = runner.invoke(app, [*args, "--db", f"sqlite:///{typo}"])
    assert result.exit_code == 5, result.output
    flat = " ".join(result.output.split())
    assert f"no registry at {typo}: the file does not exist" in flat
    assert "echelon intake MANIFEST" in flat
    assert not typo.exists()


def _in_schema(url: str, schema: str) -> str:
    """``url`` with the PostgreSQL schema ``schema`` as its search path (a test's own)."""
    return f"{url}?options=-csearch_path%3D{schema}"


def test_stations_of_a_postgresql_registry_share_one_store(
    small_batch: SynthBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reviewer's case: a lot recorded from station1 read from station2 (exit 4 when each
    working directory had its own ./echelon-store)."""
    monkeypatch.delenv("ECHELON_STORE_DIR", raising=False)
    stations = [tmp_path / "station1", tmp_path / "station2"]
    for station in stations:
        station.mkdir()
    with postgres_schema() as (url, schema):
        db = _in_schema(url, schema)
        monkeypatch.chdir(stations[0])
        take_in = ["intake", str(small_batch.manifest), "--db", db, "--workers", "0"]
        refused = runner.invoke(app, take_in)
        assert refused.exit_code == 5, refused.output
        assert "no file store is set" in " ".join(refused.output.split())
        assert runner.invoke(app, ["batteries", "--db", db]).exit_code == 0  # reading: no store
        monkeypatch.setenv("ECHELON_STORE_DIR", str(tmp_path / "shared-store"))
        assert runner.invoke(app, take_in).exit_code == 0
        recorded = runner.invoke(app, ["recycle", "route:recycle", "--process", "hydro",
                                       "--lot-id", "LOT-1", "-o", "out1", "--db", db])  # fmt: skip
        assert recorded.exit_code == 0, recorded.output
        monkeypatch.chdir(stations[1])
        again = runner.invoke(app, ["recycle", "lot:LOT-1", "-o", "out2", "--db", db])
        assert again.exit_code == 0, again.output
        assert (stations[1] / "out2" / "lot.json").is_file()
    assert not any((s / "echelon-store").exists() for s in stations)


def test_backup_copies_a_registry_in_use_and_its_store(tmp_path: Path) -> None:
    """`cp echelon.db` while a server has it open loses what is still in echelon.db-wal; the
    backup copies the database online, then its store, and verifies the copy."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    tester_file = tmp_path / "cap.csv"
    tester_file.write_text("time_s,voltage_v\n0,3.3\n")
    with open_registry(url, store_dir=tmp_path / "live-store") as registry:
        held = registry.engine.connect()  # as a server holds it
        registry.record_units([unit(f"B-{i}") for i in range(30)])
        digest = registry.store.put_raw(tester_file)
        assert (tmp_path / "live.db-wal").stat().st_size > 0  # the units are in the log
        args = ["backup", str(tmp_path / "bak"), "--db", url]
        made = runner.invoke(app, args, env={"ECHELON_STORE_DIR": str(tmp_path / "live-store")})
        again = runner.invoke(app, args)
        held.close()
    assert made.exit_code == 0, made.output
    flat = " ".join(made.output.split())
    assert f"to {tmp_path / 'bak' / 'live.db'} and its file store (1 files)" in flat
    assert "✓ verified 90 events of 30 batteries" in flat
    with open_registry(f"sqlite:///{tmp_path / 'bak' / 'live.db'}", create=False) as copy:
        assert list_batteries(copy).height == 30
        assert copy.store.raw_path(digest, ".csv").read_bytes() == tester_file.read_bytes()
    assert again.exit_code == 2  # a backup never overwrites another
    assert "exists: give a new or empty folder" in " ".join(again.output.split())


def test_backup_of_a_postgresql_registry_points_to_pg_dump() -> None:
    with postgres_schema() as (url, schema):
        result = runner.invoke(app, ["backup", "bak", "--db", _in_schema(url, schema)])
    assert result.exit_code == 2
    assert "back up a PostgreSQL registry with pg_dump" in " ".join(result.output.split())


def test_show_names_the_country_of_origin_apart_from_the_regulatory_region(
    tmp_path: Path,
) -> None:
    """Before 2026-12-07 the header read "region EU, US": the facility's regulatory region and
    the unit's country of origin as if both were regions."""
    from dataclasses import replace

    db = f"sqlite:///{tmp_path / 'r.db'}"
    abroad = unit("X-1")
    abroad = replace(
        abroad,
        battery=Battery.model_validate(
            abroad.battery.model_dump()
            | {"region": "EU", "country": "US", "origin_application": "automotive"}
        ),
    )
    with open_registry(db, store_dir=tmp_path / "store") as registry:
        registry.record_units([abroad, unit("X-2")])
    shown = " ".join(runner.invoke(app, ["show", "X-1", "--db", db]).output.split())
    assert "origin: automotive, from US; regulatory region EU; made" in shown
    plain = " ".join(runner.invoke(app, ["show", "X-2", "--db", db]).output.split())
    assert "origin: other; regulatory region other; made" in plain
