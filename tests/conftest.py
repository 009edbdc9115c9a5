"""Shared fixtures: real datasets (skipped when absent), registries on SQLite and PostgreSQL, and a
small synthetic batch written once per test session."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from echelon.registry import Registry
    from echelon.synth import SynthBatch


def _find_real_data() -> Path:
    """``../shared/datasets`` beside the checkout (or above it: worktrees live deeper);
    ``ECHELON_SHARED_DATASETS`` (or ``ECHELON_REAL_DATA``, ``ECHELON_DATASETS``) overrides."""
    override = (
        os.environ.get("ECHELON_SHARED_DATASETS")
        or os.environ.get("ECHELON_REAL_DATA")
        or os.environ.get("ECHELON_DATASETS")
    )
    if override:
        return Path(override)
    root = Path(__file__).resolve().parents[1]
    for folder in (root, *root.parents):
        candidate = folder.parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return root.parent / "shared" / "datasets"


REAL_DATA = _find_real_data()
BATTERYPASS = REAL_DATA.parent / "standards" / "batterypass-1.2.0"
"""The Battery Pass v1.2.0 JSON schemas, read in place (``../shared/standards``)."""
PG_ENV = "ECHELON_TEST_DATABASE_URL"
ARRIVAL = dt.date(2026, 11, 22)
"""Fixed arrival date so synthetic batches are identical on every run."""


@pytest.fixture
def real_dataset() -> Callable[[str], Path]:
    """``get(name)`` → path of a dataset in ../shared/datasets, or skip with the reason."""

    def get(name: str) -> Path:
        path = (REAL_DATA / name).resolve()
        if not path.is_dir():
            pytest.skip(
                f"real dataset {name!r} not found at {path} (shared datasets folder "
                "absent, e.g. outside this project's CI)"
            )
        return path

    return get


@pytest.fixture
def batterypass_dir() -> Path:
    """The Battery Pass v1.2.0 schema folder, or skip with the reason."""
    if not (BATTERYPASS / "Performance").is_dir():
        pytest.skip(
            f"Battery Pass v1.2.0 schemas not found at {BATTERYPASS} (../shared/standards absent, "
            "e.g. outside this project's CI)"
        )
    return BATTERYPASS


@contextmanager
def postgres_schema() -> Iterator[tuple[str, str]]:
    """``(url, schema)``: a new schema on the test server, dropped afterwards (skips when
    :data:`PG_ENV` is not set)."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(
            f"{PG_ENV} not set: PostgreSQL backend not exercised (.ci/run sets it when "
            "a server answers on 127.0.0.1:5432)"
        )
    import sqlalchemy as sa

    schema = f"echelon_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url, schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _postgres_registry(tmp_path: Path) -> Iterator[Registry]:
    from echelon.registry import open_registry

    with postgres_schema() as (url, schema):
        registry = open_registry(url, store_dir=tmp_path / "store", schema=schema)
        try:
            yield registry
        finally:
            registry.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """A fresh, migrated registry on SQLite and (when configured) on a real PostgreSQL server."""
    from echelon.registry import open_registry

    if request.param == "sqlite":
        reg = open_registry(f"sqlite:///{tmp_path / 'echelon.db'}", store_dir=tmp_path / "store")
        try:
            yield reg
        finally:
            reg.close()
    else:
        yield from _postgres_registry(tmp_path)


@pytest.fixture
def sqlite_registry(tmp_path: Path) -> Iterator[Registry]:
    """A fresh SQLite registry (for tests that do not need both backends)."""
    from echelon.registry import open_registry

    reg = open_registry(f"sqlite:///{tmp_path / 'echelon.db'}", store_dir=tmp_path / "store")
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture(scope="session")
def small_batch(tmp_path_factory: pytest.TempPathFactory) -> SynthBatch:
    """A 40-unit synthetic batch (files written once per session; treat as read-only)."""
    from echelon.synth import write_batch

    folder = tmp_path_factory.mktemp("batch")
    return write_batch(folder, n=40, seed=7, arrival_date=ARRIVAL, workers=0)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[object]:
    """A headless Chromium driven by Playwright (skipped when /usr/bin/chromium is absent)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (.ci/run installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


PASSPORT_EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "passport-data.yaml"
LOCAL = "http://localhost"
"""Base URL of the tests' clients: the app answers its allowed hosts only (not ``testserver``)."""
ODD_ID = "PT/00001#A:1+x"
"""A battery id with the characters a URL treats specially (``/``, ``#``, ``:``, ``+``)."""


