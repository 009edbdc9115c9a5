"""Operating a registry from the command line: a mistyped SQLite path, the file store of a
server database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from echelon.cli import app

runner = CliRunner()

READING = [
    ["batteries"],
    ["show", "X-1"],
    ["verify"],
    ["recycle-lots"],
    ["forecast", "X-1", "--application", "ess"],
    ["passport", "X-1", "--no-record"],
    ["certificate", "X-1", "--no-record"],
    ["recycle", "route:recycle", "--process", "hydro", "-o", "OUT"],
    ["regroup", "--from-registry", "-s", "2", "-p", "1"],
    ["serve", "--port", "0"],
]
"""Commands that need registered units: none may make a new, empty registry."""


@pytest.mark.parametrize("command", READING, ids=lambda c: " ".join(c[:2]))
def test_a_missing_sqlite_file_is_refused_not_created(
    tmp_path: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_server(*_: object, **__: object) -> None:
        raise AssertionError("serve started a server on a registry that does not exist")

    monkeypatch.setattr("echelon.api.server.server", no_server)
    typo = tmp_path / "typo.db"
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    result = runner.invoke(app, [*args, "--db", f"sqlite:///{typo}"])
    assert result.exit_code == 5, result.output
    flat = " ".join(result.output.split())
    assert f"no registry at {typo}: the file does not exist" in flat
    assert "echelon intake MANIFEST" in flat
    assert not typo.exists()
