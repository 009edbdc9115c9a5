"""The dashboard's pages and the table fragment its filters load."""

from __future__ import annotations

import functools
import secrets
from typing import Annotated, Any, Final
from urllib.parse import quote

import jinja2
import polars as pl
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from echelon._version import __version__
from echelon.api.routes import battery_list, refuse_passport
from echelon.api.state import State
from echelon.catalog.chemistry import chemistries_matching
from echelon.domain.enums import Grade, Level, Status
from echelon.errors import ChainError, PassportError
from echelon.passport.access import ACCESS
from echelon.registry import (
    LISTING_FILTERS,
    RETAKE_FAILED,
    Registry,
    battery_record,
    flag_listed,
    listing_filters,
    verify_battery,
)
from echelon.reports.certificate import reason_rows, soh_band_svg

web_router = APIRouter(include_in_schema=False)

TABLE_ROWS: Final = 500
"""Rows the dashboard's table shows at most (the API pages through all of them)."""
NONE: Final = "—"
"""How a battery without a status or grade is counted."""


def page_csp(nonce: str) -> str:
    """The ``Content-Security-Policy`` of a dashboard page: its own inline ``<style>`` and
    ``<script>`` (carrying ``nonce``) and requests to its own origin, nothing else — no other
    script, style, image source, frame or form target."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )


DOT_SEGMENTS: Final = frozenset({".", ".."})
"""Path segments a browser resolves in a link (RFC 3986 §5.2.4) before requesting it."""


def id_path(battery_id: str) -> str:
    """A battery id as a URL path: ``#``, ``?``, ``%`` and spaces escaped, ``:`` and ``+`` kept,
    ``/`` kept unless a segment of the id is ``.`` or ``..`` — then every ``/`` is ``%2F``, so a
    browser cannot resolve ``A/../B`` to ``B`` (or to another endpoint); the routes decode it."""
    dotted = not DOT_SEGMENTS.isdisjoint(battery_id.split("/"))
    return quote(battery_id, safe=":+" if dotted else "/:+")


def _number(value: Any, places: int = 1) -> str:
    return "" if value is None else f"{value:.{places}f}"


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("echelon.web", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["id_path"] = id_path
    env.filters["number"] = _number
    return env


def _render(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)  # a new one for every page
    html = (
        _environment()
        .get_template(template)
        .render(
            root=request.scope.get("root_path", ""), version=__version__, nonce=nonce, **context
        )
    )
    return HTMLResponse(
        html, status_code=status_code, headers={"content-security-policy": page_csp(nonce)}
    )


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The dashboard's page for an error (the status and Echelon's message)."""
    return _render(request, "error.html.j2", status_code=status, status=status, message=message)


def _counts(frame: pl.DataFrame, column: str, order: list[str]) -> list[tuple[str, int]]:
    """``(value, count)`` of a column in the vocabulary's order, blanks counted as ``—``, then
    any value outside the vocabulary (so that the counts always add up to the batteries)."""
    counted = dict(frame.get_column(column).fill_null(NONE).value_counts().iter_rows())
    known = [*order, NONE]
    others = sorted(str(v) for v in counted if v not in known)
    return [(value, counted[value]) for value in [*known, *others] if counted.get(value)]


def _filters(request: Request) -> dict[str, str | None]:
    """The request's filters as the listing spells them (``grade=a`` → ``A``, ``chemistry=
    lifepo4`` → ``LFP``), so the form shows what they select and keeps it when one changes."""
    query = request.query_params
    return listing_filters({name: query.get(name) for name in LISTING_FILTERS})


def _chemistry_options(frame: pl.DataFrame, chosen: str | None) -> list[tuple[str, str]]:
    """``(value, label)`` of the chemistry filter: the registry's chemistries and the one
    chosen when none of them is it (a family such as ``NMC`` selects all of its own)."""
    present = sorted(frame.get_column("chemistry").drop_nulls().unique())
    options = [(c, c) for c in present]
    if chosen and chosen not in present:
        family = len(chemistries_matching(chosen)) > 1
        options.append((chosen, f"{chosen} (every {chosen})" if family else chosen))
    return options


