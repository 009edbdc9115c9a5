"""``echelon regroup``: build consistent packs from an inventory file or the registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import polars as pl
import typer
from rich.table import Table

from echelon.cli._common import (
    GRADES,
    STATUS_HELP,
    ChemistryFilter,
    DbOption,
    LevelFilter,
    check_output,
    console,
    open_db,
    stage_progress,
)
from echelon.cli._errors import guarded
from echelon.errors import EchelonError, InfeasibleError
from echelon.io.atomic import write_atomic, write_recorded
from echelon.registry import Registry
from echelon.regroup import (
    PackSpec,
    RegroupResult,
    compare,
    inventory_from_registry,
    load_constraints,
    load_inventory,
    regroup,
)
from echelon.regroup.application import (
    PEAK_VIOLATION,
    VIOLATION,
    application_window,
    flagged,
    route_application,
)
from echelon.regroup.record import record_packs
from echelon.reports.charts import CHART_SUFFIXES, save_chart
from echelon.reports.regroup_charts import block_capacity_chart

LABELS = {"heuristic": "building packs"}
MethodOption = Literal["auto", "heuristic", "milp", "cpsat", "random", "sort_chunk", "kmeans"]


def sidecar(output: Path, name: str, suffix: str) -> Path:
    """A file beside ``packs.csv``: ``packs_<name><suffix>``."""
    return output.with_name(f"{output.stem}_{name}{suffix}")


def plan_files(
    result: RegroupResult, output: Path, compared: pl.DataFrame | None, plot: Path | None
) -> list[tuple[Path, Callable[[Path], object]]]:
    """The files of a run, each with what writes it: ``packs.csv`` and, beside it, the pack
    summary, run summary, excluded units (header only when every unit is used), when given the
    comparison with the baselines, and the chart ``plot``."""
    files: list[tuple[Path, Callable[[Path], object]]] = [
        (output, result.assignment.write_csv),
        (sidecar(output, "summary", ".csv"), result.packs.write_csv),
        (
            sidecar(output, "run", ".json"),
            lambda tmp: tmp.write_text(json.dumps(result.summary(), indent=2, default=str) + "\n"),
        ),
        (sidecar(output, "excluded", ".csv"), result.excluded.write_csv),
    ]
    if compared is not None:
        files.append((sidecar(output, "compare", ".csv"), compared.write_csv))
    if plot is not None:
        files.append(
            (plot, lambda tmp: save_chart(block_capacity_chart(result.blocks, result.packs), tmp))
        )
    return files


def write_outputs(
    result: RegroupResult,
    output: Path,
    compared: pl.DataFrame | None,
    plot: Path | None,
    *,
    record: Callable[[], str] | None = None,
) -> list[Path]:
    """Write the run's files (:func:`plan_files`); with ``record``, only for a recorded plan.

    Every file is first written complete beside its target, then ``record`` runs
    (:func:`~echelon.io.atomic.write_recorded`) (it returns
    what was recorded, for a message), then the files are put in place: a recording refused
    leaves no file of the plan, and an earlier run's files as they were. A ``packs_compare.csv``
    left by an earlier run to the same ``output`` is removed when ``compared`` is None, so the
    files beside ``packs.csv`` are always this run's; no other file is touched.

    Raises
    ------
    OutputError
        A file could not be written (nothing is recorded), or put in place after the recording
        (the message says what was recorded, where the complete files are and how to see the
        packs in the registry).
    """
    paths = write_recorded(
        plan_files(result, output, compared, plot),
        record,
        see="list the packs with `echelon batteries --level pack` and their units with "
        "`echelon show PACK_ID`",
    )
    if compared is None:
        sidecar(output, "compare", ".csv").unlink(missing_ok=True)
    return paths


def frame_table(
    frame: pl.DataFrame,
    columns: list[tuple[str, str, str]],
    *,
    title: str,
    footers: list[str] | None = None,
) -> Table:
    """A rich table of a frame: ``(header, column, format spec)`` per column, first left-aligned."""
    table = Table(title=title, show_footer=footers is not None)
    for i, (header, _, _) in enumerate(columns):
        footer = footers[i] if footers else ""
        table.add_column(header, footer=footer, justify="left" if i == 0 else "right")
    for row in frame.iter_rows(named=True):
        table.add_row(*[format(row[key], spec) for _, key, spec in columns])
    return table


def totals_table(result: RegroupResult) -> Table:
    """Per-group packs, usable capacity and energy, with the totals in the footer."""
    per = (
        result.packs.group_by("group")
        .agg(
            pl.len().alias("packs"),
            pl.col("usable_capacity_ah").sum(),
            (pl.col("energy_wh").sum() / 1000).alias("energy_kwh"),
            pl.col("block_capacity_spread_percent").mean(),
            pl.col("resistance_ratio").max(),
        )
        .sort("group")
    )
    columns = [
        ("group", "group", ""),
        ("packs", "packs", "d"),
        ("usable A·h", "usable_capacity_ah", ",.2f"),
        ("energy kWh", "energy_kwh", ",.2f"),
        ("mean block spread %", "block_capacity_spread_percent", ".3f"),
        ("max R ratio", "resistance_ratio", ".2f"),
    ]
    footers = [
        "total",
        str(result.packs.height),
        f"{result.usable_capacity_ah:,.2f}",
        f"{result.energy_wh / 1000:,.2f}",
        "",
        "",
    ]
    title = f"{result.spec.series}S{result.spec.parallel}P packs ({result.method})"
    return frame_table(per, columns, title=title, footers=footers)


COMPARE_COLUMNS = [
    ("method", "method", ""),
    ("packs", "packs", "d"),
    ("usable A·h", "usable_capacity_ah", ",.2f"),
    ("of bound", "ratio_to_bound", ".2%"),
    ("packs breaking limits", "violating_packs", "d"),
    ("A·h in compliant packs", "usable_capacity_in_compliant_packs_ah", ",.2f"),
    ("s", "seconds", ".2f"),
]


@guarded
def regroup_cmd(
    series: Annotated[int, typer.Option("--series", "-s", min=1, help="Series blocks S.")],
    parallel: Annotated[int, typer.Option("--parallel", "-p", min=1, help="Units in parallel P.")],
    inventory: Annotated[
        Path | None,
        typer.Argument(help="Inventory (.csv or .parquet); omit with --from-registry."),
    ] = None,
    packs: Annotated[
        int | None,
        typer.Option("--packs", "-k", min=1, help="Packs to build (default: as many as possible)."),
    ] = None,
    constraints: Annotated[
        Path | None,
        typer.Option(
            help="Constraints file (.toml, .json or .yaml); defaults: catalogue 'regroup'."
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Assignment CSV (one row per unit).")
    ] = Path("packs.csv"),
    objective: Annotated[
        Literal["capacity", "energy"], typer.Option(help="Maximise usable capacity or energy.")
    ] = "capacity",
    method: Annotated[MethodOption, typer.Option(help="Optimiser or baseline.")] = "auto",
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit", min=0.1, help="Exact method's limit [s] (solver ¾, annealing ¼)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the baselines and of the annealing.")] = 0,
    pack_prefix: Annotated[
        str | None, typer.Option(help="Pack ids <prefix>-0001… (default RG-<plan hash>).")
    ] = None,
    compare_baselines: Annotated[
        bool, typer.Option("--compare", help="Also run the baselines and tabulate them.")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Chart of block capacities per pack (.svg, .png, .html).")
    ] = None,
    from_registry: Annotated[
        bool, typer.Option("--from-registry", help="Take the inventory from the registry.")
    ] = False,
    status: Annotated[str, typer.Option(help=STATUS_HELP)] = "routed",
    chemistry: ChemistryFilter = None,
    model: Annotated[str | None, typer.Option(help="Model (any case).")] = None,
    route: Annotated[
        str | None,
        typer.Option(help="Route: an application (e.g. ess, ups, telecom), recycle or retest."),
    ] = None,
    grade: Annotated[
        str | None, typer.Option(help=f"Latest grades, comma-separated ({GRADES}).")
    ] = None,
    level: LevelFilter = None,
    application: Annotated[
        str | None,
        typer.Option(
            help="Application the packs are for (e.g. ups): units whose packs would be outside its "
            "voltage window are left out, with the --series that would fit (default: the one "
            "--route names, if any)."
        ),
    ] = None,
    record: Annotated[
        bool, typer.Option("--record", help="--from-registry: record the packs as build events.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Build S×P packs that use nearly all the capacity an inventory holds.

    Writes OUTPUT (battery_id, pack_id, block, …), OUTPUT_summary.csv (per pack: usable capacity,
    energy, spreads, bound), OUTPUT_run.json (totals, the upper bound, the gap) and
    OUTPUT_excluded.csv (units not used, with the reason; header only when all are used) and,
    with --compare, OUTPUT_compare.csv (an earlier run's is removed without --compare).

    With --from-registry, --status, --chemistry, --model, --route, --grade and --level select the
    units, as `echelon batteries` does (a value not offered exits 2); with --record the files
    appear only once the packs are recorded (a refused recording leaves none).

    Units whose packs would be outside the voltage window of --application (else of the
    application --route names) are left out, each with the --series that would fit (exit 8 when
    too few are left); an unknown application exits 2.
    """
    if (inventory is None) == (not from_registry):
        raise typer.BadParameter("give an INVENTORY file or --from-registry (not both)")
    if record and not from_registry:
        raise typer.BadParameter("--record needs --from-registry (the units must be registered)")
    check_output(output, (".csv",))
    check_output(plot, CHART_SUFFIXES, option="--plot")
    spec = PackSpec(series=series, parallel=parallel, packs=packs, objective=objective)
    limits = load_constraints(constraints)
    target = application or (route_application(route) if from_registry else None)
    if target is not None:
        application_window(target)  # an unknown application exits 2 before any work
    registry = open_db(db) if from_registry else None
    try:
        if registry is not None:
            selected = inventory_from_registry(
                registry,
                status=status,
                chemistry=chemistry,
                model=model,
                route=route,
                grades=tuple(g.strip() for g in grade.split(",")) if grade else None,
                level=level,
            )
            source = f"registry {registry.url}"
        else:
            assert inventory is not None
            selected = load_inventory(inventory)
            source = str(inventory)
        frame = selected.inventory
        if selected.skipped.height:
            where = sidecar(output, "excluded", ".csv")
            what = "selected unit(s)" if registry else "row(s) without a capacity or a DCIR"
            console.print(f"  {selected.skipped.height} {what} skipped (see {where})")
        console.print(f"inventory: {frame.height:,} units from {source}")
        try:
            with stage_progress(LABELS) as progress:
                result = regroup(
                    frame,
                    spec,
                    constraints=limits,
                    method=method,
                    time_limit_s=time_limit,
                    seed=seed,
                    pack_prefix=pack_prefix,
                    progress=progress,
                    application=target,
                )
        except EchelonError as exc:
            if not selected.skipped.height:
                raise
            _write_skipped(selected.skipped, output, exc)
        if selected.skipped.height:
            result = _with_skipped(result, selected.skipped)
        console.print(totals_table(result))
        gap = "—" if result.gap is None else f"{result.gap:.3%}"
        unit = "W·h" if spec.objective == "energy" else "A·h"
        console.print(
            f"usable capacity {result.usable_capacity_ah:,.2f} A·h = "
            f"{result.ratio_to_bound:.2%} of the upper bound {result.bound.capacity_ah:,.2f} A·h "
            f"(pack limits relaxed); best proven bound {result.best_bound:,.2f} {unit}, gap {gap}"
            f"{' (optimal)' if result.proven_optimal else ''}; {result.seconds:.2f} s"
        )
        for note in result.notes:
            console.print(f"  note: {note}")
        _warn_outside_window(result)
        _warn_peak_current(result)
        table = None
        if compare_baselines:
            with console.status("comparing with the baselines (each solved as above)"):
                table = compare(
                    frame,
                    spec,
                    constraints=limits,
                    seed=seed,
                    time_limit_s=time_limit,
                    application=target,
                )
            console.print(
                frame_table(table, COMPARE_COLUMNS, title="Comparison with the baselines")
            )
        recording = _recorder(registry, result) if record and registry is not None else None
        paths = write_outputs(result, output, table, plot, record=recording)
        console.print("  wrote " + ", ".join(str(p) for p in paths))
    finally:
        if registry is not None:
            registry.close()


