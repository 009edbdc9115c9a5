"""`echelon verify`: chains cut at their end, batteries deleted outright, anchor files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.registry import Registry, open_registry
from tests.registry.test_registry import _raw, unit

runner = CliRunner()


def _text(output: str) -> str:
    """``output`` with the console's line wrapping undone (words joined by single spaces)."""
    return " ".join(output.split())


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[str, Registry]:
    """A SQLite registry with three units (graded: events #0-#2), its URL and an open handle."""
    url = f"sqlite:///{tmp_path / 'verify.db'}"
    registry = open_registry(url, store_dir=tmp_path / "store")
    registry.record_units([unit("A-1"), unit("A-2"), unit("A-3")])
    return url, registry


def test_a_chain_cut_at_its_end_fails_verify_with_exit_6(recorded: tuple[str, Registry]) -> None:
    url, registry = recorded
    _raw(registry, "DELETE FROM decisions WHERE battery_id = 'A-2'")
    _raw(registry, "DELETE FROM events WHERE battery_id = 'A-2' AND seq >= 2")
    result = runner.invoke(app, ["verify", "--db", url])
    assert result.exit_code == 6, result.output
    assert "A-2: its chain ends at #1 but its head record says #2" in _text(result.output)


def test_an_anchor_is_written_when_everything_verifies_and_names_what_changed_since(
    recorded: tuple[str, Registry], tmp_path: Path
) -> None:
    url, registry = recorded
    anchor = tmp_path / "anchor.json"
    written = runner.invoke(app, ["verify", "--db", url, "--write-anchor", str(anchor)])
    assert written.exit_code == 0, written.output
    content = json.loads(anchor.read_text())
    assert (content["batteries"], content["events"]) == (3, 9)
    assert content["digest"] in written.output.replace("\n", "")
    for table in ("measurements", "decisions", "intakes", "events", "batteries", "chain_heads"):
        _raw(registry, f"DELETE FROM {table} WHERE battery_id = 'A-3'")
    alone = runner.invoke(app, ["verify", "--db", url])
    assert alone.exit_code == 6
    assert "(registry): the writes recorded 3 batteries with 9 events" in _text(alone.output)
    against = runner.invoke(app, ["verify", "--db", url, "--anchor", str(anchor)])
    assert against.exit_code == 6
    assert "first: A-3: gone from the registry: the anchor of" in _text(against.output)
    again = tmp_path / "again.json"
    refused = runner.invoke(app, ["verify", "--db", url, "--write-anchor", str(again)])
    assert refused.exit_code == 6
    assert not again.exists()  # no anchor of a registry that does not verify


def test_a_registry_that_grew_verifies_against_its_anchor(
    recorded: tuple[str, Registry], tmp_path: Path
) -> None:
    url, registry = recorded
    anchor = tmp_path / "anchor.json"
    assert runner.invoke(app, ["verify", "--db", url, "--write-anchor", str(anchor)]).exit_code == 0
    registry.record_units([unit("A-4")])
    result = runner.invoke(app, ["verify", "--db", url, "--anchor", str(anchor)])
    assert result.exit_code == 0, result.output
    assert "the 3 chains of the anchor of" in _text(result.output)
    assert "(1 batteries are newer)" in _text(result.output)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--write-anchor", "anchor.txt"], 2, "--write-anchor"),  # Typer's box around it
        (["--anchor", "missing.json"], 3, "cannot read the anchor file"),
    ],
)
def test_an_anchor_file_the_command_cannot_use_is_refused(
    recorded: tuple[str, Registry],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    code: int,
    says: str,
) -> None:
    url, _ = recorded
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["verify", "--db", url, *args])
    assert result.exit_code == code, result.output
    assert says in _text(result.output)
    assert not (tmp_path / "anchor.txt").exists()
