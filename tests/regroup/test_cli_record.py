"""``echelon regroup --record``: the plan's files appear only for packs that were recorded.

Before 2026-12-07 the files were written first: a recording the registry refused (exit 6) left
``packs.csv`` & co. describing packs that were never recorded.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.io import atomic
from echelon.registry import battery_record, events_frame, open_registry
from tests.conftest import registry_copy

runner = CliRunner()


def _text(output: str) -> str:
    """``output`` with the console's line wrapping undone."""
    return " ".join(output.split())


def _events(url: str) -> int:
    with open_registry(url) as registry:
        return events_frame(registry).height


@pytest.fixture
def copy(served_registry: str, tmp_path: Path) -> str:
    """URL of a copy of the served registry (to record packs in)."""
    return registry_copy(served_registry, tmp_path)


def _args(url: str, out: Path, *extra: str) -> list[str]:
    return ["regroup", "--from-registry", "-s", "2", "-p", "1", "--db", url, "-o", str(out),
            *extra]  # fmt: skip


def test_a_refused_recording_writes_no_plan_file(copy: str, tmp_path: Path) -> None:
    """A unit's rows edited in the database: the recording is refused (exit 6), and the -o
    folder holds no file of that plan — an earlier run's files there are left as they were."""
    planned = runner.invoke(app, _args(copy, tmp_path / "plan" / "packs.csv"))
    assert planned.exit_code == 0, planned.output
    member = pl.read_csv(tmp_path / "plan" / "packs.csv")["battery_id"][0]
    with closing(sqlite3.connect(copy.removeprefix("sqlite:///"))) as conn:
        conn.execute(f"UPDATE decisions SET profile_version = '9' WHERE battery_id = '{member}'")
        conn.commit()
    folder = tmp_path / "recorded"
    folder.mkdir()
    earlier = folder / "packs.csv"
    earlier.write_text("an earlier run's plan\n")
    before = _events(copy)
    out = folder / "packs.csv"
    plot = folder / "blocks.svg"
    result = runner.invoke(app, _args(copy, out, "--record", "--compare", "--plot", str(plot)))
    assert result.exit_code == 6, result.output
    assert "so no pack is recorded" in _text(result.output)
    assert "wrote" not in result.output
    assert sorted(p.name for p in folder.iterdir()) == ["packs.csv"]  # no temporary left either
    assert earlier.read_text() == "an earlier run's plan\n"
    assert _events(copy) == before


def test_a_file_not_written_before_recording_records_nothing(
    copy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills while the plan's files are written: nothing is recorded, no file is left,
    and the message names the file and says so (before 2026-12-07: an internal error)."""

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_csv", full)
    before = _events(copy)
    out = tmp_path / "out" / "packs.csv"
    result = runner.invoke(app, _args(copy, out, "--record"))
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    assert f"could not write {out}: No space left on device" in text
    assert "nothing was recorded" in text
    assert "internal error" not in text
    assert not any(out.parent.iterdir())
    assert _events(copy) == before


def test_files_not_moved_into_place_after_recording_say_the_packs_are_recorded(
    copy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The packs are recorded, then a file cannot be put in place: the message says the packs
    are recorded (with their ids), where the complete files are, and how to see the packs."""
    real = atomic.os.replace
    calls: list[object] = []

    def refuse_second(source: object, target: object) -> None:
        calls.append(target)
        if len(calls) == 2:
            raise PermissionError(13, "Permission denied")
        real(source, target)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic.os, "replace", refuse_second)
    out = tmp_path / "out" / "packs.csv"
    result = runner.invoke(app, _args(copy, out, "--record"))
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    assert "pack(s) are recorded in sqlite:///" in text
    assert f"could not put {calls[1]} in place: Permission denied" in text
    assert "echelon batteries --level pack" in text
    monkeypatch.undo()
    with open_registry(copy) as registry:
        packs = pl.read_csv(out)["pack_id"].unique().to_list()  # the first file was moved
        assert all(battery_record(registry, p).children for p in packs)
    kept = [p for p in out.parent.iterdir() if p.name.startswith(".")]
    assert len(kept) == 3  # the complete files not moved, named in the message
    for path in kept:
        assert str(path) in text
