"""``echelon serve``: a thin command that builds the app, binds its socket and runs uvicorn."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from echelon.cli import app as cli

runner = CliRunner()


class FakeServer:
    """Stands in for uvicorn: records the app and the sockets it would serve."""

    def __init__(self, app: object, **_: object) -> None:
        self.app = app
        self.ports: list[int] = []

    def run(self, sockets: list[socket.socket]) -> None:
        self.ports = [s.getsockname()[1] for s in sockets]


def test_serve_runs_uvicorn_on_the_socket_it_bound(
    served_registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[FakeServer] = []

    def fake(app: object, **kwargs: object) -> FakeServer:
        made.append(FakeServer(app, **kwargs))
        return made[-1]

    monkeypatch.setattr("echelon.api.server.server", fake)
    result = runner.invoke(cli, ["serve", "--db", served_registry, "--port", "0"])
    assert result.exit_code == 0, result.output
    (served,) = made
    (port,) = served.ports
    assert f"serving {served_registry} on http://127.0.0.1:{port}/" in result.output
    assert served.app.state.echelon.registry.url == served_registry  # type: ignore[attr-defined]


def _serve(served_registry: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[str, object]:
    """Run ``echelon serve`` with uvicorn faked: its output and the app it would serve."""
    made: list[FakeServer] = []

    def fake(app: object, **kwargs: object) -> FakeServer:
        made.append(FakeServer(app, **kwargs))
        return made[-1]

    monkeypatch.setattr("echelon.api.server.server", fake)
    result = runner.invoke(cli, ["serve", "--db", served_registry, "--port", "0", *args])
    assert result.exit_code == 0, result.output
    return result.output, made[0].app


@pytest.mark.parametrize(
    ("args", "answered", "refused"),
    [
        ((), ["localhost", "127.0.0.1:8000"], ["lab.example", "attacker.example"]),
        (
            ("--host", "0.0.0.0", "--allowed-host", "lab.example", "--allowed-host", "10.1.2.3"),
            ["localhost", "lab.example:8000", "10.1.2.3"],
            ["attacker.example", "0.0.0.0"],
        ),
    ],
)
def test_serve_answers_its_host_and_the_allowed_hosts_only(
    served_registry: str,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    answered: list[str],
    refused: list[str],
) -> None:
    _, app = _serve(served_registry, monkeypatch, *args)
    client = TestClient(app)  # type: ignore[arg-type]
    for host in answered:
        assert client.get("/api/health", headers={"host": host}).status_code == 200, host
    for host in refused:
        assert client.get("/api/health", headers={"host": host}).status_code == 400, host


def test_serve_on_every_interface_says_which_hosts_it_answers(
    served_registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, _ = _serve(served_registry, monkeypatch, "--host", "0.0.0.0")
    assert "only requests for localhost are answered" in output
    assert "--allowed-host" in output
    output, _ = _serve(served_registry, monkeypatch, "--host", "0.0.0.0", "--allowed-host", "x")
    assert "only requests for localhost" not in output


def test_a_port_in_use_exits_2_saying_so(served_registry: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["serve", "--db", served_registry, "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "choose another --port" in result.output


def test_bad_passport_data_exits_3_before_serving(served_registry: str, tmp_path: Path) -> None:
    bad = tmp_path / "facility.yaml"
    bad.write_text("operater: {}\n", encoding="utf-8")
    result = runner.invoke(
        cli, ["serve", "--db", served_registry, "--passport-data", str(bad), "--port", "0"]
    )
    assert result.exit_code == 3
    assert "operater" in result.output


def test_serve_is_listed_with_its_options() -> None:
    result = runner.invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--db", "--host", "--port", "--passport-data", "--allowed-host"):
        assert option in result.output
