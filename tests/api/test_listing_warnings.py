"""The listing under /api and the dashboard flag the batteries whose listed values their event
chains do not prove, and survive a value edited into another type (before 2026-12-07: shown
without a flag; and a 409 for every listing, library internals in the message)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from echelon.api import create_app
from tests.conftest import LOCAL, registry_copy


def test_the_api_listing_flags_an_edited_grade(tampered_client: TestClient) -> None:
    rows = {r["battery_id"]: r for r in tampered_client.get("/api/batteries?grade=A").json()}
    assert rows["PT-00001"]["warning"].startswith("grade A differs from what event #")
    assert all(r["warning"] is None for bid, r in rows.items() if bid != "PT-00001")


def test_the_dashboard_flags_an_edited_grade(tampered_client: TestClient) -> None:
    for path in ("/", "/?grade=A", "/fragments/batteries?grade=a"):
        html = tampered_client.get(path).text
        banner = html.split('id="listing-warning"', 1)[1].split("</div>", 1)[0]
        assert "PT-00001</a>: grade A differs from what event #" in banner
        assert "1 battery shows values its event chain does not prove" in html


@pytest.fixture(scope="module")
def edited_client(
    served_registry: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """A client on a copy of the served registry whose PT-00002 SOH was edited into text."""
    url = registry_copy(served_registry, Path(tmp_path_factory.mktemp("edited")))
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        conn.execute(
            "UPDATE measurements SET value = 'abc' WHERE battery_id = 'PT-00002' "
            "AND quantity = 'soh_percent'"
        )
        conn.commit()
    with TestClient(create_app(url), base_url=LOCAL) as client:
        yield client


def test_a_value_edited_into_text_spoils_only_its_row(edited_client: TestClient) -> None:
    rows = {r["battery_id"]: r for r in edited_client.get("/api/batteries?limit=0").json()}
    edited = rows["PT-00002"]
    assert edited["soh_percent"] is None
    assert edited["warning"].startswith("measurements.value = 'abc' is not a number")
    chemistry = edited["chemistry"]
    other = next(r["chemistry"] for r in rows.values() if r["chemistry"] != chemistry)
    excluded = edited_client.get(f"/api/batteries?chemistry={other}")
    assert excluded.status_code == 200
    assert "PT-00002" not in {r["battery_id"] for r in excluded.json()}
    page = edited_client.get("/")
    assert page.status_code == 200
    assert "PT-00002</a>: measurements.value = &#39;abc&#39; is not a number" in page.text
    record = edited_client.get("/api/batteries/PT-00002")  # its own record: 409, as documented
    assert record.status_code == 409
    assert "ComputeError" not in record.text