def _recorder(registry: Registry, result: RegroupResult) -> Callable[[], str]:
    """Record the plan's packs (:func:`record_packs`), print it, and say what was recorded."""

    def record() -> str:
        report = record_packs(registry, result)
        ids = [*report.written, *report.skipped]
        console.print(
            f"[green]✓[/] recorded {len(report.written)} pack(s) in {registry.url}"
            f"{f'; {len(report.skipped)} already recorded' if report.skipped else ''}"
        )
        span = f"{ids[0]} … {ids[-1]}" if len(ids) > 1 else "".join(ids)
        return f"{len(ids)} pack(s) are recorded in {registry.url} ({span})"

    return record


def _warn_outside_window(result: RegroupResult) -> None:
    """One warning line when packs fall outside the application's voltage window."""
    if result.application is None or not result.packs_outside_window:
        return
    volts = result.packs.filter(flagged())["nominal_voltage_v"].to_numpy()
    low, high = f"{volts.min():.4g}", f"{volts.max():.4g}"
    console.print(
        f"[yellow]warning:[/] {result.packs_outside_window} of {result.packs.height} pack(s) "
        f"outside the voltage window ({result.application.label}; packs at "
        f"{low if low == high else f'{low}–{high}'} V nominal): flagged {VIOLATION} in violations"
    )


