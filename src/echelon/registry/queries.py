"""Read-side queries: battery lists with derived status, one battery's full record, batch frames."""

from __future__ import annotations

import difflib
import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import polars as pl
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    Float,
    FromClause,
    Integer,
    Select,
    Table,
    Text,
    case,
    cast,
    func,
    null,
    or_,
    select,
)
from sqlalchemy.types import TypeEngine

from echelon.catalog.chemistry import chemistries_matching, filter_spelling
from echelon.domain import (
    NON_REUSE_ROUTES,
    Application,
    Battery,
    Decision,
    Event,
    Grade,
    Level,
    Measurement,
    Status,
    TestRun,
)
from echelon.domain.battery import BATTERY_ID_MAX_LENGTH, BATTERY_ID_PATTERN
from echelon.domain.parse import parse_filter
from echelon.errors import ChainError, NotFoundError, UsageError
from echelon.registry.core import BATTERIES, PROJECTIONS, Registry, chunked
from echelon.registry.readable import as_text, decode_row
from echelon.registry.schema import BatteryRow, DecisionRow, EventRow, MeasurementRow, TestRunRow

RETAKE_FAILED: Final = "fix the file and run the intake again: the fixed unit is taken in"
"""What to do about a unit whose intake failed (``echelon show`` and its web page say it)."""
DECISIONS: Final = PROJECTIONS["decisions"]
MEASUREMENTS: Final = PROJECTIONS["measurements"]

SUMMARY_QUANTITIES = (
    "soh_percent",
    "capacity_ah",
    "dcir_ohm",
    "ocv_v",
    "self_discharge_mv_per_day",
    "measured_capacity_ah",
    "rest_voltage_v",
    "insulation_mohm",
    "max_charge_voltage_v",
    "min_discharge_voltage_v",
)
"""Quantities whose latest value :func:`units_frame` gives: the listing's and every one the
grading table is filled from (:data:`echelon.grading.table.MEASURED_FROM`)."""

LIST_COLUMNS = (
    "battery_id",
    "level",
    "chemistry",
    "model",
    "status",
    "gate",
    "grade",
    "route",
    "soh_percent",
    "soh_method",  # e.g. pulse:pulse-u21+out-of-domain — how far to trust the SOH
    "dcir_ohm",
    "warning",  # what the battery's chain does not prove of the values listed (null: nothing)
)
"""Columns of the battery listing (``echelon batteries``, ``GET /api/batteries``), taken from
:func:`list_batteries` (``warning``: values unreadable, and those the listing's check of its
rows, :func:`~echelon.registry.flag_listed`, finds)."""


def _latest_status(battery_id: str | None = None) -> Select[Any]:
    inner = select(
        EventRow.battery_id,
        EventRow.status,
        func.row_number()
        .over(partition_by=EventRow.battery_id, order_by=EventRow.seq.desc())
        .label("rn"),
    ).where(EventRow.status.is_not(None))
    if battery_id is not None:
        inner = inner.where(EventRow.battery_id == battery_id)
    ranked = inner.subquery()
    return select(ranked.c.battery_id, ranked.c.status).where(ranked.c.rn == 1)


def _latest_decisions(dialect: str) -> Select[Any]:
    """The latest decision of each kind per battery, with the ``inputs`` (as text: an edited
    value must not fail the read, :func:`_decisions` decodes it) of a route, the only ones read
    (:func:`_reuse_kwh`), and of any other decision only when they are not valid JSON, for its
    warning: SQLite checks that in C (``json_valid``, RFC 8259: what it accepts Python decodes
    too); PostgreSQL's JSON column holds nothing else."""
    ranked = select(
        DecisionRow.battery_id,
        DecisionRow.kind,
        DecisionRow.outcome,
        cast(DecisionRow.inputs, Text).label("inputs"),
        func.row_number()
        .over(
            partition_by=(DecisionRow.battery_id, DecisionRow.kind),
            order_by=(DecisionRow.event_seq.desc(), DecisionRow.id.desc()),
        )
        .label("rn"),
    ).subquery()
    read = ranked.c.kind == "route"
    if dialect == "sqlite":
        read = or_(read, func.json_valid(ranked.c.inputs) == 0)
    return select(
        ranked.c.battery_id,
        ranked.c.kind,
        ranked.c.outcome,
        case((read, ranked.c.inputs), else_=null()).label("inputs"),
    ).where(ranked.c.rn == 1)


