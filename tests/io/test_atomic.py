"""Atomic writes: a file appears complete or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import polars as pl
import pytest

from echelon.errors import OutputError
from echelon.io.atomic import (
    StagedFiles,
    staged_files,
    utf8_writer,
    write_atomic,
    write_recorded,
    write_text_atomic,
)
from echelon.io.base import RunMetadata
from echelon.io.bdf import write_bdf_parquet


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    write_text_atomic(target, "first")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OutputError) as raised:  # exit 2, naming the file (was a bare OSError)
        write_atomic(target, fail)
    assert str(raised.value) == f"could not write {target}: disk full"
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]
    write_text_atomic(target, "second")
    assert target.read_text() == "second"


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_files_get_the_usual_permissions_of_a_new_file(tmp_path: Path, umask: int) -> None:
    # mkstemp's 0600 used to be kept by the rename: outputs readable by their owner only
    old = os.umask(umask)
    try:
        text = write_text_atomic(tmp_path / "a" / "report.html", "<html/>")
        table = write_atomic(tmp_path / "t.parquet", pl.DataFrame({"x": [1]}).write_parquet)
        bdf = tmp_path / "run.bdf.parquet"
        frame = pl.DataFrame({"test_time_second": [0.0], "voltage_volt": [3.7]})
        write_bdf_parquet(
            frame,
            bdf,
            RunMetadata(source_path="a", source_sha256="0" * 64, reader="test", reader_version="0"),
        )
    finally:
        os.umask(old)
    for path in (text, table, bdf):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name
    assert {p.name for p in tmp_path.iterdir()} == {"a", "t.parquet", "run.bdf.parquet"}


def test_staged_files_appear_only_when_placed(tmp_path: Path) -> None:
    """Staged files are complete beside their targets (their suffix kept) and appear only when
    placed; leaving the block otherwise (a step between refused) removes them."""
    a, b = tmp_path / "a.csv", tmp_path / "b.svg"
    a.write_text("earlier")
    files = [(a, lambda p: p.write_text("new a")), (b, lambda p: p.write_text("new b"))]
    seen: list[str] = []

    def refused(staged: StagedFiles) -> None:
        seen.extend(tmp.suffix for tmp, _ in staged.moves)
        assert all(tmp.read_text().startswith("new") for tmp, _ in staged.moves)
        raise RuntimeError("the recording was refused")

    with pytest.raises(RuntimeError), staged_files(files) as staged:
        refused(staged)
    assert seen == [".csv", ".svg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]
    assert a.read_text() == "earlier"
    with staged_files(files) as staged:
        assert staged.place() == [a, b]
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.svg"]


def test_a_staged_file_not_written_leaves_none(tmp_path: Path) -> None:
    def full(path: Path) -> None:
        raise OSError(28, "No space left on device")

    files = [(tmp_path / "a.csv", lambda p: p.write_text("a")), (tmp_path / "b.csv", full)]
    message = r"could not write .*b\.csv: No space left on device"
    with pytest.raises(OutputError, match=message), staged_files(files):
        pytest.fail("the block runs only once every file is written")
    assert not any(tmp_path.iterdir())


def test_a_staged_file_whose_folder_cannot_be_made_leaves_none(tmp_path: Path) -> None:
    """The folder of a target cannot be made (a file took its name since the up-front check):
    an OutputError naming the target, no file of the set left (it was a bare OSError)."""
    (tmp_path / "taken").write_text("a file, not a folder")
    first, second = tmp_path / "a.csv", tmp_path / "taken" / "b.csv"
    files = [(first, lambda p: p.write_text("a")), (second, lambda p: p.write_text("b"))]
    with pytest.raises(OutputError, match=f"could not write {second}: "), staged_files(files):
        pytest.fail("the block runs only once every file is written")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_write_recorded_says_whether_anything_was_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file not written: nothing recorded (``record`` not called); a recording refused: no
    file; a file not put in place after the recording: what was recorded, then ``see``."""
    target = tmp_path / "cert.html"
    calls: list[str] = []

    def record() -> str:
        calls.append("recorded")
        return "its hash is recorded"

    def full(path: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match=r"No space left on device .*; nothing was recorded"):
        write_recorded([(target, full)], record, see="see it")
    assert calls == []

    def refused() -> str:
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        write_recorded([(target, utf8_writer("new"))], refused, see="see it")
    assert not any(tmp_path.iterdir())

    def denied(source: object, dest: object) -> None:
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", denied)
        with pytest.raises(OutputError) as raised:
            write_recorded([(target, utf8_writer("new"))], record, see="see it")
    (kept,) = tmp_path.iterdir()
    assert str(raised.value) == (
        f"its hash is recorded, but could not put {target} in place: Permission denied; the "
        f"files not in place are complete at {kept} → {target}: rename them; see it"
    )
    assert kept.read_text() == "new"
    kept.unlink()
    assert write_recorded([(target, utf8_writer("new"))], record, see="see it") == [target]
    assert (target.read_text(), calls) == ("new", ["recorded", "recorded"])
