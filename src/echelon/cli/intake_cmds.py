"""``echelon demo`` and ``echelon intake``."""

from __future__ import annotations

import datetime as dt
import shlex
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

from echelon.cli._common import (
    AsOfOption,
    DbOption,
    EconomicsOption,
    ProfileOption,
    SetOption,
    WorkersOption,
    check_output,
    check_output_folder,
    console,
    economics_from_options,
    open_db,
    profile_from_option,
    stage_progress,
)
from echelon.cli._errors import EXIT_PARTIAL, guarded
from echelon.domain.parse import parse_date
from echelon.errors import OutputError
from echelon.io import read_manifest
from echelon.io.atomic import not_written, write_atomic
from echelon.pipeline import IntakeReport, intake
from echelon.registry import Registry, units_frame
from echelon.reports import summary_numbers, write_batch_report
from echelon.reports.charts import disposition, usable_energy_kwh
from echelon.synth import SynthBatch, write_batch

SYNTH_MARKER = ".echelon-synth"
PASSPORT_DATA = "passport-data.yaml"
"""The illustrative passport data of the simulated batch's fictional models (packaged with
:mod:`echelon.synth`; ``docs/examples/passport-data.yaml`` links to it): the demo copies it to
its ``--out`` folder, so its ``echelon passport`` suggestion has sections to complete."""
LABELS = {
    "simulate": "simulating batch",
    "process": "reading & diagnosing",
    "write": "writing registry",
}


def summary_table(frame: pl.DataFrame) -> Table:
    """Per-chemistry summary: units, measured SOH, grades, quarantine, reuse energy."""
    table = Table(title="Intake summary", show_footer=True)
    data = frame.with_columns(usable_energy_kwh(frame).alias("kwh"))
    per = (
        data.group_by("chemistry")
        .agg(
            pl.len().alias("units"),
            pl.col("soh_percent").count().alias("tested"),
            pl.col("soh_percent").mean().alias("soh"),
            *[(pl.col("grade") == g).sum().alias(g) for g in "ABCD"],
            (pl.col("gate") == "quarantine").sum().alias("quarantined"),
            (pl.col("status") == "failed").sum().alias("failed"),
            pl.col("kwh").filter(~pl.col("route").is_in(["recycle", "retest"])).sum().alias("kwh"),
        )
        .sort("units", descending=True)
    )
    totals = summary_numbers(frame)
    columns = [
        ("chemistry", "total"),
        ("units", str(totals["units"])),
        ("tested", str(totals["tested"])),
        ("mean SOH %", ""),
        ("A", ""),
        ("B", ""),
        ("C", ""),
        ("D", ""),
        ("quarantined", str(totals["quarantined"])),
        ("failed", str(totals["failed"])),
        ("reuse kWh", f"{totals['reuse_kwh']:.1f}"),
    ]
    for name, footer in columns:
        table.add_column(name, footer=footer, justify="left" if name == "chemistry" else "right")
    for row in per.iter_rows(named=True):
        table.add_row(
            row["chemistry"],
            str(row["units"]),
            str(row["tested"]),
            "" if row["soh"] is None else f"{row['soh']:.1f}",
            *[str(row[g]) for g in "ABCD"],
            str(row["quarantined"]),
            str(row["failed"]),
            f"{row['kwh']:.1f}",
        )
    return table


def routes_table(frame: pl.DataFrame) -> Table:
    """Units and usable kWh per route."""
    data = (
        frame.with_columns(usable_energy_kwh(frame).alias("kwh"), disposition())
        .group_by("route")
        .agg(pl.len().alias("units"), pl.col("kwh").sum().alias("kwh"))
        .sort("units", descending=True)
    )
    table = Table("route", "units", "usable kWh", title="Routes")
    for row in data.iter_rows(named=True):
        table.add_row(row["route"], str(row["units"]), f"{row['kwh']:.1f}")
    return table


