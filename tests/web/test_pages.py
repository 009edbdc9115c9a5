"""The dashboard's pages, rendered by the server (no browser): counts, filters, the table
fragment, a battery's page, errors as HTML pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from echelon.api import create_app
from echelon.domain.battery import BATTERY_ID_PATTERN
from echelon.passport.access import ACCESS
from echelon.pipeline import intake
from echelon.registry import Registry, battery_record, list_batteries, open_registry
from echelon.synth import SynthBatch
from echelon.web.pages import id_path
from tests.conftest import (
    LOCAL,
    ODD_ID,
    TAMPER_PROBLEMS,
    TAMPERED,
    empty_registry,
    intake_as,
    registry_copy,
)

ROW = re.compile(r'<tr data-status="([^"]*)" data-grade="([^"]*)">')


def _registry(client: TestClient) -> Registry:
    registry: Registry = client.app.state.echelon.registry  # type: ignore[attr-defined]
    return registry


def _rows(html: str) -> list[tuple[str, str]]:
    """``(status, grade)`` of every battery row of the table."""
    return ROW.findall(html)


def test_index_counts_statuses_and_grades_and_lists_every_battery(api_client: TestClient) -> None:
    response = api_client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    everything = list_batteries(_registry(api_client))
    assert "41 batteries in the registry" in html
    for status, n in everything.get_column("status").value_counts().iter_rows():
        assert f'href="/?status={status}"><b>{n}</b>{status}</a>' in html
    for grade, n in everything.get_column("grade").drop_nulls().value_counts().iter_rows():
        assert f'<b class="grade-{grade}">{n}</b>grade {grade}' in html
    assert len(_rows(html)) == 41
    for battery_id in everything.get_column("battery_id"):
        assert f'href="/battery/{id_path(battery_id)}"' in html
    for name in ("status", "grade", "chemistry", "level"):
        assert f'<select name="{name}" id="f-{name}">' in html


def test_index_with_filters_lists_only_what_they_select(api_client: TestClient) -> None:
    html = api_client.get("/?status=routed&grade=A").text
    expected = list_batteries(_registry(api_client), status="routed", grade="A").height
    assert _rows(html) == [("routed", "A")] * expected
    assert f"{expected} batteries match status routed, grade A" in html
    assert '<option value="routed" selected>' in html  # the form shows the filters in force
    assert "41 batteries in the registry" in html  # the counts stay those of the registry


def _selected(html: str) -> dict[str, str]:
    """``{filter: (value, label)}`` of the options the form shows as selected."""
    return {
        name: (value, label)
        for name, body in re.findall(r'<select name="(\w+)" id="f-\w+">(.*?)</select>', html, re.S)
        for value, label in re.findall(r'<option value="([^"]*)" selected>([^<]*)<', body)
    }


def test_filters_given_as_aliases_show_the_values_they_select(api_client: TestClient) -> None:
    """The dropdowns showed "any" for `grade=a` (the table was filtered), so changing one of them
    dropped the others without a word."""
    html = api_client.get("/?status=ROUTED&grade=a&chemistry=lifepo4&level=MODULE").text
    assert _selected(html) == {
        "status": ("routed", "routed"),
        "grade": ("A", "A"),
        "chemistry": ("LFP", "LFP"),
        "level": ("module", "module"),
    }
    expected = list_batteries(
        _registry(api_client), status="routed", grade="A", chemistry="LFP", level="module"
    ).height
    assert len(_rows(html)) == expected
    assert "match status routed, grade A, chemistry LFP, level module" in html
    family = api_client.get("/?chemistry=ternary").text  # a family: every NMC chemistry
    assert _selected(family) == {"chemistry": ("NMC", "NMC (every NMC)")}
    nmc = list_batteries(_registry(api_client), chemistry="NMC").height
    assert f"{nmc} batteries match chemistry NMC" in family


@pytest.mark.parametrize(
    ("query", "filters"),
    [
        ("grade=A", {"grade": "A"}),
        ("chemistry=LFP&level=module", {"chemistry": "LFP", "level": "module"}),
        ("status=", {}),  # "any": no filter
    ],
)
def test_the_fragment_is_the_table_alone(
    api_client: TestClient, query: str, filters: dict[str, str]
) -> None:
    response = api_client.get(f"/fragments/batteries?{query}")
    assert response.status_code == 200
    html = response.text
    assert "<html" not in html
    assert html.count('id="battery-table"') == 1
    expected = list_batteries(_registry(api_client), **filters)
    assert len(_rows(html)) == expected.height
    if "grade" in filters:
        assert {grade for _, grade in _rows(html)} == {"A"}


def test_a_filter_matching_nothing_says_so(api_client: TestClient) -> None:
    html = api_client.get("/fragments/batteries?status=recycled").text
    assert "0 batteries match status recycled" in html
    assert "No battery matches these filters." in html


@pytest.mark.parametrize("path", ["/?grade=Z", "/fragments/batteries?status=bogus"])
def test_a_bad_filter_is_a_422_page(api_client: TestClient, path: str) -> None:
    response = api_client.get(path)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert 'class="error" role="alert"' in response.text
    assert "allowed:" in response.text


def test_a_battery_page_shows_identity_soh_decisions_history_and_views(
    api_client: TestClient,
) -> None:
    record = battery_record(_registry(api_client), "PT-00001")
    response = api_client.get("/battery/PT-00001")
    assert response.status_code == 200
    html = response.text
    assert '<h1 id="battery-id">PT-00001</h1>' in html
    assert f'<b id="status">{record.status}</b>' in html
    soh = [m for m in record.measurements if m.quantity == "soh_percent"][-1]
    assert f"{soh.value:.1f} %, interval [{soh.lower:.1f}, {soh.upper:.1f}] %" in html
    assert '<div class="chart" id="soh-chart"><svg' in html  # the band chart, inline SVG
    for decision in record.decisions:
        assert f"{decision.kind}: {decision.outcome}" in html
        for reason in decision.reasons:
            assert str(escape(reason.detail)) in html
    assert html.count('<tr><td class="num">') >= len(record.events)
    for event in record.events:
        assert event.hash in html
    for access in ACCESS:
        assert f'href="/api/batteries/PT-00001/passport?access={access}"' in html
    assert 'href="/api/batteries/PT-00001"' in html


def test_a_battery_page_for_an_id_with_slash_hash_colon_plus(api_client: TestClient) -> None:
    path = id_path(ODD_ID)
    assert path == "PT/00001%23A:1+x"
    for url in (f"/battery/{path}", "/battery/" + quote(ODD_ID, safe="")):
        response = api_client.get(url)
        assert response.status_code == 200
        assert f'<h1 id="battery-id">{ODD_ID}</h1>' in response.text
        assert f'href="/api/batteries/{path}/passport?access=public"' in response.text
    passport = api_client.get(f"/api/batteries/{path}/passport?access=public")
    assert passport.json()["detail"].startswith(f"{ODD_ID}: no section is complete")  # its own


def test_a_unit_without_soh_or_grade_has_no_chart(api_client: TestClient) -> None:
    registry = _registry(api_client)
    frame = list_batteries(registry)
    battery_id = frame.filter(frame.get_column("soh_percent").is_null()).item(0, "battery_id")
    html = api_client.get(f"/battery/{id_path(battery_id)}").text
    assert "No SOH recorded." in html
    assert "soh-chart" not in html


def test_an_unknown_battery_is_a_404_page_naming_similar_ids(api_client: TestClient) -> None:
    response = api_client.get("/battery/ZZ-00003")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "no battery &#39;ZZ-00003&#39;" in response.text
    assert "similar ids: " in response.text


def test_an_empty_registry_has_an_empty_dashboard(tmp_path: Path) -> None:
    with TestClient(create_app(empty_registry(tmp_path)), base_url=LOCAL) as client:
        html = client.get("/").text
        assert "0 batteries in the registry" in html
        assert "No battery matches these filters." in html
        assert client.get("/fragments/batteries?grade=A").status_code == 200


DOTTED = ["a/../../etc/passwd", "x/../../api/verify", "b/./c", "d/.."]
"""Ids with ``.`` and ``..`` path segments, which a browser resolves in a link written as is."""


@pytest.fixture(scope="module")
def dotted_client(
    served_registry: str, small_batch: SynthBatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """A client on a copy of the served registry that also holds the :data:`DOTTED` ids."""
    folder = tmp_path_factory.mktemp("dotted")
    url = registry_copy(served_registry, folder)
    with open_registry(url, store_dir=folder / "store") as registry:
        intake_as(small_batch, registry, DOTTED, folder)
    with TestClient(create_app(url), base_url=LOCAL) as client:
        yield client


def _follow(client: TestClient, page: str, href: str) -> Response:
    """GET ``href`` as a browser resolves it on ``page`` (dot segments removed)."""
    return client.get(urljoin(f"{LOCAL}{page}", href))


@pytest.mark.parametrize("battery_id", DOTTED)
def test_links_to_an_id_with_dot_segments_lead_to_its_own_pages(
    dotted_client: TestClient, battery_id: str
) -> None:
    index = dotted_client.get("/").text
    (href,) = re.findall(rf'<a href="([^"]+)">{re.escape(battery_id)}</a>', index)
    assert "%2F" in href  # "/" encoded: no segment for a browser to resolve
    page = _follow(dotted_client, "/", href)
    assert page.status_code == 200
    assert f'<h1 id="battery-id">{battery_id}</h1>' in page.text
    views = re.findall(r'<a href="(/api/batteries/[^"]+)">', page.text)
    assert len(views) == 1 + len(ACCESS)  # the record and a passport view per access group
    for view in views:
        response = _follow(dotted_client, href, view)
        assert response.status_code in (200, 409), view  # 409: no complete passport section
        body = response.json()
        if "battery" in body:
            assert body["battery"]["battery_id"] == battery_id, view
        elif "passportMetadata" in body:
            assert body["passportMetadata"]["batteryId"] == battery_id, view
        else:
            assert body["detail"].startswith(battery_id), view


SEGMENTS = st.one_of(
    st.sampled_from([".", "..", ""]), st.from_regex(r"[A-Za-z0-9._:#+-]{1,4}", fullmatch=True)
)
IDS = st.one_of(
    st.from_regex(BATTERY_ID_PATTERN, fullmatch=True),
    st.lists(SEGMENTS, min_size=1, max_size=8).map(lambda parts: "/".join(["A", *parts])),
)
"""Any valid id, and ids made of segments, dot segments often among them."""


@given(battery_id=IDS)
def test_a_browser_resolves_every_id_path_to_itself(battery_id: str) -> None:
    path = f"/battery/{id_path(battery_id)}"
    resolved = urlsplit(urljoin(f"{LOCAL}/", path))
    assert resolved.path == path  # nothing removed or moved
    assert unquote(resolved.path) == f"/battery/{battery_id}"  # the route's battery_id
    assert not resolved.fragment
    assert not resolved.query


@pytest.mark.parametrize("battery_id", sorted(TAMPERED))
def test_a_tampered_battery_page_warns_naming_the_problem(
    tampered_client: TestClient, battery_id: str
) -> None:
    response = tampered_client.get(f"/battery/{battery_id}")
    assert response.status_code == 200
    html = response.text
    warning = re.search(r'<div class="warning" role="alert" id="chain-warning">(.*?)</div>', html)
    assert warning
    assert "does not verify" in warning[1]
    assert str(escape(TAMPER_PROBLEMS[battery_id])) in warning[1]
    assert html.index("chain-warning") < html.index("<h2>")  # at the top of the page


def test_an_untouched_battery_page_has_no_warning(tampered_client: TestClient) -> None:
    assert "chain-warning" not in tampered_client.get("/battery/PT-00003").text


def test_counts_add_up_with_a_value_outside_the_vocabulary() -> None:
    """A grade the vocabulary does not know (edited in, or from a newer profile) is counted
    after the known ones, not dropped (59 of 60 were counted before 2026-12-07)."""
    import polars as pl

    from echelon.web.pages import _counts

    frame = pl.DataFrame({"grade": ["A", "B", None, "Z", "A"]})
    counts = _counts(frame, "grade", ["A", "B", "C", "D"])
    assert counts[-1] == ("Z", 1)
    assert sum(n for _, n in counts) == frame.height


def test_the_page_of_a_unit_whose_intake_failed_says_why(
    tmp_path: Path, api_client: TestClient
) -> None:
    """As `echelon show` does in its "intake failed" panel (the page listed only the `failed`
    event)."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "battery_id,level,chemistry,nominal_capacity_ah,ocv_v,test_files\n"
        f"F-1,cell,LFP,2,3.3,capacity:{tmp_path / 'missing.csv'}\n"
    )
    url = f"sqlite:///{tmp_path / 'failed.db'}"
    with open_registry(url, store_dir=tmp_path / "store") as registry:
        intake(manifest, registry=registry, workers=0)
    with TestClient(create_app(url), base_url=LOCAL) as client:
        html = client.get("/battery/F-1").text
    failed = re.search(
        r'<div class="warning" role="alert" id="intake-failed">(.*?)</div>', html, re.S
    )
    assert failed
    assert f"{tmp_path / 'missing.csv'}: 1 problem(s)" in failed[1]
    assert "file not found; check the test_files entry in the manifest" in failed[1]
    assert "Fix the file and run the intake again" in failed[1]
    assert "intake-failed" not in api_client.get("/battery/PT-00001").text


