"""The read-only JSON endpoints under ``/api`` (each one calls library functions)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Final

import polars as pl
import polars.selectors as cs
from fastapi import APIRouter, Query, Response

from echelon._version import __version__
from echelon.api.state import State
from echelon.domain.enums import Grade, Level, Status
from echelon.domain.parse import normalise_token, suggest
from echelon.errors import PassportError, UsageError
from echelon.passport import (
    build_passport,
    incomplete_message,
    refuse_passport_of,
)
from echelon.passport.access import ACCESS, Access
from echelon.registry import (
    LIST_COLUMNS,
    BatteryRecord,
    Registry,
    VerifyReport,
    battery_record,
    flag_listed,
    list_batteries,
    verify,
    verify_battery,
)

router = APIRouter(prefix="/api")

MAX_PROBLEMS: Final = 100
"""Chain problems listed by ``GET /api/verify`` (``problems_total`` counts them all) and by a
battery's ``chain`` at most."""
DEFAULT_LIMIT: Final = 1000
"""Rows ``GET /api/batteries`` returns unless ``limit`` says otherwise (0 = all)."""
MAX_ROWS: Final = 1_000_000_000
"""Largest ``limit`` and ``offset`` of ``GET /api/batteries`` (a larger value is 422, not an
overflow): far beyond any registry, well inside a 64-bit row index."""


def access_group(value: str) -> Access:
    """An access group as the passport spells it, from any case (``FULL``, ``legitimate_interest``).

    Raises
    ------
    UsageError
        Naming the closest group and every allowed one.
    """
    for group in ACCESS:
        if normalise_token(group) == normalise_token(value):
            return group
    raise UsageError(
        f"access: unknown access group {value!r}{suggest(value, ACCESS)}; allowed: "
        f"{', '.join(ACCESS)}"
    )


def battery_list(
    registry: Registry, filters: Mapping[str, str | None] | None = None
) -> pl.DataFrame:
    """The listing's columns (:data:`~echelon.registry.LIST_COLUMNS`) of the batteries selected
    by ``filters`` (``status``, ``grade``, ``chemistry``, ``level``; empty or ``None``: any), as
    ``echelon batteries`` lists them; status, grade and level in any case."""
    given = filters or {}
    frame = list_batteries(
        registry,
        status=given.get("status") or None,
        grade=given.get("grade") or None,
        chemistry=given.get("chemistry") or None,
        level=given.get("level") or None,
    )
    if frame.height == 0:  # an empty registry's frame has no derived columns
        return pl.DataFrame(schema=dict.fromkeys(LIST_COLUMNS, pl.String))
    return frame.select(LIST_COLUMNS).with_columns(cs.float().fill_nan(None))


def _values(enum: type[StrEnum]) -> dict[str, Any]:
    return {"enum": [m.value for m in enum]}


@router.get("/health", summary="The server and its registry answer")
def health(state: State) -> dict[str, Any]:
    """``ok`` when the registry's database answers (503 otherwise)."""
    state.registry.ping()
    return {
        "status": "ok",
        "version": __version__,
        "registry": state.registry.url,
        "passport_data": state.passport_data.source if state.passport_data else None,
    }


@router.get("/batteries", summary="Registered batteries (like `echelon batteries`)")
def batteries(
    state: State,
    response: Response,
    status: Annotated[
        str | None,
        Query(description="Derived status (any case).", json_schema_extra=_values(Status)),
    ] = None,
    grade: Annotated[
        str | None, Query(description="Latest grade (any case).", json_schema_extra=_values(Grade))
    ] = None,
    chemistry: Annotated[
        str | None,
        Query(
            description="Any accepted spelling (LFP, LiFePO4, NMC622) or a family (NMC, "
            "ternary: all of it)."
        ),
    ] = None,
    level: Annotated[
        str | None,
        Query(description="cell, module or pack (any case).", json_schema_extra=_values(Level)),
    ] = None,
    limit: Annotated[
        int, Query(ge=0, le=MAX_ROWS, description="Rows to return (0 = all).")
    ] = DEFAULT_LIMIT,
    offset: Annotated[
        int, Query(ge=0, le=MAX_ROWS, description="Rows to skip (sorted by battery id).")
    ] = 0,
) -> list[dict[str, Any]]:
    """One object per battery with the fields of ``echelon batteries --format json``, sorted by
    battery id. The header ``X-Total-Count`` counts every battery the filters select. ``warning``
    names what the battery's chain does not prove of the values returned (null: nothing found
    by the listing's check of the batteries returned; ``/api/verify`` checks everything)."""
    filters = {"status": status, "grade": grade, "chemistry": chemistry, "level": level}
    frame = battery_list(state.registry, filters)
    response.headers["X-Total-Count"] = str(frame.height)
    return flag_listed(state.registry, frame.slice(offset, limit or None)).to_dicts()


