"""``echelon certificate`` and ``echelon passport`` with ``--record``: the file appears only once
its SHA-256 is in the unit's event chain.

Before 2026-12-07 the file was written first: a recording the registry refused (exit 5) left a
certificate or passport that is in no audit chain, in place of an earlier one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pathlib
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.errors import RegistryError
from echelon.io import atomic
from echelon.registry import (
    PendingEvent,
    Registry,
    SerializedWrite,
    battery_record,
    events_frame,
    open_registry,
)
from echelon.synth import SynthBatch
from tests.conftest import registry_copy

runner = CliRunner()
UNIT = "PT-00001"
EVENTS = {"certificate": "certificate_issued", "passport": "passport_issued"}


def _text(output: str) -> str:
    """``output`` with the console's line wrapping undone."""
    return " ".join(output.split())


def _kinds(url: str) -> list[str]:
    with open_registry(url) as registry:
        return [event.kind for event in battery_record(registry, UNIT).events]


@pytest.fixture
def copy(served_registry: str, tmp_path: Path) -> str:
    """URL of a copy of the served registry (to record in)."""
    return registry_copy(served_registry, tmp_path)


def _args(command: str, url: str, out: Path, passport_data: Path) -> list[str]:
    if command == "certificate":
        return ["certificate", UNIT, "--db", url, "-o", str(out)]
    return ["passport", UNIT, "--db", url, "--data", str(passport_data),
            "--in-service", "2027-03-01", "--allow-incomplete", "-o", str(out)]  # fmt: skip


def _target(command: str, tmp_path: Path) -> Path:
    folder = tmp_path / "issued"
    folder.mkdir()
    return folder / ("cert.html" if command == "certificate" else "passport.json")


@pytest.mark.parametrize("command", ["certificate", "passport"])
def test_a_refused_recording_leaves_no_file_and_an_earlier_one_untouched(
    command: str, copy: str, passport_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Registry, battery_id: str, events: object) -> int:
        raise RegistryError(f"{battery_id}: another writer appended concurrently; retry")

    monkeypatch.setattr(Registry, "append_events", refuse)
    monkeypatch.setattr(  # the passport is recorded under the unit-status lock
        SerializedWrite,
        "append_events_many",
        lambda self, batch: [refuse(self.registry, batch[0][0], batch[0][1])],
    )
    out = _target(command, tmp_path)
    before = _kinds(copy)
    result = runner.invoke(app, _args(command, copy, out, passport_data))
    assert result.exit_code == 5, result.output
    assert "another writer appended concurrently" in _text(result.output)
    assert not out.exists()
    assert not any(out.parent.iterdir())  # no temporary left either
    out.write_text("an earlier, recorded file\n")
    result = runner.invoke(app, _args(command, copy, out, passport_data))
    assert result.exit_code == 5, result.output
    assert out.read_text() == "an earlier, recorded file\n"
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    assert _kinds(copy) == before


