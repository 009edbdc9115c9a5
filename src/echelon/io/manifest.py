"""Intake manifests: one row per unit, validated as a whole before anything is imported.

A manifest is CSV, Parquet or JSON (a list of objects, or ``{"units": [...]}``). Column contract
(documented in ``docs/manifest.md``):

required
    ``battery_id``, ``chemistry``, ``level``, ``nominal_capacity_ah``
identity and nameplate (optional)
    ``parent_id``, ``manufacturer``, ``model``, ``format``, ``nominal_voltage_v``,
    ``nominal_energy_wh``, ``series_count``, ``parallel_count``, ``origin_application``, ``region``,
    ``country``, ``manufacture_date``, ``calendar_expiry_date``, ``has_traceability``,
    ``visual_flags``
measurements taken outside the tester files (optional; same names as the grading table)
    ``ocv_v``, ``dcir_ohm``, ``measured_capacity_ah``, ``self_discharge_mv_per_day``,
    ``insulation_mohm``
test files (optional)
    ``test_files``: semicolon-separated paths relative to the manifest, each optionally prefixed
    by its kind (``capacity:cap/B1.csv;pulse:pulse/B1.csv``)
custom columns
    any column starting with ``x_`` is kept as an attribute of the unit.

Validation collects every problem (row, column, message) and raises one :class:`ManifestError`;
nothing is imported from an invalid manifest.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from echelon.domain import Battery, Chemistry, Level, TestKind
from echelon.domain.battery import (
    BATTERY_ID_MAX_LENGTH,
    BATTERY_ID_PATTERN,
    parent_level_message,
)
from echelon.domain.parse import parse_choice, parse_level, suggest
from echelon.domain.plausible import implausible
from echelon.errors import EchelonError, ManifestError, Problem, not_a_number
from echelon.io.base import detect_reader, sha256_file
from echelon.io.table import read_table

REQUIRED: Final = ("battery_id", "chemistry", "level", "nominal_capacity_ah")
BATTERY_FIELDS: Final = tuple(Battery.model_fields)
NUMERIC_FIELDS: Final = tuple(
    name
    for name, info in Battery.model_fields.items()
    if info.annotation in (float, int, float | None, int | None)
)
"""Nameplate fields read as numbers (decimal commas and missing-value words resolved)."""
MEASUREMENT_COLUMNS: Final = (
    "ocv_v",
    "dcir_ohm",
    "measured_capacity_ah",
    "self_discharge_mv_per_day",
    "insulation_mohm",
)
"""Measurement columns; their plausible ranges are :data:`echelon.domain.plausible.PLAUSIBLE`
(outside → an error naming the likely unit mistake), as are the nameplate's."""
NAMEPLATE_CHECKED: Final = ("nominal_capacity_ah", "nominal_voltage_v")
"""Nameplate fields checked against the same plausible ranges once the row is parsed."""
TEST_FILES: Final = "test_files"
EMPTY_REQUIRED: Final = {
    "battery_id": f"give the unit's id (1–{BATTERY_ID_MAX_LENGTH} characters: letters, digits and "
    ". _ : / # + -, unique in the file)",
    "chemistry": "give the chemistry from the label or datasheet ("
    f"{', '.join(c.value for c in Chemistry if c is not Chemistry.UNKNOWN)}; "
    "'unknown' if it cannot be identified)",
    "level": "give the level (cell, module or pack)",
    "nominal_capacity_ah": "give the rated capacity of the whole unit in A·h (from the label or "
    "datasheet)",
}
"""What to write in a required column left empty (or a JSON row without the key)."""
KNOWN_COLUMNS: Final = frozenset({*BATTERY_FIELDS, *MEASUREMENT_COLUMNS, TEST_FILES})
RegisteredLookup = Callable[[Collection[str]], Mapping[str, str]]
"""``lookup(battery_ids) -> {battery_id: level}`` for the ids already registered (e.g.
:meth:`echelon.registry.Registry.existing_batteries`)."""
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


@dataclass(frozen=True)
class TestFileRef:
    """A tester file named in a manifest.

    Attributes
    ----------
    path : Path
        Absolute path (resolved against the manifest's folder).
    kind : TestKind or None
        Declared kind, or ``None`` to let diagnostics classify the file.
    """

    __test__ = False  # not a pytest test class

    path: Path
    kind: TestKind | None = None