def _table(
    registry: Registry, frame: pl.DataFrame, filters: dict[str, str | None]
) -> dict[str, Any]:
    """The table's context: the first :data:`TABLE_ROWS` rows of the batteries selected, each
    with its ``warning`` (:func:`~echelon.registry.flag_listed`), and those that have one."""
    rows = flag_listed(registry, frame.head(TABLE_ROWS)).to_dicts()
    return {
        "rows": rows,
        "flagged": [r for r in rows if r["warning"]],
        "matching": frame.height,
        "shown": min(frame.height, TABLE_ROWS),
        "filters": filters,
    }


@web_router.get("/", response_class=HTMLResponse)
def index(request: Request, state: State) -> HTMLResponse:
    """Counts per status and grade, the filters and the table of batteries."""
    filters = _filters(request)
    everything = battery_list(state.registry)
    chosen = battery_list(state.registry, filters) if any(filters.values()) else everything
    return _render(
        request,
        "index.html.j2",
        total=everything.height,
        status_counts=_counts(everything, "status", [s.value for s in Status]),
        grade_counts=_counts(everything, "grade", [g.value for g in Grade]),
        options={
            "status": [(s.value, s.value) for s in Status],
            "grade": [(g.value, g.value) for g in Grade],
            "chemistry": _chemistry_options(everything, filters["chemistry"]),
            "level": [(level.value, level.value) for level in Level],
        },
        table=_table(state.registry, chosen, filters),
    )


@web_router.get("/fragments/batteries", response_class=HTMLResponse)
def batteries_fragment(request: Request, state: State) -> HTMLResponse:
    """The table alone, for the filters to swap in without reloading the page."""
    filters = _filters(request)
    chosen = battery_list(state.registry, filters)
    return _render(request, "_batteries.html.j2", table=_table(state.registry, chosen, filters))


@web_router.get("/battery", response_class=RedirectResponse)
def find_battery(
    request: Request, battery_id: Annotated[str, Query(alias="id")] = ""
) -> RedirectResponse:
    """The header's search box (a plain ``GET`` form, ``?id=``): 303 to the battery's page
    (the id trimmed, as :func:`id_path` writes it; an unknown id's page names similar ids), or
    to the dashboard when no id is given."""
    root = request.scope.get("root_path", "")
    wanted = battery_id.strip()
    target = f"{root}/battery/{id_path(wanted)}" if wanted else f"{root}/"
    return RedirectResponse(target, status_code=303)


@web_router.get("/battery/{battery_id:path}", response_class=HTMLResponse)
def battery_page(request: Request, state: State, battery_id: str) -> HTMLResponse:
    """One battery: identity, SOH and its band chart, decisions with reasons, tests, history;
    a warning naming every problem when its event chain does not verify; links to its passport
    views unless the passport API refuses the battery whatever the data (its chain does not
    verify, it was recycled or dismantled, a part of it was recycled), else why."""
    record = battery_record(state.registry, battery_id)
    chain = verify_battery(state.registry, battery_id)
    try:  # no link where the passport API refuses whatever the data (incomplete data: it says)
        refuse_passport(state, record, chain)
        no_passport = None
    except (ChainError, PassportError) as exc:
        no_passport = str(exc)
    soh = [m for m in record.measurements if m.quantity == "soh_percent"]
    decisions = [
        {"decision": d, "rows": reason_rows(d.reasons, fired_first=d.kind != "route")}
        for d in record.decisions
    ]
    return _render(
        request,
        "battery.html.j2",
        record=record,
        battery=record.battery,
        soh=soh[-1] if soh else None,
        soh_svg=soh_band_svg(record),
        decisions=decisions,
        latest=record.latest_decisions(),
        chain=chain,
        no_passport=no_passport,
        refusals=[e.payload for e in record.events if e.kind == "soh_refused"],
        failure=record.intake_failure(),
        retake_failed=RETAKE_FAILED,
        access_groups=ACCESS,
    )