def _reuse_kwh(row: dict[str, Any]) -> float | None:
    """The usable kWh a route decision (``row``) credits: its chosen application's (rated kWh ×
    SOH lower bound × usable window × derate, recorded by the router); None unless the route is a
    reuse.

    Raises
    ------
    TypeError, ValueError
        For inputs that are not a JSON object, or a value that is not a number (edited in the
        database).
    """
    if row["outcome"] in NON_REUSE_ROUTES:
        return None
    inputs = {} if row["inputs"] is None else row["inputs"]
    if not isinstance(inputs, dict):
        raise TypeError(f"{json.dumps(inputs)[:40]} is not a JSON object")
    value = inputs.get("usable_kwh")
    if isinstance(value, bool) or not isinstance(value, (int, float, type(None))):
        raise TypeError(f"usable_kwh {value!r} is not a number")
    return None if value is None else float(value)


def _latest_measurements(quantities: tuple[str, ...]) -> Select[Any]:
    ranked = (
        select(
            MeasurementRow.battery_id,
            MeasurementRow.quantity,
            MeasurementRow.value,
            MeasurementRow.lower,
            MeasurementRow.upper,
            MeasurementRow.method,
            func.row_number()
            .over(
                partition_by=(MeasurementRow.battery_id, MeasurementRow.quantity),
                order_by=(MeasurementRow.event_seq.desc(), MeasurementRow.id.desc()),
            )
            .label("rn"),
        )
        .where(MeasurementRow.quantity.in_(quantities))
        .subquery()
    )
    return select(
        ranked.c.battery_id,
        ranked.c.quantity,
        ranked.c.value,
        ranked.c.lower,
        ranked.c.upper,
        ranked.c.method,
    ).where(ranked.c.rn == 1)


def units_frame(registry: Registry) -> pl.DataFrame:
    """One row per battery: nameplate, derived status, latest gate/grade/route and key measurements.

    Columns: the ``batteries`` columns, ``status``, ``gate``, ``grade``, ``route``, and for each of
    :data:`SUMMARY_QUANTITIES` its latest value (``soh_lower_percent``/``soh_upper_percent``/
    ``soh_method`` too): a capacity test's ``capacity_ah`` and the manifest's
    ``measured_capacity_ah``, ``dcir_ohm``, ``ocv_v`` and ``rest_voltage_v`` (the rest that opens
    a tester file), ``self_discharge_mv_per_day``, ``insulation_mohm``, ``max_charge_voltage_v``
    and ``min_discharge_voltage_v`` (the highest end voltage of the unit's long charges, the lowest
    of its long discharges: the gate's chemistry check); ``usable_kwh``, the usable
    energy the latest route decision credits its application with (rated kWh × SOH lower bound ×
    usable window × derate, the router's number), null unless the unit is routed to reuse.

    ``warning`` names, per battery, the values read as null because they are not of their
    column's type (edited in the database: ``measurements.value = 'abc' is not a number``); one
    such row does not fail the frame.

    Raises
    ------
    ChainError
        When the rows cannot be read at all (the database was edited outside Echelon).
    """
    try:
        return _units_frame(registry)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise ChainError(
            "the registry holds values Echelon never writes and the listing cannot be read: the "
            "database was edited outside Echelon — run `echelon verify`, which names the battery "
            "and the event"
        ) from exc


def edited_error(head: str, exc: Exception, then: str) -> ChainError:
    """The error for rows not as Echelon wrote them: ``head``, the first line of ``exc``, that the
    database was edited outside Echelon, and ``then`` what to do."""
    detail = next(iter(str(exc).splitlines()), "")
    return ChainError(f"{head} ({detail}): the database was edited outside Echelon — {then}")


POLARS_TYPES: Final[tuple[tuple[type[TypeEngine[Any]], pl.DataType], ...]] = (
    (Float, pl.Float64()),
    (Integer, pl.Int64()),
    (Boolean, pl.Boolean()),
    (Date, pl.Date()),
)
"""Frame dtype of a column type (others: text)."""


