"""Operating a registry: the file store of a server database, concurrent intakes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from echelon.errors import RegistryError
from echelon.pipeline import intake
from echelon.registry import Registry, UnitWrite, list_batteries, open_registry, verify
from echelon.registry.store import server_store_problem
from echelon.settings import default_store_dir
from echelon.synth import SynthBatch
from tests.conftest import postgres_schema
from tests.registry.test_registry import unit

SERVER = "postgresql+psycopg://postgres@db.example:5432/echelon"


def test_a_server_database_has_no_default_store() -> None:
    assert default_store_dir(SERVER) is None  # was ./echelon-store wherever a command ran
    assert default_store_dir("sqlite:///lab/echelon.db") == Path("lab/echelon-store")
    assert default_store_dir("sqlite://") == Path("echelon-store")


@pytest.mark.parametrize(
    ("root", "problem"),
    [
        (None, "is a server database and no file store is set"),
        (Path("echelon-store"), "its file store ECHELON_STORE_DIR='echelon-store' is a relative"),
        (Path("/srv/echelon-store"), ""),
    ],
)
def test_a_server_database_needs_an_absolute_store(root: Path | None, problem: str) -> None:
    message = server_store_problem(make_url(SERVER), root, "ECHELON_STORE_DIR")
    assert problem in message
    if problem:
        assert "set ECHELON_STORE_DIR to that folder's absolute path" in message
    assert server_store_problem(make_url("sqlite:///x.db"), root, "ECHELON_STORE_DIR") == ""


def test_a_postgresql_registry_without_a_store_reads_but_takes_in_nothing(
    small_batch: SynthBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECHELON_STORE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with postgres_schema() as (url, schema), open_registry(url, schema=schema) as registry:
        assert list_batteries(registry).height == 0  # reading rows needs no store
        with pytest.raises(RegistryError, match="no file store is set"):
            registry.store  # noqa: B018
        with pytest.raises(RegistryError, match="ECHELON_STORE_DIR"):
            intake(small_batch.manifest, registry=registry, workers=0)
        assert list_batteries(registry).height == 0
    assert not (tmp_path / "echelon-store").exists()


def test_a_postgresql_registry_uses_the_same_store_from_every_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared-store"
    monkeypatch.setenv("ECHELON_STORE_DIR", str(shared))
    with postgres_schema() as (url, schema):
        roots = []
        for station in ("station1", "station2"):
            (tmp_path / station).mkdir()
            monkeypatch.chdir(tmp_path / station)
            with open_registry(url, schema=schema) as registry:
                roots.append(registry.store.root)
        assert roots == [shared, shared]
        monkeypatch.setenv("ECHELON_STORE_DIR", "relative-store")
        with (
            open_registry(url, schema=schema) as registry,
            pytest.raises(RegistryError, match="'relative-store' is a relative path"),
        ):
            registry.store  # noqa: B018


def test_units_a_concurrent_intake_took_in_first_are_skipped_not_failed(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two intakes of one manifest at once: the other commits between this one's fingerprint
    check and its write (was: every unit an error with the raw uq_intakes_battery_fp message
    and a logged warning on PostgreSQL; the retry did not check the fingerprints again)."""
    theirs = [unit(f"R-{i}") for i in range(4)]
    registry.record_units(theirs)  # the other intake, committed first
    ours = [*theirs, unit("R-new")]
    monkeypatch.setattr(registry, "known_fingerprints", lambda _ids: {})  # checked before that
    with caplog.at_level(logging.WARNING):
        results = registry.record_units(ours)
    assert [r.result for r in results] == ["skipped"] * 4 + ["written"]
    assert all(r.error is None for r in results)
    assert not caplog.records
    assert verify(registry).ok
    assert list_batteries(registry).height == 5


def test_a_unit_taken_in_during_the_retry_is_skipped(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other intake commits while this one retries unit by unit: the unit whose write then
    clashes is skipped too (PostgreSQL; a SQLite retry holds the write lock, so no other intake
    commits then)."""
    if registry.engine.dialect.name == "sqlite":
        pytest.skip("a SQLite retry holds the write lock: no other writer commits meanwhile")
    before, other = unit("S-0"), unit("S-2")
    registry.record_units([before])  # makes the bulk write fail: retried unit by unit
    write = Registry._write

    def racing(self: Registry, conn: Connection, units: list[UnitWrite]) -> list[int]:
        if units == [other]:  # the other intake commits just before this unit's write
            monkeypatch.undo()
            registry.record_units([other])
        return write(self, conn, units)

    monkeypatch.setattr(Registry, "_write", racing)
    monkeypatch.setattr(registry, "known_fingerprints", lambda _ids: {})
    results = registry.record_units([before, unit("S-1"), other])
    assert [r.result for r in results] == ["skipped", "written", "skipped"]
    assert verify(registry).ok
