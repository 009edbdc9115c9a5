"""Operating a registry: the file store of a server database, concurrent intakes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from echelon.errors import RegistryError
from echelon.pipeline import intake
from echelon.registry import list_batteries, open_registry
from echelon.registry.store import server_store_problem
from echelon.settings import default_store_dir
from echelon.synth import SynthBatch
from tests.conftest import postgres_schema

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