def _frame_of(rows: list[dict[str, Any]], table: Table, omit: tuple[str, ...]) -> pl.DataFrame:
    """``rows`` of ``table`` (decoded by :func:`~echelon.registry.readable.decode_row`) as a
    frame with the dtypes of the table's columns (none inferred from the values)."""
    schema = {
        c.name: next((d for t, d in POLARS_TYPES if isinstance(c.type, t)), pl.String())
        for c in table.columns
        if c.name not in omit
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _read(
    conn: Connection, stmt: Select[Any], table: Table, flags: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """The rows of ``stmt`` (columns of ``table``) decoded, each value not of its column's type
    read as null and named in ``flags`` under its battery."""
    rows = []
    for row in conn.execute(stmt):
        data = dict(row._mapping)
        for problem in decode_row(table, data):
            flags[data["battery_id"]].append(f"{table.name}.{problem}")
        rows.append(data)
    return rows


def _decisions(rows: list[dict[str, Any]], flags: dict[str, list[str]]) -> pl.DataFrame:
    """The latest decisions (``kind``, ``outcome``) and the usable kWh of the routes."""
    for row in rows:
        for problem in decode_row(DECISIONS, row):
            flags[row["battery_id"]].append(f"decisions.{problem} ({row['kind']})")
        try:
            row["usable_kwh"] = _reuse_kwh(row) if row["kind"] == "route" else None
        except (TypeError, ValueError) as exc:
            flags[row["battery_id"]].append(f"decisions.inputs: {exc} (route)")
            row["usable_kwh"] = None
    return pl.DataFrame(
        [{k: r[k] for k in ("battery_id", "kind", "outcome", "usable_kwh")} for r in rows],
        schema={
            "battery_id": pl.String,
            "kind": pl.String,
            "outcome": pl.String,
            "usable_kwh": pl.Float64,
        },
        orient="row",
    )


def _units_frame(registry: Registry) -> pl.DataFrame:
    flags: dict[str, list[str]] = defaultdict(list)
    omit = ("attributes",)
    with registry.engine.connect() as conn:
        batteries = _frame_of(
            _read(conn, as_text(BATTERIES, omit=omit), BATTERIES, flags), BATTERIES, omit
        )
        if batteries.height == 0:
            return batteries
        status = pl.DataFrame(
            [dict(r._mapping) for r in conn.execute(_latest_status())],
            schema={"battery_id": pl.String, "status": pl.String},
        )
        rows = conn.execute(_latest_decisions(conn.dialect.name))
        latest = _decisions([dict(r._mapping) for r in rows], flags)
        decisions = latest.select("battery_id", "kind", "outcome")
        usable = latest.filter(pl.col("kind") == "route").select("battery_id", "usable_kwh")
        measures = _frame_of(
            _read(conn, _latest_measurements(SUMMARY_QUANTITIES), MEASUREMENTS, flags),
            MEASUREMENTS,
            ("id", "event_seq", "source_sha256"),
        )
    frame = batteries.join(status, on="battery_id", how="left")
    for kind in ("gate", "grade", "route"):
        part = decisions.filter(pl.col("kind") == kind).select(
            "battery_id", pl.col("outcome").alias(kind)
        )
        frame = frame.join(part, on="battery_id", how="left")
    for quantity in SUMMARY_QUANTITIES:
        part = measures.filter(pl.col("quantity") == quantity)
        cols = [pl.col("value").alias(quantity)]
        if quantity == "soh_percent":
            cols += [
                pl.col("lower").alias("soh_lower_percent"),
                pl.col("upper").alias("soh_upper_percent"),
                pl.col("method").alias("soh_method"),
            ]
        frame = frame.join(part.select("battery_id", *cols), on="battery_id", how="left")
    for kind in ("gate", "grade", "route"):
        if kind not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(kind))
    frame = frame.join(usable, on="battery_id", how="left")
    return with_warnings(frame.sort("battery_id"), flags)


def with_warnings(frame: pl.DataFrame, found: Mapping[str, Sequence[str]]) -> pl.DataFrame:
    """``frame`` with ``found`` (battery id → problems) added to its ``warning`` column (made when
    absent; problems joined by ``; ``, each once)."""
    if "warning" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("warning"))
    if not found:
        return frame
    known = dict(frame.select("battery_id", "warning").iter_rows())
    merged = {
        bid: "; ".join(dict.fromkeys([*([known[bid]] if known.get(bid) else []), *problems]))
        for bid, problems in found.items()
        if bid in known and problems
    }
    return frame.with_columns(
        pl.col("battery_id")
        .replace_strict(merged, default=None, return_dtype=pl.String)
        .fill_null(pl.col("warning"))
        .alias("warning")
    )


