"""``echelon serve``: a thin command that builds the app, binds its socket and runs uvicorn."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
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
    for option in ("--db", "--host", "--port", "--passport-data"):
        assert option in result.output
