"""``echelon passport``: the Battery Pass v1.2.0 passport of one battery in the registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from echelon.cli._common import DbOption, check_output, console, open_db
from echelon.cli._errors import guarded
from echelon.domain.parse import parse_date
from echelon.errors import PassportError
from echelon.io.atomic import utf8_writer, write_recorded
from echelon.passport import (
    SECTION_MODELS,
    build_passport,
    incomplete_message,
    load_passport_data,
    refuse_passport_of,
    schema_dir,
)
from echelon.passport.build import Passport
from echelon.passport.export import check_against_schemas, passport_event, passport_json
from echelon.passport.schemas import ENV_VAR
from echelon.registry import UNIT_STATUS, battery_record, serialized, verify_battery


def _summary(passport: Passport) -> Table:
    table = Table(title=f"passport of {passport.battery_id} ({passport.status})")
    for header in ("section", "state", "missing or invalid (first 4)"):
        table.add_column(header, overflow="fold")
    for name in SECTION_MODELS:
        problems = passport.missing.get(name, [])
        state = "[green]complete[/]" if not problems else f"[red]{len(problems)} missing[/]"
        shown = "; ".join(p.removeprefix(f"{name}.") for p in problems[:4])
        more = f" … +{len(problems) - 4}" if len(problems) > 4 else ""
        table.add_row(name, state, shown + more)
    return table


@guarded
def passport_cmd(
    battery_id: Annotated[str, typer.Argument(help="Battery id.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="JSON file to write (default: ID.passport.json)."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="The facility's passport data (JSON, YAML or TOML): operator, per-model and "
            "per-battery members Echelon does not measure (docs/passport.md).",
        ),
    ] = None,
    in_service: Annotated[
        str | None,
        typer.Option("--in-service", help="Date put into service in its new use (YYYY-MM-DD)."),
    ] = None,
    access: Annotated[
        Literal["full", "legitimate-interest", "public"],
        typer.Option(help="Access group of the view written (EU 2023/1542 Annex XIII)."),
    ] = "full",
    schemas: Annotated[
        Path | None,
        typer.Option(
            "--schemas",
            help=f"Battery Pass v1.2.0 schema folder to validate against (default ${ENV_VAR}).",
        ),
    ] = None,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Write the complete sections when others lack data (listed in the file).",
        ),
    ] = False,
    db: DbOption = None,
    record: Annotated[
        bool,
        typer.Option("--record/--no-record", help="Record the passport's SHA-256 in the chain."),
    ] = True,
) -> None:
    """Write the Battery Pass passport of one battery: measured state, status, lineage.

    With --record (the default) the file appears only once its SHA-256 is recorded in the unit's
    event chain: a recording refused leaves none, and an earlier file at -o as it was.
    """
    check_output(output, (".json",))
    folder = schema_dir(schemas) if schemas is not None or os.environ.get(ENV_VAR) else None
    facility = load_passport_data(data) if data is not None else None
    date = parse_date(in_service, option="--in-service") if in_service else None
    target = output or Path(f"{battery_id.replace('/', '_')}.passport.json")
    with open_db(db) as registry:
        unit = battery_record(registry, battery_id)
        refuse_passport_of(
            registry,
            unit,
            verify_battery(registry, battery_id),
            refused="no passport is written or recorded",
        )
        passport = build_passport(unit, facility, in_service=date)
        console.print(_summary(passport))
        for note in passport.notes:
            console.print(f"[yellow]note:[/] {note}", soft_wrap=True)
        if not passport.sections or (not passport.complete and not allow_incomplete):
            raise PassportError(_incomplete_message(passport, allow_incomplete))
        if folder is not None:
            check_against_schemas(passport, folder)
        text, sha256 = passport_json(passport, access=access)
        event = passport_event(passport, sha256=sha256, file_name=target.name, access=access)

        def recording() -> str:
            # checked again and written under the unit-status lock: a lot recorded (or any event
            # appended) since the passport was built is seen, never recorded after
            with serialized(registry, UNIT_STATUS) as writer:
                now = battery_record(registry, battery_id)
                head = (now.events[-1].seq, now.events[-1].hash) if now.events else None
                if head != passport.chain_head:
                    last = now.events[-1]
                    raise PassportError(
                        f"{battery_id} changed while its passport was built (its chain now ends "
                        f"at event {last.seq}, {last.kind}, not {passport.chain_head[0]}); "
                        "nothing written or recorded: run the command again"
                    )
                refuse_passport_of(
                    registry,
                    now,
                    verify_battery(registry, battery_id),
                    refused="no passport is written or recorded",
                )
                writer.append_events_many([(battery_id, [event])])
            return (
                f"the passport's sha256 {sha256} is recorded in {battery_id}'s chain in "
                f"{registry.url}"
            )

        write_recorded(
            [(target, utf8_writer(text))],
            recording if record else None,
            see=f"`echelon show {battery_id}` lists its passport_issued event",
        )
    validated = ""
    if folder is not None:
        validated = ", sections valid against the schemas" + (
            "" if access == "full" else f" (the {access} view itself omits required members)"
        )
    console.print(
        f"[green]✓[/] passport of {battery_id} → {target}  ({passport.status}, "
        f"{len(passport.sections)}/7 sections, sha256 {sha256[:16]}…"
        f"{', recorded in the chain' if record else ''}{validated})",
        soft_wrap=True,
    )


def _incomplete_message(passport: Passport, allow_incomplete: bool) -> str:
    message = incomplete_message(
        passport, data="--data FILE", in_service="--in-service DATE", outcome="nothing written"
    )
    if allow_incomplete:
        return message
    return (
        f"{message}, or pass --allow-incomplete to write the complete sections with every missing "
        "member listed"
    )