def list_batteries(
    registry: Registry,
    *,
    status: str | None = None,
    grade: str | None = None,
    chemistry: str | None = None,
    level: str | None = None,
) -> pl.DataFrame:
    """Batteries filtered by derived status, latest grade, chemistry and level.

    The filters are those of :func:`select_units` (``grade``: one grade).

    Raises
    ------
    UsageError
        For a filter value not offered, naming the closest value and every allowed one.
    """
    return select_units(
        units_frame(registry),
        status=status,
        grades=None if grade is None else (grade,),
        chemistry=chemistry,
        level=level,
    )


LISTING_FILTERS: Final = ("status", "grade", "chemistry", "level")
"""The filters of the battery listing (``echelon batteries``, the API and the dashboard)."""
FILTER_CHOICES: Final[Mapping[str, tuple[str, ...]]] = {
    "status": tuple(s.value for s in Status),
    "grade": tuple(g.value for g in Grade),
    "level": tuple(v.value for v in Level),
}
"""The values of the enumerated filters of :func:`listing_filters` and :func:`select_units`, in
the order a refusal lists them (``chemistry`` is checked against the catalogue, ``route`` against
the applications and the routes recorded)."""


def _filter_value(
    name: str, value: str | None, choices: Mapping[str, Sequence[str]] = FILTER_CHOICES
) -> str | None:
    """A filter value as the units frame spells it (``None`` or ``""``: no filter): one of
    ``choices[name]`` in any case or separators, or for ``chemistry`` the chemistry or family it
    selects (``lifepo4`` → ``LFP``, ``ternary`` → ``NMC``, :func:`filter_spelling`).

    Raises
    ------
    UsageError
        For a value not offered, naming the filter, the closest value and every allowed one.
    """
    if name != "chemistry":
        return parse_filter(name, value, choices[name])
    try:
        return filter_spelling(value) if value else None
    except ValueError as exc:
        raise UsageError(f"chemistry: {exc}") from None


def listing_filters(given: Mapping[str, str | None]) -> dict[str, str | None]:
    """The listing's filters (:data:`LISTING_FILTERS`) as the listing spells the values they
    select: ``status=ROUTED`` → ``routed``, ``grade=a`` → ``A``, ``level=MODULE`` →
    ``module``, ``chemistry=lifepo4`` → ``LFP`` and ``ternary`` → ``NMC`` (the family); empty
    or missing: ``None``. Selecting with them selects what the values given select.

    Raises
    ------
    UsageError
        For a value not offered, as :func:`select_units` words it.
    """
    return {name: _filter_value(name, given.get(name) or None) for name in LISTING_FILTERS}


def select_units(
    frame: pl.DataFrame,
    *,
    status: str | None = None,
    grades: Sequence[str] | None = None,
    chemistry: str | None = None,
    level: str | None = None,
    route: str | None = None,
) -> pl.DataFrame:
    """The rows of a :func:`units_frame` that match every filter given (``None`` or ``""``: any).

    Every value is checked before the frame is looked at, so a typo is refused whether or not
    any unit would match it.

    Parameters
    ----------
    frame : polars.DataFrame
        One row per battery, as :func:`units_frame` returns it.
    status, level : str, optional
        A :class:`~echelon.domain.Status` or :class:`~echelon.domain.Level` value, any case.
    grades : sequence of str, optional
        Latest grades (``A``…``D``, any case); a unit with any of them matches.
    chemistry : str, optional
        Any accepted spelling (``LiFePO4``) or a family (``NMC``, ``ternary``: every chemistry
        of it).
    route : str, optional
        A second-life application (``ess``, ``ups``…), ``recycle``, ``retest``, or any route
        recorded in the frame (an application of a facility's own catalogue).

    Raises
    ------
    UsageError
        For a value not offered, naming the filter, the closest value and every allowed one.
    """
    routes = [*(a.value for a in Application), *NON_REUSE_ROUTES]
    if "route" in frame.columns:
        routes += sorted(frame.get_column("route").drop_nulls().unique().to_list())
    choices = {**FILTER_CHOICES, "route": routes}
    wanted: dict[str, list[str]] = {}
    for column, values in (
        ("status", [status]),
        ("grade", list(grades or [])),
        ("level", [level]),
        ("route", [route]),
    ):
        chosen = [_filter_value(column, value, choices) for value in values]
        if any(value is not None for value in chosen):
            wanted[column] = [value for value in chosen if value is not None]
    spelled = _filter_value("chemistry", chemistry)
    if spelled is not None:  # (what the spelling given selects, :func:`listing_filters`)
        wanted["chemistry"] = [c.value for c in chemistries_matching(spelled)]
    if frame.height == 0 or not wanted:
        return frame
    return frame.filter(*[pl.col(column).is_in(values) for column, values in wanted.items()])


