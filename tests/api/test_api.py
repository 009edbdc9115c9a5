"""The read-only JSON API on a registry filled by intake: every endpoint, its filters, its errors
and battery ids with ``/``, ``#``, ``:`` and ``+`` in them."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from echelon.api import create_app
from echelon.cli import app as cli
from echelon.errors import InputError, RegistryError
from echelon.passport import build_passport, load_passport_data
from echelon.registry import LIST_COLUMNS, Registry, battery_record, list_batteries, verify
from tests.conftest import LOCAL, ODD_ID, empty_registry

runner = CliRunner()


def _registry(client: TestClient) -> Registry:
    registry: Registry = client.app.state.echelon.registry  # type: ignore[attr-defined]
    return registry


def _url(battery_id: str) -> str:
    return f"/api/batteries/{quote(battery_id, safe='/:+')}"


def _cli_json(*args: str) -> object:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_health(api_client: TestClient, served_registry: str) -> None:
    response = api_client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["registry"] == served_registry
    assert body["passport_data"] is None


def test_listing_is_the_cli_json_listing(api_client: TestClient, served_registry: str) -> None:
    response = api_client.get("/api/batteries")
    assert response.status_code == 200
    rows = response.json()
    assert rows == _cli_json("batteries", "--format", "json", "--db", served_registry)
    assert len(rows) == 41  # the batch's 40 units and the odd id
    assert all(list(row) == list(LIST_COLUMNS) for row in rows)
    assert response.headers["x-total-count"] == "41"


@pytest.mark.parametrize(
    ("query", "filters"),
    [
        ("status=routed", {"status": "routed"}),
        ("status=ROUTED", {"status": "routed"}),  # any case, as on the command line
        ("grade=a", {"grade": "A"}),
        ("level=cell", {"level": "cell"}),
        ("chemistry=NMC", {"chemistry": "NMC"}),  # a family: every NMC
        ("chemistry=LiFePO4", {"chemistry": "LFP"}),  # an accepted spelling
        (
            "status=routed&grade=B&level=module",
            {"status": "routed", "grade": "B", "level": "module"},
        ),
    ],
)
def test_filters_select_what_the_library_selects(
    api_client: TestClient, query: str, filters: dict[str, str]
) -> None:
    expected = list_batteries(_registry(api_client), **filters)
    response = api_client.get(f"/api/batteries?{query}")
    assert response.status_code == 200
    ids = [row["battery_id"] for row in response.json()]
    assert ids == expected.get_column("battery_id").to_list()
    assert 0 < len(ids) < 41
    assert response.headers["x-total-count"] == str(len(ids))


def test_limit_and_offset_page_through_the_listing(api_client: TestClient) -> None:
    everything = api_client.get("/api/batteries?limit=0").json()
    assert len(everything) == 41
    page = api_client.get("/api/batteries?limit=5&offset=3")
    assert page.json() == everything[3:8]
    assert page.headers["x-total-count"] == "41"  # the total, not the page
    assert api_client.get("/api/batteries?offset=40").json() == everything[40:]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("status=bogus", ["status", "'bogus'", "routed", "quarantined"]),
        ("grade=Z", ["grade", "'Z'", "A, B, C, D"]),
        ("level=rack", ["level", "'rack'", "cell, module, pack"]),
        ("chemistry=unobtainium", ["chemistry", "unobtainium"]),
    ],
)
def test_a_filter_value_not_offered_is_422_listing_the_valid_ones(
    api_client: TestClient, query: str, words: list[str]
) -> None:
    response = api_client.get(f"/api/batteries?{query}")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "UsageError"
    for word in words:
        assert word in body["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=-1",
        "offset=-2",
        "limit=many",
        "limit=1000000001",
        "limit=99999999999999999999999",  # was an OverflowError (500) in the slice
        "offset=99999999999999999999&limit=1",
    ],
)
def test_bad_paging_is_422(api_client: TestClient, query: str) -> None:
    response = api_client.get(f"/api/batteries?{query}")
    assert response.status_code == 422
    assert query.split("=")[0] in json.dumps(response.json()["detail"])


def test_the_largest_paging_values_are_accepted(api_client: TestClient) -> None:
    response = api_client.get("/api/batteries?limit=1000000000&offset=1000000000")
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("battery_id", ["PT-00001", "EVB-P0001-M01", ODD_ID])
def test_one_battery_is_the_cli_show_json(
    api_client: TestClient, served_registry: str, battery_id: str
) -> None:
    response = api_client.get(_url(battery_id))
    assert response.status_code == 200
    record = response.json()
    assert record["chain"] == {"ok": True, "problems": []}
    assert record == _cli_json("show", battery_id, "--json", "--db", served_registry)  # chain too
    assert record["battery"]["battery_id"] == battery_id
    assert {"gate", "grade", "route"} <= {d["kind"] for d in record["decisions"]}
    assert all(d["reasons"] for d in record["decisions"])  # every decision with its reasons
    assert [e["seq"] for e in record["events"]] == list(range(len(record["events"])))


def test_an_id_with_an_encoded_slash_is_the_same_battery(api_client: TestClient) -> None:
    plain = api_client.get(_url(ODD_ID)).json()
    encoded = api_client.get("/api/batteries/" + quote(ODD_ID, safe="")).json()  # %2F, %3A, …
    assert encoded == plain
    assert plain["battery"]["battery_id"] == ODD_ID


def test_an_unknown_id_is_404_naming_similar_ids(api_client: TestClient) -> None:
    response = api_client.get("/api/batteries/ZZ-00003")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "NotFoundError"
    assert "no battery 'ZZ-00003'" in body["detail"]
    similar = body["detail"].split("similar ids: ")[1].split(", ")
    known = set(list_batteries(_registry(api_client)).get_column("battery_id"))
    assert similar
    assert all(s in known and s.endswith("-00003") for s in similar)
    assert api_client.get("/api/batteries/ZZ-00003/passport").status_code == 404


@pytest.mark.parametrize("access", ["public", "legitimate-interest", "full"])
def test_passport_views_list_incomplete_sections_and_never_fill_them(
    passport_client: TestClient, passport_data: Path, access: str
) -> None:
    response = passport_client.get(f"{_url('PT-00001')}/passport?access={access}")
    assert response.status_code == 200
    document = response.json()
    meta = document["passportMetadata"]
    assert meta["access"] == access
    assert meta["batteryId"] == "PT-00001"
    assert "Performance" in meta["incomplete"]  # no battery-level data: members missing
    assert not set(meta["incomplete"]) & set(document)  # an incomplete section is not written
    assert "CarbonFootprint" in document  # the model's data completes others
    assert ("batteryStatus" in meta) == (access != "public")  # Annex XIII(4), section or not
    record = battery_record(_registry(passport_client), "PT-00001")
    expected = build_passport(record, load_passport_data(passport_data)).document(
        access=access  # type: ignore[arg-type]
    )
    meta.pop("issuedAt")
    expected["passportMetadata"].pop("issuedAt")
    assert document == expected


def test_passport_defaults_to_the_public_view(passport_client: TestClient) -> None:
    document = passport_client.get(f"{_url(ODD_ID)}/passport").json()
    assert document["passportMetadata"]["access"] == "public"
    assert document["passportMetadata"]["batteryId"] == ODD_ID


@pytest.mark.parametrize(
    ("given", "access"),
    [("FULL", "full"), ("Public", "public"), ("legitimate_interest", "legitimate-interest")],
)
def test_the_access_group_is_taken_in_any_case(
    passport_client: TestClient, given: str, access: str
) -> None:
    response = passport_client.get(f"{_url('PT-00001')}/passport?access={given}")
    assert response.status_code == 200  # as status, grade and level are
    assert response.json()["passportMetadata"]["access"] == access


def test_a_passport_get_records_nothing(passport_client: TestClient) -> None:
    registry = _registry(passport_client)
    before = len(battery_record(registry, "PT-00001").events)
    total = verify(registry).events
    for access in ("public", "legitimate-interest", "full"):
        response = passport_client.get(f"{_url('PT-00001')}/passport?access={access}")
        assert response.status_code == 200
    assert len(battery_record(registry, "PT-00001").events) == before
    assert verify(registry).events == total
    kinds = [e["kind"] for e in passport_client.get(_url("PT-00001")).json()["events"]]
    assert "passport_issued" not in kinds


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("access=secret", ["access", "'secret'", "full, legitimate-interest, public"]),
        ("access=pubilc", ["did you mean 'public'?"]),
        ("in_service=2027-02-30", ["in_service"]),
    ],
)
def test_a_bad_passport_query_is_422(
    passport_client: TestClient, query: str, words: list[str]
) -> None:
    response = passport_client.get(f"{_url('PT-00001')}/passport?{query}")
    assert response.status_code == 422
    for word in words:
        assert word in json.dumps(response.json()["detail"])


def test_no_complete_section_is_409_as_the_cli_refuses(
    api_client: TestClient, served_registry: str, tmp_path: Path
) -> None:
    response = api_client.get(f"{_url('PT-00001')}/passport?access=full")  # no passport data
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "PassportError"
    detail = body["detail"]
    assert detail.startswith("PT-00001: no section is complete (GeneralProductInformation, ")
    assert "no view returned" in detail
    assert "the server's --passport-data FILE" in detail
    args = ["passport", "PT-00001", "--db", served_registry, "--allow-incomplete", "--no-record"]
    result = runner.invoke(cli, [*args, "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 8  # the CLI writes nothing either, for the same reason
    assert detail.split(";")[0] in " ".join(result.output.split())


def test_a_dismantled_battery_has_no_passport_409(passport_client: TestClient) -> None:
    dismantled = list_batteries(_registry(passport_client), status="dismantled")
    battery_id = dismantled.item(0, "battery_id")
    response = passport_client.get(f"{_url(battery_id)}/passport")
    assert response.status_code == 409
    assert response.json()["error"] == "PassportError"
    assert "dismantled" in response.json()["detail"]


def test_passport_data_given_to_the_app_fills_the_passport(
    passport_client: TestClient, passport_data: Path
) -> None:
    assert passport_client.get("/api/health").json()["passport_data"] == str(passport_data)
    document = passport_client.get(f"{_url('PT-00001')}/passport?access=full").json()
    record = battery_record(_registry(passport_client), "PT-00001")
    expected = build_passport(record, load_passport_data(passport_data)).document(access="full")
    provenance = document["passportMetadata"]["provenance"]
    assert provenance == expected["passportMetadata"]["provenance"]
    assert any(str(passport_data) in origin for origin in provenance.values())


def test_an_invalid_passport_data_file_stops_the_app_at_creation(
    served_registry: str, tmp_path: Path
) -> None:
    bad = tmp_path / "facility.yaml"
    bad.write_text("operater: {}\n", encoding="utf-8")
    with pytest.raises(InputError, match="operater"):
        create_app(served_registry, passport_data=bad)


def test_verify_summarises_every_chain(api_client: TestClient) -> None:
    response = api_client.get("/api/verify")
    assert response.status_code == 200
    body = response.json()
    report = verify(_registry(api_client))
    assert body == {
        "ok": True,
        "batteries": 41,
        "events": report.events,
        "first_broken": None,
        "problems_total": 0,
        "problems": [],
    }


def test_openapi_documents_every_endpoint(api_client: TestClient) -> None:
    paths = api_client.get("/openapi.json").json()["paths"]
    assert {
        "/api/health",
        "/api/batteries",
        "/api/batteries/{battery_id}",
        "/api/batteries/{battery_id}/passport",
        "/api/verify",
    } <= set(paths)
    assert not any(p.startswith(("/battery", "/fragments")) or p == "/" for p in paths)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_documentation_page_loads_from_a_cdn(api_client: TestClient, path: str) -> None:
    response = api_client.get(path)  # Swagger UI and ReDoc load their scripts from jsDelivr
    assert response.status_code == 404
    assert "cdn" not in response.text
    assert 'href="/openapi.json"' in api_client.get("/").text  # the dashboard links the schema


def test_an_empty_registry_lists_nothing(tmp_path: Path) -> None:
    with TestClient(create_app(empty_registry(tmp_path)), base_url=LOCAL) as client:
        response = client.get("/api/batteries?status=routed")
        assert response.status_code == 200
        assert response.json() == []
        assert response.headers["x-total-count"] == "0"
        assert client.get("/api/verify").json()["batteries"] == 0


def test_a_missing_registry_file_is_refused_never_created(tmp_path: Path) -> None:
    typo = tmp_path / "typo.db"
    with pytest.raises(RegistryError, match=f"no registry at {typo}: the file does not exist"):
        create_app(f"sqlite:///{typo}")
    assert not typo.exists()  # was an empty registry served as healthy


@pytest.mark.parametrize("path", ["%25", "_", "%25%25%25", "A_", "%5C"])
def test_like_wildcards_in_an_unknown_id_match_themselves(
    api_client: TestClient, path: str
) -> None:
    """``%`` and ``_`` are not wildcards in the "similar ids" hint (no id holds either)."""
    for url in (f"/api/batteries/{path}", f"/api/batteries/{path}/passport"):
        response = api_client.get(url)
        assert response.status_code == 404
        assert "similar ids" not in response.json()["detail"]


def test_an_empty_id_is_404_naming_no_battery(api_client: TestClient) -> None:
    detail = api_client.get("/api/batteries/").json()["detail"]
    assert detail.startswith("no battery ''")
    assert "similar ids" not in detail  # was any five ids


@pytest.mark.parametrize("length", [129, 5000])
def test_an_id_longer_than_any_is_404_without_echoing_it(
    api_client: TestClient, length: int
) -> None:
    response = api_client.get("/api/batteries/" + "A" * length)
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert f"({length:,} characters): a battery id has at most 128" in detail
    assert len(detail) < 120
    assert api_client.get("/battery/" + "A" * length).status_code == 404
