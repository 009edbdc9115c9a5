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
import datetime as dt
import functools
import warnings
from pathlib import Path
from typing import Any

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
"""SOH grid [%] on which the lifetime model is evaluated per (chemistry, application, prior)."""
LIFE_AGE_NODES_YEARS = np.array([0.5, 1.0, 2.0, 4.0, 7.0, 10.0, 15.0, 20.0])
"""Ages at the start of the second life [years] on which the lifetime model is evaluated for units
of known age (interpolated linearly between them, clamped at the ends); a last grid column holds
the unknown age (the origin's age prior)."""
LIFE_HISTORY_COLUMNS = ("age_years", "origin_application")
"""The unit's first-life columns :func:`expected_second_life_years` reads when present."""
DEFAULT_PRIOR = "default"
"""The first-life prior of a unit without an origin (or with one that has no prior of its own)."""
LIFE_SAMPLES = 64
"""Monte-Carlo samples per grid point (the median is what the value uses)."""
LIFE_HORIZON_MARGIN_YEARS = 2.0
"""Simulated beyond the longest credited second life, so the cap, not the horizon, binds."""
UNKNOWN_AGE = len(LIFE_AGE_NODES_YEARS)
"""Column of a life grid (:func:`life_grids`) for a unit of unknown age."""
_LIFE_CACHE: dict[tuple[str, str, str, str, int], npt.NDArray[np.float64]] = {}
"""One SOH curve per (catalogue folder, family, application, prior, grid column)."""


def life_prior(origin: str | None, *, catalog_dir: Path | None = None) -> str:
    """The first-life prior (a ``[first_life.*]`` entry of ``lifetime_forecasting``) of an origin.

    The origin's own entry when it has one, else :data:`DEFAULT_PRIOR` (a missing origin, one
    without a prior of its own such as ``medical`` or ``other``, or a spelling that is not an
    origin: the grading table's origins are already canonical).
    """
    from echelon.lifetime.params import origin_key, settings

    try:
        key = origin_key(origin)
    except EstimationError:
        return DEFAULT_PRIOR
    return key if key is not None and key in settings(catalog_dir).first_life else DEFAULT_PRIOR


def age_at(as_of: dt.date) -> pl.Expr:
    """Age of each unit at ``as_of`` [years] from its ``manufacture_date`` (days / 365, as
    ``echelon.lifetime`` counts them): the ``age_years`` :func:`expected_second_life_years`
    reads. Null when the date is unknown or after ``as_of`` (the unit is then valued with its
    origin's age prior)."""
    from echelon.lifetime.simulator import DAYS_PER_YEAR

    made = pl.col("manufacture_date").cast(pl.Date)
    days = (pl.lit(as_of) - made).dt.total_days()
    return pl.when(made <= pl.lit(as_of)).then(days / DAYS_PER_YEAR).alias("age_years")


def life_grids(
    triples: list[tuple[str, str, str]],
    *,
    horizon_years: float,
    catalog_dir: Path | None = None,
    columns: dict[tuple[str, str, str], set[int]] | None = None,
) -> dict[tuple[str, str, str], npt.NDArray[np.float64]]:
    """Median years to end of life per (chemistry, application, first-life prior).

    Each grid is ``(len(LIFE_SOH_GRID), UNKNOWN_AGE + 1)``: rows the SOH grid, columns the age
    nodes (:data:`LIFE_AGE_NODES_YEARS`) then the unknown age (:data:`UNKNOWN_AGE`: the prior's
    age). Only the ``columns`` asked for each triple are evaluated (default: all); the others
    are ``nan``. The columns not yet cached are evaluated in one call of
    :func:`echelon.lifetime.expected_life_years` with the catalogue's fixed seed and the unit
    keys ``g<k>`` (one per SOH node) in every column: each key has its own random stream, so a
    column is the same whatever else the call or the batch holds and whatever the process
    computed before (reproducible decisions), and the ages share their random draws (common
    random numbers: the differences between ages are the model's, not Monte-Carlo noise).
    Chemistries of a family share its grids (the lifetime model and the threshold are the
    family's). The :data:`DEFAULT_PRIOR` unknown-age column is the curve of a unit of unknown
    age and origin. Each column is made non-decreasing in SOH (more capacity never means a
    shorter life: this removes Monte-Carlo wiggles); nothing is imposed along age (the model's
    median rises with age by itself, docs/routing.md). Cached for the process. The applications
    evaluated are checked to have a duty first (:func:`_check_duties`, ``ConfigError``).
    """
    from echelon.lifetime.second_life import family_of

    folder = str(catalog_dir)
    every = set(range(UNKNOWN_AGE + 1))
    asked = {t: every if columns is None else columns.get(t, set()) for t in triples}
    family = {t: family_of(t[0], catalog_dir=catalog_dir) for t in triples}
    todo = sorted(
        {
            (family[t], t[1], t[2], col)
            for t, cols in asked.items()
            for col in cols
            if (folder, family[t], t[1], t[2], col) not in _LIFE_CACHE
        }
    )
    if todo:
        _check_duties(sorted({app for _, app, _, _ in todo}), catalog_dir=catalog_dir)
        curves = _life_columns(todo, horizon_years=horizon_years, catalog_dir=catalog_dir)
        for column, curve in zip(todo, curves, strict=True):
            _LIFE_CACHE[(folder, *column)] = curve
    out = {}
    for t, cols in asked.items():
        grid = np.full((LIFE_SOH_GRID.size, UNKNOWN_AGE + 1), np.nan)
        for col in cols:
            grid[:, col] = _LIFE_CACHE[(folder, family[t], t[1], t[2], col)]
        out[t] = grid
    return out


