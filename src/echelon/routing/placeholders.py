"""The router's two value inputs, vectorised, with stable signatures.

* :func:`expected_second_life_years` — a documented linear-fade model; ``echelon.lifetime`` will
  replace it with calendar + cycle ageing models and duty cycles.
* :func:`recycling_value_usd` — what a recycler pays for the unit, from ``echelon.recycling``
  (EverBatt 2023 rules and dated prices); the documented table it replaced remains the fallback
  for units the recycling model cannot value (unknown energy, a chemistry hydro cannot treat).

Both are vectorised over a polars frame and return one value per row, so a replacement only has to
keep the signature, the input columns it reads and the output's meaning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import polars as pl

from echelon.catalog import FAMILIES
from echelon.errors import EchelonWarning
from echelon.routing.applications import ApplicationCatalog, load_applications
from echelon.routing.economics import Economics, load_economics

YEARS_COLUMN = "expected_second_life_years"
RECYCLING_COLUMN = "recycling_value_usd"


def _life_table(applications: ApplicationCatalog) -> pl.DataFrame:
    rows = [
        {
            "application": name,
            "family": family,
            "fade_percent_per_year": spec.life.fade_for(family),
            "end_of_life_soh_percent": spec.life.end_of_life_soh_percent,
            "max_years": spec.life.max_years,
        }
        for name, spec in applications.application.items()
        for family in sorted(FAMILIES)
    ]
    return pl.DataFrame(rows)


def expected_second_life_years(
    units: pl.DataFrame,
    *,
    applications: ApplicationCatalog | None = None,
    catalog_dir: Path | None = None,
) -> pl.Series:
    """Expected years of service in an application — PLACEHOLDER until ``echelon.lifetime``.

    A simple, documented model: capacity fades linearly at a rate that depends on the application's
    duty and the chemistry family, relative to the capacity at the start of the second life,
    until the application's end-of-life SOH; the result is capped at the application's
    ``max_years``::

        years = min(max_years, (1 − end_of_life_soh / soh) × 100 / fade_percent_per_year)

    Rates, end-of-life SOH and caps are catalogue data (table ``applications``, ``[*.life]``),
    derived from the BLAST-Lite simulations of second-life-domain.md §4.4 (pessimistic for
    shallow duties: the 2nd-life LMO model is a lower bound) and the reported second-life
    durations of §4.5. ``echelon.lifetime`` will replace this function with the same signature.

    Parameters
    ----------
    units : pl.DataFrame
        Columns ``application`` (canonical id), ``family`` (chemistry family, e.g. ``LFP``) and
        ``soh_percent`` (state of health at the start of the second life [% of nominal]; pass
        the lower interval bound to stay conservative).
    applications : ApplicationCatalog, optional
        Catalogue to read the life parameters from (default: the packaged table).
    catalog_dir : Path, optional
        Catalogue override folder.

    Returns
    -------
    pl.Series
        ``expected_second_life_years`` [years], Float64, one per row; 0 when the SOH is already
        at or below the end of life, null when the application or SOH is unknown.

    References
    ----------
    second-life-domain.md §4.4 (BLAST-Lite [S65]), §4.5 ([S21][S23][S54][S55]).
    """
    catalog = applications or load_applications(catalog_dir=catalog_dir)
    table = _life_table(catalog)
    frame = units.select(
        pl.col("application").cast(pl.String),
        pl.col("family").cast(pl.String).fill_null("unknown"),
        pl.col("soh_percent").cast(pl.Float64),
    ).join(table, on=["application", "family"], how="left", maintain_order="left")
    soh = pl.col("soh_percent")
    years = (
        (1.0 - pl.col("end_of_life_soh_percent") / soh) * 100.0 / pl.col("fade_percent_per_year")
    ).clip(lower_bound=0.0)
    out = frame.select(
        pl.when(soh > 0)
        .then(pl.min_horizontal(years, pl.col("max_years")))
        .otherwise(pl.when(soh.is_not_null()).then(0.0))
        .alias(YEARS_COLUMN)
    )
    return out.get_column(YEARS_COLUMN)


def recycling_value_usd(
    units: pl.DataFrame,
    *,
    economics: Economics | None = None,
    catalog_dir: Path | None = None,
) -> pl.Series:
    """What a recycler pays the owner for a unit [USD] (negative: the owner pays).

    The recycler's gate (feed) price of the unit from :func:`echelon.recycling.unit_recycling_value`
    — EverBatt 2023 purchase convention on the unit's composition (cells, module and pack
    hardware), hydrometallurgical process, dated prices of the current year. Units it cannot value
    (unknown rated energy, or a chemistry the process cannot treat) fall back to
    :func:`table_recycling_value_usd`. The recycler's own net value (products − process cost) is
    reported by ``echelon recycle``, not here: the router decides for the unit's owner.

    Parameters
    ----------
    units : pl.DataFrame
        Columns ``chemistry``, ``nominal_capacity_ah`` [A·h], ``unit_voltage_v`` (rated voltage
        [V] of the unit) and ``level`` (``cell`` when absent).
    economics : Economics, optional
        For the fallback table (default: the packaged ``routing_economics``).
    catalog_dir : Path, optional
        Catalogue override folder.

    Returns
    -------
    pl.Series
        ``recycling_value_usd`` [USD], Float64, one per row; null when the rated energy is unknown.
    """
    from echelon.recycling import unit_recycling_value

    frame = units.with_row_index("_row").select(
        pl.col("_row").cast(pl.String).alias("battery_id"),
        pl.col("chemistry").cast(pl.String).fill_null("unknown"),
        (pl.col("level").cast(pl.String) if "level" in units.columns else pl.lit("cell")).alias(
            "level"
        ),
        pl.col("nominal_capacity_ah"),
        pl.col("unit_voltage_v").alias("nominal_voltage_v"),
    )
    known = frame.filter(
        pl.col("nominal_capacity_ah").is_not_null()
        & pl.col("nominal_voltage_v").is_not_null()
        & pl.col("level").is_in(["cell", "module", "pack"])
    )
    fallback = table_recycling_value_usd(units, economics=economics, catalog_dir=catalog_dir)
    if known.height == 0:
        return fallback
    with warnings.catch_warnings():
        # unknown chemistries are booked with the conservative composition; the gate already
        # records the unknown chemistry as a reason, so the recycling warning is not repeated
        warnings.simplefilter("ignore", EchelonWarning)
        priced = unit_recycling_value(known, process="hydro", untreatable="null")
    feed = frame.select("battery_id").join(
        priced.select("battery_id", "feed_price_usd"),
        on="battery_id",
        how="left",
        maintain_order="left",
    )
    return (
        pl.DataFrame({"feed": feed.get_column("feed_price_usd"), "fallback": fallback})
        .select(pl.coalesce("feed", "fallback").alias(RECYCLING_COLUMN))
        .get_column(RECYCLING_COLUMN)
    )


def table_recycling_value_usd(
    units: pl.DataFrame,
    *,
    economics: Economics | None = None,
    catalog_dir: Path | None = None,
) -> pl.Series:
    """Fallback recycling value from a documented table (units the recycling model cannot value).

    A documented table (catalogue ``routing_economics``, ``[recycling]``): value = cell mass ×
    value per kg of cells, where cell mass = rated kWh × cell kg/kWh (EverBatt 2023 / BatPaC 5.0)
    and the value per kg is either a fixed feed fee (LFP −$2/kg, LMO −$1/kg: the owner pays) or
    the EverBatt 2023 purchase convention, payable (30 %) × black-mass yield (0.685 kg/kg cells)
    × Σ black-mass grade × metal price (Ni, Co). Module and pack hardware are not valued. Negative
    values mean recycling costs the owner money.

    Parameters
    ----------
    units : pl.DataFrame
        Columns ``chemistry`` (catalogue value, e.g. ``NMC622``), ``nominal_capacity_ah`` [A·h]
        and ``unit_voltage_v`` (rated voltage [V] of the unit).
    economics : Economics, optional
        Prices and the recycling table (default: the packaged ``routing_economics``).
    catalog_dir : Path, optional
        Catalogue override folder.

    Returns
    -------
    pl.Series
        ``recycling_value_usd`` [USD], Float64, one per row; null when the rated energy is unknown.

    References
    ----------
    recycling-passport-flows.md §1.3 (kg/kWh), §1.6 (black-mass grades), §2.5 (EverBatt prices,
    feed fees), §5.2 (payables); second-life-domain.md §5.1 ([S48][S49]).
    """
    econ = economics or load_economics(catalog_dir=catalog_dir)
    table = econ.recycling
    per_kg = {chem: table.usd_per_kg_cells(chem) for chem in table.chemistry}
    kg_per_kwh = {chem: rec.cell_kg_per_kwh for chem, rec in table.chemistry.items()}
    chem = pl.col("chemistry").cast(pl.String).fill_null("unknown")
    unknown = "unknown"
    mass_kg = (
        pl.col("nominal_capacity_ah")
        * pl.col("unit_voltage_v")
        / 1000.0
        * chem.replace_strict(kg_per_kwh, default=kg_per_kwh[unknown], return_dtype=pl.Float64)
    )
    value = mass_kg * chem.replace_strict(per_kg, default=per_kg[unknown], return_dtype=pl.Float64)
    return units.select(value.alias(RECYCLING_COLUMN)).get_column(RECYCLING_COLUMN)