@router.get(
    "/batteries/{battery_id:path}/passport",
    summary="A battery's Battery Pass v1.2.0 passport view (nothing recorded)",
)
def passport(
    state: State,
    battery_id: str,
    access: Annotated[
        str,
        Query(
            description="Access group of the view (EU 2023/1542 Annex XIII; any case).",
            json_schema_extra={"enum": list(ACCESS)},
        ),
    ] = "public",
    in_service: Annotated[
        dt.date | None, Query(description="Date put into service in its new use (YYYY-MM-DD).")
    ] = None,
) -> dict[str, Any]:
    """The passport document as ``echelon passport --access … --allow-incomplete --no-record``
    writes it: the complete sections and ``passportMetadata``, whose ``incomplete`` lists every
    missing member of the other sections (never a placeholder). Built on request from the
    registry and the server's ``--passport-data``; a GET records nothing in the chain. 409 when
    no section is complete (the command writes nothing either), for a recycled or dismantled
    battery, which has no passport of its own, and for a battery whose event chain does not
    verify (its data may have been altered outside Echelon)."""
    group = access_group(access)
    record = battery_record(state.registry, battery_id)
    refuse_passport(state, record, verify_battery(state.registry, battery_id))
    built = build_passport(record, state.passport_data, in_service=in_service)
    if not built.sections:
        raise PassportError(
            incomplete_message(
                built,
                data="the server's --passport-data FILE",
                in_service="in_service=YYYY-MM-DD",
                outcome="no view returned",
            )
        )
    return built.document(access=group)


def refuse_passport(state: State, record: BatteryRecord, chain: VerifyReport) -> None:
    """Nothing when the battery of ``record`` can have a passport, whatever the data given.

    Raises
    ------
    ChainError
        When its event chain (``chain``: its report) does not verify.
    PassportError
        For an assembly with a recycled part, or a recycled or dismantled battery.
    """
    refuse_passport_of(state.registry, record, chain, refused="no passport is built from it")


@router.get("/batteries/{battery_id:path}", summary="One battery (like `echelon show --json`)")
def battery(state: State, battery_id: str) -> dict[str, Any]:
    """Identity, status, children, measurements, decisions with every reason, test runs and the
    hash-chained events, and ``chain``: whether the battery's chain verifies (``ok``) and its
    ``problems`` — the data of a chain that does not may have been altered outside Echelon. 404
    for an unknown id, naming similar ids."""
    record = battery_record(state.registry, battery_id)
    chain = verify_battery(state.registry, battery_id)
    return record.to_json() | {"chain": chain.chain_json(MAX_PROBLEMS)}


@router.get("/verify", summary="Verify every event chain (like `echelon verify`)")
def verify_chains(state: State) -> dict[str, Any]:
    """Re-hash every battery's chain and compare the tables with it. Always 200: ``ok`` says
    whether everything verifies, ``first_broken`` names the first broken event."""
    report = verify(state.registry)
    return {
        "ok": report.ok,
        "batteries": report.batteries,
        "events": report.events,
        "first_broken": str(report.first_broken) if report.first_broken else None,
        "problems_total": len(report.problems),
        "problems": report.chain_json(MAX_PROBLEMS)["problems"],
    }
