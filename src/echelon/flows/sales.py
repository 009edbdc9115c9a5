"""The sales table: batteries put on the market per year — its contract and validation.

One row per (year, chemistry[, segment, region]) with the quantity put on the market:

required
    ``year`` (calendar year), ``chemistry`` (any spelling Echelon accepts: ``NMC622``, ``LFP``, …)
quantity (at least one)
    ``gwh`` or ``kwh`` (nameplate energy), or ``units`` with ``pack_kwh`` (energy per unit);
    ``units`` alone is counted but has no energy, mass or value
optional
    ``segment`` (catalogue ``flows``: ``ev``, ``ev_large``, ``ev_independent``; default ``ev``),
    ``region`` (any label; flows are kept apart per region), and a battery lifetime of the row's
    own: ``lifetime_mean_years`` and ``lifetime_sd_years`` (both), ``lifetime_distribution``
    (``logistic``, ``normal``, ``weibull``; default ``logistic``) — with a segment named, its
    vehicle lifetime still applies; without one the row is segment ``custom``, with no vehicle

Rows that share year, region, segment, chemistry and lifetime are added up. A row whose energy
exceeds the catalogue's ``flows`` ``[sales] max_gwh_per_row`` (10,000 GWh: ten times the world's
battery demand in 2024, IEA Global EV Outlook 2025) is refused as a unit mix-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import polars as pl

from echelon.catalog import generic_chemistry, load_table, resolve_chemistry
from echelon.domain.parse import suggest
from echelon.errors import (
    MAX_ROW_PROBLEMS,
    EchelonError,
    Problem,
    SchemaError,
    UsageError,
    parse_numbers,
    row_problems,
)
from echelon.flows.lifetimes import DISTRIBUTIONS, Lifetime
from echelon.io.table import read_table

CUSTOM: Final = "custom"
"""Segment label of rows with their own lifetime and no segment (no vehicle lifetime)."""
NUMERIC: Final = ("year", "gwh", "kwh", "units", "pack_kwh", "lifetime_mean_years",
                  "lifetime_sd_years")  # fmt: skip
KNOWN: Final = (*NUMERIC, "chemistry", "segment", "region", "lifetime_distribution")
SALES_SCHEMA: Final = {
    "year": pl.Int64,
    "region": pl.String,
    "segment": pl.String,
    "chemistry": pl.String,
    "kwh": pl.Float64,
    "units": pl.Float64,
    "lifetime_distribution": pl.String,
    "lifetime_mean_years": pl.Float64,
    "lifetime_sd_years": pl.Float64,
}
"""Columns of a normalised sales table."""


def sum_or_null(column: str) -> pl.Expr:
    """Sum of a column in an aggregation, null when every value is null (not 0)."""
    return pl.when(pl.col(column).count() > 0).then(pl.col(column).sum()).alias(column)


def _chemistry(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return str(resolve_chemistry(text).value)
    except (ValueError, EchelonError):
        return None


def _known_headers(frame: pl.DataFrame) -> pl.DataFrame:
    """The known columns named in lower case (headers in any case: ``Year``, ``GWh``)."""
    return frame.rename({c: c.strip().lower() for c in frame.columns if c.strip().lower() in KNOWN})


def chemistry_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The chemistry of every row of a sales table, by its row number.

    Parameters
    ----------
    frame : pl.DataFrame
        The sales table as given (checked by :func:`normalise_sales`), before rows are added up.

    Returns
    -------
    pl.DataFrame
        ``row`` (1-based, as errors count them), ``written`` (the spelling given),
        ``chemistry`` (the catalogue key, null if unknown) and ``generic`` (a family named
        without its composition, e.g. ``NMC``, read as the catalogue's generic record).
    """
    written = _known_headers(frame).get_column("chemistry").cast(pl.String)
    spellings = written.drop_nulls().unique().to_list()
    keys = {t: _chemistry(t) for t in spellings}
    generic = {t: generic_chemistry(t) is not None for t in spellings}
    return pl.DataFrame(
        {
            "row": pl.int_range(1, frame.height + 1, eager=True),
            "written": written,
            "chemistry": written.replace_strict(keys, default=None, return_dtype=pl.String),
            "generic": written.replace_strict(generic, default=False, return_dtype=pl.Boolean),
        }
    )


def _columns(frame: pl.DataFrame, source: Path | str) -> None:
    problems = []
    if frame.height == 0:
        problems.append(Problem("the table has no rows: give one row per year and chemistry"))
    cols = frame.columns
    for column in ("year", "chemistry"):
        if column not in cols:
            problems.append(Problem("required column missing", column=column))
    if not {"gwh", "kwh", "units"} & set(cols):
        problems.append(Problem("give 'gwh', 'kwh' or 'units' (with 'pack_kwh')", column="gwh"))
    for column in cols:
        if column not in KNOWN:
            problems.append(Problem(f"unknown column{suggest(column, KNOWN)}", column=column))
    if problems:
        raise SchemaError(source, problems)


