"""What a browser may do with the server's answers: only the allowed ``Host`` names are
answered (DNS rebinding), nothing is sniffed, and the dashboard's pages run only their own
inline script and style."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from echelon.api import create_app
from echelon.api.middleware import host_names
from echelon.web.pages import page_csp


@pytest.mark.parametrize("path", ["/api/health", "/api/batteries", "/", "/battery/PT-00001"])
@pytest.mark.parametrize("host", ["attacker.example", "127.0.0.1.attacker.example", "testserver"])
def test_a_request_for_another_host_is_refused(
    api_client: TestClient, path: str, host: str
) -> None:
    """A page on attacker.example whose name is rebound to 127.0.0.1 sends its own Host."""
    response = api_client.get(path, headers={"host": host})
    assert response.status_code == 400
    assert "PT-00001" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:8000", "127.0.0.1", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"],
)
def test_this_machine_is_answered_by_default(api_client: TestClient, host: str) -> None:
    assert api_client.get("/api/health", headers={"host": host}).status_code == 200


def test_allowed_hosts_are_answered_too(served_registry: str) -> None:
    app = create_app(served_registry, allowed_hosts=["battery-lab.example", "10.0.0.7", "fd00::7"])
    with TestClient(app, base_url="http://battery-lab.example:8000") as client:
        assert client.get("/api/health").status_code == 200
        for host in ("10.0.0.7:8000", "[fd00::7]:8000", "localhost"):
            assert client.get("/api/health", headers={"host": host}).status_code == 200
        assert client.get("/api/health", headers={"host": "lab.example"}).status_code == 400


def test_host_names() -> None:
    assert host_names() == ["localhost", "127.0.0.1", "[::1]"]
    assert host_names(["0.0.0.0", "::", "Lab.Example", "::1", "fd00::7", "*.lab.example"]) == [
        "localhost",
        "127.0.0.1",
        "[::1]",
        "lab.example",
        "[fd00::7]",
        "*.lab.example",
    ]


@pytest.mark.parametrize(
    "path", ["/api/health", "/api/batteries/PT-00001", "/api/nothing", "/", "/battery/ZZ-1"]
)
def test_no_response_is_sniffed_or_framed(api_client: TestClient, path: str) -> None:
    response = api_client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_json_may_load_nothing(api_client: TestClient) -> None:
    csp = api_client.get("/api/batteries?limit=1").headers["content-security-policy"]
    assert csp == "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize("path", ["/", "/battery/PT-00001", "/battery/ZZ-1", "/?grade=Z"])
def test_a_page_runs_only_its_own_inline_script_and_style(
    api_client: TestClient, path: str
) -> None:
    response = api_client.get(path)
    csp = response.headers["content-security-policy"]
    (nonce,) = set(re.findall(r"'nonce-([^']+)'", csp))
    assert csp == page_csp(nonce)
    assert "unsafe-inline" not in csp
    html = response.text
    tags = re.findall(r"<(script|style)\b([^>]*)>", html)
    assert tags  # the page's own style (and the index's script) …
    assert all(attrs == f' nonce="{nonce}"' for _, attrs in tags)  # … each with the nonce
    assert " style=" not in html  # a style attribute would need 'unsafe-inline'
    assert not re.search(r" on[a-z]+=", html)  # so would an event handler attribute
    again = api_client.get(path).headers["content-security-policy"]
    assert again != csp  # a new nonce on every page


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("*example.com", "a wildcard must be '*' or lead a domain"),
        ("lab.example:8000", "has a port: give the host alone ('lab.example')"),
        ("http://lab.example", "is a URL: give the host name alone"),
    ],
)
def test_an_allowed_host_that_can_never_match_is_refused_at_start(
    served_registry: str, host: str, says: str
) -> None:
    """Before 2026-12-07 these started a server that answered every request with 400 (or, for
    the wildcard, a bare 500)."""
    from echelon.errors import UsageError

    with pytest.raises(UsageError, match=re.escape(says)):
        create_app(served_registry, allowed_hosts=[host])
