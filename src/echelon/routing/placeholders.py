"""The router's two value inputs, vectorised, with stable signatures.

* :func:`expected_second_life_years` — years in the application from ``echelon.lifetime``'s
  calendar + cycle ageing models and duty cycles, capped at the longest reported second life.
* :func:`recycling_value_usd` — what a recycler pays for the unit, from ``echelon.recycling``
  (EverBatt 2023 rules and dated prices); the documented table it replaced remains the fallback
  for units the recycling model cannot value (unknown energy, a chemistry hydro cannot treat).

Both are vectorised over a polars frame and return one value per row, so a replacement only has to
keep the signature, the input columns it reads and the output's meaning.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.catalog import resolve_table_path
from echelon.errors import ConfigError, EchelonWarning, EstimationError
from echelon.recycling.prices import PriceEntry, PriceTable, load_prices
from echelon.routing.applications import ApplicationCatalog, load_applications
from echelon.routing.economics import Economics, load_economics

YEARS_COLUMN = "expected_second_life_years"
NO_LIFE_MODEL = frozenset({"Li-metal", "Li-S", "unknown"})
"""Chemistries without an ageing model (and without a reuse standard): no second life credited."""
RECYCLING_COLUMN = "recycling_value_usd"


LIFE_SOH_GRID = np.arange(40.0, 100.0 + 1e-9, 5.0)
"""SOH grid [%] on which the lifetime model is evaluated once per (chemistry, application)."""
LIFE_SAMPLES = 64
"""Monte-Carlo samples per grid point (the median is what the value uses)."""
LIFE_HORIZON_MARGIN_YEARS = 2.0
"""Simulated beyond the longest credited second life, so the cap, not the horizon, binds."""
_LIFE_CACHE: dict[tuple[str, str, str], npt.NDArray[np.float64]] = {}


def life_curves(
    pairs: list[tuple[str, str]], *, horizon_years: float, catalog_dir: Path | None = None
) -> dict[tuple[str, str], npt.NDArray[np.float64]]:
    """Median years to end of life on :data:`LIFE_SOH_GRID` per (chemistry, application).

    One call of :func:`echelon.lifetime.expected_life_years` per pair not yet cached, each with
    the catalogue's fixed seed, so a pair's curve is the same whatever else the batch holds or
    the process computed before (reproducible decisions); made non-decreasing in SOH (more
    capacity never means a shorter life: this removes Monte-Carlo wiggles between grid points);
    cached for the process. The applications of the pairs not yet cached are checked to have a
    duty first (:func:`_check_duties`, ``ConfigError``): a cached pair always had one.
    """
    todo = sorted({p for p in pairs if (str(catalog_dir), *p) not in _LIFE_CACHE})
    if todo:
        _check_duties(sorted({app for _, app in todo}), catalog_dir=catalog_dir)
        from echelon.lifetime import expected_life_years

        n = len(LIFE_SOH_GRID)
        for chem, app in todo:
            # one call per pair with the catalogue's fixed seed: a pair's curve never depends on
            # which other pairs a batch holds, nor on what the process computed before
            grid = pl.DataFrame(
                {
                    "battery_id": [f"g{k}" for k in range(n)],
                    "chemistry": [chem] * n,
                    "application": [app] * n,
                    "soh_percent": LIFE_SOH_GRID,
                }
            ).with_columns(pl.col("soh_percent").alias("soh_lower_percent"))  # a lower bound
            out = expected_life_years(
                grid,
                n_samples=LIFE_SAMPLES,
                horizon_years=horizon_years,
                catalog_dir=catalog_dir,
            )
            years = out.get_column("years_to_eol").fill_null(0.0).to_numpy()
            _LIFE_CACHE[(str(catalog_dir), chem, app)] = np.maximum.accumulate(years)
    return {p: _LIFE_CACHE[(str(catalog_dir), *p)] for p in pairs}


def _check_duties(apps: list[str], *, catalog_dir: Path | None) -> None:
    """Refuse applications without a duty in ``lifetime_duties`` (they would get no years).

    Raises
    ------
    ConfigError
        Naming each application and the ``[duty.<application>]`` entry to add.
    """
    from echelon.lifetime.duty import duty_names, resolve_application

    missing = []
    for app in apps:
        try:
            resolve_application(app, catalog_dir=catalog_dir)
        except EstimationError:
            missing.append(app)
    if missing:
        entries = ", ".join(f"[duty.{app}]" for app in missing)
        raise ConfigError(
            f"application(s) {', '.join(missing)} of the applications catalogue have no duty in "
            f"the lifetime_duties table, so no second-life years (and no reuse value) can be "
            f"credited: add {entries} (copy one of {', '.join(duty_names(catalog_dir=catalog_dir))}"
            " in lifetime_duties.toml of ECHELON_CATALOG_DIR and adapt it), or remove the "
            "application"
        )


def expected_second_life_years(
    units: pl.DataFrame,
    *,
    applications: ApplicationCatalog | None = None,
    catalog_dir: Path | None = None,
) -> pl.Series:
    """Expected years of service in an application, from ``echelon.lifetime``, capped.

    The median years until the unit reaches the application's end-of-life SOH, from the
    semi-empirical calendar + cycle ageing model of its chemistry under the application's duty
    (:func:`echelon.lifetime.expected_life_years`, Monte Carlo), evaluated once per (chemistry,
    application) on a 5 % SOH grid and interpolated linearly — with the default first-life prior:
    the unit's age and origin are not used, so a unit's forecast (``echelon forecast ID``, which
    uses them) can differ a lot (docs/routing.md) —, then
    capped at the application's ``max_years`` (the longest second life reported, catalogue
    ``applications`` ``[*.life]``) so value is not credited beyond observed second lives.

    Parameters
    ----------
    units : pl.DataFrame
        Columns ``application`` (canonical id), ``chemistry`` (catalogue value; rows with a
        chemistry the lifetime models do not cover get 0 years) and ``soh_percent`` (SOH at the
        start of the second life [% of nominal]; pass the lower interval bound to stay
        conservative).
    applications : ApplicationCatalog, optional
        Catalogue of the caps (default: the packaged table).
    catalog_dir : Path, optional
        Catalogue override folder.

    Returns
    -------
    pl.Series
        ``expected_second_life_years`` [years], Float64, one per row; 0 when the SOH is already
        at or below the end of life, null when the application or SOH is unknown.

    Raises
    ------
    ConfigError
        When an application of the catalogue has no duty in the ``lifetime_duties`` table (it
        was credited 0 years silently, so it could never be chosen).

    References
    ----------
    docs/lifetime.md; second-life-domain.md §4.4 (BLAST-Lite models [S65]), §4.5 (durations).
    """
    catalog = applications or load_applications(catalog_dir=catalog_dir)
    caps = {name: spec.life.max_years for name, spec in catalog.application.items()}
    frame = units.select(
        pl.col("application").cast(pl.String),
        pl.col("chemistry").cast(pl.String).fill_null("unknown"),
        pl.col("soh_percent").cast(pl.Float64),
    )
    years = np.full(frame.height, np.nan)
    soh = frame.get_column("soh_percent").to_numpy().astype(np.float64)
    chems = frame.get_column("chemistry")
    apps = frame.get_column("application")
    pairs = [
        (chem, app)
        for chem, app in frame.select("chemistry", "application").unique().drop_nulls().iter_rows()
        if app in caps
    ]
    modelled = [p for p in pairs if p[0] not in NO_LIFE_MODEL]
    horizon = max(caps.values()) + LIFE_HORIZON_MARGIN_YEARS
    curves = life_curves(modelled, horizon_years=horizon, catalog_dir=catalog_dir)
    for chem, app in pairs:
        rows = ((chems == chem) & (apps == app)).to_numpy()
        if chem in NO_LIFE_MODEL:
            years[rows] = 0.0
            continue
        clipped = np.clip(soh[rows], LIFE_SOH_GRID[0], LIFE_SOH_GRID[-1])
        value = np.interp(clipped, LIFE_SOH_GRID, curves[(chem, app)])
        value = np.where(soh[rows] < LIFE_SOH_GRID[0], 0.0, value)
        years[rows] = np.minimum(value, caps[app])
    return pl.Series(YEARS_COLUMN, years, dtype=pl.Float64).fill_nan(None)


RECYCLING_FRAME_COLUMNS = (
    "recycle_value_usd",
    "recycle_mass_kg",
    "recycle_usd_per_kg",
    "recycle_basis",
)
"""Columns of :func:`recycling_value_frame`: the value [USD], the mass it is paid on [kg], the
price per kg [USD/kg] and the basis (``feed_price``: EverBatt feed price on the unit's own
composition and mass; ``table``: the fallback table on its cells)."""


@functools.lru_cache(maxsize=16)
def _price_table(
    overrides: tuple[tuple[str, float], ...],
    year: int | None,
    catalog_dir: Path | None,
    source: tuple[str, int],
) -> PriceTable:
    # ``source`` (the table file and its modification time) is part of the key only: an edited
    # recycling_prices.toml in the catalogue folder is read again, not served from the cache
    table = load_prices(year=year, catalog_dir=catalog_dir)
    given = dict(overrides)
    if not given:
        return table
    entries = dict(table.entries)
    for item in ("metal:Ni", "metal:Co"):
        if item in given:
            old = entries[item]
            entries[item] = PriceEntry(item, given[item], old.unit, "--set override", old.as_of)
    fixed = dict(table.fixed_feed_usd_per_kg)
    fixed |= {k.removeprefix("fixed:"): v for k, v in given.items() if k.startswith("fixed:")}
    shown = ", ".join(f"{k}={v:g}" for k, v in overrides)
    return dataclasses.replace(
        table,
        entries=entries,
        battery_share=given.get("battery_share", table.battery_share),
        fixed_feed_usd_per_kg=fixed,
        origin=f"{table.origin} ({shown})",
    )


def recycling_price_table(
    economics: Economics | None = None,
    *,
    year: int | None = None,
    catalog_dir: Path | None = None,
) -> PriceTable:
    """The recycling prices the router pays units with: ``recycling_prices`` for ``year`` (default
    this year; the catalogue folder's own table when it has one, read again when the file
    changes) with the run's feed-price overrides (:meth:`Economics.feed_price_overrides`:
    ``--set recycling.metal_usd_per_kg.Ni=…``, ``….Co``, ``recycling.payable_fraction`` as the
    share of the contained Ni + Co value paid for batteries, and
    ``recycling.chemistry.<chemistry>.fixed_usd_per_kg`` as that chemistry's fixed feed price)."""
    overrides = economics.feed_price_overrides() if economics is not None else {}
    path = resolve_table_path("recycling_prices", catalog_dir=catalog_dir)
    source = (str(path.resolve()), path.stat().st_mtime_ns)
    return _price_table(tuple(sorted(overrides.items())), year, catalog_dir, source)