def _numbers(frame: pl.DataFrame, problems: list[Problem]) -> dict[str, pl.Series]:
    numbers: dict[str, pl.Series] = {}
    for column in NUMERIC:
        if column not in frame.columns:
            numbers[column] = pl.Series(column, [None] * frame.height, pl.Float64)
            continue
        values = frame.get_column(column)
        cast, found = parse_numbers(values)
        problems += found
        problems += row_problems(
            values, cast.is_nan() | cast.is_infinite(), "is not a finite number"
        )
        problems += row_problems(values, cast < 0, "is negative")
        numbers[column] = cast.set(cast.is_nan() | cast.is_infinite(), None)
    year = numbers["year"]
    problems += row_problems(
        frame.get_column("year"),
        year.is_null() | (year % 1 != 0) | (year < 1950) | (year > 2200),
        "is not a calendar year (1950–2200)",
    )
    return numbers


def _quantities(
    frame: pl.DataFrame, numbers: dict[str, pl.Series], problems: list[Problem]
) -> pl.DataFrame:
    """kWh and units per row; conflicting or missing quantities are problems."""
    given = pl.DataFrame(numbers)
    energy = pl.col("gwh").is_not_null().cast(pl.Int8) + pl.col("kwh").is_not_null().cast(pl.Int8)
    energies = given.select(energy + pl.col("pack_kwh").is_not_null().cast(pl.Int8)).to_series()
    energy_column = next(c for c in ("gwh", "kwh", "pack_kwh", "units") if c in frame.columns)
    problems += row_problems(
        frame.get_column(energy_column),
        energies > 1,
        "and kwh or pack_kwh are given together: give the energy once (gwh, kwh, or units "
        "with pack_kwh)",
    )
    problems += row_problems(
        numbers["pack_kwh"],
        numbers["pack_kwh"].is_not_null() & numbers["units"].is_null(),
        "needs units (the energy per unit)",
    )
    out = given.select(
        pl.coalesce(pl.col("gwh") * 1e6, "kwh", pl.col("units") * pl.col("pack_kwh")).alias("kwh"),
        "units",
    )
    # a quantity that was written but is bad is already reported: not "no quantity" as well
    written = frame.select(
        pl.any_horizontal(
            pl.col(c).is_not_null()
            for c in ("gwh", "kwh", "units", "pack_kwh")
            if c in frame.columns
        )
    ).to_series()
    problems += row_problems(
        frame.get_column(next(c for c in ("gwh", "kwh", "units") if c in frame.columns)),
        out["kwh"].is_null() & out["units"].is_null() & ~written,
        "no quantity: give gwh, kwh, or units (with pack_kwh for energy)",
    )
    _implausible(frame, numbers, out["kwh"], problems)
    return out


def _implausible(
    frame: pl.DataFrame, numbers: dict[str, pl.Series], kwh: pl.Series, problems: list[Problem]
) -> None:
    """A row whose energy exceeds the catalogue's ``[sales] max_gwh_per_row`` (flows table) is a
    problem, named in the column that gives it (``gwh``, ``kwh`` or ``units`` × ``pack_kwh``)."""
    limit_gwh = float(load_table("flows")["sales"]["max_gwh_per_row"])
    above = kwh > limit_gwh * 1e6
    what = (
        f"puts more than {limit_gwh:,.0f} GWh on the market in one row (all the world's batteries "
        "were about 1,000 GWh in 2024; catalogue flows [sales] max_gwh_per_row): check the unit "
        "(MWh or kWh given as GWh, Wh as kWh?)"
    )
    for column in ("gwh", "kwh", "units"):  # the coalesce order of the energy
        if column in frame.columns:
            problems += row_problems(
                frame.get_column(column), above & numbers[column].is_not_null(), what
            )
            above = above & numbers[column].is_null()


def _lifetime_problems(
    frame: pl.DataFrame, numbers: dict[str, pl.Series], problems: list[Problem]
) -> tuple[pl.Series, pl.Series]:
    """``(segment, distribution)``; unknown segments and bad own lifetimes are problems."""
    segments = load_table("flows")["segment"]
    cols = frame.columns
    mean, sd = numbers["lifetime_mean_years"], numbers["lifetime_sd_years"]
    own = mean.is_not_null() & sd.is_not_null()
    named = (
        frame.get_column("segment").cast(pl.String)
        if "segment" in cols
        else pl.Series("segment", [None] * frame.height, pl.String)
    )
    # no segment: the catalogue's ``ev``, or ``custom`` for a row with its own lifetime
    segment = pl.select(
        pl.coalesce(named, pl.when(own).then(pl.lit(CUSTOM)).otherwise(pl.lit("ev")))
    ).to_series()
    problems += row_problems(
        segment,
        ~segment.is_in([*segments, CUSTOM]) & ~own,
        f"is not a segment with a lifetime ({', '.join(segments)}); or give "
        "lifetime_mean_years and lifetime_sd_years",
    )
    problems += row_problems(
        mean, mean.is_null() != sd.is_null(), "needs lifetime_mean_years and lifetime_sd_years"
    )
    given = (
        frame.get_column("lifetime_distribution").cast(pl.String)
        if "lifetime_distribution" in cols
        else pl.Series("lifetime_distribution", [None] * frame.height, pl.String)
    )
    problems += row_problems(
        given, given.is_not_null() & ~own, "needs lifetime_mean_years and lifetime_sd_years"
    )
    distribution = given.fill_null("logistic")
    problems += row_problems(
        distribution,
        ~distribution.is_in(list(DISTRIBUTIONS)),
        f"is not one of {', '.join(DISTRIBUTIONS)}",
    )
    combos = pl.DataFrame({"d": distribution, "m": mean, "s": sd}).filter(own)
    for d, m, sdev in combos.unique().iter_rows():
        if d not in DISTRIBUTIONS:
            continue
        try:
            Lifetime(d, float(m), float(sdev))
        except UsageError as exc:
            bad = own & (distribution == d) & (mean == m) & (sd == sdev)
            problems += row_problems(mean, bad, f"is not a usable lifetime: {exc}")
    return segment, distribution


