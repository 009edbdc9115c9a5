"""``echelon recycle`` and ``echelon recycle-lots``."""

from __future__ import annotations

import datetime as dt
import shlex
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
import typer
from rich.table import Table

from echelon.cli._common import (
    DbOption,
    check_output,
    check_output_folder,
    check_year,
    console,
    open_db,
    stage_progress,
)
from echelon.cli._errors import guarded
from echelon.errors import OutputError
from echelon.io.atomic import write_atomic
from echelon.recycling import (
    LotResult,
    RecordPlan,
    counted_once_note,
    left_out_note,
    load_lot,
    lots_frame,
    parse_source,
    record_lot,
    recycle_lot,
    select_registry_units,
    year_compliance,
)
from echelon.recycling.compliance import margin_text, result_text
from echelon.registry import Registry, refuse_unverified, verify_batteries
from echelon.reports.recycling import write_lot_outputs

VERDICT_STYLE = {"pass": "green", "fail": "red", "not_yet_binding": "yellow"}
PricesOption = Annotated[
    Path | None, typer.Option(help="Price override file (.toml or .csv: item, value).")
]
"""``--prices`` of ``recycle`` and ``flows``."""
LocationOption = Annotated[
    Literal["US", "California", "China", "Korea"] | None,
    typer.Option(
        help="Utility prices and electricity GHG (EverBatt locations). Default: US.",
        show_default=False,
    ),
]
"""``--location`` of ``recycle`` and ``flows`` (None: US; a recorded lot keeps its own)."""


def _compliance_table(frame: pl.DataFrame, title: str) -> Table:
    table = Table("metric", "element", "result %", "target %", "verdict", "next", title=title)
    for r in frame.iter_rows(named=True):
        value = result_text(r)  # 64.97 against 65 is not shown as "65.0"
        target = "" if r["target_percent"] is None else f"{r['target_percent']:g}"
        style = VERDICT_STYLE.get(r["verdict"], "yellow")
        verdict = r["verdict"].replace("_", " ")
        if r["verdict"] in ("pass", "fail"):
            verdict += f" ({margin_text(r['margin_points'])})"
        upcoming = (
            f"{r['next_target_percent']:g} % by {r['next_deadline']}: {r['next_verdict']}"
            if r["next_deadline"]
            else ""
        )
        table.add_row(
            r["metric"].replace("_", " "),
            r["element"],
            value,
            target,
            f"[{style}]{verdict}[/]",
            upcoming,
        )
    return table


def _print_result(result: LotResult) -> None:
    meta = result.meta
    net = result.value.filter(
        (pl.col("category") == "summary") & (pl.col("item") == "net_value")
    ).row(0, named=True)
    kwh = f", {net['usd_per_kwh']:,.2f} USD/kWh" if net["usd_per_kwh"] is not None else ""
    colour = "green" if net["value_usd"] >= 0 else "red"
    console.print(
        f"lot [bold]{meta['lot_id']}[/]: {meta['units']:,} units, {meta['mass_kg'] / 1000:,.3f} t, "
        f"process {meta['process']} → net value [{colour}]{net['value_usd']:,.0f} USD[/] "
        f"({net['usd_per_tonne']:,.0f} USD/t{kwh})"
    )
    console.print(
        _compliance_table(
            result.compliance, f"EU 2023/1542, reporting year {meta['reporting_year']}"
        )
    )
    for note in result.warnings:  # one line each, however narrow the terminal
        console.print(f"  [yellow]warning:[/] {note}", highlight=False, soft_wrap=True)