def _batch_frame(registry: Registry, report: IntakeReport) -> pl.DataFrame:
    """The registry's rows of the manifest's units (recorded now or before)."""
    return units_frame(registry).filter(pl.col("battery_id").is_in(report.battery_ids))


def _skipped_failed(report: IntakeReport, frame: pl.DataFrame) -> int:
    """How many units of ``frame`` are ``failed`` in the registry without failing in this run
    (a re-run skipped them: their rows and files are unchanged)."""
    now = [bid for bid, _ in report.failures]
    failed = (pl.col("status") == "failed") & ~pl.col("battery_id").is_in(now)
    return frame.filter(failed).height


def _report(report: IntakeReport, frame: pl.DataFrame, out: Path, notes: list[str]) -> Path:
    console.print(summary_table(frame))
    console.print(routes_table(frame))
    return write_batch_report(
        out / "report.html",
        frame,
        failures=_failures(report, frame),
        soh_refused=report.soh_refused,
        notes=notes,
    )


def _failures(report: IntakeReport, frame: pl.DataFrame) -> list[tuple[str, str]]:
    """The intake's failures, else (a re-run: the failed units were skipped) the units of
    ``frame`` whose status is ``failed``, each pointing to ``echelon show`` for its error."""
    return report.failures or [
        (r["battery_id"], "see `echelon show`")
        for r in frame.filter(pl.col("status") == "failed").iter_rows(named=True)
    ]


def _print_outcome(
    report: IntakeReport, *, report_file: Path | None = None, skipped_failed: int = 0
) -> None:
    """The intake's counts, the first ten failures and SOH refusals; the rest are in
    ``report_file`` when one is written, else ``echelon batteries --status failed`` lists them.

    ``skipped_failed`` of the skipped units are ``failed`` in the registry (a re-run): said with
    the skipped count, so "0 failed" does not read as a batch without failures.
    """
    # a unit that failed is recorded too (status failed, with its error) unless the write failed
    # or the unit was refused (recycled: nothing of it is written)
    recorded_failed = sum(not error.startswith("registry:") for _, error in report.failures) - len(
        report.refused
    )
    still = (
        f"; [red]{skipped_failed}[/] of them failed: see `echelon batteries --status failed`"
        if skipped_failed
        else ""
    )
    console.print(
        f"[bold]{report.units}[/] units: [green]{report.written - recorded_failed} recorded[/], "
        f"{report.skipped} already registered (skipped{still}), "
        f"[{'red' if report.failed else 'green'}]{report.failed} failed[/]"
        f"{f' ({recorded_failed} recorded as failed)' if recorded_failed else ''} "
        f"in {report.seconds:.1f} s"
    )
    for bid, error in report.failures[:10]:
        lines = error.splitlines()
        detail = f" {lines[1].strip()}" if len(lines) > 1 else ""
        console.print(f"  [red]✗[/] {bid}: {lines[0]}{detail}", highlight=False)
    if len(report.failures) > 10:
        where = (
            f"see {report_file}"
            if report_file is not None
            else "`echelon batteries --status failed` lists them; --report FILE.html gives "
            "every error"
        )
        console.print(f"  … and {len(report.failures) - 10} more ({where})", highlight=False)
    for note in report.absent_columns:  # a grading input no unit of the batch has
        console.print(f"[yellow]warning:[/] {note}", highlight=False, soft_wrap=True)
    if report.soh_refused:
        units = len({bid for bid, _, _ in report.soh_refused})
        what = (
            "their short-test estimate"
            if all(method != "capacity_test" for _, method, _ in report.soh_refused)
            else "their capacity test or short-test estimate"
        )
        console.print(
            f"[yellow]{units}[/] unit(s) left without SOH: {what} was refused "
            "(not graded; `echelon show ID` keeps the reason):"
        )
    for bid, method, why in report.soh_refused[:10]:
        console.print(f"  [yellow]![/] {bid} ({method}): {why}", highlight=False)
    if len(report.soh_refused) > 10:
        console.print(f"  … and {len(report.soh_refused) - 10} more")


