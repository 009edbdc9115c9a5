"""Echelon's exceptions become HTTP status codes in one place, with their messages."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from echelon.api import HTTP_STATUS, create_app, status_for
from echelon.errors import (
    CatalogError,
    ChainError,
    ConfigError,
    DiagnosticsError,
    EchelonError,
    InputError,
    ManifestError,
    NotFoundError,
    PassportError,
    RegistryError,
    UsageError,
)
from tests.conftest import LOCAL, PG_ENV


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (UsageError("--status x"), 422),
        (InputError("f.yaml", ["bad"]), 422),
        (ManifestError("m.csv", ["bad"]), 422),  # a subclass takes its base's status
        (NotFoundError("no battery"), 404),
        (PassportError("recycled"), 409),
        (RegistryError("server down"), 503),
        (ChainError("broken"), 409),  # a RegistryError, but not an unreachable one
        (ConfigError("bad profile"), 500),
        (CatalogError("missing table"), 500),
        (DiagnosticsError("no discharge"), 500),
        (EchelonError("other"), 500),
        (RuntimeError("bug"), 500),
    ],
)
def test_status_for(exc: BaseException, status: int) -> None:
    assert status_for(exc) == status


def test_most_specific_classes_come_first() -> None:
    for i, (cls, _) in enumerate(HTTP_STATUS):
        assert not any(issubclass(cls, earlier) for earlier, _ in HTTP_STATUS[:i])


def test_an_unreachable_registry_is_503(
    api_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down() -> None:
        raise RegistryError("the registry at sqlite:///x.db does not answer: disk I/O error")

    monkeypatch.setattr(api_client.app.state.echelon.registry, "ping", down)  # type: ignore[attr-defined]
    response = api_client.get("/api/health")
    assert response.status_code == 503
    assert response.json() == {
        "error": "RegistryError",
        "detail": "the registry at sqlite:///x.db does not answer: disk I/O error",
    }


@pytest.mark.parametrize(
    ("raised", "error", "words"),
    [
        (ConfigError("catalogue table 'grading_eu' is invalid: …"), "ConfigError", ["grading_eu"]),
        (RuntimeError("boom"), "InternalError", ["RuntimeError: boom", "bug in Echelon"]),
    ],
)
def test_server_errors_are_500_with_a_message(
    api_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    raised: Exception,
    error: str,
    words: list[str],
) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise raised

    monkeypatch.setattr("echelon.api.routes.verify", fail)
    client = TestClient(
        api_client.app, base_url=LOCAL, raise_server_exceptions=False
    )  # no lifespan
    response = client.get("/api/verify")
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["error"] == error
    for word in words:
        assert word in response.json()["detail"]


OUTAGE = OperationalError(
    "SELECT …", {}, Exception('connection failed: FATAL:  database "x" does not exist\nDETAIL: …')
)


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("echelon.api.routes.list_batteries", "/api/batteries"),
        ("echelon.api.routes.battery_record", "/api/batteries/PT-00001"),
        ("echelon.api.routes.battery_record", "/api/batteries/PT-00001/passport"),
        ("echelon.api.routes.verify", "/api/verify"),
        ("echelon.api.routes.list_batteries", "/"),
        ("echelon.web.pages.battery_record", "/battery/PT-00001"),
    ],
)
def test_a_database_error_while_answering_is_503(
    api_client: TestClient, monkeypatch: pytest.MonkeyPatch, target: str, path: str
) -> None:
    def down(*_args: object, **_kwargs: object) -> None:
        raise OUTAGE

    monkeypatch.setattr(target, down)
    response = api_client.get(path)
    assert response.status_code == 503
    if path.startswith("/api"):
        assert response.json()["error"] == "RegistryError"
        detail = response.json()["detail"]
    else:
        assert response.headers["content-type"].startswith("text/html")
        detail = response.text
    assert "registry unavailable" in detail
    assert 'database "x" does not exist' in detail.replace("&#34;", '"')
    assert "DETAIL" not in detail  # the driver's first line only
    assert "bug" not in detail


@pytest.mark.postgres
def test_a_postgresql_database_renamed_while_serving_is_503_and_recovers() -> None:
    """The reviewer's reproduction: the registry's database renamed under a running server."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} not set: PostgreSQL not exercised")
    name = f"echelon_web_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")

    def rename(old: str, new: str) -> None:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": old},
            )
            conn.execute(sa.text(f'ALTER DATABASE "{old}" RENAME TO "{new}"'))

    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    served = sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        with TestClient(create_app(served), base_url=LOCAL) as client:
            assert client.get("/api/batteries").status_code == 200
            rename(name, f"{name}_moved")
            for path in ("/api/batteries", "/api/batteries/X-1", "/api/verify", "/battery/X-1"):
                response = client.get(path)
                assert response.status_code == 503, (path, response.text)
                assert "registry unavailable" in response.text
            assert client.get("/api/health").status_code == 503
            rename(f"{name}_moved", name)  # back under its name: the server answers again
            assert client.get("/api/batteries").status_code == 200
    finally:
        with admin.connect() as conn:
            for database in (name, f"{name}_moved"):
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/nothing", "/api/health/x"])
def test_an_unknown_api_path_is_a_json_404(api_client: TestClient, path: str) -> None:
    response = api_client.get(path)
    assert response.status_code == 404
    body = response.json()
    assert list(body) == ["error", "detail"]  # the documented body, not Starlette's {"detail"}
    assert body["error"] == "NotFound"
    assert f"nothing at {path}" in body["detail"]
    assert "/openapi.json" in body["detail"]


