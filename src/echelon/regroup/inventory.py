"""The inventory the pack builder draws from: one row per unit, validated once at the boundary.

Column contract (``docs/regroup.md``)

required
    ``battery_id``, ``chemistry``, ``capacity_ah`` [A·h] (measured; ``measured_capacity_ah``, as
    grading tables name it, is accepted, and where it is empty ``soh_percent`` ×
    ``nominal_capacity_ah`` — the estimate, as ``--from-registry`` takes it), ``dcir_ohm`` [Ω]
optional
    ``model``, ``self_discharge_mv_per_day`` [mV/day], ``grade`` (A–D),
    ``capacity_lower_ah``/``capacity_upper_ah`` [A·h] (capacity interval), or
    ``soh_percent`` with ``soh_lower_percent``/``soh_upper_percent`` (the interval is then scaled
    from the SOH interval), ``ocv_v`` [V] (resting voltage, for OCV pre-matching),
    ``nominal_voltage_v`` [V] (of the unit; default: the chemistry's cell voltage), ``level``
    (``cell``, ``module``, ``pack``: selects the tighter plausible ranges), ``gate`` (``pass`` or
    ``quarantine``: the latest safety-gate decision; a quarantined unit is never placed).

Numbers are checked against the plausible ranges of :mod:`echelon.domain.plausible` (those of the
intake manifest and ``echelon grade``, with the likely unit mistake); :data:`NUMERIC` and
:data:`POSITIVE` say where the inventory's bounds differ and why.

An inventory is a CSV or Parquet file (:func:`read_inventory`), a polars frame
(:func:`validate_inventory`) or the registry's routed units (:func:`inventory_from_registry`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from echelon.catalog import resolve_chemistry
from echelon.catalog.chemistry import generic_chemistry
from echelon.domain import NON_REUSE_ROUTES, Chemistry, Gate, Grade, Level, Status
from echelon.domain.parse import suggest
from echelon.domain.plausible import PLAUSIBLE, PlausibleRange, implausible_cells, outside_rows
from echelon.errors import Problem, SchemaError, UsageError, parse_numbers
from echelon.io.table import read_table
from echelon.registry import Registry, select_units, units_frame
from echelon.regroup.instance import QUARANTINED, UNKNOWN_CHEMISTRY

REQUIRED: Final = ("battery_id", "chemistry", "capacity_ah", "dcir_ohm")
NUMERIC: Final[dict[str, PlausibleRange]] = {
    "capacity_ah": PLAUSIBLE["measured_capacity_ah"],
    "dcir_ohm": PLAUSIBLE["dcir_ohm"],
    "self_discharge_mv_per_day": PLAUSIBLE["self_discharge_mv_per_day"],
    "capacity_lower_ah": PLAUSIBLE["measured_capacity_ah"],
    "capacity_upper_ah": PLAUSIBLE["measured_capacity_ah"],
    "soh_percent": PLAUSIBLE["soh_percent"],
    "soh_lower_percent": PLAUSIBLE["soh_lower_percent"],
    "soh_upper_percent": PLAUSIBLE["soh_percent"],
    "ocv_v": PLAUSIBLE["ocv_v"],
    "nominal_voltage_v": PLAUSIBLE["nominal_voltage_v"],
}
"""Numeric columns and their plausible ranges: those of the same quantity in
:data:`echelon.domain.plausible.PLAUSIBLE` (outside → an error with the likely unit mistake)."""
POSITIVE: Final = {
    "capacity_ah": "a unit without capacity adds nothing to a pack; give the measured capacity "
    "or remove the row",
    "dcir_ohm": "a parallel block's resistance is 1 / Σ 1/R; give the measured DCIR or remove "
    "the row",
}
"""Columns that must be above 0 to regroup, and why: 0 is inside their plausible range (a dead
cell can measure 0 A·h at intake or grading) but not a value a pack can be built from
(``capacity_upper_ah`` is then above 0 too: the interval must contain ``capacity_ah``)."""
CAPACITY_HINT: Final = (
    "the measured capacity [A·h]; a grading table's 'measured_capacity_ah' is accepted as it; "
    "not 'nominal_capacity_ah', the nameplate, which would build packs from capacity the units "
    "no longer hold; or take measured units with --from-registry"
)
NO_CAPACITY: Final = "no capacity or SOH measurement: test its capacity, then regroup"
NO_DCIR: Final = "no dcir_ohm measurement: measure its DCIR (pulse test), then regroup"
"""Why a unit without a capacity (or SOH) or a DCIR is left out of an inventory."""
GRADING_CAPACITY: Final = ("measured_capacity_ah", "soh_percent", "nominal_capacity_ah")
"""A grading table's columns that give a unit's capacity (measured, else SOH × rated)."""
TEXT: Final = ("battery_id", "chemistry", "model", "grade", "level", "gate")
NEVER_PACKED: Final = {
    Status.QUARANTINED.value: "discharge it and send it to recycling",
    Status.FAILED.value: "fix what its intake failed on and run the intake again",
    Status.RECYCLED.value: "its materials were recovered: it is no longer a unit",
}
"""Registry statuses whose units are never placed in a pack, whatever the filters say, and what
to do about each."""
COLUMNS: Final = (*TEXT, "chemistry_generic", *NUMERIC)
"""Columns of a validated inventory, in order (optional ones are null when absent).
``chemistry_generic`` is the stated spelling when it names no composition (``NMC``,
``ternary``: read as the catalogue's generic record), else null."""


@dataclass(frozen=True)
class RegistryInventory:
    """Units selected from the registry, and those left out with the reason.

    Attributes
    ----------
    inventory : pl.DataFrame
        Validated inventory (:data:`COLUMNS`).
    skipped : pl.DataFrame
        ``battery_id``, ``reason`` for selected units that cannot be regrouped (no capacity or
        resistance measurement).
    """

    inventory: pl.DataFrame
    skipped: pl.DataFrame


def read_inventory(path: Path | str) -> pl.DataFrame:
    """Read and validate an inventory file (``.csv`` or ``.parquet``).

    Returns
    -------
    pl.DataFrame
        One row per unit with :data:`COLUMNS` (chemistry in its canonical spelling, grade
        upper-case, the capacity interval filled from the SOH interval when given that way).

    Raises
    ------
    SchemaError
        Naming the file and every bad row and column at once.
    """
    file = Path(path)
    frame = read_table(file, what="inventory", numeric=tuple(NUMERIC))
    return validate_inventory(frame, source=file)


def _flag(
    problems: list[Problem], mask: pl.Series, column: str, message: str | Callable[[int], str]
) -> None:
    """Add a problem (1-based row) for every row where ``mask`` is true."""
    for idx in mask.fill_null(False).arg_true().to_list():
        text = message if isinstance(message, str) else message(idx)
        problems.append(Problem(text, row=idx + 1, column=column))


def _text(frame: pl.DataFrame, column: str) -> pl.Series:
    if column not in frame.columns:
        return pl.Series(column, [None] * frame.height, dtype=pl.String)
    series = frame.get_column(column).cast(pl.String).str.strip_chars()
    return series.set(series == "", None)


def _numeric(
    frame: pl.DataFrame, column: str, levels: pl.Series, problems: list[Problem]
) -> pl.Series:
    if column not in frame.columns:
        return pl.Series(column, [None] * frame.height, dtype=pl.Float64)
    values, found = parse_numbers(frame.get_column(column))
    problems += found
    problems += implausible_cells(values, NUMERIC[column], levels)
    if column in POSITIVE:
        _flag(problems, values == 0.0, column, f"0 cannot be regrouped: {POSITIVE[column]}")
    return values.fill_nan(None)


def _chemistries(series: pl.Series, problems: list[Problem]) -> pl.Series:
    mapping: dict[str, str | None] = {}
    for spelling in series.drop_nulls().unique().to_list():
        try:
            mapping[spelling] = resolve_chemistry(spelling).value
        except ValueError as exc:
            mapping[spelling] = None
            _flag(problems, series == spelling, "chemistry", str(exc))
    return series.replace_strict(mapping, default=None, return_dtype=pl.String)


def _generic(series: pl.Series) -> pl.Series:
    """The stated spelling where it names no composition (``ternary``), else null."""
    generic = {
        text: text for text in series.drop_nulls().unique().to_list() if generic_chemistry(text)
    }
    return series.replace_strict(generic, default=None, return_dtype=pl.String)


def _one_of(
    series: pl.Series, problems: list[Problem], column: str, allowed: list[str]
) -> pl.Series:
    """``series`` in the case of ``allowed`` (grades upper, levels lower); another word is a
    problem naming the row, with a suggestion."""
    normal = series.str.to_uppercase() if allowed[0].isupper() else series.str.to_lowercase()
    bad = normal.is_not_null() & ~normal.is_in(allowed)
    _flag(
        problems,
        bad,
        column,
        lambda i: (
            f"unknown {column} {series[i]!r}{suggest(str(series[i]), allowed)}; "
            f"allowed: {', '.join(allowed)} or empty"
        ),
    )
    return normal


def validate_inventory(frame: pl.DataFrame, *, source: Path | str = "<inventory>") -> pl.DataFrame:
    """Validate an inventory frame and bring it to the canonical columns and types.

    Parameters
    ----------
    frame : pl.DataFrame
        One row per unit (see the module docstring for the columns).
    source : path-like or str
        Named in error messages.

    Returns
    -------
    pl.DataFrame
        :data:`COLUMNS`, in that order.

    Raises
    ------
    SchemaError
        Listing every problem (row numbers are 1-based data rows, header excluded).
    """
    frame = _from_grading_table(frame)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        hints = "; ".join(
            f"{c!r} ({CAPACITY_HINT})"
            if c == "capacity_ah"
            else f"{c!r}{suggest(c, frame.columns)}"
            for c in missing
        )
        raise SchemaError(
            source,
            [Problem(f"required column missing: {hints}; required: {', '.join(REQUIRED)}")],
        )
    problems: list[Problem] = []
    ids = _text(frame, "battery_id")
    _flag(problems, ids.is_null(), "battery_id", "empty battery_id")
    _flag(
        problems,
        ids.is_duplicated() & ids.is_not_null(),
        "battery_id",
        lambda i: f"battery_id {ids[i]!r} appears more than once; one row per unit",
    )
    chem_text = _text(frame, "chemistry")
    _flag(problems, chem_text.is_null(), "chemistry", "empty chemistry")
    # a typo in level would silently lose the level's tighter plausible ranges
    levels = _one_of(_text(frame, "level"), problems, "level", [v.value for v in Level])
    columns: dict[str, pl.Series] = {
        "battery_id": ids,
        "chemistry": _chemistries(chem_text, problems),
        "chemistry_generic": _generic(chem_text),
        "model": _text(frame, "model"),
        "grade": _one_of(_text(frame, "grade"), problems, "grade", [g.value for g in Grade]),
        "level": levels,
        "gate": _one_of(_text(frame, "gate"), problems, "gate", [g.value for g in Gate]),
    }
    for column in NUMERIC:
        columns[column] = _numeric(frame, column, levels, problems)
    for column in ("capacity_ah", "dcir_ohm"):
        empty = columns[column].is_null() & frame.get_column(column).is_null()
        _flag(problems, empty, column, "empty value (required)")
    out = pl.DataFrame([columns[c].alias(c) for c in COLUMNS])
    out = _fill_interval(out)
    lower, cap, upper = (
        out.get_column(c) for c in ("capacity_lower_ah", "capacity_ah", "capacity_upper_ah")
    )
    _flag(
        problems,
        (lower > cap) | (upper < cap),
        "capacity_lower_ah",
        lambda i: (
            f"capacity interval [{lower[i]}, {upper[i]}] A·h does not contain capacity_ah {cap[i]}"
        ),
    )
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column or ""))
        raise SchemaError(source, problems)
    return out