def events_frame(
    registry: Registry, *, kind: str | None = None, battery_ids: list[str] | None = None
) -> pl.DataFrame:
    """Events as a frame: ``battery_id``, ``seq``, ``kind``, ``status``, ``payload`` (canonical JSON
    text), ``recorded_at``, ``hash``; optionally only one kind and/or some batteries."""
    stmt = select(
        EventRow.battery_id,
        EventRow.seq,
        EventRow.kind,
        EventRow.status,
        EventRow.payload,
        EventRow.recorded_at,
        EventRow.hash,
    ).order_by(EventRow.battery_id, EventRow.seq)
    if kind is not None:
        stmt = stmt.where(EventRow.kind == kind)
    schema = {
        "battery_id": pl.String,
        "seq": pl.Int64,
        "kind": pl.String,
        "status": pl.String,
        "payload": pl.String,
        "recorded_at": pl.String,
        "hash": pl.String,
    }
    rows: list[tuple[Any, ...]] = []
    with registry.engine.connect() as conn:
        if battery_ids is None:
            rows = [tuple(r) for r in conn.execute(stmt)]
        else:
            for chunk in chunked(battery_ids):
                rows += [tuple(r) for r in conn.execute(stmt.where(EventRow.battery_id.in_(chunk)))]
    return pl.DataFrame(rows, schema=schema, orient="row")


def _rows_of(conn: Connection, table: FromClause, battery_id: str) -> list[dict[str, Any]]:
    """A battery's rows of a projection table in insertion order, as plain dicts."""
    stmt = select(table).where(table.c.battery_id == battery_id).order_by(table.c.id)
    return [dict(r._mapping) for r in conn.execute(stmt)]


@dataclass(frozen=True)
class BatteryRecord:
    """Everything the registry holds on one battery."""

    battery: Battery
    status: str | None
    events: list[Event]
    test_runs: list[TestRun]
    measurements: list[Measurement]
    decisions: list[Decision]
    children: list[str]

    def latest_decisions(self) -> dict[str, Decision]:
        """The latest decision of each kind (``gate``, ``grade``, ``route``)."""
        return {d.kind: d for d in self.decisions}  # decisions are in recording order

    def last_event(self, kind: str) -> Event | None:
        """The latest event of a kind, or ``None``."""
        return next((e for e in reversed(self.events) if e.kind == kind), None)

    def intake_failure(self) -> str | None:
        """Why the unit's intake failed — the error of its latest ``failed`` event (a tester
        file missing or unreadable, …) — while its status is ``failed``; else ``None``."""
        failed = self.last_event("failed") if self.status == "failed" else None
        if failed is None:
            return None
        return str(failed.payload.get("error") or "no reason was recorded")

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-ready data: ``battery``, ``status``, ``children``,
        ``measurements``, ``decisions`` (with every reason), ``test_runs`` and ``events`` (what
        ``echelon show --json`` prints and ``GET /api/batteries/{id}`` returns)."""
        return {
            "battery": self.battery.model_dump(mode="json"),
            "status": self.status,
            "children": self.children,
            "measurements": [m.model_dump(mode="json") for m in self.measurements],
            "decisions": [d.model_dump(mode="json") for d in self.decisions],
            "test_runs": [t.model_dump(mode="json") for t in self.test_runs],
            "events": [e.model_dump(mode="json") for e in self.events],
        }


ID_CHARACTERS: Final = "A-Za-z0-9._:/#+-"
"""The characters of :data:`~echelon.domain.battery.BATTERY_ID_PATTERN`, as a class."""


def _impossible(battery_id: str) -> str:
    """Why ``battery_id`` cannot name a battery (it does not match the id pattern): empty, the
    characters no id holds, or its first character."""
    if not battery_id:
        return "the id is empty"
    odd = sorted({c for c in battery_id if not re.fullmatch(f"[{ID_CHARACTERS}]", c)})
    if odd:
        return "a battery id holds only letters, digits and . _ : / # + -, not " + ", ".join(
            repr(c) for c in odd
        )
    return f"a battery id starts with a letter or digit, not {battery_id[0]!r}"


SIMILAR_SHOWN: Final = 5
"""Similar ids an unknown id's message names at most."""
SIMILAR_RANKED: Final = 50
"""Candidates (those of the closest length) ranked for the message."""