@guarded
def demo_cmd(
    n: Annotated[int, typer.Option("--n", min=1, help="Units in the simulated batch.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed (same seed and date → same batch).")] = 0,
    db: DbOption = None,
    out: Annotated[Path, typer.Option(help="Folder for the batch files and report.html.")] = Path(
        "out"
    ),
    workers: WorkersOption = 2,
    date: Annotated[
        str | None, typer.Option(help="Arrival date YYYY-MM-DD (default: today).")
    ] = None,
    region: Annotated[str, typer.Option(help="Region of the facility: EU, CN or US.")] = "EU",
    profile: ProfileOption = None,
) -> None:
    """Simulate a batch of retired batteries and take it through the whole pipeline."""
    check_output_folder(out, option="--out")
    arrival = parse_date(date, option="--date") if date else dt.date.today()
    grading = profile_from_option(profile)
    folder = out / "batch"
    if folder.exists() and (folder / SYNTH_MARKER).exists():
        shutil.rmtree(folder)
    elif folder.exists() and any(folder.iterdir()):
        raise typer.BadParameter(
            f"{folder} exists and was not made by `echelon demo`; choose --out"
        )
    start = time.perf_counter()
    registry = open_db(db, create=True, store=True)
    with registry, stage_progress(LABELS) as progress:
        batch = _simulated_batch(
            folder,
            n=n,
            seed=seed,
            arrival_date=arrival,
            region=region,
            workers=workers,
            progress=lambda d, t: progress("simulate", d, t),
        )
        report = intake(
            batch.manifest,
            registry=registry,
            workers=workers,
            as_of=arrival,
            profile=grading,
            progress=progress,
        )
        ids = report.battery_ids
        frame = _batch_frame(registry, report)
        _print_outcome(
            report, report_file=out / "report.html", skipped_failed=_skipped_failed(report, frame)
        )
        again = ["echelon", "demo", "--n", str(n), "--seed", str(seed), "--date", str(arrival)]
        again += ["--region", region, *(["--profile", profile] if profile else [])]
        again += ["--db", registry.url, "--out", str(out)]
        try:
            path = _report(
                report,
                frame,
                out,
                [f"registry {registry.url}", f"simulated batch: n={n}, seed={seed}, {arrival}"],
            )
            passport = _passport_example(frame, out)
        except OutputError as exc:
            raise OutputError(
                f"the demo's registry {registry.url} is complete ({report.written} unit(s) "
                f"recorded now, {report.skipped} already registered), but {exc}; "
                f"`{shlex.join(again)}` writes it again (the same batch: its units are skipped, "
                "nothing is recorded twice)"
            ) from exc
    shown = ids[1] if len(ids) > 1 else ids[0]
    steps = _next_steps(shown, db, passport)
    console.print(
        f"[green]✓[/] demo done in {time.perf_counter() - start:.1f} s: {batch.n_units} units, "
        f"{batch.n_files} tester files → registry {registry.url}\n  report: [bold]{path}[/]\n"
        "  next:",
        highlight=False,
    )
    for step in steps:  # one per line, never wrapped: each can be copied and run as printed
        console.print(f"    `{step}`", highlight=False, soft_wrap=True)


def _simulated_batch(folder: Path, **options: Any) -> SynthBatch:
    """The demo's simulated batch written to ``folder`` (:func:`~echelon.synth.write_batch` with
    ``options``), marked as the demo's (:data:`SYNTH_MARKER`, first: a re-run replaces a batch
    cut short).

    Raises
    ------
    OutputError
        A file could not be written (a disk that fills, a permission withdrawn): names it (or
        ``folder``) and says nothing was recorded; the batch written so far is removed.
    """
    marker = folder / SYNTH_MARKER
    try:
        folder.mkdir(parents=True, exist_ok=True)
        marker.write_text("made by echelon demo\n")
        return write_batch(folder, **options)
    except OSError as exc:
        if marker.exists():
            shutil.rmtree(folder, ignore_errors=True)
        failed = Path(exc.filename) if exc.filename else folder
        raise OutputError(
            f"{not_written(failed, exc)}; the demo's simulated batch was not written and nothing "
            f"was recorded: check the free space and write permission of {folder.parent} (or "
            "choose another --out) and run the demo again"
        ) from exc


