"""``echelon forecast``: second-life years of a registered unit, or trajectories from a table."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from echelon.cli._common import (
    DbOption,
    check_output_folder,
    check_table_output,
    console,
    open_db,
    stage_progress,
    write_table,
)
from echelon.cli._errors import EXIT_USAGE, guarded, stderr
from echelon.domain import Battery, Measurement
from echelon.domain.parse import suggest
from echelon.errors import EstimationError
from echelon.io.atomic import write_atomic, write_text_atomic
from echelon.lifetime import (
    UnitForecast,
    duty_names,
    forecast_histories,
    forecast_unit,
    read_history,
    resolve_application,
)
from echelon.registry import (
    BatteryRecord,
    Registry,
    battery_record,
    ended_passport,
    no_longer_whole,
    parts_of,
    recycled_parts,
    refuse_loop,
)
from echelon.reports.charts import save_chart
from echelon.reports.lifetime import fade_trajectory_chart

APPLICATION_HELP = "ess, ups, telecom, fcr, ebike, auto12v, lsv or ev_reman."


def _usage(message: str) -> typer.Exit:
    """A usage error: message on stderr, exit code 2."""
    stderr.print(f"[bold red]usage error:[/] {message}", highlight=False)
    return typer.Exit(EXIT_USAGE)


def _check_application(name: str) -> None:
    """Refuse an application the duty catalogue does not know, before any work (exit 2, naming
    the closest and every known one; route-table aliases are accepted)."""
    try:
        resolve_application(name)
    except EstimationError:
        known = duty_names()
        raise _usage(
            f"--application {name!r} is not an application{suggest(name, known)}; give one of "
            f"{', '.join(known)}"
        ) from None


def _unit_row(rec: BatteryRecord) -> dict[str, Any]:
    soh = [m for m in rec.measurements if m.quantity == "soh_percent"]
    return _row(rec.battery, rec.status, soh[-1] if soh else None)


def _row(battery: Battery, status: str | None, soh: Measurement | None) -> dict[str, Any]:
    """A forecast's row of a unit: its nameplate, ``status`` and latest SOH measurement."""
    return {
        "battery_id": battery.battery_id,
        "chemistry": battery.chemistry.value,
        "soh_percent": None if soh is None else soh.value,
        "soh_lower_percent": None if soh is None else soh.lower,
        "manufacture_date": battery.manufacture_date,
        "origin_application": battery.origin_application.value,
        "status": status,
    }


