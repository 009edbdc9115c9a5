"""``echelon backup FOLDER`` on a disk that fills: exit 2 naming the file, and no partial backup
that looks complete (before 2026-12-07: an internal error, exit 1, with the database copy in
place beside a store cut short — a backup a re-run refused to overwrite)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.registry import open_registry

runner = CliRunner()


def test_a_backup_cut_short_leaves_no_backup_and_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with open_registry(url, store_dir=tmp_path / "live-store") as registry:
        for name in ("a.csv", "b.csv"):
            (tmp_path / name).write_text(f"time_s,voltage_v\n0,3.{len(name)}\n{name}\n")
            registry.store.put_raw(tmp_path / name)
    folder = tmp_path / "bak"
    args = ["backup", str(folder), "--db", url]
    env = {"ECHELON_STORE_DIR": str(tmp_path / "live-store")}
    copytree = shutil.copytree
    copied: list[str] = []

    def full_after_one(source: str, target: str) -> None:
        if copied:
            raise OSError(28, "No space left on device", target)
        copied.append(shutil.copy2(source, target))

    def copytree_full(source: Path, target: Path, *args: object, **kwargs: object) -> object:
        if not args:  # the backup's call (copytree's own, for a subfolder, passes its function)
            kwargs["copy_function"] = full_after_one
        return copytree(source, target, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(shutil, "copytree", copytree_full)
        result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "could not write " in text
    assert "No space left on device" in text
    assert "no backup was made" in text
    assert "internal error" not in text
    assert list(folder.iterdir()) == []  # no database copy, no store cut short, no temporary
    made = runner.invoke(app, args, env=env)
    assert made.exit_code == 0, made.output
    assert "(2 files)" in " ".join(made.output.split())