@pytest.mark.parametrize("path", ["/nothing", "/batteries", "/fragments", "/api-docs"])
def test_an_unknown_dashboard_path_is_a_404_page(api_client: TestClient, path: str) -> None:
    response = api_client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'class="error" role="alert">nothing at ' + path in response.text


@pytest.mark.parametrize(
    ("method", "path", "html"),
    [
        ("POST", "/api/batteries", False),
        ("DELETE", "/api/batteries/PT-00001", False),
        ("PUT", "/api/verify", False),
        ("POST", "/", True),
        ("POST", "/battery/PT-00001", True),
    ],
)
def test_a_write_method_is_405_saying_the_server_is_read_only(
    api_client: TestClient, method: str, path: str, html: bool
) -> None:
    response = api_client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"  # HEAD is answered on every GET route
    if html:
        assert response.headers["content-type"].startswith("text/html")
        text = response.text
    else:
        assert response.json()["error"] == "MethodNotAllowed"
        text = response.json()["detail"]
    assert f"{method} is not allowed on {path}: the server is read-only" in text


@pytest.mark.parametrize(
    "path",
    ["/", "/battery/PT-00001", "/fragments/batteries", "/api/health", "/api/batteries",
     "/api/batteries/PT-00001", "/openapi.json"],
)  # fmt: skip
def test_head_answers_like_get_without_a_body(api_client: TestClient, path: str) -> None:
    get = api_client.get(path)
    head = api_client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.content))


def test_head_of_an_unknown_battery_is_404(api_client: TestClient) -> None:
    response = api_client.head("/api/batteries/ZZ-00003")
    assert response.status_code == 404
    assert response.content == b""


def test_a_sqlite_file_moved_while_serving_is_503_never_recreated_and_recovers(
    served_registry: str, tmp_path: Path
) -> None:
    """The file moved away (a disk unmounted, a mistaken mv): 503 everywhere, /api/health too;
    no empty registry is made at its path; moved back, the server answers again without a
    restart (before 2026-12-07: health 200, an empty file created, 503 until restarted)."""
    from tests.conftest import registry_copy

    url = registry_copy(served_registry, tmp_path)
    path = Path(url.removeprefix("sqlite:///"))
    with TestClient(create_app(url), base_url=LOCAL) as client:
        assert client.get("/api/batteries?limit=1").status_code == 200
        aside = [(p, p.with_name(p.name + ".aside")) for p in tmp_path.glob("copy.db*")]
        for now, later in aside:
            now.rename(later)
        # new connections from here on (a pooled one keeps the moved file open)
        client.app.state.echelon.registry.engine.dispose()  # type: ignore[attr-defined]
        for route in ("/api/batteries?limit=1", "/api/batteries/PT-00001", "/api/health"):
            assert client.get(route).status_code == 503, route
        assert not path.exists()  # never created again
        for now, later in aside:
            later.rename(now)
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/batteries/PT-00001").status_code == 200
