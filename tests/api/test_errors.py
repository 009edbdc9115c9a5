"""Echelon's exceptions become HTTP status codes in one place, with their messages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from echelon.api import HTTP_STATUS, status_for
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


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (UsageError("--status x"), 422),
        (InputError("f.yaml", ["bad"]), 422),
        (ManifestError("m.csv", ["bad"]), 422),  # a subclass takes its base's status
        (NotFoundError("no battery"), 404),
        (PassportError("recycled"), 409),
        (RegistryError("server down"), 503),
        (ChainError("broken"), 500),  # a RegistryError, but not an unreachable one
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
    client = TestClient(api_client.app, raise_server_exceptions=False)  # not entered: no lifespan
    response = client.get("/api/verify")
    assert response.status_code == 500
    assert response.json()["error"] == error
    for word in words:
        assert word in response.json()["detail"]