def _registry_unit(
    registry: Registry, battery_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rec = battery_record(registry, battery_id)
    recycled = rec.last_event("recycled")
    if recycled is not None:  # recycled is final: no second life to forecast
        ended = ended_passport(recycled.payload.get("lot_id"), recycled.recorded_at)
        raise EstimationError(
            f"{battery_id} was {ended}: it has no second life to forecast; its history stays in "
            f"the registry (`echelon show {battery_id}`)"
        )
    gone = recycled_parts(registry, rec)
    if gone:
        raise EstimationError(
            no_longer_whole(
                battery_id,
                gone,
                "forecast its remaining parts one by one, or rebuild it (`echelon regroup`) and "
                "forecast the new pack",
            )
        )
    return _unit_row(rec), _block_rows(registry, battery_id)


def _block_rows(registry: Registry, battery_id: str) -> list[dict[str, Any]]:
    """The rows of an assembly's blocks; a block without an SOH of its own takes that of its
    weakest part (the lowest SOH among its children, each resolved the same way: a pack's
    module from its cells), with ``soh_from`` naming the part it is taken from. The genealogy is
    read a level at a time (:func:`~echelon.registry.parts_of`), and below a block only while
    it has no SOH; a genealogy edited into a loop is refused
    (:func:`~echelon.registry.refuse_loop`)."""
    parts: dict[str, list[dict[str, Any]]] = {}
    level, seen = [battery_id], {battery_id}
    while level:
        found = parts_of(registry, level)
        refuse_loop(battery_id, [p.battery.battery_id for p in found], seen)
        for part in found:
            parts.setdefault(part.parent_id, []).append(_row(part.battery, part.status, part.soh))
        level = [p.battery.battery_id for p in found if p.soh is None]

    def resolved(row: dict[str, Any]) -> dict[str, Any]:
        below = [resolved(p) for p in parts.get(row["battery_id"], [])]
        measured = [p for p in below if p["soh_percent"] is not None]
        if row["soh_percent"] is None and measured:
            weakest = min(measured, key=lambda p: float(p["soh_percent"]))
            row["soh_percent"] = weakest["soh_percent"]
            row["soh_lower_percent"] = weakest["soh_lower_percent"]
            row["soh_from"] = weakest.get("soh_from") or weakest["battery_id"]
        return row

    return [resolved(row) for row in parts.get(battery_id, [])]


def _forecast_registered(
    battery_id: str, application: str, years: float | None, out: Path, db: str | None,
    as_of: dt.date, until_soh: float | None,
) -> None:  # fmt: skip
    with open_db(db) as registry:
        unit, blocks = _registry_unit(registry, battery_id)
    result = forecast_unit(unit, application=application, years=years, blocks=blocks, as_of=as_of,
                           eol_soh_percent=until_soh)  # fmt: skip
    summary = json.dumps(result.summary(), indent=2, default=str) + "\n"
    write_text_atomic(out / "forecast.json", summary)
    write_atomic(out / "trajectory.csv", result.band.write_csv)
    spec = fade_trajectory_chart(
        result.band,
        eol_soh_percent=result.eol_soh_percent,
        title=f"{battery_id} in {result.application}: SOH with 90 % band",
        years_to_eol=None  # not reached within the horizon: no point on the threshold line
        if result.beyond_horizon
        else (result.years_to_eol_lower, result.years_to_eol, result.years_to_eol_upper),
    )
    write_atomic(out / "fade_trajectory.png", lambda tmp: save_chart(spec, tmp))
    console.print(
        f"[bold]{battery_id}[/] ({result.chemistry}, SOH {result.soh_percent:.1f} %"
        f"{' of its weakest block' if result.blocks else ''}) in "
        f"[bold]{result.application}[/] {_years_to_threshold(result)}; after {result.years:g} "
        "years SOH "
        f"{result.soh_after_years[1]:.1f} % ({result.soh_after_years[0]:.1f}–"
        f"{result.soh_after_years[2]:.1f})",
        highlight=False,
    )
    if result.blocks:
        console.print(f"  combined from {len(result.blocks)} blocks: {', '.join(result.blocks)}")
    if result.blocks_excluded:
        console.print(
            f"  [yellow]left out[/] {len(result.blocks_excluded)} blocks without an SOH: "
            f"{', '.join(result.blocks_excluded)}",
            highlight=False,
        )
    for note in result.notes:
        console.print(f"  [yellow]note:[/] {note}", highlight=False)
    console.print(f"  wrote {out / 'forecast.json'}, trajectory.csv, fade_trajectory.png")


def _years_to_threshold(result: UnitForecast) -> str:
    """ "reaches 60 % in 5.3 years (90 %: 0.7–9.5)", or, beyond the simulation horizon, "does not
    reach 60 % within 40 years (the horizon)" — a capped bound is "beyond 40", not "40.0"."""
    eol, horizon = f"{result.eol_soh_percent:g} %", f"{result.horizon_years:g}"
    lower_capped, median_capped, upper_capped = result.capped
    lower = f"beyond {horizon}" if lower_capped else f"{result.years_to_eol_lower:.1f}"
    if median_capped:
        interval = "" if lower_capped else f"; 90 %: {lower}–beyond {horizon} years"
        return f"does not reach {eol} within {horizon} years (the horizon{interval})"
    upper = f"beyond {horizon}" if upper_capped else f"{result.years_to_eol_upper:.1f}"
    return f"reaches {eol} in [bold]{result.years_to_eol:.1f}[/] years (90 %: {lower}–{upper})"


def _forecast_table(history: Path, until_soh: float, references: Path | None, out: Path) -> None:
    frame = read_history(history)
    refs = read_history(references) if references is not None else None
    with stage_progress({"forecast": "forecast units"}) as progress:
        result = forecast_histories(
            frame,
            until_soh_percent=until_soh,
            references=refs,
            source=history,
            progress=lambda d, t: progress("forecast", d, t),
        )
    write_table(result, out)
    counts = result.group_by("status").len().sort("status")
    console.print(
        f"{result.height} units: "
        + ", ".join(f"{r['len']} {r['status']}" for r in counts.iter_rows(named=True))
        + f" → {out}",
        soft_wrap=True,
    )
    table = Table("battery_id", "status", "cycles to threshold", "90 % interval", "knee", "note",
                  title=f"until SOH {until_soh:g} %")  # fmt: skip
    for r in result.head(20).iter_rows(named=True):
        c = r["cycles_to_threshold"]
        table.add_row(
            r["battery_id"],
            r["status"],
            "" if c is None else f"{c:.0f}",
            ""
            if c is None
            else f"{r['cycles_to_threshold_lower']:.0f}–{r['cycles_to_threshold_upper']:.0f}",
            r["knee_risk"] or "",
            (r["note"] or "")[:60],
        )
    console.print(table)


@guarded
def forecast_cmd(
    battery_id: Annotated[
        str | None, typer.Argument(help="Battery id in the registry (omit with --history).")
    ] = None,
    application: Annotated[str | None, typer.Option(help=APPLICATION_HELP)] = None,
    years: Annotated[
        float | None,
        typer.Option(
            min=0.5,
            max=40.0,
            help="Horizon of the fade trajectory, in years (default: the upper bound of the "
            "90 % interval of the years to the threshold, rounded up, within 5–40).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (ID) or file .csv/.parquet (--history)."),
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option(help="Table of observed trajectories (CSV or Parquet), one row per check-up."),
    ] = None,
    until_soh: Annotated[
        float | None,
        typer.Option(
            "--until-soh",
            help="Threshold SOH [%]: for --history (default 80), or instead of the "
            "application's end-of-life SOH for an ID.",
            show_default=False,
        ),
    ] = None,
    references: Annotated[
        Path | None,
        typer.Option(help="Extra reference trajectories for --history (same format)."),
    ] = None,
    date: Annotated[
        str | None, typer.Option(help="Date for unit ages, YYYY-MM-DD (default: today).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Forecast the years (or cycles) until a unit reaches its application's threshold."""
    if (battery_id is None) == (history is None):
        raise _usage("give a battery ID or --history TABLE (not both)")
    if history is not None:
        check_table_output(out, option="-o/--out")
        given = {"--application": application, "--years": years, "--date": date}
        unused = [name for name, value in given.items() if value is not None]
        if unused:
            verb = "apply" if len(unused) > 1 else "applies"
            raise _usage(f"{', '.join(unused)} {verb} to a battery ID, not to --history")
        threshold = 80.0 if until_soh is None else until_soh
        _forecast_table(history, threshold, references, out or Path("forecast.csv"))
        return
    assert battery_id is not None
    if references is not None:
        raise _usage("--references applies to --history, not to a battery ID")
    if application is None:
        raise _usage(f"--application is required with an ID ({APPLICATION_HELP})")
    _check_application(application)
    try:
        as_of = dt.date.fromisoformat(date) if date else dt.date.today()
    except ValueError as exc:
        raise _usage(f"--date {date!r}: {exc}") from exc
    if out is None:
        out = Path("forecast") / battery_id.replace("/", "_")
    check_output_folder(out, option="-o/--out")
    _forecast_registered(battery_id, application, years, out, db, as_of, until_soh)
