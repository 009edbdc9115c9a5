"""``echelon batteries``, ``echelon show``, ``echelon verify`` and ``echelon backup``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Final, Literal

import polars as pl
import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from echelon.cli._common import (
    GRADES,
    ChemistryFilter,
    DbOption,
    LevelFilter,
    StatusFilter,
    check_output,
    check_output_folder,
    check_table_output,
    console,
    open_db,
    stage_progress,
    write_table,
)
from echelon.cli._errors import EXIT_VERIFY, guarded, stderr
from echelon.errors import NotFoundError
from echelon.grading import to_grading_table
from echelon.registry import (
    LIST_COLUMNS,
    RETAKE_FAILED,
    BatteryRecord,
    VerifyReport,
    backup,
    battery_record,
    flag_listed,
    list_batteries,
    load_anchor,
    open_registry,
    save_anchor,
    take_anchor,
    verify,
    verify_battery,
)
from echelon.registry.batch_limits import recorded_outlier_limits

Format = Literal["table", "csv", "json", "grading"]


def _no_units(registry: str, filters: dict[str, str | None]) -> str:
    """Why nothing was exported: the filters given match nothing, or the registry is empty."""
    given = [f"--{name} {value}" for name, value in filters.items() if value is not None]
    if given:
        return f"no batteries in {registry} match {' '.join(given)}: no grading table written"
    return (
        f"the registry {registry} holds no batteries: no grading table written (take units in "
        "with `echelon intake MANIFEST`, or pass --db)"
    )


@guarded
def batteries_cmd(
    status: StatusFilter = None,
    grade: Annotated[str | None, typer.Option(help=f"Latest grade: {GRADES}.")] = None,
    chemistry: ChemistryFilter = None,
    level: LevelFilter = None,
    limit: Annotated[int, typer.Option(min=0, help="Rows to show in the table (0 = all).")] = 50,
    format: Annotated[
        Format,
        typer.Option(
            "--format",
            help="table, csv or json: the listing; grading: a measurements table of the units' "
            "latest measurements that `echelon grade` reads (docs/grading.md).",
        ),
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Write the rows to a .csv or .parquet file (by its suffix) instead of printing "
            "them: the grading table with --format grading, else the listing.",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """List registered batteries with their derived status, grade and route, or export them as
    a grading table to re-grade under another profile or prices (`echelon grade`)."""
    check_table_output(output)
    if output is not None and format == "json":
        raise typer.BadParameter(
            "-o writes .csv or .parquet; print JSON to stdout instead", param_hint="--format"
        )
    filters = {"status": status, "grade": grade, "chemistry": chemistry, "level": level}
    as_table = format == "table" and output is None
    with open_db(db) as registry:
        frame = list_batteries(registry, **filters)
        url = registry.url
        # the listing's check, on the rows printed: a table's first rows, else every row
        shown = flag_listed(registry, frame.head(limit) if as_table and limit else frame)
        if format == "grading" and shown.height:  # each unit's intake batch limit, recorded
            limits = recorded_outlier_limits(registry, shown.get_column("battery_id").to_list())
            shown = shown.join(limits, on="battery_id", how="left", maintain_order="left")
    if format == "grading" and frame.height == 0:
        raise NotFoundError(_no_units(url, filters))
    if frame.height == 0:
        stderr.print("no batteries match")  # not into a redirected CSV or JSON listing
        if format == "json":
            print("[]")  # a JSON document all the same, as GET /api/batteries answers
        return
    if as_table:
        _print_table(shown, frame.height)
    else:
        _write_listing(to_grading_table(shown) if format == "grading" else shown, format, output)
    _warn_flagged(shown)


def _write_listing(frame: pl.DataFrame, format: Format, output: Path | None) -> None:
    """The listing (or grading table) as CSV or JSON on stdout, or to ``output``."""
    if format != "grading":
        frame = frame.select(LIST_COLUMNS)
    if output is not None:
        write_table(frame, output)
        what = "grading table" if format == "grading" else "listing"
        console.print(f"[green]✓[/] {frame.height} batteries → {output} ({what})", soft_wrap=True)
    elif format == "json":
        print(frame.write_json())
    else:
        print(frame.write_csv(), end="")


def _print_table(shown: pl.DataFrame, total: int) -> None:
    """The first rows of a listing of ``total`` batteries as a table (warnings: on stderr)."""
    shown = shown.select(c for c in LIST_COLUMNS if c != "warning")
    table = Table(title=f"{total} batteries")
    id_width = max(len(str(v)) for v in shown.get_column("battery_id"))
    for name in shown.columns:  # the id is never cut, whatever the terminal's width
        is_id = name == "battery_id"
        table.add_column(name, no_wrap=is_id, min_width=id_width if is_id else None)
    for row in shown.iter_rows():
        table.add_row(
            *["" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
        )
    console.print(table)
    if shown.height < total:
        console.print(f"… {total - shown.height} more (use --limit 0 or --format csv)")


SHOWN_WARNINGS: Final = 10
"""Units a listing's warning names one a line at most (the ``warning`` column has them all)."""