@pytest.mark.parametrize("command", ["certificate", "passport"])
@pytest.mark.parametrize("record", ["--record", "--no-record"])
def test_a_file_not_written_records_nothing_and_says_so(
    command: str,
    record: str,
    copy: str,
    passport_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The disk fills while the file is written: nothing is recorded, no file is left, and the
    message names the file (before 2026-12-07: an internal error, exit 1)."""

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_bytes", full)
    monkeypatch.setattr(pathlib.Path, "write_text", full)
    out = _target(command, tmp_path)
    before = _kinds(copy)
    result = runner.invoke(app, [*_args(command, copy, out, passport_data), record])
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    assert f"could not write {out}: No space left on device" in text
    assert ("nothing was recorded" in text) == (record == "--record")
    assert "internal error" not in text
    assert not any(out.parent.iterdir())
    assert _kinds(copy) == before


@pytest.mark.parametrize("command", ["certificate", "passport"])
def test_a_file_not_put_in_place_after_recording_says_what_is_recorded_and_where_it_is(
    command: str, copy: str, passport_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(source: object, target: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    out = _target(command, tmp_path)
    result = runner.invoke(app, _args(command, copy, out, passport_data))
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    assert not out.exists()
    (kept,) = out.parent.iterdir()  # the complete file, named in the message
    sha256 = hashlib.sha256(kept.read_bytes()).hexdigest()
    assert f"sha256 {sha256} is recorded in {UNIT}'s chain in sqlite:///" in text
    assert f"could not put {out} in place: Permission denied" in text
    assert f"complete at {kept} → {out}: rename them" in text
    assert f"`echelon show {UNIT}` lists its {EVENTS[command]} event" in text
    with open_registry(copy) as registry:
        event = battery_record(registry, UNIT).events[-1]
    assert event.kind == EVENTS[command]
    assert event.payload["sha256"] == sha256
    assert event.payload["file"] == out.name


def test_an_intake_report_not_written_says_the_intake_is_recorded_and_how_to_write_it(
    small_batch: SynthBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills while ``--report`` is written, after the intake is recorded: exit 2 saying
    so and giving the re-run that writes the report (before 2026-12-07: an internal error, exit
    1); that re-run records nothing twice and writes it."""

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    db = f"sqlite:///{tmp_path / 'i.db'}"
    report = tmp_path / "reports" / "intake.html"
    args = ["intake", str(small_batch.manifest), "--db", db, "-j", "0", "--report", str(report)]
    with monkeypatch.context() as patch:
        patch.setattr(pathlib.Path, "write_bytes", full)
        patch.setattr(pathlib.Path, "write_text", full)
        result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    assert f"the intake of {small_batch.manifest} is recorded in {db} (40 unit(s)" in text
    assert f"could not write {report}: No space left on device; re-run" in text
    rerun = f"re-run `echelon intake {small_batch.manifest} --db {db} --report {report}`"
    assert rerun in text
    assert "internal error" not in text
    assert not report.exists()
    assert not any(report.parent.iterdir())  # no partial report, no temporary
    with open_registry(db) as registry:
        recorded = events_frame(registry).height
    assert recorded > 0
    again = runner.invoke(app, args)  # the re-run the message gives
    assert again.exit_code == 0, again.output
    assert "40 already registered (skipped)" in _text(again.output)
    assert f"manifest {small_batch.manifest}" in report.read_text()  # the report's notes
    with open_registry(db) as registry:
        assert events_frame(registry).height == recorded


def test_a_passport_is_not_recorded_on_a_chain_that_moved_while_it_was_built(
    copy: str, passport_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer's event (a recycling lot, …) appended between the passport's checks and its
    recording was followed by passport_issued, unchecked (helper-86's gap 4)."""
    from echelon.cli import passport_cmds

    built = passport_cmds.passport_json

    def json_then_another_writer(*args: object, **kwargs: object) -> tuple[str, str]:
        out = built(*args, **kwargs)  # type: ignore[arg-type]
        with open_registry(copy) as other:
            other.append_events(UNIT, [PendingEvent("soh_refused", None, {"reason": "x"})])
        return out

    monkeypatch.setattr(passport_cmds, "passport_json", json_then_another_writer)
    out = _target("passport", tmp_path)
    result = runner.invoke(app, _args("passport", copy, out, passport_data))
    assert result.exit_code == 8, result.output
    assert "changed while its passport was built" in _text(result.output)
    assert not out.exists()
    assert _kinds(copy)[-1] == "soh_refused"  # no passport_issued after it


def _full(*args: object, **kwargs: object) -> None:
    raise OSError(28, "No space left on device")


def _full_in(patch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``Path.write_bytes`` and ``Path.write_text`` fail in ``folder`` (a full disk there;
    the registry's file store, elsewhere, is written)."""
    for name in ("write_bytes", "write_text"):
        write = getattr(pathlib.Path, name)

        def fail_in(self: Path, *args: object, _write: object = write, **kwargs: object) -> object:
            if self.parent == folder:
                _full()
            return _write(self, *args, **kwargs)  # type: ignore[operator]

        patch.setattr(pathlib.Path, name, fail_in)


def _events(url: str) -> int:
    with open_registry(url) as registry:
        return events_frame(registry).height


EARLIER = "an earlier run's value.csv\n"


def _earlier_outputs(tmp_path: Path) -> Path:
    out = tmp_path / "lot"
    out.mkdir()
    (out / "value.csv").write_text(EARLIER)
    return out


def test_a_recorded_lot_whose_outputs_cannot_be_written_says_so_and_how_to_write_them(
    copy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills while the lot's files are written, after the lot is recorded: exit 2
    saying the lot is recorded and giving the command that writes its outputs (before
    2026-12-07: an internal error, exit 1, and the CSVs written before lot.json left beside an
    earlier run's files); that command records nothing and writes them."""
    out = _earlier_outputs(tmp_path)
    before = _events(copy)
    args = ["recycle", "route:recycle", "--lot-id", "LOT-FULL", "--year", "2028", "--db", copy]
    with monkeypatch.context() as patch:
        _full_in(patch, out)
        result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    assert f"lot LOT-FULL is recorded in {copy} (its units are recycled" in text
    assert f"could not write {out / 'lot.json'}: No space left on device" in text
    again = ["recycle", "lot:LOT-FULL", "--db", copy, "-o", str(out)]
    assert f"`echelon {' '.join(again)}` writes its outputs again" in text
    assert "internal error" not in text
    assert [p.name for p in out.iterdir()] == ["value.csv"]  # no partial set, no temporary
    assert (out / "value.csv").read_text() == EARLIER
    recorded = _events(copy)
    assert recorded > before
    written = runner.invoke(app, again)  # the command the message gives
    assert written.exit_code == 0, written.output
    assert json.loads((out / "lot.json").read_text())["meta"]["lot_id"] == "LOT-FULL"
    assert (out / "report.html").is_file()
    assert _events(copy) == recorded


def test_lot_outputs_not_written_without_recording_say_nothing_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "lot.csv"
    table.write_text("battery_id,chemistry,level,mass_kg\nA1,NMC811,cell,1000\nB1,LFP,cell,5\n")
    out = _earlier_outputs(tmp_path)
    monkeypatch.setattr(pathlib.Path, "write_bytes", _full)
    monkeypatch.setattr(pathlib.Path, "write_text", _full)
    result = runner.invoke(app, ["recycle", str(table), "--year", "2027", "-o", str(out)])
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    assert (
        f"could not write {out / 'lot.json'}: No space left on device (no file of this run was "
        "written)" in text
    )
    assert "recorded" not in text
    assert "internal error" not in text
    assert [p.name for p in out.iterdir()] == ["value.csv"]
    assert (out / "value.csv").read_text() == EARLIER


def test_a_demo_report_not_written_says_the_registry_is_complete_and_how_to_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills while the demo's report.html is written, after its batch is recorded:
    exit 2 with the re-run that writes it (before 2026-12-07: an internal error, exit 1); that
    re-run (same batch: --date is given) records nothing twice and writes the report."""
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    out = tmp_path / "out"
    args = ["demo", "--n", "12", "--seed", "3", "--workers", "0", "--db", db, "--out", str(out)]
    with monkeypatch.context() as patch:
        patch.setattr(atomic, "utf8_writer", lambda text: _full)
        result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    assert f"the demo's registry {db} is complete (12 unit(s) recorded now" in text
    assert f"could not write {out / 'report.html'}: No space left on device" in text
    day = dt.date.today().isoformat()
    again = f"demo --n 12 --seed 3 --date {day} --region EU --db {db} --out {out}"
    assert f"`echelon {again}` writes it again" in text
    assert "internal error" not in text
    assert not (out / "report.html").exists()
    recorded = _events(db)
    written = runner.invoke(app, again.split())  # the re-run the message gives
    assert written.exit_code == 0, written.output
    assert "12 already registered (skipped)" in _text(written.output)
    assert (out / "report.html").is_file()
    assert _events(db) == recorded


def test_a_compliance_file_not_written_names_it(
    copy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``recycle-lots --year -o``: exit 2 naming the file, nothing left (before 2026-12-07: an
    internal error, exit 1, and a partial file in place of an earlier one) — as every output
    written through ``io.atomic.write_atomic``."""
    lot = ["recycle", "route:recycle", "--year", "2028", "--db", copy, "-o", str(tmp_path / "lot")]
    assert runner.invoke(app, lot).exit_code == 0
    out = tmp_path / "compliance.csv"
    monkeypatch.setattr(pl.DataFrame, "write_csv", lambda self, path: _full())
    result = runner.invoke(app, ["recycle-lots", "--year", "2028", "--db", copy, "-o", str(out)])
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    assert f"could not write {out}: No space left on device" in text
    assert "internal error" not in text
    assert not any(tmp_path.glob("*compliance*"))


def _rename_fails_under(patch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``os.replace`` onto a file under ``folder`` fail (a full disk there)."""
    replace = os.replace

    def fail_under(source: object, target: object, **kwargs: object) -> None:
        if folder in Path(str(target)).parents:
            _full()
        replace(source, target, **kwargs)  # type: ignore[arg-type]

    patch.setattr(os, "replace", fail_under)


def test_a_lot_record_not_kept_in_the_store_records_nothing_and_names_the_store(
    copy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``recycle --record``: the lot record is written to the registry's file store before any
    event; a full store exits 2 naming the record and the store and saying nothing is
    recorded (before 2026-12-07: an internal error, exit 1)."""
    with open_registry(copy) as registry:
        store = registry.store.root
    before = _events(copy)
    out = tmp_path / "lot"
    args = ["recycle", "route:recycle", "--lot-id", "LOT-STORE", "--year", "2028", "--db", copy]
    with monkeypatch.context() as patch:
        _rename_fails_under(patch, store)
        result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    assert "lot LOT-STORE: could not write " in text
    assert "No space left on device; nothing was recorded" in text
    assert f"registry's file store {store} before any event" in text
    assert "ECHELON_STORE_DIR" in text
    assert "internal error" not in text
    assert _events(copy) == before
    assert not out.exists()
    assert not [p for p in store.rglob("*.json*") if p.is_file()]  # no record, no temporary


def test_a_demo_batch_not_written_records_nothing_and_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills while the demo writes its simulated batch, before anything is recorded:
    exit 2 naming the file and saying nothing was recorded, the partial batch removed (before
    2026-12-07: an internal error, exit 1, and a batch folder a re-run refused as not the
    demo's); the re-run writes it."""
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    out = tmp_path / "out"
    args = ["demo", "--n", "12", "--seed", "3", "--workers", "0", "--db", db, "--out", str(out)]
    write_csv = pl.DataFrame.write_csv

    def full_at_truth(self: pl.DataFrame, path: object = None, **kwargs: object) -> object:
        if Path(str(path)).name == "truth.csv":
            raise OSError(28, "No space left on device", str(path))
        return write_csv(self, path, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(pl.DataFrame, "write_csv", full_at_truth)
        result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    truth = out / "batch" / "truth.csv"
    assert f"could not write {truth}: No space left on device" in text
    assert "nothing was recorded" in text
    assert "internal error" not in text
    assert not (out / "batch").exists()
    assert _events(db) == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert truth.is_file()
