"""The dashboard in Chromium, served by uvicorn: a filter updates the table in place, a click
opens a battery's page with its decisions."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from echelon.api import create_app
from echelon.api.server import bind, server
from echelon.registry import battery_record, list_batteries


@pytest.fixture
def base_url(served_registry: str) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of the app on the served registry, uvicorn in a thread."""
    sock = bind("127.0.0.1", 0)
    uvicorn_server = server(create_app(served_registry), log_level="warning")
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uvicorn_server.started:  # startup of a fresh process: imports, migrations check
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 60 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.mark.browser
def test_filter_then_open_a_battery(
    browser: object, base_url: str, served_registry: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from echelon.registry import open_registry

    with open_registry(served_registry) as registry:
        routed = list_batteries(registry, status="routed")
        routed_a = routed.filter(routed.get_column("grade") == "A")
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(  # a Content-Security-Policy violation is logged as a console error
            "console", lambda msg: errors.append(msg.text) if msg.type == "error" else None
        )
        page.goto(base_url + "/")
        rows = page.locator("#battery-table tbody tr[data-status]")
        expect(rows).to_have_count(41)
        page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded

        page.select_option("#f-status", "routed")
        expect(page.locator("#matching")).to_contain_text(f"{routed.height} batteries match")
        expect(rows).to_have_count(routed.height)
        assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.status)")) == {"routed"}
        page.select_option("#f-grade", "A")
        expect(rows).to_have_count(routed_a.height)
        assert page.evaluate("window.loadedOnce") is True  # updated in place
        assert page.url == f"{base_url}/?status=routed&grade=A"  # the address keeps the filters
        assert page.locator("#apply").is_hidden()  # with JavaScript, no Apply button

        battery_id = rows.first.locator("a").inner_text()
        assert battery_id == routed_a.item(0, "battery_id")
        rows.first.locator("a").click()
        page.wait_for_url(f"**/battery/{battery_id}")
        expect(page.locator("#battery-id")).to_have_text(battery_id)
        record = battery_record(registry, battery_id)
    reasons = [r.detail for d in record.decisions for r in d.reasons]
    shown = page.locator("td.reason").all_inner_texts()
    assert shown
    assert set(shown) <= set(reasons)
    expect(page.locator("#soh-chart svg")).to_be_visible()
    page.screenshot(path=str(tmp_path / "battery.png"), full_page=True)
    assert (tmp_path / "battery.png").stat().st_size > 10_000
    page.go_back()
    expect(page.locator("#f-status")).to_have_value("routed")  # the filters survive "back"
    assert not errors


def test_uvicorn_refuses_another_host(base_url: str) -> None:
    """DNS rebinding through the real server: a page on attacker.example rebound to 127.0.0.1."""
    request = urllib.request.Request(base_url + "/api/health", headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    refused.value.close()  # an HTTPError holds the response's socket
    assert refused.value.code == 400
    with urllib.request.urlopen(base_url + "/api/health", timeout=30) as answered:
        assert answered.status == 200
        assert answered.headers["x-content-type-options"] == "nosniff"
    head = urllib.request.Request(base_url + "/", method="HEAD")
    with urllib.request.urlopen(head, timeout=30) as probed:  # an uptime probe
        assert probed.status == 200
        assert probed.read() == b""


@pytest.mark.browser
def test_filters_given_as_aliases_stay_when_another_changes(
    browser: object, base_url: str, served_registry: str
) -> None:
    """A link with `grade=a&level=MODULE` filtered the table but its dropdowns showed "any", so
    changing the status dropped the other two without a word."""
    from playwright.sync_api import expect

    from echelon.registry import open_registry

    with open_registry(served_registry) as registry:
        expected = list_batteries(registry, status="routed", grade="A", level="module").height
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(base_url + "/?grade=a&level=MODULE")
    expect(page.locator("#f-grade")).to_have_value("A")
    expect(page.locator("#f-level")).to_have_value("module")
    page.select_option("#f-status", "routed")
    expect(page.locator("#matching")).to_contain_text(
        f"{expected} {'battery matches' if expected == 1 else 'batteries match'} status routed, "
        "grade A, level module"
    )
    assert page.url == f"{base_url}/?status=routed&grade=A&level=module"
    rows = page.locator("#battery-table tbody tr[data-status]")
    expect(rows).to_have_count(expected)


@pytest.mark.browser
def test_the_search_box_opens_a_battery(browser: object, base_url: str) -> None:
    """Floor staff type (or scan) an id into the header's box: its page opens; an unknown id's
    page names similar ids."""
    from playwright.sync_api import expect

    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(base_url + "/")
    page.fill("#find-id", " PT-00002 ")
    page.press("#find-id", "Enter")
    page.wait_for_url("**/battery/PT-00002")
    expect(page.locator("#battery-id")).to_have_text("PT-00002")
    assert not errors  # no Content-Security-Policy violation (a form to its own origin)
    page.fill("#find-id", "pt-00002")  # the box is on every page
    page.press("#find-id", "Enter")
    expect(page.locator(".error")).to_contain_text("similar ids: PT-00002")  # a 404 page