def _from_grading_table(frame: pl.DataFrame) -> pl.DataFrame:
    """A grading table's capacity as ``capacity_ah``: ``measured_capacity_ah``, else (a unit whose
    SOH was estimated, e.g. from pulses) ``soh_percent`` × ``nominal_capacity_ah`` / 100, the
    point estimate ``--from-registry`` takes too (its interval follows from the SOH interval).
    A table that has ``capacity_ah`` is left as it is."""
    if "capacity_ah" in frame.columns or "measured_capacity_ah" not in frame.columns:
        return frame
    if not set(GRADING_CAPACITY[1:]) <= set(frame.columns):
        return frame.rename({"measured_capacity_ah": "capacity_ah"})
    soh, rated = (pl.col(c).cast(pl.Float64, strict=False) for c in GRADING_CAPACITY[1:])
    # as text, so that a word in measured_capacity_ah is still named by the validation
    capacity = pl.coalesce(
        pl.col(GRADING_CAPACITY[0]).cast(pl.String), (soh * rated / 100.0).cast(pl.String)
    )
    return frame.with_columns(capacity.alias("capacity_ah")).drop(GRADING_CAPACITY[0])


def load_inventory(path: Path | str) -> RegistryInventory:
    """Read an inventory file as :func:`read_inventory` does, leaving out (with the reason) the
    rows without a capacity or a DCIR instead of refusing the file — a grading export
    (``echelon batteries --format grading``) lists units not yet measured that way.

    Returns
    -------
    RegistryInventory
        The validated inventory of the other rows, and ``battery_id``, ``reason`` of the rows
        left out.

    Raises
    ------
    SchemaError
        As :func:`read_inventory`, for every other problem (and for a row without a battery_id).
    """
    file = Path(path)
    numeric = tuple(dict.fromkeys((*NUMERIC, *GRADING_CAPACITY)))
    frame = _from_grading_table(read_table(file, what="inventory", numeric=numeric))
    if "battery_id" not in frame.columns:  # refused, naming the column
        return RegistryInventory(validate_inventory(frame, source=file), _no_skipped())
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    for column, why in (("dcir_ohm", NO_DCIR), ("capacity_ah", NO_CAPACITY)):
        if column in frame.columns:  # a column missing altogether is refused by the validation
            reason = pl.when(pl.col(column).is_null()).then(pl.lit(why)).otherwise(reason)
    # a row without an id is refused by the validation
    reason = pl.when(pl.col("battery_id").is_not_null()).then(reason)
    marked = frame.with_columns(reason.alias("__reason"))
    skipped = marked.filter(pl.col("__reason").is_not_null()).select(
        pl.col("battery_id").cast(pl.String), pl.col("__reason").alias("reason")
    )
    kept = marked.filter(pl.col("__reason").is_null()).drop("__reason")
    return RegistryInventory(validate_inventory(kept, source=file), skipped)