def _passport_example(frame: pl.DataFrame, out: Path) -> tuple[str, Path] | None:
    """A unit of the demo whose model the example passport data describes, and the copy of that
    data written to ``out`` (None when no such unit was routed: a small batch may have none)."""
    from echelon.passport.data import load_passport_data

    data = out / PASSPORT_DATA
    example = (resources.files("echelon.synth") / PASSPORT_DATA).read_bytes()
    write_atomic(data, lambda tmp: tmp.write_bytes(example))
    models = set(load_passport_data(data).models)
    routed = frame.filter((pl.col("status") == "routed") & pl.col("model").is_in(models))
    return None if routed.is_empty() else (str(routed.get_column("battery_id")[0]), data)


def _next_steps(shown: str, db: str | None, passport: tuple[str, Path] | None) -> list[str]:
    """The commands the demo suggests next, each runnable as printed on the demo's registry."""
    on_db = f" --db {shlex.quote(db)}" if db is not None else ""
    steps = [f"echelon batteries --grade A{on_db}", f"echelon show {shown}{on_db}"]
    if passport is not None:
        unit, data = passport
        steps.append(
            f"echelon passport {unit} --data {shlex.quote(str(data))} --allow-incomplete "
            f"--no-record{on_db}"
        )
    return [*steps, f"echelon verify{on_db}"]


def _report_not_written(result: IntakeReport, report: Path, url: str, exc: OutputError) -> str:
    """What to do when the intake is recorded but its ``--report`` could not be written."""
    return (
        f"the intake of {result.manifest} is recorded in {url} ({result.written} unit(s) "
        f"recorded now, {result.skipped} already registered), but {exc}; re-run `echelon "
        f"intake {result.manifest} --db {url} --report {report}` to write it (its units are "
        "skipped, nothing is recorded twice; that report lists failed units without their "
        "errors and no short-test SOH refusals: "
        "`echelon batteries --status failed` and `echelon show ID` give them)"
    )


@guarded
def intake_cmd(
    manifest: Annotated[Path, typer.Argument(help="Manifest (.csv, .parquet or .json).")],
    db: DbOption = None,
    workers: WorkersOption = 2,
    profile: ProfileOption = None,
    economics: EconomicsOption = None,
    overrides: SetOption = None,
    report: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    as_of: AsOfOption = None,
) -> None:
    """Take a manifest's units and tester files into the registry (idempotent)."""
    check_output(report, (".html",), option="--report")
    day = None if as_of is None else parse_date(as_of, option="--as-of")  # exit 2 if not a date
    econ = economics_from_options(economics, overrides)
    grading = profile_from_option(profile)
    # validated before the registry is opened (or created): parents outside it checked then
    parsed = read_manifest(manifest)
    registry = open_db(db, create=True, store=True)
    with registry, stage_progress(LABELS) as progress:
        result = intake(
            parsed,
            registry=registry,
            workers=workers,
            profile=grading,
            economics=econ,
            as_of=day,
            progress=progress,
        )
        frame = _batch_frame(registry, result) if result.skipped or report is not None else None
        _print_outcome(
            result,
            report_file=report,
            skipped_failed=0 if frame is None else _skipped_failed(result, frame),
        )
        if report is not None and frame is not None:
            try:
                write_batch_report(
                    report,
                    frame,
                    failures=_failures(result, frame),
                    soh_refused=result.soh_refused,
                    notes=[f"registry {registry.url}", f"manifest {manifest}"],
                )
            except OutputError as exc:
                raise OutputError(_report_not_written(result, report, registry.url, exc)) from exc
            console.print(f"  report: {report}")
    if result.failed:
        raise typer.Exit(EXIT_PARTIAL)