@pytest.mark.parametrize(
    ("given", "location"),
    [
        ("PT-00001", "/battery/PT-00001"),
        ("  PT-00001 \t", "/battery/PT-00001"),  # pasted or scanned with blanks around
        (ODD_ID, "/battery/PT/00001%23A:1+x"),
        ("a/../b", "/battery/a%2F..%2Fb"),
        ("", "/"),
    ],
)
def test_the_search_box_opens_the_page_of_the_id_given(
    api_client: TestClient, given: str, location: str
) -> None:
    assert 'action="/battery" role="search"' in api_client.get("/").text
    response = api_client.get("/battery", params={"id": given}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == location


def _passport_links(html: str) -> list[str]:
    return re.findall(r'href="(/api/batteries/[^"]+/passport\?access=[^"]+)"', html)


def test_a_battery_page_links_a_passport_only_where_one_can_be_made(tmp_path: Path) -> None:
    """Before 2026-12-07 every battery page linked three passport views, also where the passport
    API refuses whatever the data (409): a recycled unit, an assembly with a recycled part."""
    import polars as pl

    from echelon.domain import Battery
    from echelon.recycling import record_lot, recycle_lot
    from echelon.registry import UnitWrite

    def unit(bid: str, level: str = "module", parent: str | None = "PACK") -> UnitWrite:
        battery = Battery(battery_id=bid, level=level, parent_id=parent, chemistry="NMC622",
                          nominal_capacity_ah=60.0, nominal_voltage_v=3.6)  # fmt: skip
        return UnitWrite(battery, f"fp-{bid}", "0" * 64, "ok")

    url = f"sqlite:///{tmp_path / 'r.db'}"
    with open_registry(url, store_dir=tmp_path / "store") as registry:
        registry.record_units([unit("PACK", "pack", None), unit("PACK-M0"), unit("PACK-M1")])
        lot = pl.DataFrame({"battery_id": ["PACK-M1"], "chemistry": ["NMC622"],
                            "level": ["module"], "nominal_capacity_ah": [60.0],
                            "nominal_voltage_v": [3.6]})  # fmt: skip
        record_lot(registry, recycle_lot(lot, process="hydro", year=2027, lot_id="LOT-1"))
    refused = {
        "PACK": "PACK is no longer the assembly it was: 1 of its parts were recycled (PACK-M1)",
        "PACK-M1": "PACK-M1 was recycled: its passport ceased to exist",
    }
    with TestClient(create_app(url), base_url=LOCAL) as client:
        for bid, why in refused.items():
            html = client.get(f"/battery/{bid}").text
            assert _passport_links(html) == [], bid
            (said,) = re.findall(r'no passport: <span id="no-passport">([^<]*)</span>', html)
            assert said.startswith(str(escape(why))), said
            api = client.get(f"/api/batteries/{bid}/passport")
            assert api.status_code == 409
            assert api.json()["detail"].startswith(why)
        kept = client.get("/battery/PACK-M0").text
        assert len(_passport_links(kept)) == len(ACCESS)  # (its views 409 for want of data)
        assert "no-passport" not in kept


def test_a_tampered_battery_page_links_no_passport(tampered_client: TestClient) -> None:
    for bid in TAMPERED:
        html = tampered_client.get(f"/battery/{bid}").text
        assert _passport_links(html) == [], bid
        assert f"{bid}: the event chain does not verify" in html
        assert tampered_client.get(f"/api/batteries/{bid}/passport").status_code == 409
    assert len(_passport_links(tampered_client.get("/battery/PT-00003").text)) == len(ACCESS)
