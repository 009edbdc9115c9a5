"""A battery whose data was altered behind Echelon's back: its record says its chain does not
verify, its passport is refused, the other batteries are served as before."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from echelon.registry import battery_record, verify, verify_battery
from tests.conftest import TAMPER_PROBLEMS, TAMPERED


def test_verify_battery_finds_what_verify_finds(tampered_client: TestClient) -> None:
    registry = tampered_client.app.state.echelon.registry  # type: ignore[attr-defined]
    everything = verify(registry)
    assert {p.battery_id for p in everything.problems} == set(TAMPERED)
    for battery_id in ("PT-00001", "PT-00002", "PT-00003"):
        report = verify_battery(registry, battery_id)
        assert report.problems == [p for p in everything.problems if p.battery_id == battery_id]
        assert report.batteries == 1
        assert report.events == len(battery_record(registry, battery_id).events)


@pytest.mark.parametrize("battery_id", sorted(TAMPERED))
def test_the_record_of_a_tampered_battery_says_its_chain_does_not_verify(
    tampered_client: TestClient, battery_id: str
) -> None:
    response = tampered_client.get(f"/api/batteries/{battery_id}")
    assert response.status_code == 200  # the record is still served, to be looked into
    body = response.json()
    assert body["battery"]["battery_id"] == battery_id
    chain = body["chain"]
    assert chain["ok"] is False
    (problem,) = chain["problems"]
    assert problem["battery_id"] == battery_id
    assert problem["message"] == TAMPER_PROBLEMS[battery_id]
    assert problem["text"].startswith(f"{battery_id} event #")
    assert set(problem) == {"battery_id", "seq", "event_id", "message", "text"}


def test_the_edited_value_is_served_with_the_warning(tampered_client: TestClient) -> None:
    body = tampered_client.get("/api/batteries/PT-00001").json()
    grade = [d for d in body["decisions"] if d["kind"] == "grade"][-1]
    assert grade["outcome"] == "A"  # what the table holds now …
    assert not body["chain"]["ok"]  # … flagged


@pytest.mark.parametrize("battery_id", sorted(TAMPERED))
@pytest.mark.parametrize("access", ["public", "full"])
def test_no_passport_is_built_from_a_chain_that_does_not_verify(
    tampered_client: TestClient, battery_id: str, access: str
) -> None:
    response = tampered_client.get(f"/api/batteries/{battery_id}/passport?access={access}")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "ChainError"
    assert body["detail"].startswith(f"{battery_id}: the event chain does not verify — ")
    assert TAMPER_PROBLEMS[battery_id] in body["detail"]


def test_an_untouched_battery_is_served_as_before(tampered_client: TestClient) -> None:
    body = tampered_client.get("/api/batteries/PT-00003").json()
    assert body["chain"] == {"ok": True, "problems": []}
    assert tampered_client.get("/api/batteries/PT-00003/passport").status_code == 200