def _life_columns(
    wanted: list[tuple[str, str, str, int]], *, horizon_years: float, catalog_dir: Path | None
) -> list[npt.NDArray[np.float64]]:
    """The SOH curves of the (family, application, prior, grid column) ``wanted``: one
    :func:`echelon.lifetime.expected_life_years` call (each unit key has its own random stream,
    so a curve does not depend on the others of the call; the applications share the units'
    first-life state), each curve made non-decreasing in SOH."""
    from echelon.lifetime import expected_life_years

    n = LIFE_SOH_GRID.size

    def each(values: list[Any]) -> list[Any]:
        return [v for v in values for _ in range(n)]

    grid = pl.DataFrame(
        {
            "battery_id": [f"g{k}" for k in range(n)] * len(wanted),
            "chemistry": each([family for family, _, _, _ in wanted]),
            "application": each([app for _, app, _, _ in wanted]),
            "soh_percent": np.tile(LIFE_SOH_GRID, len(wanted)),
            "age_years": each(
                [None if c == UNKNOWN_AGE else float(LIFE_AGE_NODES_YEARS[c]) for *_, c in wanted]
            ),
            "origin_application": each(
                [None if prior == DEFAULT_PRIOR else prior for _, _, prior, _ in wanted]
            ),
        },
        schema_overrides={"age_years": pl.Float64, "origin_application": pl.String},
    ).with_columns(pl.col("soh_percent").alias("soh_lower_percent"))  # a lower bound
    out = expected_life_years(
        grid, n_samples=LIFE_SAMPLES, horizon_years=horizon_years, catalog_dir=catalog_dir
    )
    years = out.get_column("years_to_eol").fill_null(0.0).to_numpy().reshape(len(wanted), n)
    return [np.maximum.accumulate(row) for row in years]


def life_curves(
    pairs: list[tuple[str, str]], *, horizon_years: float, catalog_dir: Path | None = None
) -> dict[tuple[str, str], npt.NDArray[np.float64]]:
    """Median years to end of life on :data:`LIFE_SOH_GRID` per (chemistry, application), for a
    unit of unknown age and origin: the unknown-age column of the :data:`DEFAULT_PRIOR` grid of
    :func:`life_grids` (see there)."""
    triples = [(chem, app, DEFAULT_PRIOR) for chem, app in pairs]
    grids = life_grids(
        triples,
        horizon_years=horizon_years,
        catalog_dir=catalog_dir,
        columns={t: {UNKNOWN_AGE} for t in triples},
    )
    return {(chem, app): grids[(chem, app, prior)][:, UNKNOWN_AGE] for chem, app, prior in triples}