def _fill_interval(frame: pl.DataFrame) -> pl.DataFrame:
    """Capacity interval from the SOH interval where only that is given (same relative width;
    not from an SOH of 0, which has no relative width: the interval then stays empty)."""
    scale = pl.when(pl.col("soh_percent") > 0).then(pl.col("capacity_ah") / pl.col("soh_percent"))
    return frame.with_columns(
        pl.coalesce(pl.col("capacity_lower_ah"), pl.col("soh_lower_percent") * scale).alias(
            "capacity_lower_ah"
        ),
        pl.coalesce(pl.col("capacity_upper_ah"), pl.col("soh_upper_percent") * scale).alias(
            "capacity_upper_ah"
        ),
    )


def inventory_from_registry(
    registry: Registry,
    *,
    status: str = Status.ROUTED.value,
    chemistry: str | None = None,
    model: str | None = None,
    route: str | None = None,
    grades: tuple[str, ...] | None = None,
    level: str | None = None,
) -> RegistryInventory:
    """Select units from the registry as an inventory (default: every unit routed to a
    second-life application).

    Units routed to ``recycle`` or ``retest`` (:data:`echelon.domain.NON_REUSE_ROUTES`) are
    never selected unless ``route`` names that route explicitly.

    Capacity is the latest measured ``capacity_ah`` (else SOH × nominal capacity), resistance the
    latest ``dcir_ohm``; the SOH interval gives the capacity interval; grade and model come from
    the registry.

    Parameters
    ----------
    registry : Registry
    status : str
        Derived status to select (``routed`` by default: graded, gate passed, route chosen).
    route : str, optional
        Route to select (checked as the other filters are). Without it, every route but
        ``recycle`` and ``retest``.
    chemistry, level : str, optional
        Further filters, checked and matched as :func:`echelon.registry.select_units` does (the
        filters of ``echelon batteries``): any case; a chemistry family selects all of it.
    model : str, optional
        Model, matched exactly, ignoring case.
    grades : tuple of str, optional
        Latest grades to select.

    Returns
    -------
    RegistryInventory

    Raises
    ------
    UsageError
        For a filter value not offered (``--route stationary_storage``, ``--status routd``),
        naming the closest value and every allowed one — before the registry's units are used.
    """
    if not status:
        raise UsageError("status: give the status to select (routed: a second-life route chosen)")
    frame = units_frame(registry)
    chosen = select_units(
        frame, status=status, grades=grades, chemistry=chemistry, level=level, route=route
    )
    empty_skipped = _no_skipped()
    if frame.height == 0:
        return RegistryInventory(validate_inventory(_empty_inventory()), empty_skipped)
    if model is not None:
        chosen = chosen.filter(pl.col("model").str.to_lowercase() == model.strip().lower())
    if not route:
        # A unit routed to recycling or to a re-test has no second life to be packed for; only a
        # route named explicitly (``--route retest``) takes such units.
        chosen = chosen.filter(
            pl.col("route").is_null() | ~pl.col("route").is_in(list(NON_REUSE_ROUTES))
        )
    if "gate" not in chosen.columns:
        chosen = chosen.with_columns(pl.lit(None, dtype=pl.String).alias("gate"))
    capacity = pl.coalesce(
        pl.col("capacity_ah"), pl.col("soh_percent") * pl.col("nominal_capacity_ah") / 100.0
    )
    chosen = chosen.with_columns(capacity.alias("capacity_ah")).with_columns(
        pl.when(pl.col("chemistry") == Chemistry.UNKNOWN.value)
        .then(pl.lit(UNKNOWN_CHEMISTRY))
        .when(pl.col("gate") == Gate.QUARANTINE.value)
        .then(pl.lit(QUARANTINED))
        .when(pl.col("status").is_in(list(NEVER_PACKED)))
        .then(
            pl.format(
                "status {}: never placed in a pack; {}",
                pl.col("status"),
                pl.col("status").replace_strict(NEVER_PACKED, default=None),
            )
        )
        .when(pl.col("level") == "pack")
        .then(pl.lit("a pack cannot be a unit of a new pack: regroup its modules instead"))
        .when(pl.col("capacity_ah").is_null())
        .then(pl.lit(NO_CAPACITY))
        .when(pl.col("dcir_ohm").is_null())
        .then(pl.lit(NO_DCIR))
        .alias("reason")
    )
    chosen = chosen.with_columns(pl.coalesce("reason", _unusable_values(chosen)))
    skipped = chosen.filter(pl.col("reason").is_not_null()).select("battery_id", "reason")
    usable = chosen.filter(pl.col("reason").is_null()).select(
        "battery_id",
        "chemistry",
        "model",
        "grade",
        "level",
        "gate",
        "capacity_ah",
        "dcir_ohm",
        "self_discharge_mv_per_day",
        "soh_percent",
        pl.col("soh_lower_percent"),
        pl.col("soh_upper_percent"),
        "ocv_v",
        "nominal_voltage_v",
    )
    return RegistryInventory(validate_inventory(usable, source=registry.url), skipped)


