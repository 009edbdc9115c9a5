"""Battery ids that name no battery, on SQLite and PostgreSQL alike: ids no battery can have
(a NUL byte) and the "similar ids" an unknown id's message names."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from echelon.api import create_app
from echelon.cli import app as cli
from echelon.registry import open_registry
from tests.conftest import LOCAL, postgres_schema
from tests.registry.test_registry import unit

IDS = ["LEAF-CELL-1", "EB-00003", "PT-00003", "ab-00003", "CEG-00003", "CEH-00003", "ESS-00003",
       "HEV-00003", "HEV-00004"]  # fmt: skip
"""Registered ids: upper and lower case, several ending alike."""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ids_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a registry holding :data:`IDS`, on SQLite and (when configured) PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ids.db'}"
        with open_registry(url, store_dir=tmp_path / "store") as registry:
            registry.record_units([unit(i) for i in IDS])
        yield url
        return
    with postgres_schema() as (server, schema):
        url = f"{server}?options=-csearch_path%3D{schema}"
        with open_registry(url, store_dir=tmp_path / "store") as registry:
            registry.record_units([unit(i) for i in IDS])
        yield url


@pytest.fixture
def ids_client(ids_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(ids_url), base_url=LOCAL) as client:
        yield client


ONLY = "a battery id holds only letters, digits and . _ : / # + -, not "


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("a%00b", f"no battery 'a\\x00b': {ONLY}'\\x00'"),
        ("%00", "no battery '\\x00': "),
        ("EB%2000003", f"no battery 'EB 00003': {ONLY}' '"),
        ("_x", "no battery '_x': a battery id starts with a letter or digit, not '_'"),
    ],
)
def test_an_id_no_battery_can_have_is_404_on_both_databases(
    ids_client: TestClient, caplog: pytest.LogCaptureFixture, path: str, detail: str
) -> None:
    """Was 503 "registry unavailable" on PostgreSQL (DataError: text cannot hold NUL), logged
    with the raw NUL: a client's error looked like an outage."""
    with caplog.at_level(logging.ERROR):
        for url in (f"/api/batteries/{path}", f"/api/batteries/{path}/passport"):
            response = ids_client.get(url)
            assert response.status_code == 404, response.text
            assert response.json()["error"] == "NotFoundError"
            assert response.json()["detail"].startswith(detail)
        page = ids_client.get(f"/battery/{path}")
        assert page.status_code == 404
        assert "\x00" not in page.text
        assert ids_client.get("/api/health").status_code == 200
    assert not caplog.records


def test_similar_ids_match_any_case_in_one_order_on_both_databases(
    ids_client: TestClient, ids_url: str
) -> None:
    """PostgreSQL's LIKE is case-sensitive and its order was unspecified (no ORDER BY): the
    hint differed between the databases."""
    detail = ids_client.get("/api/batteries/leaf-cell-1").json()["detail"]
    assert detail.endswith("; similar ids: LEAF-CELL-1")
    detail = ids_client.get("/api/batteries/ZZ-00003").json()["detail"]
    assert detail.endswith("; similar ids: EB-00003, PT-00003, ab-00003, CEG-00003, CEH-00003")
    shown = CliRunner().invoke(cli, ["show", "leaf-cell-1", "--db", ids_url])
    assert shown.exit_code == 4
    assert "similar ids: LEAF-CELL-1" in shown.output
