"""A unit whose short-test SOH was refused: ``show`` and the intake summary say why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.cli.intake_cmds import _print_outcome
from echelon.domain import Battery
from echelon.pipeline.intake import IntakeReport
from echelon.registry import PendingEvent, UnitWrite, open_registry

runner = CliRunner()
WHY = "no pulse model for chemistry family LCO (trained: LFP, LMO, NMC)"


@pytest.fixture(autouse=True)
def wide_console() -> Iterator[None]:
    """Lines as long as the messages (the console otherwise wraps at the terminal's width)."""
    from echelon.cli._console import console

    before = console.width
    console.width = 200
    yield
    console.width = before


def test_show_lists_the_refused_estimate_with_its_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    battery = Battery(battery_id="LCO-1", level="cell", chemistry="LCO", nominal_capacity_ah=4.0)
    event = PendingEvent("soh_refused", None, {"method": "pulse:pulse-u21", "reason": WHY})
    with open_registry(url, store_dir=tmp_path / "store") as reg:
        reg.record_units([UnitWrite(battery, "f" * 64, "m" * 64, "ok", events=[event])])
    shown = runner.invoke(app, ["show", "LCO-1", "--db", url])
    assert shown.exit_code == 0, shown.output
    assert "SOH estimates refused" in shown.output
    assert f"pulse:pulse-u21: {WHY}" in shown.output
    assert "soh_refused" in shown.output  # in the hash-chained history too
    verified = runner.invoke(app, ["verify", "--db", url])
    assert verified.exit_code == 0, verified.output


def test_intake_summary_counts_and_names_refusals() -> None:
    from echelon.cli._console import console

    report = IntakeReport(manifest=Path("m.csv"), units=12, written=12)
    report.soh_refused = [(f"LCO-{i}", "pulse:pulse-u21", WHY) for i in range(12)]
    report.soh_refused.append(("LCO-0", "eis:eis-lco-nmc811", "no spectrum band"))  # 2 models
    with console.capture() as captured:
        _print_outcome(report)
    text = captured.get()
    assert "12 unit(s) left without SOH: their short-test estimate was refused" in text
    assert f"LCO-0 (pulse:pulse-u21): {WHY}" in text
    assert "LCO-10" not in text
    assert "… and 3 more" in text


@pytest.mark.parametrize(
    ("report_file", "where"),
    [
        (None, "`echelon batteries --status failed` lists them; --report FILE.html gives every"),
        (Path("out/report.html"), "see out/report.html"),
    ],
)
def test_intake_summary_says_where_the_other_failures_are(
    report_file: Path | None, where: str
) -> None:
    """ "… and 110 more (see the report)" was printed when no report was asked for."""
    from echelon.cli._console import console

    report = IntakeReport(manifest=Path("m.csv"), units=12, written=12)
    report.failures = [(f"F-{i}", "file not found") for i in range(12)]
    with console.capture() as captured:
        _print_outcome(report, report_file=report_file)
    assert f"… and 2 more ({where}" in captured.get()