def _unusable_values(frame: pl.DataFrame) -> pl.Series:
    """Per registered unit, why its recorded numbers cannot go into an inventory (``None`` if
    they can): outside their plausible range, or a capacity or resistance of 0 (a dead unit).
    Such a unit is skipped with the reason instead of refusing the whole selection."""
    reasons: list[str | None] = [None] * frame.height
    levels = frame.get_column("level").cast(pl.String)
    for column, rng in NUMERIC.items():
        if column not in frame.columns:
            continue
        values = frame.get_column(column).cast(pl.Float64)
        for i in outside_rows(values, rng, levels):
            reasons[i] = reasons[i] or f"{column}: {rng.implausible(values[i], level=levels[i])}"
    for column, why in POSITIVE.items():
        values = frame.get_column(column).cast(pl.Float64)
        for i in (values <= 0).fill_null(False).arg_true().to_list():
            reasons[i] = reasons[i] or f"{column} = {values[i]:g}: {why.split(';')[0]}"
    return pl.Series("reason", reasons, pl.String)


def _no_skipped() -> pl.DataFrame:
    return pl.DataFrame(schema={"battery_id": pl.String, "reason": pl.String})


def _empty_inventory() -> pl.DataFrame:
    return pl.DataFrame(schema=dict.fromkeys(REQUIRED, pl.String))