@dataclass(frozen=True)
class ManifestUnit:
    """One validated manifest row."""

    row: int
    battery: Battery
    test_files: tuple[TestFileRef, ...] = ()
    measurements: dict[str, float] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """A validated manifest: its file, content hash and units in file order."""

    path: Path
    sha256: str
    units: tuple[ManifestUnit, ...]

    def __len__(self) -> int:
        return len(self.units)


def _load_rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix != ".json":
        numeric = (*NUMERIC_FIELDS, *MEASUREMENT_COLUMNS)
        return read_table(path, what="manifest", numeric=numeric, error=ManifestError).to_dicts()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ManifestError(path, [f"cannot parse the manifest: {exc}"]) from exc
    rows = doc.get("units") if isinstance(doc, dict) else doc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ManifestError(path, ['JSON manifest must be a list of objects or {"units": [...]}'])
    return rows


def tester_reader(path: Path) -> str | None:
    """The name of the tester reader that recognises ``path`` (None: none does, or it is not a
    file) — for a refusal of a tester export given where a table of units was expected."""
    if not path.is_file():
        return None
    try:
        return detect_reader(path).name
    except EchelonError:
        return None


def tester_file_problem(path: Path) -> str | None:
    """What to say when a tester reader recognises ``path``, given where a manifest was expected
    (None: no reader recognises it, or it is not a file).

    A tester export is no table of units: read as one, it fails on its own header (numbers named
    twice, a workbook) with a message that does not say what is wrong.
    """
    reader = tester_reader(path)
    if reader is None:
        return None
    return (
        f"looks like a tester file ({reader}), not a manifest: a manifest lists one unit "
        f"per row with the columns {', '.join(REQUIRED)} (and has_traceability, ocv_v, …) and "
        "names each unit's tester files in its test_files column, e.g. "
        f"`tests/{path.name}` or, with its kind, `capacity:tests/{path.name}` "
        "(docs/manifest.md); to look at the tester file itself: "
        f"`echelon summarize {path}`"
    )


def _manifest_rows(path: Path) -> list[dict[str, Any]]:
    """:func:`_load_rows`, or a refusal saying the file is a tester file when it is one."""
    try:
        rows = _load_rows(path)
    except ManifestError as exc:
        tester = tester_file_problem(path)
        if tester is not None:
            raise ManifestError(path, [tester]) from exc
        raise
    if rows and not set(REQUIRED) & set(rows[0]):
        tester = tester_file_problem(path)
        if tester is not None:
            raise ManifestError(path, [tester])
    return rows


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a yes/no value: {value!r} (use true/false)")


def _parsed_level(value: Any) -> Level | None:
    """The level of a raw cell (``None`` if blank or unreadable: the row's level problem is
    reported by the battery's validation)."""
    if _blank(value):
        return None
    try:
        return parse_level(str(value))
    except ValueError:
        return None


def _level_or_none(value: Any) -> str | None:
    """The level name of a raw row for the plausible ranges (``None`` if blank or unreadable)."""
    level = _parsed_level(value)
    return None if level is None else level.value


def _parse_test_files(text: str, base: Path) -> tuple[TestFileRef, ...]:
    refs = []
    for entry in text.split(";"):
        entry = entry.strip()
        if not entry:
            continue
        kind: TestKind | None = None
        head, sep, tail = entry.partition(":")
        if sep and head and "/" not in head and "\\" not in head and len(head) > 1:
            kind = parse_choice(TestKind, head)
            entry = tail.strip()
        path = Path(entry)
        refs.append(TestFileRef(path if path.is_absolute() else (base / path).resolve(), kind))
    return tuple(refs)


def _row_problems(exc: ValidationError, row: int) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = err.get("loc") or ()
        column = str(loc[0]) if loc else None
        if err.get("type") == "missing" and column is not None:
            hint = EMPTY_REQUIRED.get(column, "give a value")
            problems.append(Problem(f"is empty: {hint}", row=row, column=column))
            continue
        message = err.get("msg", "invalid value").removeprefix("Value error, ")
        if column is None and message.split(" ", 1)[0] in BATTERY_FIELDS:
            column = message.split(" ", 1)[0]  # a check across columns names its column first
        elif "input" in err and column is not None and repr(err["input"]) not in message:
            message = f"{message} (got {err['input']!r})"
        problems.append(Problem(message, row=row, column=column))
    return problems


def _check_columns(columns: list[str]) -> list[Problem]:
    problems = [Problem("required column missing", column=c) for c in REQUIRED if c not in columns]
    for column in columns:
        if column not in KNOWN_COLUMNS and not column.startswith("x_"):
            problems.append(
                Problem(
                    f"unknown column{suggest(column, sorted(KNOWN_COLUMNS))}; prefix custom "
                    "columns with 'x_' to keep them as attributes",
                    column=column,
                )
            )
    return problems