def _warn_flagged(frame: pl.DataFrame) -> None:
    """On stderr, the listed units whose ``warning`` is set (values their chain does not prove)."""
    if frame.height == 0 or "warning" not in frame.columns:
        return
    flagged = frame.filter(pl.col("warning").is_not_null()).select("battery_id", "warning")
    if flagged.height == 0:
        return
    stderr.print(
        f"[bold red]warning:[/] {flagged.height} listed unit(s) show values their event chain "
        "does not prove (they may have been altered outside Echelon; `echelon verify` checks "
        "every chain):",
        highlight=False,
        soft_wrap=True,
    )
    for battery_id, warning in flagged.head(SHOWN_WARNINGS).iter_rows():
        stderr.print(f"  - {battery_id}: {warning}", highlight=False, markup=False, soft_wrap=True)
    if flagged.height > SHOWN_WARNINGS:
        stderr.print(
            f"  … and {flagged.height - SHOWN_WARNINGS} more (the listing's warning column names "
            "them)"
        )


def _chain_panel(chain: VerifyReport) -> Panel:
    """The warning ``show`` prints first for a battery whose chain does not verify (as its web
    page does)."""
    lines = [
        "[bold]This battery's event chain does not verify: what is shown may have been altered "
        "outside Echelon.[/] No passport or certificate is issued from it until it verifies; "
        "`echelon verify` checks every chain.",
        *(f"  - {escape(str(p))}" for p in chain.problems[:SHOWN_WARNINGS]),
    ]
    if len(chain.problems) > SHOWN_WARNINGS:
        lines.append(f"  … and {len(chain.problems) - SHOWN_WARNINGS} more (`echelon verify`)")
    return Panel("\n".join(lines), title="chain does not verify", style="red")


def _record_panels(rec: BatteryRecord) -> list[Panel | Table]:
    b = rec.battery
    ident = (
        f"[bold]{b.battery_id}[/]  {b.level.value}  {b.chemistry.value}  {b.manufacturer or ''} "
        f"{b.model or ''}\nstatus: [bold]{rec.status}[/]   nominal {b.nominal_capacity_ah:g} Ah"
        f"{f' / {b.nominal_voltage_v:g} V' if b.nominal_voltage_v else ''}  ({b.series_count}S"
        f"{b.parallel_count}P, {b.capacity_class.value})\norigin: {b.origin_application.value}"
        f"{f', from {b.country}' if b.country else ''}; regulatory region {b.region.value}; made "
        f"{b.manufacture_date or '?'}, calendar expiry {b.calendar_expiry_date or '?'}; "
        f"traceability {b.has_traceability}; visual flags: "
        f"{', '.join(sorted(f.value for f in b.visual_flags)) or 'none'}"
    )
    if b.parent_id or rec.children:
        ident += (
            f"\ngenealogy: parent {b.parent_id or '—'}; children {', '.join(rec.children) or '—'}"
        )
    out: list[Panel | Table] = [Panel(ident, title="battery")]
    if rec.measurements:
        table = Table("quantity", "value", "interval", "method", title="measurements")
        for m in rec.measurements:
            interval = (
                f"[{m.lower:.4g}, {m.upper:.4g}]"
                if m.lower is not None and m.upper is not None
                else ""
            )
            table.add_row(m.quantity, f"{m.value:.6g}", interval, m.method)
        out.append(table)
    failure = rec.intake_failure()
    if failure is not None:
        text = f"[red]✗[/] {escape(failure)}\n{RETAKE_FAILED}"
        out.append(Panel(text, title="intake failed"))
    refusals = [e.payload for e in rec.events if e.kind == "soh_refused"]
    if refusals:
        text = "\n".join(f"[yellow]![/] {p.get('method')}: {p.get('reason')}" for p in refusals)
        out.append(Panel(text, title="SOH estimates refused"))
    for d in rec.decisions:
        lines = [f"[bold]{d.kind}: {d.outcome}[/]  (profile {d.profile}@{d.profile_version})"]
        if d.kind == "route" and d.inputs.get("economics"):
            lines.append(
                f"  jurisdiction {d.inputs.get('jurisdiction')} · prices {d.inputs['economics']}"
                f" · applications {d.inputs.get('applications_table')}"
            )
        # a route lists its choice first, then every application; gate and grade: fired first
        ordered = d.reasons if d.kind == "route" else sorted(d.reasons, key=lambda r: r.passed)
        for r in ordered:
            mark = "[green]✓[/]" if r.passed else "[red]✗[/]"
            if r.passed and "not checked" in r.message:
                mark = "[yellow]![/]"
            lines.append(f"  {mark} {r.rule}: {r.detail}")
        out.append(Panel("\n".join(lines), title=f"decision · {d.kind}"))
    if rec.test_runs:
        table = Table("kind", "reader", "rows", "duration [h]", "raw sha256", title="test runs")
        for t in rec.test_runs:
            table.add_row(
                t.kind.value,
                t.reader,
                f"{t.n_rows:,}",
                f"{t.duration_s / 3600:.2f}",
                t.source_sha256[:16] + "…",
            )
        out.append(table)
    history = Table(
        "#", "event", "recorded (UTC)", "hash", title="history (append-only, hash-chained)"
    )
    for e in rec.events:
        history.add_row(
            str(e.seq), e.kind, e.recorded_at.strftime("%Y-%m-%d %H:%M:%S"), e.hash[:16] + "…"
        )
    out.append(history)
    return out


