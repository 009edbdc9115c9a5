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


UNKNOWN_EIS_MAP = """\
name: acme_eis
columns:
  "Frequenz": {bdf: frequency_hertz, unit: Hz}
  "Realteil": {bdf: real_impedance_ohm, unit: Ohm}
  "Imaginaerteil": {bdf: imaginary_impedance_ohm, unit: Ohm}
"""
"""A column map for an impedance layout no built-in reader knows (``_unknown_eis``)."""


def _spectrum(path: Path, header: tuple[str, str, str]) -> None:
    """A tab-separated spectrum (a Randles arc: R0 + R1 ∥ C) under ``header`` (f, Re Z, Im Z)."""
    import numpy as np

    f = np.logspace(4, -1, 31)
    z = 0.025 + 0.01 / (1 + 2j * np.pi * f * 0.005)
    lines = ["\t".join(header)] + [
        f"{fi}\t{zi.real}\t{zi.imag}" for fi, zi in zip(f, z, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


def _unknown_eis(path: Path) -> None:
    _spectrum(path, ("Frequenz", "Realteil", "Imaginaerteil"))


def _warwick_like(path: Path) -> None:
    """The Warwick/Wett layout (PROVENANCE of eis_soh), without the Zmod/Zphz/label columns."""
    _spectrum(path, ("Freq(Hz)", "Zreal(Ohm)", "Zimag(Ohm)"))


def test_an_unrecognised_test_file_gets_advice_intake_can_follow(tmp_path: Path) -> None:
    """The refusal said ``pass --reader NAME or describe its columns with a generic column map``:
    intake has neither; it now says to convert the file with `echelon read --map` and list the
    .bdf.parquet — which this test follows to a recorded unit."""
    spectrum = tmp_path / "cell02.txt"
    _unknown_eis(spectrum)
    (tmp_path / "m.csv").write_text(MANIFEST.replace("yes\n", "yes,eis:cell02.txt\n").replace(
        "has_traceability", "has_traceability,test_files"))  # fmt: skip
    db = f"sqlite:///{tmp_path / 'r.db'}"
    failed = runner.invoke(app, ["intake", str(tmp_path / "m.csv"), "--db", db, "--workers", "0"])
    assert failed.exit_code == 10, failed.output
    assert _has(failed.output, "for intake, convert it first")
    assert "pass --reader" not in failed.output
    (tmp_path / "acme.yaml").write_text(UNKNOWN_EIS_MAP)
    converted = tmp_path / "cell02.bdf.parquet"
    read = runner.invoke(app, ["read", str(spectrum), "--map", str(tmp_path / "acme.yaml"),
                               "-o", str(converted)])  # fmt: skip
    assert read.exit_code == 0, read.output
    (tmp_path / "m.csv").write_text(
        (tmp_path / "m.csv").read_text().replace("cell02.txt", "cell02.bdf.parquet")
    )
    again = runner.invoke(app, ["intake", str(tmp_path / "m.csv"), "--db", db, "--workers", "0"])
    assert again.exit_code == 0, again.output
    shown = runner.invoke(app, ["show", "E1", "--db", db])
    assert "eis_r_ohmic_ohm" in shown.output


def test_a_warwick_eis_spectrum_is_an_intake_test_file(tmp_path: Path) -> None:
    """A Warwick/Wett spectrum (``eis:cell02.txt``) failed intake ("no reader recognises this
    file"): it had to be converted with a column map first. The built-in wett_eis_txt reader
    takes it as it is."""
    _warwick_like(tmp_path / "cell02.txt")
    (tmp_path / "m.csv").write_text(MANIFEST.replace("yes\n", "yes,eis:cell02.txt\n").replace(
        "has_traceability", "has_traceability,test_files"))  # fmt: skip
    db = f"sqlite:///{tmp_path / 'r.db'}"
    taken = runner.invoke(app, ["intake", str(tmp_path / "m.csv"), "--db", db, "--workers", "0"])
    assert taken.exit_code == 0, taken.output
    shown = runner.invoke(app, ["show", "E1", "--db", db])
    assert "eis_r_ohmic_ohm" in shown.output


def test_a_re_run_says_how_many_skipped_units_failed(tmp_path: Path) -> None:
    """A re-run said ``2 already registered (skipped), 0 failed`` while one unit was ``failed``."""
    rows = MANIFEST.replace("has_traceability", "has_traceability,test_files").replace(
        "yes\n", "yes,\nE2,cell,LFP,100,3.3,yes,capacity:missing.csv\n"
    )
    (tmp_path / "m.csv").write_text(rows)
    args = ["intake", str(tmp_path / "m.csv"), "--db", f"sqlite:///{tmp_path / 'r.db'}",
            "--workers", "0"]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 10, first.output
    again = runner.invoke(app, args)
    assert _has(again.output, "2 already registered (skipped; 1 of them failed: see")
    assert _has(again.output, "echelon batteries --status failed")


def test_every_next_step_the_demo_prints_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo suggested `echelon passport ESS-00002 --allow-incomplete --no-record`, which
    exits 8 (no section complete without a data file); every suggestion now runs (exit 0) on the
    demo's own registry, as printed."""
    import re
    import shlex

    monkeypatch.chdir(tmp_path)
    args = ["demo", "--n", "30", "--db", "sqlite:///d.db", "--out", "out", "--workers", "0",
            "--date", "2026-11-22"]  # fmt: skip
    demo = runner.invoke(app, args)
    assert demo.exit_code == 0, demo.output
    steps = re.findall(r"`(echelon [^`]+)`", demo.output.split("next:", 1)[1].replace("\n", " "))
    assert any(s.startswith("echelon passport ") for s in steps), steps
    for step in steps:
        assert "--db sqlite:///d.db" in step
        result = runner.invoke(app, shlex.split(step)[1:])
        assert result.exit_code == 0, f"{step}\n{result.output}"


def test_a_plain_sqlite_path_is_taken_as_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--db d2/d2.db`` said ``not a database URL``: a path ending in .db is a SQLite file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.csv").write_text(MANIFEST)
    (tmp_path / "d2").mkdir()
    taken = runner.invoke(app, ["intake", "m.csv", "--db", "d2/d2.db", "--workers", "0"])
    assert taken.exit_code == 0, taken.output
    assert (tmp_path / "d2" / "d2.db").is_file()
    listed = runner.invoke(app, ["batteries", "--db", "d2/d2.db", "--format", "csv"])
    assert listed.exit_code == 0, listed.output
    assert "E1" in listed.output
    other = runner.invoke(app, ["batteries", "--db", "d2/d2"])
    assert other.exit_code == 2, other.output
    assert _has(other.output, "give sqlite:///d2/d2 for a SQLite file")


def test_an_unknown_forecast_application_is_a_usage_error(tmp_path: Path) -> None:
    """``forecast ID --application storage`` exited 8 and spoke of a Python ``Duty``: it is a
    usage error (exit 2) naming the applications, refused before the registry is read."""
    (tmp_path / "m.csv").write_text(MANIFEST)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    taken = runner.invoke(app, ["intake", str(tmp_path / "m.csv"), "--db", db, "--workers", "0"])
    assert taken.exit_code == 0, taken.output
    result = runner.invoke(app, ["forecast", "E1", "--application", "storage", "--db", db,
                                 "-o", str(tmp_path / "f")])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert _has(result.output, "--application 'storage' is not an application")
    assert _has(result.output, "auto12v, ebike, ess, ev_reman")
    assert "Duty" not in result.output
    assert not (tmp_path / "f").exists()


def test_intake_names_a_grading_column_no_unit_has(tmp_path: Path) -> None:
    """A manifest without has_traceability quarantined every unit, and intake said nothing of
    it (IntakeReport.absent_columns was computed, not printed)."""
    (tmp_path / "m.csv").write_text(
        "battery_id,level,chemistry,nominal_capacity_ah,ocv_v\nE1,cell,LFP,100,3.3\n"
    )
    args = ["intake", str(tmp_path / "m.csv"), "--db", f"sqlite:///{tmp_path / 'r.db'}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _has(result.output, "warning: has_traceability")
    assert _has(result.output, "quarantined by gate.traceability")
