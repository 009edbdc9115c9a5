"""Intake and demo as a new user meets them: options checked before any work, a tester file
given as the manifest, re-run counts, and the demo's own suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from echelon.cli import app

runner = CliRunner()

MANIFEST = (
    "battery_id,level,chemistry,nominal_capacity_ah,ocv_v,has_traceability\n"
    "E1,cell,LFP,100,3.3,yes\n"
)


def _has(output: str, fragment: str) -> bool:
    """``fragment`` is in ``output``, wherever rich wrapped or boxed it (spaces ignored)."""
    return "".join(fragment.split()) in "".join(output.replace("│", "").split())


@pytest.mark.parametrize(
    ("profile", "code", "fragment"),
    [("europe", 2, "no grading profile named 'europe'"), ("{t}/none.toml", 7, "none.toml")],
)
def test_a_bad_profile_is_refused_before_anything_is_written(
    tmp_path: Path, profile: str, code: int, fragment: str
) -> None:
    """docs/cli.md: a bad option value is refused before any work — no database, no store."""
    (tmp_path / "m.csv").write_text(MANIFEST)
    db = f"sqlite:///{tmp_path / 'p.db'}"
    args = ["intake", str(tmp_path / "m.csv"), "--db", db, "--profile", profile.format(t=tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert _has(result.output, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


def test_an_invalid_manifest_creates_no_database(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("battery_id,level\nE1,cell\n")
    result = runner.invoke(app, ["intake", str(tmp_path / "m.csv"), "--db",
                                 f"sqlite:///{tmp_path / 'r.db'}"])  # fmt: skip
    assert result.exit_code == 3, result.output
    assert _has(result.output, "required column missing")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]