def _warn_peak_current(result: RegroupResult) -> None:
    """One warning line when packs cannot deliver the application's peak current."""
    if result.application is None or not result.packs_over_peak_rmax:
        return
    console.print(
        f"[yellow]warning:[/] {result.packs_over_peak_rmax} of {result.packs.height} pack(s) "
        f"above the resistance R_max of {result.application.application} at its peak current "
        f"(pack_resistance_ohm > application_rmax_ohm in the summary): flagged {PEAK_VIOLATION} "
        "in violations; build them from units of lower DCIR, or for an application of lower peak "
        "current"
    )


def _write_skipped(skipped: pl.DataFrame, output: Path, exc: EchelonError) -> NoReturn:
    """A run that failed still writes the excluded file it named (the units skipped at
    selection, with the reason; no other output is written), and an infeasible run's message
    counts them beside the units its inventory excluded."""
    where = sidecar(output, "excluded", ".csv")
    write_atomic(where, skipped.write_csv)
    note = (
        f"; besides, {skipped.height} selected unit(s) were skipped before regrouping "
        f"(reasons in {where})"
    )
    if isinstance(exc, InfeasibleError):
        raise InfeasibleError(f"{exc}{note}", binding_constraint=exc.binding_constraint) from exc
    raise exc


def _with_skipped(result: RegroupResult, skipped: pl.DataFrame) -> RegroupResult:
    return replace(result, excluded=pl.concat([result.excluded, skipped]))
