"""The units of a recycling lot: the TABLE contract, its validation and mass estimation.

A lot table has one row per unit (CSV, Parquet or JSON):

required
    ``battery_id``, ``chemistry``, ``level`` (``cell``, ``module``, ``pack`` or ``black_mass``)
mass
    ``mass_kg``; when empty it is estimated as nominal energy × the composition's kg/kWh, the energy
    being ``nominal_energy_wh`` or ``nominal_capacity_ah`` × ``nominal_voltage_v``
optional
    ``residual_voltage_v`` (terminal voltage after discharge, checked when the lot is recorded),
    ``series_count`` (cells in series, for that check); other columns are kept but not used.

A chemistry Echelon does not know (or ``unknown``) is booked with the conservative ``unknown``
composition and a warning — never silently as zero. Negative or zero masses, masses that cannot be
estimated and duplicate ids are errors naming the row and column.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Final

import polars as pl

from echelon.catalog import generic_chemistry, resolve_chemistry
from echelon.domain.parse import normalise_token, suggest
from echelon.domain.plausible import PLAUSIBLE, implausible_cells
from echelon.errors import EchelonWarning, Problem, SchemaError, parse_numbers
from echelon.io.table import read_table
from echelon.recycling.catalog import LEVELS
from echelon.recycling.composition import unit_composition

REQUIRED: Final = ("battery_id", "chemistry", "level")
NUMERIC: Final = (
    "mass_kg",
    "nominal_capacity_ah",
    "nominal_voltage_v",
    "nominal_energy_wh",
    "residual_voltage_v",
    "series_count",
)
LEVEL_ALIASES: Final = {
    **{normalise_token(v): v for v in LEVELS},
    "blackmass": "black_mass",
    "bm": "black_mass",
}
UNITS_SCHEMA: Final = {
    "battery_id": pl.String,
    "chemistry": pl.String,
    "chemistry_used": pl.String,
    "level": pl.String,
    "mass_kg": pl.Float64,
    "mass_estimated": pl.Boolean,
    "energy_kwh": pl.Float64,
    "composition_estimate": pl.Boolean,
    "residual_voltage_v": pl.Float64,
    "series_count": pl.Int64,
}
"""Columns of a prepared units frame (:func:`prepare_units`)."""


def read_units_table(path: Path | str) -> pl.DataFrame:
    """Read a lot table (``.csv``, ``.tsv``, ``.parquet``, ``.json``) as strings and numbers.

    Raises
    ------
    SchemaError
        If the file cannot be parsed.
    """
    path = Path(path)
    if path.suffix.lower() != ".json":
        return read_table(path, what="lot table", numeric=NUMERIC)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise SchemaError(path, [f"cannot parse the lot table: {exc}"]) from exc
    rows = doc.get("units") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        raise SchemaError(path, ['JSON lot must be a list of objects or {"units": [...]}'])
    try:
        return pl.DataFrame(rows, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise SchemaError(path, [f"cannot parse the lot table: {exc}"]) from exc


def _resolve_chemistries(
    values: list[str | None], catalog_dir: Path | None = None
) -> dict[str | None, tuple[str, str | None]]:
    """``{spelling: (catalogue key, warning or None)}`` for the distinct spellings.

    A family named without its composition (``NMC``, ``ternary``) resolves to the catalogue's
    generic record of that family (``NMC622``, an assumption): its warning says so.
    """
    out: dict[str | None, tuple[str, str | None]] = {}
    for text in values:
        if text is None or not str(text).strip():
            out[text] = ("unknown", "no chemistry given")
            continue
        try:
            key = resolve_chemistry(str(text), catalog_dir=catalog_dir).value
        except ValueError:
            out[text] = ("unknown", f"chemistry {text!r} is not known")
            continue
        if key == "unknown":
            out[text] = (key, "chemistry 'unknown'")
        elif generic_chemistry(str(text), catalog_dir=catalog_dir) is not None:
            out[text] = (key, f"chemistry {text!r} names no composition")
        else:
            out[text] = (key, None)
    return out


def _numeric(frame: pl.DataFrame, column: str, problems: list[Problem]) -> pl.Series:
    if column not in frame.columns:
        return pl.Series(column, [None] * frame.height, dtype=pl.Float64)
    values, found = parse_numbers(frame.get_column(column))
    problems += found
    return values


def prepare_units(
    table: pl.DataFrame, *, source: Path | str = "<table>", catalog_dir: Path | None = None
) -> tuple[pl.DataFrame, list[str]]:
    """Validate a lot table and resolve chemistry, level, mass and energy of every unit.

    Parameters
    ----------
    table : pl.DataFrame
        One row per unit (the TABLE contract in the module docstring).
    source : path-like or str
        Named in error messages.
    catalog_dir : Path, optional

    Returns
    -------
    (pl.DataFrame, list of str)
        The units (columns :data:`UNITS_SCHEMA`) and the warnings (unknown chemistries booked as
        ``unknown``, flagged-estimate compositions).

    Raises
    ------
    SchemaError
        Listing every bad row and column: missing columns, empty or duplicate ids, unknown levels,
        negative, zero or non-numeric masses, masses that cannot be estimated.
    """
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise SchemaError(
            source,
            [
                Problem(
                    f"missing column(s) {', '.join(missing)}; a lot table needs "
                    f"{', '.join(REQUIRED)} and mass_kg or the nominal capacity and voltage"
                )
            ],
        )
    if table.height == 0:
        raise SchemaError(source, ["the lot has no units"])
    problems: list[Problem] = []
    ids = table.get_column("battery_id").cast(pl.String).str.strip_chars()
    for i in (ids.is_null() | (ids == "")).arg_true().head(50).to_list():
        problems.append(Problem("empty battery_id", row=i + 1, column="battery_id"))
    for i in (ids.is_duplicated() & ids.is_not_null()).arg_true().head(50).to_list():
        problems.append(Problem(f"duplicate battery_id {ids[i]!r}", row=i + 1, column="battery_id"))
    numbers = {c: _numeric(table, c, problems) for c in NUMERIC}

    chemistry = table.get_column("chemistry").cast(pl.String)
    resolved = _resolve_chemistries(chemistry.unique().to_list(), catalog_dir)
    chem_key = chemistry.replace_strict(
        {k: v[0] for k, v in resolved.items() if k is not None}, default="unknown"
    )
    levels_raw = table.get_column("level").cast(pl.String)
    level_map = {
        v: LEVEL_ALIASES.get(normalise_token(v))
        for v in levels_raw.unique().to_list()
        if v is not None
    }
    level = levels_raw.replace_strict(level_map, default=None, return_dtype=pl.String)
    for i in level.is_null().arg_true().head(50).to_list():
        value = levels_raw[i]
        problems.append(
            Problem(
                f"unknown level {value!r}{suggest(value or '', LEVELS)}; use {', '.join(LEVELS)}",
                row=i + 1,
                column="level",
            )
        )

    mass = numbers["mass_kg"]
    for i in (mass <= 0).fill_null(False).arg_true().head(50).to_list():
        kind = "negative" if mass[i] < 0 else "zero"
        problems.append(
            Problem(
                f"{kind} mass {mass[i]} kg; a unit's mass must be > 0", row=i + 1, column="mass_kg"
            )
        )
    energy_wh = numbers["nominal_energy_wh"].fill_null(
        numbers["nominal_capacity_ah"] * numbers["nominal_voltage_v"]
    )
    for col, values in (
        ("nominal_energy_wh", energy_wh),
        ("nominal_capacity_ah", numbers["nominal_capacity_ah"]),
        ("nominal_voltage_v", numbers["nominal_voltage_v"]),
    ):
        for i in (values < 0).fill_null(False).arg_true().head(50).to_list():
            problems.append(Problem(f"negative value {values[i]}", row=i + 1, column=col))
    no_mass = mass.is_null() & (
        (energy_wh <= 0).fill_null(True) | (level == "black_mass").fill_null(False)
    )
    for i in no_mass.arg_true().head(50).to_list():
        why = (
            "black mass has no nominal energy: give mass_kg"
            if level[i] == "black_mass"
            else "mass_kg is empty and cannot be estimated: give mass_kg, or nominal_capacity_ah "
            "and nominal_voltage_v (or nominal_energy_wh)"
        )
        problems.append(Problem(why, row=i + 1, column="mass_kg"))
    for col in ("mass_kg", "nominal_capacity_ah", "nominal_voltage_v"):  # a unit mistake
        positive = numbers[col].set(numbers[col] <= 0, None)  # (reported above)
        problems += implausible_cells(positive.alias(col), PLAUSIBLE[col], level)
    for i in (numbers["residual_voltage_v"] < 0).fill_null(False).arg_true().head(50).to_list():
        problems.append(
            Problem("negative residual voltage", row=i + 1, column="residual_voltage_v")
        )
    if problems:
        raise SchemaError(source, problems)

    frame = pl.DataFrame(
        {
            "battery_id": ids,
            "chemistry": chemistry,
            "chemistry_used": chem_key,
            "level": level,
            "mass_given": mass,
            "energy_wh": energy_wh,
            "residual_voltage_v": numbers["residual_voltage_v"],
            "series_count": numbers["series_count"].cast(pl.Int64, strict=False),
        }
    )
    pairs = frame.select("chemistry_used", "level").unique()
    comps = {
        (c, lv): unit_composition(c, lv, catalog_dir=catalog_dir) for c, lv in pairs.iter_rows()
    }
    lookup = pl.DataFrame(
        [
            {
                "chemistry_used": c,
                "level": lv,
                "kg_per_kwh": comp.kg_per_kwh,
                "composition_estimate": comp.is_estimate,
            }
            for (c, lv), comp in comps.items()
        ],
        schema={
            "chemistry_used": pl.String,
            "level": pl.String,
            "kg_per_kwh": pl.Float64,
            "composition_estimate": pl.Boolean,
        },
    )
    units = frame.join(lookup, on=["chemistry_used", "level"], how="left", maintain_order="left")
    generic = [k for k, (key, why) in resolved.items() if why is not None and key != "unknown"]
    units = units.with_columns(
        pl.coalesce("mass_given", pl.col("energy_wh") / 1000.0 * pl.col("kg_per_kwh")).alias(
            "mass_kg"
        ),
        # a family's generic record is an assumption about the composition, as flagged ones are
        (pl.col("composition_estimate") | pl.col("chemistry").is_in(generic)).alias(
            "composition_estimate"
        ),
        pl.col("mass_given").is_null().alias("mass_estimated"),
        pl.coalesce(
            pl.col("energy_wh") / 1000.0, pl.col("mass_given") / pl.col("kg_per_kwh")
        ).alias("energy_kwh"),
    ).select(list(UNITS_SCHEMA))
    notes = _warnings(chemistry, chem_key, resolved, comps)
    return units, notes


def _warnings(
    chemistry: pl.Series,
    chem_key: pl.Series,
    resolved: dict[str | None, tuple[str, str | None]],
    comps: dict[tuple[str, str], Any],
) -> list[str]:
    notes = []
    for text, (key, why) in resolved.items():
        if why is None:
            continue
        rows = (
            (chemistry.is_null() if text is None else chemistry == text).fill_null(False).arg_true()
        )
        shown = ", ".join(str(i + 1) for i in rows.head(10).to_list())
        more = f" … (+{rows.len() - 10})" if rows.len() > 10 else ""
        if key != "unknown":  # a family without its composition: its generic record
            notes.append(
                f"{why}: {rows.len()} unit(s) (rows {shown}{more}) valued as {key}, the "
                "catalogue's generic composition of the family (an assumption, marked "
                "composition_estimate); give the exact chemistry (e.g. NMC811) for a real balance"
            )
            continue
        notes.append(
            f"{why}: {rows.len()} unit(s) (rows {shown}{more}) booked with the conservative "
            "'unknown' composition (no Ni/Co/Mn credit, least lithium); identify the chemistry for "
            "a real balance"
        )
    for key in sorted({k for k, _ in comps if k != "unknown"}):
        comp = next(c for (k, _), c in comps.items() if k == key)
        if comp.is_estimate:
            count = int((chem_key == key).sum())
            notes.append(
                f"{key}: {count} unit(s) use a flagged estimate composition — {comp.caveat}"
            )
    return notes


def warn_unknown(units: pl.DataFrame) -> None:
    """Emit an :class:`~echelon.errors.EchelonWarning` for units booked as ``unknown``."""
    unknown = units.filter(pl.col("chemistry_used") == "unknown")
    if unknown.height:
        spellings = sorted({str(c) for c in unknown.get_column("chemistry").to_list()})
        ids = ", ".join(unknown.get_column("battery_id").head(5).to_list())
        warnings.warn(
            f"{unknown.height} unit(s) ({ids}{' …' if unknown.height > 5 else ''}) have an unknown "
            f"chemistry ({', '.join(spellings)}) and are valued with the conservative 'unknown' "
            "composition (no Ni/Co/Mn credit, least lithium)",
            EchelonWarning,
            stacklevel=3,
        )
