"""``echelon grade`` (stateless, on a measurements table), ``echelon certificate`` and
``echelon applications``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from echelon.cli._common import (
    PROFILES_HELP,
    AsOfOption,
    DbOption,
    EconomicsOption,
    ProfileOption,
    SetOption,
    check_output,
    check_table_output,
    console,
    economics_from_options,
    open_db,
    write_table,
)
from echelon.cli._errors import guarded, stderr
from echelon.domain.parse import parse_date
from echelon.grading import grade_by_region, load_profile
from echelon.grading.reader import absent_columns, read_grading_table
from echelon.io.atomic import utf8_writer, write_recorded
from echelon.registry import battery_record, refuse_unverified, verify_battery
from echelon.reports.certificate import certificate_event, certificate_html
from echelon.routing import RoutingInputs, fits_summary, load_applications, route_conditions

OUTPUT_COLUMNS = [
    "battery_id",
    "gate",
    "grade",
    "route",
    "allowed_applications",
    "value_usd",
    "reasons",
    "profile",
    "soh_basis_percent",
    "soh_source",
    "resistance_ratio",
    "resistance_criterion",
    "best_application",
    "reuse_value_usd",
    "recycle_value_usd",
    "expected_years",
    "usable_kwh",
    "price_usd_per_kwh_year",
    "break_even_price_usd_per_kwh_year",
    "break_even_soh_percent",
    "application_fits",
    "route_conditions",
    "unchecked",
    "economics",
]
"""Columns of ``echelon grade -o`` (the first seven are the documented contract)."""


def decisions_frame(
    graded: pl.DataFrame, inputs: dict[str, RoutingInputs] | None = None
) -> pl.DataFrame:
    """The output table of ``echelon grade`` from a graded, routed frame (``inputs``: the routing
    inputs per profile label, for the ``route_conditions`` column; empty without them)."""
    apps = [c.removeprefix("misfit__") for c in graded.columns if c.startswith("misfit__")]
    rounded = [
        pl.col(c).round(2)
        for c in (
            "value_usd",
            "reuse_value_usd",
            "recycle_value_usd",
            "soh_basis_percent",
            "expected_years",
            "break_even_price_usd_per_kwh_year",
            "break_even_soh_percent",
        )
    ]
    return graded.with_columns(
        fits_summary(apps).alias("application_fits"),
        route_conditions(graded, inputs or {}),
        *rounded,
        pl.col("resistance_ratio").round(3),
        pl.col("usable_kwh").round(4),
    ).select(OUTPUT_COLUMNS)


def _warn_absent(path: Path, units: pl.DataFrame) -> None:
    """Say once, on stderr, which expected columns the whole table lacks and what that does."""
    notes = absent_columns(units)
    if not notes:
        return
    stderr.print(
        f"[yellow]warning:[/] {path}: expected grading columns absent from the whole table "
        "(docs/grading.md, missing fields); every unit is graded without them:",
        highlight=False,
        soft_wrap=True,
    )
    for note in notes:
        stderr.print(f"  - {note}", highlight=False, markup=False, soft_wrap=True)


def _warn_baseline(units: pl.DataFrame, profile: str | None) -> None:
    """Say on stderr that a table without regions, graded without ``--profile``, gets the
    jurisdiction-neutral baseline profile (no regulatory restriction applies)."""
    if profile is not None or (
        "region" in units.columns and units.get_column("region").drop_nulls().len() > 0
    ):
        return
    stderr.print(
        "note: no region column and no --profile: graded with the jurisdiction-neutral "
        f"baseline profile {load_profile('baseline').label} (no regulatory restrictions; "
        "--profile eu|cn|us for a jurisdiction's rules)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _note_batch_limits(units: pl.DataFrame, graded: pl.DataFrame, *, shown: int = 5) -> None:
    """Say on stderr which self-discharge outlier limits were computed over the table given (a
    batch-relative limit: a filtered export is another batch than the intake's) and how many units
    were checked against a limit recorded at intake (the table's column)."""
    limit = "self_discharge_outlier_limit_mv_per_day"
    given = (
        units.get_column(limit).is_not_null()
        if limit in units.columns
        else pl.repeat(False, units.height, eager=True)
    )
    checked = graded.get_column("self_discharge_outlier_applies").fill_null(False)
    recorded = int((given & checked).sum())
    computed = (
        graded.filter(~given & checked & pl.col("self_discharge_mv_per_day").is_not_null())
        .group_by("chemistry", "model", "level", maintain_order=True)
        .agg(pl.first(limit), pl.len().alias("n"))
    )
    if recorded:
        stderr.print(
            f"note: gate.self_discharge_outlier: {recorded} unit(s) checked against the batch "
            f"limit recorded at intake (column {limit})",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if computed.height == 0:
        return
    groups = "; ".join(
        f"{r['chemistry']}/{r['model'] or '-'}/{r['level']}: {r[limit]:.2f} mV/day "
        f"over the {r['n']} unit(s) given"
        for r in computed.head(shown).iter_rows(named=True)
    )
    more = f" (and {computed.height - shown} more groups)" if computed.height > shown else ""
    stderr.print(
        f"note: gate.self_discharge_outlier: batch-relative limit (median + nσ) computed over this "
        f"table, not the intake's batch — {groups}{more}. A filtered export grades against "
        f"different limits than its intake; give each unit the limit recorded at intake in a "
        f"column {limit} (`echelon batteries --format grading` writes it) to grade against it.",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _note_batch_reference(graded: pl.DataFrame) -> None:
    """Say on stderr how many units' resistance ratio (the ratio-to-new fallback, docs/grading.md)
    is to the median DCIR of the table given, which a filtered table changes."""
    batch = graded.filter(
        (pl.col("resistance_criterion") == "ratio_to_new")
        & pl.col("reference_dcir_ohm").is_null()
        & pl.col("reference_resistance_ohm").is_not_null()
    )
    if batch.height == 0:
        return
    stderr.print(
        f"note: grade.resistance: {batch.height} unit(s) graded on R/R_ref with R_ref the median "
        "DCIR of their group in this table (no reference_dcir_ohm, no application R_max "
        "computable): a filtered table is another batch than the intake's; give "
        "reference_dcir_ohm (the new cell's DCIR) to grade against a fixed reference.",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _summary(frame: pl.DataFrame) -> Table:
    profiles = ", ".join(sorted(frame.get_column("profile").drop_nulls().unique().to_list()))
    table = Table(
        "route",
        "units",
        "grade A/B/C/D",
        "value [USD]",
        title=f"Decisions (profile {profiles or 'none'})",
    )
    per = (
        frame.group_by("route")
        .agg(
            pl.len().alias("units"),
            *[(pl.col("grade") == g).sum().alias(g) for g in "ABCD"],
            pl.col("value_usd").sum().alias("value"),
        )
        .sort("units", descending=True)
    )
    for row in per.iter_rows(named=True):
        table.add_row(
            row["route"],
            str(row["units"]),
            "/".join(str(row[g]) for g in "ABCD"),
            f"{row['value']:,.0f}",
        )
    return table


@guarded
def grade_cmd(
    table: Annotated[
        Path, typer.Argument(help="Measurements table (.csv or .parquet), see docs/grading.md.")
    ],
    profile: ProfileOption = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the decisions here (.csv or .parquet)."),
    ] = None,
    economics: EconomicsOption = None,
    overrides: SetOption = None,
    as_of: AsOfOption = None,
    limit: Annotated[int, typer.Option(min=0, help="Rows to print when no -o is given.")] = 20,
) -> None:
    """Gate, grade and route every unit of a measurements table (stateless: no registry)."""
    check_table_output(output)
    day = None if as_of is None else parse_date(as_of, option="--as-of")  # exit 2 if not a date
    units = read_grading_table(table)
    _warn_absent(table, units)
    _warn_baseline(units, profile)
    graded, inputs = grade_by_region(
        units,
        profile=profile,
        economics=economics_from_options(economics, overrides),
        as_of=day,
    )
    _note_batch_limits(units, graded)
    _note_batch_reference(graded)
    out = decisions_frame(graded, inputs)
    console.print(_summary(out))
    if output is not None:
        write_table(out, output)
        console.print(f"[green]✓[/] {out.height} decisions → {output}", soft_wrap=True)
        return
    shown = out.select("battery_id", "gate", "grade", "route", "value_usd", "reasons").head(limit)
    listing = Table(*shown.columns, title=f"first {shown.height} of {out.height} units")
    for row in shown.iter_rows():
        listing.add_row(*["" if v is None else str(v) for v in row])
    console.print(listing)


@guarded
def certificate_cmd(
    battery_id: Annotated[str, typer.Argument(help="Battery id.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="HTML file to write (self-contained).")
    ] = Path("certificate.html"),
    db: DbOption = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record/--no-record", help="Record the certificate's SHA-256 in the event chain."
        ),
    ] = True,
) -> None:
    """Write the grading certificate of one battery (decisions, reasons, chain head).

    With --record (the default) the file appears only once its SHA-256 is recorded in the unit's
    event chain: a recording refused leaves none, and an earlier file at -o as it was.
    """
    check_output(output, (".html",))
    with open_db(db) as registry:
        rec = battery_record(registry, battery_id)
        refuse_unverified(
            verify_battery(registry, battery_id),
            [battery_id],
            refused="no certificate is written or recorded",
        )
        cert = certificate_html(rec)

        def recording() -> str:
            registry.append_events(battery_id, [certificate_event(cert, file_name=output.name)])
            return (
                f"the certificate's sha256 {cert.sha256} is recorded in {battery_id}'s chain in "
                f"{registry.url}"
            )

        write_recorded(
            [(output, utf8_writer(cert.html))],
            recording if record else None,
            see=f"`echelon show {battery_id}` lists its certificate_issued event",
        )
    console.print(
        f"[green]✓[/] certificate of {battery_id} → {output}  (sha256 {cert.sha256[:16]}…"
        f"{', recorded in the chain' if record else ''})",
        soft_wrap=True,
    )


@guarded
def applications_cmd(
    profile: Annotated[
        str,
        typer.Option("--profile", help=f"{PROFILES_HELP}: whose grades and regulations are shown."),
    ] = "baseline",
) -> None:
    """List the second-life applications, their requirements and a profile's regulations."""
    prof = load_profile(profile)
    catalog = load_applications(prof.routing.applications)
    table = Table(title=f"Applications ({catalog.label}; grades from {prof.label})")
    headers = ("id", "grades", "levels", "families", "window [V]", "peak [C]", "duty", "°C")
    for header in headers:
        table.add_column(header, overflow="fold")
    for name, spec in catalog.application.items():
        grades = ",".join(g.value for g in sorted(prof.route) if name in prof.applications_for(g))
        for rule in catalog.forbidding(name, prof.meta.jurisdiction):
            scope = ",".join(x.value for x in (*rule.levels, *rule.origins))
            grades = (
                f"{grades} (forbidden for {scope}: {rule.rule})"
                if scope
                else f"— (forbidden: {rule.rule})"
            )
        window = (
            f"{spec.voltage_min_v:g}–{spec.voltage_max_v:g}"
            if spec.voltage_min_v is not None
            else "like-for-like"
        )
        table.add_row(
            name,
            grades or "—",
            ",".join(lvl.value for lvl in spec.levels),
            ",".join(spec.families),
            window,
            f"{spec.peak_c_rate:g}" if spec.peak_c_rate else "—",
            f"{spec.duty} ({spec.efc_per_year:g} EFC/y)",
            f"{spec.temperature_min_c:g}…{spec.temperature_max_c:g}",
        )
    console.print(table)
    rules = catalog.regulations(prof.meta.jurisdiction)
    if not rules:
        console.print(f"jurisdiction {prof.meta.jurisdiction}: no regulatory restrictions")
        return
    regs = Table(title=f"Regulations applied in {prof.meta.jurisdiction}")
    for header in ("rule", "effect", "applies to", "what it says"):
        regs.add_column(header, overflow="fold")
    for rule in rules:
        scope = ",".join(rule.applications) or "all"
        if rule.levels:
            scope += f" ({','.join(lvl.value for lvl in rule.levels)})"
        regs.add_row(rule.rule, rule.effect, scope, rule.message)
    console.print(regs)