@guarded
def recycle_cmd(
    source: Annotated[
        str,
        typer.Argument(
            metavar="TABLE_OR_LOT",
            help="A lot table (.csv, .parquet, .json: battery_id, chemistry, level, mass_kg or "
            "nominal_capacity_ah × nominal_voltage_v); or registry units: route:recycle (units "
            "routed to recycling), status:<status>; or lot:<id> (a recorded lot's report).",
        ),
    ],
    process: Annotated[
        Literal["hydro", "pyro", "direct", "mechanical"] | None,
        typer.Option(
            help="Recycling route (mechanical: pre-treatment only, black mass sold). "
            "Default: hydro; a recorded lot keeps its own.",
            show_default=False,
        ),
    ] = None,
    year: Annotated[
        int | None,
        typer.Option(
            callback=check_year,
            help="Reporting year for EU targets and dated prices, 2000–2100 (default: this year).",
        ),
    ] = None,
    prices: PricesOption = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the outputs.")] = Path(
        "recycling"
    ),
    location: LocationOption = None,
    dismantle: Annotated[
        Literal["none", "modules", "cells"] | None,
        typer.Option(
            help="Remove pack/module hardware by hand before shredding. Default: none.",
            show_default=False,
        ),
    ] = None,
    lot_id: Annotated[
        str | None, typer.Option("--lot-id", help="Lot id (default: derived).")
    ] = None,
    record: Annotated[
        bool | None,
        typer.Option(
            "--record/--no-record",
            help="Record the lot in the registry (discharge + recycled events; status recycled). "
            "Default: yes for registry units, no for tables.",
        ),
    ] = None,
    discharge_method: Annotated[
        Literal["external_circuit", "immersion"],
        typer.Option(help="Discharge before recycling (GB/T 33598.3), recorded with the lot."),
    ] = "external_circuit",
    db: DbOption = None,
) -> None:
    """Mass balance, value and EU compliance of a recycling lot; writes CSVs and report.html."""
    check_output_folder(output)
    where = parse_source(source)
    if where.kind == "lot" and record:
        raise typer.BadParameter("a recorded lot cannot be recorded again", param_hint="--record")
    recording = where.kind != "lot" and (record if record is not None else where.kind == "registry")
    with ExitStack() as stack:
        # the registry is opened once: here for registry units and lots, after the lot is valued
        # for a table to record (a table valued without recording never opens it)
        registry = stack.enter_context(open_db(db)) if where.kind != "table" else None
        if where.kind == "lot":
            assert registry is not None
            result = load_lot(registry, where.value)
            _refuse_changes_to_a_recorded_lot(
                result.meta,
                {
                    "--process": process,
                    "--year": year,
                    "--location": location,
                    "--dismantle": dismantle,
                    "--prices": prices,
                    "--lot-id": lot_id,
                },
                output,
            )
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if where.kind == "registry":
                    assert registry is not None
                    selection = select_registry_units(registry, where.value)
                    notes = (
                        left_out_note(selection.left_out) if selection.left_out else "",
                        counted_once_note(selection.counted_once) if selection.counted_once else "",
                    )
                    for note in filter(None, notes):
                        console.print(f"  [yellow]note:[/] {note}", highlight=False, soft_wrap=True)
                    units: pl.DataFrame | Path = selection.units
                else:
                    units = Path(where.value)
                    if not units.exists():
                        raise typer.BadParameter(
                            f"{units} does not exist (give a table file, route:recycle, "
                            "status:<s> or lot:<id>)",
                            param_hint="TABLE_OR_LOT",
                        )
                result = recycle_lot(
                    units,
                    process=process or "hydro",
                    year=year,
                    prices=prices,
                    location=location or "US",
                    dismantle=dismantle or "none",
                    lot_id=lot_id,
                    source=f"registry: {where.value}" if where.kind == "registry" else None,
                )
        if recording and registry is None:
            registry = stack.enter_context(open_db(db))
        if registry is not None and (where.kind == "registry" or recording):
            _refuse_broken_chains(result, registry, recording)
        recorded_in: str | None = None  # the registry the lot is recorded in, once it is
        if registry is not None and recording:
            # refused: nothing printed or written
            result = _record(result, registry, discharge_method)
            recorded_in = registry.url
        else:
            _print_result(result)
    try:
        paths = write_lot_outputs(result, output)
    except OutputError as exc:
        if recorded_in is None:
            raise  # "could not write …: … (no file of this run was written)"
        raise OutputError(_outputs_not_written(result, recorded_in, output, exc)) from exc
    console.print(f"[green]✓[/] outputs in {output}: " + ", ".join(p.name for p in paths.values()))


def _outputs_not_written(result: LotResult, url: str, output: Path, exc: OutputError) -> str:
    """What to do when the lot is recorded but its outputs could not be written to ``output``."""
    lot = result.meta["lot_id"]
    again = shlex.join(["echelon", "recycle", f"lot:{lot}", "--db", url, "-o", str(output)])
    return (
        f"lot {lot} is recorded in {url} (its units are recycled, their passports ended), but "
        f"{exc}; `{again}` writes its outputs again (as recorded; nothing is recorded twice)"
    )


RECORDED_AS: dict[str, str] = {
    "--process": "process",
    "--year": "reporting_year",
    "--location": "location",
    "--dismantle": "dismantle",
}
"""Options of a new lot and the ``meta`` key a recorded lot keeps their value under."""