def recycling_value_frame(
    units: pl.DataFrame,
    *,
    economics: Economics | None = None,
    catalog_dir: Path | None = None,
) -> pl.DataFrame:
    """What a recycler pays the owner for each unit, with the mass and price per kg it is paid on.

    The recycler's gate (feed) price of the unit from :func:`echelon.recycling.unit_recycling_value`
    — EverBatt 2023 purchase convention on the unit's composition (cells, module and pack
    hardware), hydrometallurgical process, the prices of :func:`recycling_price_table` (the
    current year's dated prices with the run's overrides). Units it cannot value (unknown rated
    energy, or a chemistry the process cannot treat) fall back to
    :func:`table_recycling_value_usd`. The recycler's own net value (products − process cost)
    is reported by ``echelon recycle``, not here: the router decides for the unit's owner.

    Parameters
    ----------
    units : pl.DataFrame
        Columns ``chemistry``, ``nominal_capacity_ah`` [A·h], ``unit_voltage_v`` (rated voltage
        [V] of the unit) and ``level`` (``cell`` when absent).
    economics : Economics, optional
        The run's feed-price overrides and the fallback table (default: the packaged
        ``routing_economics``).
    catalog_dir : Path, optional
        Catalogue override folder.

    Returns
    -------
    pl.DataFrame
        :data:`RECYCLING_FRAME_COLUMNS`, one row per unit: ``recycle_value_usd`` [USD] (negative:
        the owner pays), ``recycle_mass_kg`` [kg], ``recycle_usd_per_kg`` [USD/kg] and
        ``recycle_basis``; nulls when the rated energy is unknown.
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
    econ = economics or load_economics(catalog_dir=catalog_dir)
    fallback = _table_recycling(units, econ)
    if known.height == 0:
        return fallback
    with warnings.catch_warnings():
        # unknown chemistries are booked with the conservative composition; the gate already
        # records the unknown chemistry as a reason, so the recycling warning is not repeated
        warnings.simplefilter("ignore", EchelonWarning)
        priced = unit_recycling_value(
            known,
            process="hydro",
            untreatable="null",
            prices=recycling_price_table(econ, catalog_dir=catalog_dir),
        )
    feed = frame.select("battery_id").join(
        priced.select("battery_id", "mass_kg", "feed_price_usd"),
        on="battery_id",
        how="left",
        maintain_order="left",
    )
    paid = feed.get_column("feed_price_usd").is_not_null()
    by_feed = pl.DataFrame(
        {
            "recycle_value_usd": feed.get_column("feed_price_usd"),
            "recycle_mass_kg": feed.get_column("mass_kg"),
            "recycle_usd_per_kg": feed.get_column("feed_price_usd") / feed.get_column("mass_kg"),
            "recycle_basis": pl.Series([None] * frame.height, dtype=pl.String).set(
                paid, "feed_price"
            ),
        }
    )
    return pl.DataFrame(
        [
            by_feed.get_column(c).zip_with(paid, fallback.get_column(c))
            for c in RECYCLING_FRAME_COLUMNS
        ]
    )


def recycling_value_usd(
    units: pl.DataFrame,
    *,
    economics: Economics | None = None,
    catalog_dir: Path | None = None,
) -> pl.Series:
    """What a recycler pays the owner for a unit [USD] (negative: the owner pays).

    The ``recycle_value_usd`` column of :func:`recycling_value_frame` (see there), as the
    ``recycling_value_usd`` series.

    Returns
    -------
    pl.Series
        ``recycling_value_usd`` [USD], Float64, one per row; null when the rated energy is unknown.
    """
    out = recycling_value_frame(units, economics=economics, catalog_dir=catalog_dir)
    return out.get_column("recycle_value_usd").alias(RECYCLING_COLUMN)


def _table_recycling(units: pl.DataFrame, economics: Economics) -> pl.DataFrame:
    """The fallback table's value, cell mass and price per kg (:data:`RECYCLING_FRAME_COLUMNS`)."""
    table = economics.recycling
    per_kg = {chem: table.usd_per_kg_cells(chem) for chem in table.chemistry}
    kg_per_kwh = {chem: rec.cell_kg_per_kwh for chem, rec in table.chemistry.items()}
    chem = pl.col("chemistry").cast(pl.String).fill_null("unknown")
    mass_kg = (
        pl.col("nominal_capacity_ah")
        * pl.col("unit_voltage_v")
        / 1000.0
        * chem.replace_strict(kg_per_kwh, default=kg_per_kwh["unknown"], return_dtype=pl.Float64)
    )
    usd_per_kg = chem.replace_strict(per_kg, default=per_kg["unknown"], return_dtype=pl.Float64)
    return units.select(
        (mass_kg * usd_per_kg).alias("recycle_value_usd"),
        mass_kg.alias("recycle_mass_kg"),
        pl.when(mass_kg.is_not_null()).then(usd_per_kg).alias("recycle_usd_per_kg"),
        pl.when(mass_kg.is_not_null()).then(pl.lit("table")).alias("recycle_basis"),
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
    out = _table_recycling(units, econ).get_column("recycle_value_usd")
    return out.alias(RECYCLING_COLUMN)