def intake_as(batch: SynthBatch, registry: Registry, battery_ids: list[str], folder: Path) -> None:
    """Take PT-00001's manifest row and tester files of ``batch`` in again under each of
    ``battery_ids`` (ids with characters a URL treats specially)."""
    import polars as pl

    from echelon.pipeline import intake

    base = batch.manifest.parent
    row = pl.read_csv(batch.manifest, infer_schema_length=0).filter(
        pl.col("battery_id") == "PT-00001"
    )
    files = ";".join(
        f"{kind}:{base / path}"
        for kind, path in (ref.split(":", 1) for ref in row.item(0, "test_files").split(";"))
    )
    manifest = folder / "again.csv"
    pl.concat(
        [row.with_columns(battery_id=pl.lit(i), test_files=pl.lit(files)) for i in battery_ids]
    ).write_csv(manifest)
    intake(manifest, registry=registry, workers=0)


@pytest.fixture(scope="session")
def served_registry(small_batch: SynthBatch, tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a SQLite registry filled by intake of ``small_batch``, plus :data:`ODD_ID` (PT-00001's
    manifest row and tester files under that id). Read-only: tests must not write to it (copy it
    with :func:`registry_copy`)."""
    from echelon.pipeline import intake
    from echelon.registry import open_registry

    folder = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{folder / 'served.db'}"
    with open_registry(url, store_dir=folder / "store") as registry:
        intake(small_batch.manifest, registry=registry, workers=0)
        intake_as(small_batch, registry, [ODD_ID], folder)
    return url


@pytest.fixture(scope="session")
def passport_data(small_batch: SynthBatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A facility data file (docs/passport.md) for PT-00001's model, from the example's first
    model: the sections it completes are exported, Performance (no battery-level data) is not."""
    import polars as pl
    import yaml

    from echelon.passport import load_passport_data

    example = load_passport_data(PASSPORT_EXAMPLE)
    manifest = pl.read_csv(small_batch.manifest, infer_schema_length=0)
    model = manifest.filter(pl.col("battery_id") == "PT-00001").item(0, "model")
    path = tmp_path_factory.mktemp("facility") / "facility.yaml"
    document = {
        "namespace": example.namespace,
        "operator": example.operator,
        "models": {model: next(iter(example.models.values()))},
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def empty_registry(folder: Path) -> str:
    """URL of a new, empty SQLite registry in ``folder`` (the server opens existing files only)."""
    from echelon.registry import open_registry

    url = f"sqlite:///{folder / 'empty.db'}"
    open_registry(url, store_dir=folder / "store").close()
    return url


def registry_copy(served_registry: str, folder: Path) -> str:
    """URL of a copy of the served registry's database in ``folder`` (to write to)."""
    import sqlite3
    from contextlib import closing

    copy = folder / "copy.db"
    with (
        closing(sqlite3.connect(served_registry.removeprefix("sqlite:///"))) as source,
        closing(sqlite3.connect(copy)) as target,
    ):
        source.backup(target)  # consistent while the served registry is open elsewhere (WAL)
    return f"sqlite:///{copy}"


TAMPERED: dict[str, list[str]] = {
    "PT-00001": [  # the reviewer's case: an outcome edited in the database
        "UPDATE decisions SET outcome = 'A' WHERE battery_id = 'PT-00001' AND kind = 'grade'"
    ],
    "PT-00002": [  # an event edited, past the append-only trigger
        "DROP TRIGGER events_append_only_update",
        "UPDATE events SET recorded_at = '2020-01-01T00:00:00.000000Z' "
        "WHERE battery_id = 'PT-00002' AND seq = 1",
    ],
}
"""SQL run on a copy of the served registry behind Echelon's back, by the battery it alters."""
TAMPER_PROBLEMS = {
    "PT-00001": "decisions rows differ from what the event recorded",
    "PT-00002": "content does not match its hash (event edited)",
}
"""The problem :func:`echelon.registry.verify` finds in each :data:`TAMPERED` battery."""


@pytest.fixture(scope="module")
def tampered_client(
    served_registry: str, passport_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """A client on a copy of the served registry altered by :data:`TAMPERED`, with
    :func:`passport_data`."""
    import sqlite3
    from contextlib import closing

    from fastapi.testclient import TestClient

    from echelon.api import create_app

    url = registry_copy(served_registry, tmp_path_factory.mktemp("tampered"))
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        for statements in TAMPERED.values():
            for sql in statements:
                conn.execute(sql)
        conn.commit()
    with TestClient(create_app(url, passport_data=passport_data), base_url=LOCAL) as client:
        yield client


@pytest.fixture(scope="module")
def passport_client(served_registry: str, passport_data: Path) -> Iterator[TestClient]:
    """A FastAPI TestClient on :func:`create_app` of the served registry and
    :func:`passport_data`."""
    from fastapi.testclient import TestClient

    from echelon.api import create_app

    with TestClient(create_app(served_registry, passport_data=passport_data), base_url=LOCAL) as c:
        yield c


@pytest.fixture(scope="module")
def api_client(served_registry: str) -> Iterator[TestClient]:
    """A FastAPI TestClient on :func:`create_app` of the served registry."""
    from fastapi.testclient import TestClient

    from echelon.api import create_app

    with TestClient(create_app(served_registry), base_url=LOCAL) as client:
        yield client
