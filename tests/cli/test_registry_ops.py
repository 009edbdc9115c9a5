"""Operating a registry from the command line: a mistyped SQLite path, the file store of a
server database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.synth import SynthBatch
from tests.conftest import postgres_schema

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