@guarded
def show_cmd(
    battery_id: Annotated[str, typer.Argument(help="Battery id.")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show one battery: identity, status, measurements, decisions with reasons, history, and
    a warning first when its event chain does not verify."""
    with open_db(db) as registry:
        rec = battery_record(registry, battery_id)
        chain = verify_battery(registry, battery_id)
    if as_json:
        print(json.dumps(rec.to_json() | {"chain": chain.chain_json()}, indent=2))
        return
    for part in [*([] if chain.ok else [_chain_panel(chain)]), *_record_panels(rec)]:
        console.print(part)


@guarded
def verify_cmd(
    db: DbOption = None,
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor",
            help="An anchor file written earlier by --write-anchor: every chain it lists must "
            "still hold the anchored event (finds chains rewritten or batteries deleted since).",
        ),
    ] = None,
    write_anchor: Annotated[
        Path | None,
        typer.Option(
            "--write-anchor",
            help="Write every chain's head and the registry digest to this JSON file when "
            "everything verifies: keep it off the database (docs/registry.md).",
        ),
    ] = None,
) -> None:
    """Re-hash every battery's event chain and check its head, the write log and the tables."""
    check_output(write_anchor, (".json",), option="--write-anchor")
    earlier = load_anchor(anchor) if anchor is not None else None
    with open_db(db) as registry, stage_progress({"verify": "verifying chains"}) as progress:
        report = verify(registry, anchor=earlier, progress=lambda d, t: progress("verify", d, t))
        url = registry.url
    if not report.ok and write_anchor is not None:
        stderr.print(f"no anchor written to {write_anchor}: the registry does not verify")
    _print_verified(report)
    if earlier is not None:
        console.print(
            f"[green]✓[/] the {report.anchored:,} chains of the anchor of {earlier.taken} "
            f"hold their anchored events ({report.batteries - report.anchored:,} batteries are "
            "newer)",
            highlight=False,
        )
    if write_anchor is not None:
        save_anchor(take_anchor(report.heads, url), write_anchor)
        console.print(
            f"[green]✓[/] anchor → {write_anchor} (digest {report.digest}); keep it off this "
            "database: `echelon verify --anchor` checks against it",
            highlight=False,
            soft_wrap=True,
        )


def _print_verified(report: VerifyReport) -> None:
    """``verify``'s verdict: the events and batteries verified, or the first problems (then
    exit code 6)."""
    if not report.ok:
        console.print(
            f"[bold red]✗ chain broken[/]: {len(report.problems)} problem(s); first: "
            f"{report.first_broken}",
            highlight=False,
        )
        for problem in report.problems[1:10]:
            console.print(f"  - {problem}", highlight=False)
        raise typer.Exit(EXIT_VERIFY)
    console.print(
        f"[green]✓ verified[/] {report.events:,} events of {report.batteries:,} batteries "
        f"(registry digest {report.digest[:16]}…)",
        highlight=False,
    )


@guarded
def backup_cmd(
    folder: Annotated[Path, typer.Argument(help="New or empty folder for the copies.")],
    db: DbOption = None,
) -> None:
    """Copy a SQLite registry (consistent while it is in use) and then its file store into
    FOLDER, and verify the copy. For PostgreSQL use pg_dump (docs/registry.md#backups)."""
    check_output_folder(folder, option="FOLDER")
    with open_db(db) as registry:
        made = backup(registry, folder)
    console.print(
        f"[green]✓ backed up[/] {registry.url} to {made.database} and its file store "
        f"({made.files:,} files) to {made.store}",
        highlight=False,
        soft_wrap=True,
    )
    with open_registry(f"sqlite:///{made.database}", store_dir=made.store, create=False) as copy:
        _print_verified(verify(copy))