def _mixed_groups(out: pl.DataFrame, problems: list[Problem], energy_column: str) -> None:
    """Within one output series (region, segment, chemistry) every row gives energy, or none does;
    likewise unit counts — a partial series would be mistaken for zero sales."""
    keys = ["region", "segment", "chemistry"]  # the output's series, whatever their lifetimes
    for quantity in ("kwh", "units"):
        indexed = out.with_row_index("_row").with_columns(_column=pl.lit(energy_column))
        partial = indexed.filter(
            pl.col(quantity).is_not_null().any().over(keys)
            & pl.col(quantity).is_null().all().not_()
            & pl.col(quantity).is_null()
        )
        for row in partial.head(MAX_ROW_PROBLEMS).iter_rows(named=True):
            problems.append(
                Problem(
                    f"no {'energy' if quantity == 'kwh' else 'unit count'} while other rows of "
                    f"{row['region']}/{row['segment']}/{row['chemistry']} give one: give it in "
                    "every row of the series or in none",
                    row=int(row["_row"]) + 1,
                    column=row["_column"] if quantity == "kwh" else "units",
                )
            )


def normalise_sales(frame: pl.DataFrame, *, source: Path | str = "<table>") -> pl.DataFrame:
    """Check a sales table and return it in :data:`SALES_SCHEMA` (quantities in kWh and units).

    Raises
    ------
    SchemaError
        Every missing or unknown column, non-number, non-finite or negative quantity, conflicting
        quantities, unknown chemistry or segment, incomplete or impossible lifetime, and series that
        give energy (or counts) in some rows only, named by row and column.
    """
    frame = _known_headers(frame)
    _columns(frame, source)
    problems: list[Problem] = []
    numbers = _numbers(frame, problems)
    quantities = _quantities(frame, numbers, problems)
    chem_text = frame.get_column("chemistry").cast(pl.String)
    chemistry = chem_text.map_elements(_chemistry, return_dtype=pl.String)
    problems += row_problems(
        chem_text,
        chemistry.is_null(),
        "is not a chemistry Echelon knows (LFP, NMC622, NCA, LMO, … or 'unknown')",
    )
    segment, distribution = _lifetime_problems(frame, numbers, problems)
    if problems:
        raise SchemaError(source, problems)
    region = (
        frame.get_column("region").cast(pl.String).fill_null("all")
        if "region" in frame.columns
        else pl.Series("region", ["all"] * frame.height)
    )
    out = pl.DataFrame(
        {
            "year": numbers["year"].cast(pl.Int64),
            "region": region,
            "segment": segment,
            "chemistry": chemistry,
            "kwh": quantities["kwh"],
            "units": quantities["units"],
            "lifetime_distribution": distribution,
            "lifetime_mean_years": numbers["lifetime_mean_years"],
            "lifetime_sd_years": numbers["lifetime_sd_years"],
        },
        schema=SALES_SCHEMA,
    ).with_columns(  # a segment's own distribution comes from the catalogue
        pl.when(pl.col("lifetime_mean_years").is_not_null())
        .then(pl.col("lifetime_distribution"))
        .otherwise(None)
        .alias("lifetime_distribution")
    )
    energy_column = next(c for c in ("gwh", "kwh", "pack_kwh", "units") if c in frame.columns)
    _mixed_groups(out, problems, energy_column)
    if problems:
        raise SchemaError(source, problems)
    keys = [c for c in SALES_SCHEMA if c not in ("kwh", "units")]
    return out.group_by(keys, maintain_order=True).agg(sum_or_null("kwh"), sum_or_null("units"))


def read_sales_table(path: Path | str) -> pl.DataFrame:
    """Read a sales table file (CSV or Parquet) as given, unchecked (see :func:`read_sales`)."""
    return read_table(path, what="sales table", numeric=NUMERIC)


def read_sales(path: Path | str) -> pl.DataFrame:
    """Read and check a sales table file (CSV or Parquet)."""
    return normalise_sales(read_sales_table(path), source=path)