def _parse_row(
    raw: dict[str, Any], row: int, base: Path
) -> tuple[ManifestUnit | None, list[Problem]]:
    problems: list[Problem] = []
    fields: dict[str, Any] = {}
    for name in BATTERY_FIELDS:
        value = raw.get(name)
        if _blank(value):
            continue
        if name == "has_traceability":
            try:
                value = _parse_bool(value)
            except ValueError as exc:
                problems.append(Problem(str(exc), row=row, column=name))
                continue
        fields[name] = value.strip() if isinstance(value, str) else value
    level = _level_or_none(raw.get("level"))
    measurements: dict[str, float] = {}
    for name in MEASUREMENT_COLUMNS:
        value = raw.get(name)
        if _blank(value):
            continue
        try:
            number = float(str(value))
        except (TypeError, ValueError):
            problems.append(Problem(not_a_number(value), row=row, column=name))
            continue
        why = implausible(name, number, level=level)
        if why is not None:
            problems.append(Problem(why, row=row, column=name))
            continue
        measurements[name] = number
    tests: tuple[TestFileRef, ...] = ()
    if not _blank(raw.get(TEST_FILES)):
        try:
            tests = _parse_test_files(str(raw[TEST_FILES]), base)
        except ValueError as exc:
            problems.append(Problem(str(exc), row=row, column=TEST_FILES))
    try:
        battery = Battery(**fields)
    except ValidationError as exc:
        problems.extend(_row_problems(exc, row))
        return None, problems
    for name in NAMEPLATE_CHECKED:
        number = getattr(battery, name)
        why = None if number is None else implausible(name, number, level=battery.level.value)
        if why is not None:
            problems.append(Problem(why, row=row, column=name))
    attributes = {k: v for k, v in raw.items() if k.startswith("x_") and not _blank(v)}
    unit = ManifestUnit(row, battery, tests, measurements, attributes)
    return (None if problems else unit), problems


def _duplicate_problems(rows: list[dict[str, Any]]) -> list[Problem]:
    ids = [str(r.get("battery_id") or "").strip() for r in rows]
    counts = Counter(ids)
    seen: set[str] = set()
    problems = []
    for row, bid in enumerate(ids, start=1):
        if bid and counts[bid] > 1 and bid in seen:
            problems.append(Problem(f"duplicate battery_id {bid!r}", row=row, column="battery_id"))
        seen.add(bid)
    return problems


@dataclass(frozen=True)
class GenealogyNode:
    """What the genealogy checks need of a row: id, parent and level (``None`` if unreadable)."""

    row: int
    battery_id: str
    parent_id: str | None
    level: Level | None


def _raw_nodes(rows: list[dict[str, Any]]) -> list[GenealogyNode]:
    """Nodes of the rows with an id, whether or not the rest of the row is valid (a parent id
    that is not a valid id is left out: the row's validation reports it)."""
    nodes = []
    for row, raw in enumerate(rows, start=1):
        bid, parent = (str(raw.get(k) or "").strip() for k in ("battery_id", "parent_id"))
        if not bid:
            continue
        valid_parent = parent if re.fullmatch(BATTERY_ID_PATTERN, parent) else None
        nodes.append(GenealogyNode(row, bid, valid_parent, _parsed_level(raw.get("level"))))
    return nodes


def unit_nodes(units: Iterable[ManifestUnit]) -> list[GenealogyNode]:
    """Nodes of validated manifest units."""
    return [
        GenealogyNode(u.row, u.battery.battery_id, u.battery.parent_id, u.battery.level)
        for u in units
    ]


def _cycles(first: Mapping[str, GenealogyNode]) -> dict[str, str]:
    """``{battery_id: "A → B → A"}`` for the ids on a parent cycle of two or more units."""
    found: dict[str, str] = {}
    done: set[str] = set()
    for start in first:
        path: list[str] = []
        index: dict[str, int] = {}
        node: str | None = start
        while node is not None and node in first and node not in done and node not in index:
            index[node] = len(path)
            path.append(node)
            node = first[node].parent_id
        if node is not None and node in index and len(path) - index[node] > 1:
            loop = path[index[node] :]
            for i, bid in enumerate(loop):
                found[bid] = " → ".join([*loop[i:], *loop[:i], bid])
        done.update(path)
    return found