def _refuse_changes_to_a_recorded_lot(
    meta: dict[str, Any], given: dict[str, object], output: Path
) -> None:
    """Refuse options that would change a recorded lot's result (exit code 2).

    ``lot:<id>`` rewrites the report of what was recorded (the units were recycled and their
    passports ended under that process); computing it differently under the same lot id would
    give a report that contradicts the registry. The message shows how to value the same units
    another way without recording: the ``units.csv`` this command writes is a lot table.
    """
    changed = [
        f"{option} {value} (recorded: {meta.get(RECORDED_AS[option], '?')})"
        if option in RECORDED_AS
        else f"{option} {value}"
        for option, value in given.items()
        if value is not None
        and (option not in RECORDED_AS or str(value) != str(meta.get(RECORDED_AS[option])))
    ]
    if not changed:
        return
    lot = meta["lot_id"]
    raise typer.BadParameter(
        f"lot {lot} is recorded: lot:{lot} rewrites its report as recorded (process "
        f"{meta['process']}, reporting year {meta['reporting_year']}) and cannot be changed by "
        f"{', '.join(changed)}. To value the same units another way without recording, run "
        f"`echelon recycle lot:{lot} -o {output}`, then `echelon recycle {output / 'units.csv'} "
        "--no-record …` with the options you want.",
        param_hint="TABLE_OR_LOT",
    )


def _refuse_broken_chains(result: LotResult, registry: Registry, recording: bool) -> None:
    """Refuse (``ChainError``, exit 6) a lot whose units were read from, or are to be recorded
    in, the registry when a unit's chain does not verify: no report from, and no event on, data
    that may have been altered outside Echelon."""
    ids = result.units.get_column("battery_id").to_list()
    known = list(registry.existing_batteries(ids))
    refused = "the lot is neither reported nor recorded" if recording else "no report written"
    refuse_unverified(verify_batteries(registry, known), known, refused=refused)


def _record(result: LotResult, registry: Registry, discharge_method: str) -> LotResult:
    """Check the lot against the registry, print it and record it, in one transaction holding
    the registry's write lock (:func:`~echelon.recycling.record_lot`); returns what is recorded
    (the recorded lot when its id was recorded before with the same options and units)."""
    recorded: list[LotResult] = []

    def show(plan: RecordPlan) -> None:
        recorded.append(plan.result)
        _print_result(plan.result)

    with stage_progress({"record": "recording lot"}) as progress:
        report = record_lot(
            registry,
            result,
            discharge_method=discharge_method,
            discharged_on=dt.date.today(),
            progress=lambda d, t: progress("record", d, t),
            checked=show,
        )
    sha = f"lot record sha256 {report.lot_sha256[:12]}…"
    if report.written == 0:
        console.print(
            f"[green]✓[/] lot {report.lot_id} is already recorded in {registry.url} with these "
            f"options: its {report.skipped} unit(s) are recycled; nothing recorded; {sha}"
        )
    else:
        again = f", {report.skipped} recorded before" if report.skipped else ""
        console.print(
            f"[green]✓[/] recorded lot {report.lot_id} in {registry.url}: {report.written} "
            f"unit(s) discharged and recycled (passport ended){again}; {sha}"
        )
    return recorded[0]


@guarded
def recycle_lots_cmd(
    year: Annotated[
        int | None,
        typer.Option(
            callback=check_year,
            help="Show the EU 2023/1542 verdicts of all lots of this reporting year (2000–2100).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="With --year: write compliance.csv here.")
    ] = None,
    db: DbOption = None,
) -> None:
    """List recorded recycling lots, or the compliance of a reporting year."""
    if output is not None and year is None:
        raise typer.BadParameter(
            "-o writes a reporting year's compliance: give --year too", param_hint="-o/--output"
        )
    check_output(output, (".csv",))
    with open_db(db) as registry:
        if year is None:
            lots = lots_frame(registry)
            if lots.height == 0:
                console.print("no recycling lot recorded")
                return
            table = Table(
                "lot", "process", "year", "units", "recorded (UTC)", title="recycling lots"
            )
            for r in lots.iter_rows(named=True):
                table.add_row(
                    r["lot_id"],
                    r["process"],
                    str(r["reporting_year"]),
                    str(r["units"]),
                    r["recorded_at"][:19],
                )
            console.print(table)
            return
        compliance, lots = year_compliance(registry, year)
    console.print(
        _compliance_table(compliance, f"EU 2023/1542, reporting year {year}: {lots.height} lot(s)")
    )
    if output is not None:
        write_atomic(output, compliance.write_csv)
        console.print(f"[green]✓[/] {output}")