def age_columns(
    age_years: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Where each age falls on the grid: known (finite, not negative), the node below (the age
    clamped to the nodes) and the weight of the node above."""
    nodes = LIFE_AGE_NODES_YEARS
    known = np.isfinite(age_years) & (age_years >= 0.0)
    age = np.clip(np.where(known, age_years, nodes[0]), nodes[0], nodes[-1])
    below = np.clip(np.searchsorted(nodes, age, side="right") - 1, 0, nodes.size - 2)
    return known, below, (age - nodes[below]) / (nodes[below + 1] - nodes[below])


def needed_columns(age_years: npt.NDArray[np.float64]) -> set[int]:
    """The grid columns :func:`interpolate_life` reads for units of these ages."""
    known, below, _ = age_columns(age_years)
    nodes = np.unique(below[known])
    cols = set(nodes.tolist()) | set((nodes + 1).tolist())
    return cols | ({UNKNOWN_AGE} if not known.all() else set())


def interpolate_life(
    grid: npt.NDArray[np.float64],
    soh_percent: npt.NDArray[np.float64],
    age_years: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Years of units from a grid of :func:`life_grids`: linear in SOH (clamped to the grid; 0
    below it), then linear in age between the nodes (clamped to the first and last node); the
    unknown-age column, by :func:`numpy.interp` as before ages were read, for an age that is
    unknown (``nan``) or negative."""
    clipped = np.clip(soh_percent, LIFE_SOH_GRID[0], LIFE_SOH_GRID[-1])
    value = np.interp(clipped, LIFE_SOH_GRID, grid[:, UNKNOWN_AGE])
    known, below, w = age_columns(age_years)
    if known.any():
        soh, grid_soh = clipped[known], LIFE_SOH_GRID
        i = np.clip(np.searchsorted(grid_soh, soh, side="right") - 1, 0, grid_soh.size - 2)
        u = (soh - grid_soh[i]) / (grid_soh[i + 1] - grid_soh[i])
        j = below[known]
        at_j = grid[i, j] * (1.0 - u) + grid[i + 1, j] * u
        at_next = grid[i, j + 1] * (1.0 - u) + grid[i + 1, j + 1] * u
        value[known] = at_j * (1.0 - w[known]) + at_next * w[known]
    return np.asarray(np.where(soh_percent < LIFE_SOH_GRID[0], 0.0, value), dtype=np.float64)


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
    (:func:`echelon.lifetime.expected_life_years`, Monte Carlo), with the first-life prior of the
    unit's origin and its age when known: evaluated once per (chemistry, application, prior) on
    a grid of SOH (5 % steps) × age (:data:`LIFE_AGE_NODES_YEARS`, and unknown) and interpolated
    linearly (:func:`life_grids`, :func:`interpolate_life`) — a unit of unknown age and origin
    gets the years it got before ages were read —, then capped at the application's
    ``max_years`` (the longest second life reported, catalogue ``applications`` ``[*.life]``) so
    value is not credited beyond observed second lives. ``efc_first_life`` is not read (no
    grading column carries it). The agreement with ``echelon forecast ID`` and the cost are in
    docs/routing.md.

    Parameters
    ----------
    units : pl.DataFrame
        Columns ``application`` (canonical id), ``chemistry`` (catalogue value; rows with a
        chemistry the lifetime models do not cover get 0 years) and ``soh_percent`` (SOH at the
        start of the second life [% of nominal]; pass the lower interval bound to stay
        conservative); optional ``age_years`` (age at the start of the second life [years];
        null or negative: unknown) and ``origin_application`` (first-life origin, selects the
        age and throughput prior; null: the default prior).
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
    optional = dict(zip(LIFE_HISTORY_COLUMNS, (pl.Float64, pl.String), strict=True))
    frame = units.select(
        pl.col("application").cast(pl.String),
        pl.col("chemistry").cast(pl.String).fill_null("unknown"),
        pl.col("soh_percent").cast(pl.Float64),
        *[
            (pl.col(name) if name in units.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in optional.items()
        ],
    )
    priors = {
        origin: life_prior(origin, catalog_dir=catalog_dir)
        for origin in frame.get_column("origin_application").drop_nulls().unique().to_list()
    }
    frame = frame.with_columns(
        pl.col("origin_application")
        .replace_strict(priors, default=DEFAULT_PRIOR, return_dtype=pl.String)
        .fill_null(DEFAULT_PRIOR)
        .alias("prior")
    )
    years = np.full(frame.height, np.nan)
    soh = frame.get_column("soh_percent").to_numpy().astype(np.float64)
    age = frame.get_column("age_years").fill_null(np.nan).to_numpy().astype(np.float64)
    keys = ("chemistry", "application", "prior")
    grouped = (
        frame.select(keys)
        .with_row_index("row")
        .group_by(keys, maintain_order=True)
        .agg(pl.col("row"))
        .filter(pl.col("application").is_in(list(caps)))
    )
    masks = {
        (chem, app, prior): np.asarray(rows, dtype=np.intp)
        for chem, app, prior, rows in grouped.select(*keys, "row").iter_rows()
    }
    modelled = {t: needed_columns(age[masks[t]]) for t in masks if t[0] not in NO_LIFE_MODEL}
    horizon = max(caps.values()) + LIFE_HORIZON_MARGIN_YEARS
    grids = life_grids(
        list(modelled), horizon_years=horizon, catalog_dir=catalog_dir, columns=modelled
    )
    for triple, rows in masks.items():
        if triple[0] in NO_LIFE_MODEL:
            years[rows] = 0.0
            continue
        value = interpolate_life(grids[triple], soh[rows], age[rows])
        years[rows] = np.minimum(value, caps[triple[1]])
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