def _similar_ids(conn: Connection, battery_id: str) -> list[str]:
    """Registered ids holding the last six characters of ``battery_id`` in any case (a typo
    early in the id; ``leaf-cell-1`` finds ``LEAF-CELL-1``), most similar first, then by id —
    the same list on SQLite and PostgreSQL (their ``LIKE`` differ in case, their default
    orders in collation: both are set here)."""
    tail = battery_id[-6:].lower()
    if not tail:
        return []
    column = BatteryRow.battery_id
    binary = "C" if conn.dialect.name == "postgresql" else "BINARY"
    candidates = conn.execute(
        select(column)
        .where(func.lower(column).like(f"%{_like_literal(tail)}%", escape="\\"))
        .order_by(func.abs(func.length(column) - len(battery_id)), column.collate(binary))
        .limit(SIMILAR_RANKED)
    ).scalars()
    wanted = battery_id.lower()

    def similarity(candidate: str) -> float:
        return difflib.SequenceMatcher(None, wanted, candidate.lower()).ratio()

    ranked = sorted(candidates, key=lambda candidate: (-similarity(candidate), candidate))
    return ranked[:SIMILAR_SHOWN]


def _like_literal(text: str) -> str:
    """``text`` matched literally in a ``LIKE`` pattern with escape character ``\\``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def battery_record(registry: Registry, battery_id: str) -> BatteryRecord:
    """The full record of one battery (history, measurements, decisions with reasons).

    Raises
    ------
    NotFoundError
        With close matches when the id is unknown (ids ending alike); without looking it up
        when no battery can have it (longer than any id, or a character no id holds, e.g. a
        NUL byte, which PostgreSQL refuses to compare).
    """
    if len(battery_id) > BATTERY_ID_MAX_LENGTH:  # not looked up, nor echoed in full
        raise NotFoundError(
            f"no battery {battery_id[:32]!r}… ({len(battery_id):,} characters): a battery id has "
            f"at most {BATTERY_ID_MAX_LENGTH}"
        )
    if not re.fullmatch(BATTERY_ID_PATTERN, battery_id):  # e.g. a NUL byte: not looked up
        raise NotFoundError(f"no battery {battery_id!r}: {_impossible(battery_id)}")
    with registry.engine.connect() as conn:
        row = conn.execute(
            select(BatteryRow.__table__).where(BatteryRow.battery_id == battery_id)
        ).first()
        if row is None:
            like = _similar_ids(conn, battery_id)
            hint = f"; similar ids: {', '.join(like)}" if like else ""
            raise NotFoundError(f"no battery {battery_id!r} in {registry.url}{hint}")
        try:
            return _read_record(conn, row, battery_id)
        except (ValueError, TypeError, AttributeError) as exc:  # JSON, validation: not ours
            raise edited_error(
                f"{battery_id}: its records in the registry cannot be read",
                exc,
                "run `echelon verify`",
            ) from exc


def _read_record(conn: Connection, row: Any, battery_id: str) -> BatteryRecord:
    """The record of a registered battery from its rows (raises on rows not as Echelon wrote
    them: invalid JSON, values outside the domain models)."""
    data = dict(row._mapping)
    data.pop("attributes")
    data.pop("registered_at")
    battery = Battery.model_validate(data)
    events = [
        Event(
            battery_id=e.battery_id,
            seq=e.seq,
            kind=e.kind,
            payload=json.loads(e.payload),
            recorded_at=e.recorded_at,
            prev_hash=e.prev_hash,
            hash=e.hash,
        )
        for e in conn.execute(
            select(EventRow.__table__)
            .where(EventRow.battery_id == battery_id)
            .order_by(EventRow.seq)
        )
    ]
    status = conn.execute(_latest_status(battery_id)).first()
    runs = [
        TestRun.model_validate(
            {
                **row,
                "metadata": {
                    k: v for k, v in row["run_metadata"].items() if not isinstance(v, (dict, list))
                },
            }
        )
        for row in _rows_of(conn, TestRunRow.__table__, battery_id)
    ]
    measurements = [
        Measurement.model_validate(row)
        for row in _rows_of(conn, MeasurementRow.__table__, battery_id)
    ]
    decisions = [
        Decision.model_validate(row) for row in _rows_of(conn, DecisionRow.__table__, battery_id)
    ]
    children = list(
        conn.execute(
            select(BatteryRow.battery_id)
            .where(BatteryRow.parent_id == battery_id)
            .order_by(BatteryRow.battery_id)
        ).scalars()
    )
    return BatteryRecord(
        battery, status[1] if status else None, events, runs, measurements, decisions, children
    )