def _registered_levels(
    wanted: set[str], registered: RegisteredLookup | None
) -> dict[str, Level | None] | None:
    if registered is None:
        return None
    found = registered(wanted) if wanted else {}
    return {bid: _parsed_level(level) for bid, level in found.items()}


def genealogy_problems(
    nodes: list[GenealogyNode], registered: RegisteredLookup | None = None
) -> list[Problem]:
    """Parent problems: unknown parents, parent cycles and parents that are not larger assemblies.

    Parameters
    ----------
    nodes : list of GenealogyNode
        The manifest's rows (a row whose other fields are invalid is still checked as far as its
        id, parent and level allow).
    registered : callable, optional
        Registry lookup for parents outside the manifest; without it they are not checked.

    Returns
    -------
    list of Problem
        On column ``parent_id`` of the child's row. A unit naming itself is left to the row's
        validation.
    """
    first: dict[str, GenealogyNode] = {}
    for node in nodes:
        first.setdefault(node.battery_id, node)
    cycles = _cycles(first)
    outside = {n.parent_id for n in nodes if n.parent_id and n.parent_id not in first}
    known = _registered_levels(outside, registered)
    problems: list[Problem] = []
    for node in nodes:
        parent = node.parent_id
        if parent is None or parent == node.battery_id:
            continue
        if node.battery_id in cycles:
            message = _cycle_message(node, first[parent].level, cycles[node.battery_id])
        elif parent in first:
            message = _level_message(node, first[parent].level)
        elif known is None:
            message = None
        elif parent in known:
            message = _level_message(node, known[parent])
        else:
            message = (
                f"parent {parent!r} is neither in this manifest nor registered; "
                "add its row (level pack/module) or fix the id"
            )
        if message:
            problems.append(Problem(message, row=node.row, column="parent_id"))
    return problems


def _level_message(node: GenealogyNode, parent_level: Level | None) -> str | None:
    if node.level is None or parent_level is None:
        return None  # (an unreadable level is reported by the row's validation)
    return parent_level_message(node.battery_id, node.level, parent_level)


def _cycle_message(node: GenealogyNode, parent_level: Level | None, cycle: str) -> str | None:
    """On a cycle's rows whose parent is not a larger assembly, or whose levels are unreadable
    (a cycle has at least one such row); the cycle's other rows are right as they are."""
    if node.level is None or parent_level is None:
        return f"{cycle} is a cycle: a unit cannot contain itself; fix the parent_id of one of them"
    message = parent_level_message(node.battery_id, node.level, parent_level)
    return None if message is None else f"{message} ({cycle} is a cycle)"


def read_manifest(path: Path | str, *, registered: RegisteredLookup | None = None) -> Manifest:
    """Read and validate an intake manifest.

    Parameters
    ----------
    path : path-like
        ``.csv``, ``.parquet`` or ``.json`` file.
    registered : callable, optional
        ``registered(battery_ids) -> {battery_id: level}`` for the ids already registered
        (:meth:`echelon.registry.Registry.existing_batteries`): parents outside the manifest are
        then checked with the rows (unknown, or not a larger assembly); without it they are not.

    Returns
    -------
    Manifest

    Raises
    ------
    ManifestError
        Listing every problem found (missing or unknown columns with suggestions, unknown
        chemistry with the closest name, negative capacity, duplicate ids, bad dates, parent
        levels, parent cycles, unknown parents, …): genealogy problems come with the row
        problems. Nothing should be imported from a manifest that fails.
    """
    path = Path(path)
    if path.suffix.lower() == ".json" and not path.is_file():
        raise ManifestError(path, ["manifest file not found"])
    rows = _manifest_rows(path)
    if not rows:
        raise ManifestError(path, ["the manifest has no rows"])
    columns = list(dict.fromkeys(k for r in rows for k in r))
    problems = _check_columns(columns)
    if any(p.message == "required column missing" for p in problems):
        raise ManifestError(path, problems)
    units: list[ManifestUnit] = []
    base = path.parent.resolve()
    for index, raw in enumerate(rows, start=1):
        unit, row_problems = _parse_row(raw, index, base)
        problems.extend(row_problems)
        if unit is not None:
            units.append(unit)
    problems.extend(_duplicate_problems(rows))
    problems.extend(genealogy_problems(_raw_nodes(rows), registered))
    problems.sort(key=lambda p: (p.row or 0, p.column or ""))
    if problems:
        raise ManifestError(path, problems)
    return Manifest(path=path, sha256=sha256_file(path), units=tuple(units))
