"""The grading table: documented columns, types, and chemistry attributes joined in.

Columns (any may be empty): ``battery_id``, ``chemistry``, ``level``, ``model``,
``origin_application``, ``region``, ``series_count``, ``nominal_capacity_ah``,
``nominal_voltage_v``, ``soh_percent``, ``soh_lower_percent``, ``soh_out_of_domain`` (the SOH is
an estimate its model flagged out of domain), ``measured_capacity_ah``,
``dcir_ohm``, ``reference_dcir_ohm``, ``ocv_v``, ``self_discharge_mv_per_day``,
``insulation_mohm``, ``visual_flags`` (semicolon-separated), ``has_traceability``,
``manufacture_date`` (the unit's age for the router's second-life years),
``calendar_expiry_date``, ``plating_signature``, ``self_discharge_outlier_limit_mv_per_day`` (the
batch limit recorded at intake: used instead of the one computed over the table).
:func:`to_grading_table` builds it from units'
records and latest measurements (the intake's batch, or registered units).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from echelon.catalog import chemistries, generic_chemistry, resolve_chemistry
from echelon.domain import Battery, Chemistry
from echelon.domain.records import SOH_OUT_OF_DOMAIN_TAG

GRADING_SCHEMA: Final[dict[str, pl.DataType]] = {
    "battery_id": pl.String(),
    "chemistry": pl.String(),
    "level": pl.String(),
    "model": pl.String(),
    "origin_application": pl.String(),
    "region": pl.String(),
    "series_count": pl.Int64(),
    "nominal_capacity_ah": pl.Float64(),
    "nominal_voltage_v": pl.Float64(),
    "soh_percent": pl.Float64(),
    "soh_lower_percent": pl.Float64(),
    "soh_out_of_domain": pl.Boolean(),
    "measured_capacity_ah": pl.Float64(),
    "dcir_ohm": pl.Float64(),
    "reference_dcir_ohm": pl.Float64(),
    "ocv_v": pl.Float64(),
    "self_discharge_mv_per_day": pl.Float64(),
    "insulation_mohm": pl.Float64(),
    "visual_flags": pl.String(),
    "has_traceability": pl.Boolean(),
    "manufacture_date": pl.Date(),
    "calendar_expiry_date": pl.Date(),
    "plating_signature": pl.Boolean(),
    "self_discharge_outlier_limit_mv_per_day": pl.Float64(),
    "max_charge_voltage_v": pl.Float64(),
    "min_discharge_voltage_v": pl.Float64(),
}
"""Every column the grader reads, with its type; missing columns are added as empty."""
MEASURED_FROM: Final[dict[str, tuple[str, ...]]] = {
    "measured_capacity_ah": ("capacity_ah", "measured_capacity_ah"),
    "dcir_ohm": ("dcir_ohm",),
    "ocv_v": ("ocv_v", "rest_voltage_v"),
    "self_discharge_mv_per_day": ("self_discharge_mv_per_day",),
    "insulation_mohm": ("insulation_mohm",),
    "max_charge_voltage_v": ("max_charge_voltage_v",),
    "min_discharge_voltage_v": ("min_discharge_voltage_v",),
}
"""Grading columns a unit's measured quantities fill, the first one present winning: a capacity
test's capacity before the manifest's (the order the SOH is computed in), an OCV measured on
arrival before the rest voltage that opens a tester file."""


def battery_fields(battery: Battery) -> dict[str, Any]:
    """The grading-table columns a battery record provides: identity, nameplate, origin, region
    and intake inspection (the measurements come from tests)."""
    return {
        "battery_id": battery.battery_id,
        "chemistry": battery.chemistry.value,
        "level": battery.level.value,
        "model": battery.model,
        "origin_application": battery.origin_application.value,
        "region": battery.region.value,
        "series_count": battery.series_count,
        "nominal_capacity_ah": battery.nominal_capacity_ah,
        "nominal_voltage_v": battery.nominal_voltage_v,
        "visual_flags": ";".join(sorted(f.value for f in battery.visual_flags)),
        "has_traceability": battery.has_traceability,
        "manufacture_date": battery.manufacture_date,
        "calendar_expiry_date": battery.calendar_expiry_date,
    }


def to_grading_table(units: pl.DataFrame) -> pl.DataFrame:
    """The grading table of units known by their record and their latest measurements.

    The intake grades the table this builds from a batch's records and test results, and
    ``echelon batteries --format grading`` writes it for registered units, so a unit exported
    from the registry is graded from the same inputs as at its intake.

    Parameters
    ----------
    units : pl.DataFrame
        One row per unit: the battery record's columns (those of :func:`battery_fields`, as the
        registry's ``batteries`` table holds them); the latest value of each measured quantity in
        a column named after it (the quantities of :data:`MEASURED_FROM`); the SOH estimate as
        ``soh_percent``, ``soh_lower_percent`` and ``soh_method`` (whose ending
        :data:`~echelon.domain.records.SOH_OUT_OF_DOMAIN_TAG` gives ``soh_out_of_domain``).
        :func:`echelon.registry.list_batteries` returns such a frame. Absent columns are empty;
        other columns are ignored.

    Returns
    -------
    pl.DataFrame
        Exactly the columns of :data:`GRADING_SCHEMA`, in its order and types, one row per unit
        in input order: a table :func:`~echelon.grading.reader.read_grading_table` reads back
        and :func:`~echelon.grading.grade_by_region` grades. What no record or measurement gives
        (``reference_dcir_ohm``, ``plating_signature``) stays empty.
    """
    if units.height == 0:
        return pl.DataFrame(schema=GRADING_SCHEMA)
    derived = [
        pl.coalesce(present).alias(column)
        for column, sources in MEASURED_FROM.items()
        if (present := [pl.col(q) for q in sources if q in units.columns])
    ]
    if "visual_flags" in units.columns:  # the registry's "" (no flags) as an empty cell
        flags = pl.col("visual_flags").cast(pl.String)
        derived.append(pl.when(flags != "").then(flags).alias("visual_flags"))
    if "soh_method" in units.columns:
        method = pl.col("soh_method").cast(pl.String)
        derived.append(method.str.ends_with(SOH_OUT_OF_DOMAIN_TAG).alias("soh_out_of_domain"))
    return _with_grading_columns(units.with_columns(derived)).select(list(GRADING_SCHEMA))


def chemistry_frame(*, catalog_dir: Path | None = None) -> pl.DataFrame:
    """Chemistry attributes the rules need, one row per chemistry.

    Columns: ``chemistry``, ``family``, ``cell_nominal_voltage_v``, ``ocv_min_v``,
    ``ocv_max_v``, ``has_reuse_standard``, ``ocv_slope_mv_per_percent`` (mean OCV slope between
    20 and 80 % SOC, used to convert self-discharge from mV/day to %/day).
    """
    rows = []
    for chem, rec in chemistries(catalog_dir=catalog_dir).items():
        v20, v80 = rec.ocv.ocv(np.array([0.2, 0.8]))
        rows.append(
            {
                "chemistry": chem.value,
                "family": rec.family,
                "cell_nominal_voltage_v": rec.nominal_voltage_v,
                "ocv_min_v": rec.ocv_min_v,
                "ocv_max_v": rec.ocv_max_v,
                "has_reuse_standard": rec.has_reuse_standard,
                "ocv_slope_mv_per_percent": float(v80 - v20) * 1000.0 / 60.0,
            }
        )
    return pl.DataFrame(rows)


def _cast(column: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean():
        text = pl.col(column).cast(pl.String).str.strip_chars().str.to_lowercase()
        return (
            pl.when(text.is_in(["true", "yes", "y", "1", "t"]))
            .then(True)
            .when(text.is_in(["false", "no", "n", "0", "f"]))
            .then(False)
            .otherwise(None)
            .alias(column)
        )
    if dtype == pl.Date():
        return pl.col(column).cast(pl.String).str.to_date(strict=False).alias(column)
    return pl.col(column).cast(dtype, strict=False).alias(column)


def _with_grading_columns(table: pl.DataFrame) -> pl.DataFrame:
    """``table`` with every :data:`GRADING_SCHEMA` column, of its type (absent ones empty)."""
    exprs = []
    for column, dtype in GRADING_SCHEMA.items():
        if column not in table.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(column))
        elif table.schema[column] != dtype:
            exprs.append(_cast(column, dtype))
    return table.with_columns(exprs) if exprs else table


def prepare_table(table: pl.DataFrame, *, catalog_dir: Path | None = None) -> pl.DataFrame:
    """Add missing columns, cast types, resolve chemistry spellings and join chemistry attributes.

    An unrecognised or missing chemistry becomes ``unknown`` (routed to recycling) and is reported
    in ``chemistry_note``, with the closest known spelling; it never stops the batch. A spelling
    of a family without its composition (``NMC``, ``NCM``, ``ternary``) is read as the
    catalogue's generic record of that family (``NMC622``) and noted likewise. Adds
    ``series_count`` (derived from the nominal voltage when not given; 1 for a cell) and
    ``unit_voltage_v`` (nominal voltage, else series count × the chemistry's nominal cell
    voltage). Row order is kept.
    """
    frame = _with_grading_columns(table)
    spellings = frame.get_column("chemistry").drop_nulls().unique().to_list()
    resolved: dict[str, str] = {}
    notes: dict[str, str] = {}
    for text in spellings:
        try:
            resolved[text] = resolve_chemistry(text, catalog_dir=catalog_dir).value
            generic = generic_chemistry(text, catalog_dir=catalog_dir)
            if generic is not None:
                family = chemistries(catalog_dir=catalog_dir)[generic].family
                notes[text] = (
                    f"chemistry {text!r} names no composition: graded as {generic.value}, the "
                    f"catalogue's generic {family} (assumption; see its source)"
                )
        except ValueError as exc:
            resolved[text] = Chemistry.UNKNOWN.value
            notes[text] = str(exc)
    frame = frame.with_columns(
        pl.when(pl.col("chemistry").is_null())
        .then(pl.lit("chemistry missing: treated as unknown (recycling only)"))
        .otherwise(pl.col("chemistry").replace_strict(notes, default=None))
        .alias("chemistry_note"),
        pl.col("chemistry")
        .replace_strict(resolved, default=Chemistry.UNKNOWN.value)
        .fill_null(Chemistry.UNKNOWN.value),
        pl.col("level").str.strip_chars().str.to_lowercase(),
    )
    frame = frame.join(
        chemistry_frame(catalog_dir=catalog_dir), on="chemistry", how="left", maintain_order="left"
    )
    series = pl.coalesce(
        pl.col("series_count"),
        pl.when(pl.col("level") == "cell").then(pl.lit(1, dtype=pl.Int64)),
        (pl.col("nominal_voltage_v") / pl.col("cell_nominal_voltage_v")).round().cast(pl.Int64),
    )
    frame = frame.with_columns(series.clip(lower_bound=1).alias("series_count"))
    return frame.with_columns(
        pl.coalesce(
            pl.col("nominal_voltage_v"), pl.col("series_count") * pl.col("cell_nominal_voltage_v")
        ).alias("unit_voltage_v")
    )
