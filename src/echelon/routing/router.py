"""The vectorised router: every application a unit may serve with its fit, then the choice by value.

For each application of the catalogue, :func:`route_table` evaluates, as polars expressions over the
whole graded table:

* **permission** — the grade may serve it (profile route table), level, chemistry family and
  origin are accepted, and no regulation of the profile's jurisdiction forbids it;
* **fit** — a series count of the unit's cells fits the voltage window (≥ ``min_window_fraction`` of
  capacity usable), the resistance criterion of the application holds — DCIR ≤ R_max = margin ×
  (OCV − V_min,load)/I_peak where its peak current is known, else (fallback) the unit's
  ratio-to-new grade (``resistance_ratio_grade``) may serve it — and a series string stays within
  the application's energy limit;
* **value** — usable kWh × expected second-life years × price − repurposing − testing [USD];
  usable kWh = rated kWh × SOH × usable window share (× the application's derate for a
  non-preferred chemistry, e.g. NMC floated at reduced SOC in a UPS).

Failed checks are kept as a bit mask per application (``misfit__<app>``, see :data:`MISFIT_BITS`)
so explanations never re-derive the logic. The route is the fitting application of highest value,
or ``recycle`` when recycling is worth more or nothing fits; ``retest`` when data are missing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import polars as pl

from echelon.catalog import chemistries
from echelon.domain import Chemistry, Grade
from echelon.routing.applications import (
    ApplicationCatalog,
    ApplicationSpec,
    load_applications,
    series_options,
    window_fractions,
)
from echelon.routing.economics import (
    Economics,
    cost_expressions,
    economics_in_force,
    nominal_kwh,
)
from echelon.routing.placeholders import (
    LIFE_HISTORY_COLUMNS,
    expected_second_life_years,
    recycling_price_table,
    recycling_value_frame,
)

if TYPE_CHECKING:
    from echelon.grading.profile import GradingProfile
    from echelon.recycling.prices import PriceTable

MISFIT_BITS: Final[dict[str, int]] = {
    "grade": 1,
    "unit": 2,
    "regulation": 4,
    "voltage": 8,
    "resistance": 16,
    "energy": 32,
    "missing": 64,
}
"""Bits of ``misfit__<app>``: grade not permitted; level/family/origin not accepted; forbidden by a
regulation; no series count fits the voltage window; DCIR above R_max; series string above the
energy limit; data missing to decide (SOH, rated energy, series count or DCIR). For an
application without a known peak current the resistance bit means the ratio-to-new fallback
(``resistance_ratio_grade``) does not permit it."""

BISECTION_STEPS: Final = 14
"""Bisection steps for the break-even SOH (interval 100 % / 2¹⁴ ≈ 0.006 %)."""

ROUTE_BASES: Final = ("quarantine", "ungraded", "grade", "no_fit", "missing_data", "value")
"""Why a route was chosen (column ``route_basis``)."""


@dataclass(frozen=True)
class RoutingInputs:
    """Everything the router reads besides the table: profile, catalogue, economics."""

    profile: GradingProfile
    applications: ApplicationCatalog
    economics: Economics
    catalog_dir: Path | None = None

    @property
    def jurisdiction(self) -> str:
        """The profile's jurisdiction (``EU``, ``CN``, ``US`` or ``none``)."""
        return self.profile.meta.jurisdiction

    @functools.cached_property
    def recycling_prices(self) -> PriceTable:
        """The recycling prices units are paid with (:func:`.placeholders.recycling_price_table`
        of the economics), built once per batch, not once per routed unit."""
        return recycling_price_table(self.economics, catalog_dir=self.catalog_dir)


def routing_inputs(
    profile: GradingProfile,
    *,
    applications: ApplicationCatalog | None = None,
    economics: Economics | None = None,
    catalog_dir: Path | None = None,
) -> RoutingInputs:
    """Resolve the catalogue and economics a profile names (unless given).

    Overrides without a table of their own (:func:`.economics.overrides_for_profiles`,
    ``--set`` alone) apply to the economics table the profile names.
    """
    return RoutingInputs(
        profile,
        applications or load_applications(profile.routing.applications, catalog_dir=catalog_dir),
        economics_in_force(profile.routing.economics, economics, catalog_dir=catalog_dir),
        catalog_dir,
    )


def load_cell_voltage_v(
    spec: ApplicationSpec, chemistry: Chemistry, cells: int, *, catalog_dir: Path | None = None
) -> float:
    """Lowest per-cell voltage allowed under the peak load [V], with ``cells`` in series: the
    application's ``load_voltage_min_v`` spread over them (a transient dip may pass the cut-off),
    else its ``voltage_min_v`` spread over them, not below the discharge cut-off."""
    rec = chemistries(catalog_dir=catalog_dir)[chemistry]
    if spec.load_voltage_min_v is not None:
        return spec.load_voltage_min_v / cells  # a transient (cranking) dip may pass the cut-off
    if spec.voltage_min_v is not None:
        return max(rec.discharge_cutoff_v, spec.voltage_min_v / cells)
    return rec.discharge_cutoff_v


def configuration_table(pairs: pl.DataFrame, inputs: RoutingInputs) -> pl.DataFrame:
    """Series configuration per (chemistry, series_count) and application.

    For each application: ``units_series__<app>`` units in series (chosen so the string's cell count
    is nearest the best count inside the fitting range; null when none fits),
    ``cells_series__<app>``, ``window__<app>`` (usable share of capacity) and ``rmax_v__<app>`` —
    margin × s × (OCV at the application's power SOC − lowest per-cell voltage under load) [V], so
    that R_max [Ω] = rmax_v / I_peak with I_peak = C-rate × capacity [A].
    """
    margin = inputs.profile.routing.resistance_margin
    min_fraction = inputs.profile.routing.min_window_fraction
    records = chemistries(catalog_dir=inputs.catalog_dir)
    rows = []
    for chem_text, series in pairs.iter_rows():
        chem = Chemistry(chem_text)
        row: dict[str, object] = {"chemistry": chem_text, "series_count": series}
        for name, spec in inputs.applications.application.items():
            option = series_options(
                spec, chem, min_fraction=min_fraction, catalog_dir=inputs.catalog_dir
            )
            units = cells = None
            share = rmax = None
            if spec.has_window and option.best_cells:
                low = -(-option.cells_min // series)
                high = option.cells_max // series
                if low <= high:
                    units = int(min(max(round(option.best_cells / series), low), high))
            elif not spec.has_window:
                units = 1
            if units is not None:
                cells = units * series
                share = float(
                    window_fractions(spec, chem, [cells], catalog_dir=inputs.catalog_dir)[0]
                )
                if spec.peak_c_rate is not None:
                    ocv = float(records[chem].ocv.ocv(spec.power_soc))
                    headroom = ocv - load_cell_voltage_v(
                        spec, chem, cells, catalog_dir=inputs.catalog_dir
                    )
                    rmax = margin * series * max(headroom, 0.0)
            row |= {
                f"units_series__{name}": units,
                f"cells_series__{name}": cells,
                f"window__{name}": share,
                f"rmax_v__{name}": rmax,
            }
        rows.append(row)
    schema: dict[str, pl.DataType] = {"chemistry": pl.String(), "series_count": pl.Int64()}
    for name in inputs.applications.application:
        schema |= {
            f"units_series__{name}": pl.Int64(),
            f"cells_series__{name}": pl.Int64(),
            f"window__{name}": pl.Float64(),
            f"rmax_v__{name}": pl.Float64(),
        }
    return pl.DataFrame(rows, schema=schema)


def with_configuration(frame: pl.DataFrame, inputs: RoutingInputs) -> pl.DataFrame:
    """Join the series configuration of every application (:func:`configuration_table`) once.

    A frame that already carries the columns (the grade stage joins them to decide its
    resistance criterion) is returned unchanged.
    """
    first = next(iter(inputs.applications.application))
    if f"rmax_v__{first}" in frame.columns:
        return frame
    pairs = frame.select("chemistry", "series_count").drop_nulls().unique()
    return frame.join(
        configuration_table(pairs, inputs),
        on=["chemistry", "series_count"],
        how="left",
        maintain_order="left",
    )


def rmax_ohm(app: str, spec: ApplicationSpec) -> pl.Expr:
    """R_max of one application for each unit [Ω] (null where it cannot be computed).

    R_max = ``rmax_v__<app>`` / I_peak with I_peak = C-rate × rated capacity × SOH basis [A];
    null when the application has no known peak current, no series count of the unit fits its
    window, or the rated capacity or SOH is missing. Needs :func:`with_configuration`.
    """
    if spec.peak_c_rate is None:
        return pl.lit(None, dtype=pl.Float64)
    capacity_ah = pl.col("nominal_capacity_ah") * pl.col("soh_basis_percent") / 100.0
    i_peak_a = spec.peak_c_rate * capacity_ah
    return pl.when(i_peak_a > 0).then(pl.col(f"rmax_v__{app}") / i_peak_a)


def _regulation_forbids(app: str, inputs: RoutingInputs) -> pl.Expr:
    forbids: pl.Expr = pl.lit(False)
    for reg in inputs.applications.forbidding(app, inputs.jurisdiction):
        match: pl.Expr = pl.lit(True)
        if reg.levels:
            match = match & pl.col("level").is_in([lvl.value for lvl in reg.levels])
        if reg.origins:
            match = match & pl.col("origin_application").is_in([o.value for o in reg.origins])
        forbids = forbids | match.fill_null(True)
    return forbids


def _grades_for(app: str, profile: GradingProfile) -> list[str]:
    return [g.value for g in Grade if app in profile.applications_for(g)]


def _misfit(app: str, spec: ApplicationSpec, inputs: RoutingInputs) -> pl.Expr:
    """Bit mask of failed checks for one application (0 = allowed and fits)."""
    bits = MISFIT_BITS
    soh = pl.col("soh_basis_percent")
    unit_ok = pl.col("level").is_in([lvl.value for lvl in spec.levels]) & pl.col("family").is_in(
        list(spec.families)
    )
    if spec.origins:
        unit_ok = unit_ok & pl.col("origin_application").is_in([o.value for o in spec.origins])
    checks: list[tuple[pl.Expr, int]] = [
        (~pl.col("grade").is_in(_grades_for(app, inputs.profile)).fill_null(False), bits["grade"]),
        (~unit_ok.fill_null(False), bits["unit"]),
        (_regulation_forbids(app, inputs), bits["regulation"]),
    ]
    missing = soh.is_null() | nominal_kwh().is_null() | pl.col("series_count").is_null()
    voltage_bad = pl.col(f"units_series__{app}").is_null() & pl.col("series_count").is_not_null()
    checks.append((voltage_bad, bits["voltage"]))
    if spec.peak_c_rate is not None:
        # the application's own limit: R_max from its peak current (issue 5, §9a note 2)
        rmax = rmax_ohm(app, spec)
        checks.append(((pl.col("dcir_ohm") > rmax).fill_null(False), bits["resistance"]))
        missing = missing | pl.col("dcir_ohm").is_null()
    else:
        # no peak known: the ratio-to-new band is the fallback (its grade, capped when missing)
        permitted = pl.col("resistance_ratio_grade").is_in(_grades_for(app, inputs.profile))
        checks.append((~permitted.fill_null(False), bits["resistance"]))
    if spec.string_energy_max_kwh is not None:
        string_kwh = pl.col(f"units_series__{app}") * nominal_kwh() * soh / 100.0
        too_big = (string_kwh > spec.string_energy_max_kwh).fill_null(False)
        checks.append((too_big, bits["energy"]))
    checks.append((missing, bits["missing"]))
    mask: pl.Expr = pl.lit(0, dtype=pl.Int64)
    for failed, bit in checks:
        mask = mask + pl.when(failed).then(pl.lit(bit, dtype=pl.Int64)).otherwise(0)
    return mask


def _years(
    frame: pl.DataFrame, app: pl.Expr | str, soh: pl.Expr, inputs: RoutingInputs
) -> pl.Series:
    """Second-life years in ``app`` at SOH ``soh``, with the unit's age and origin when known."""
    return _years_in(frame, [app], soh, inputs)[0]


def _years_in(
    frame: pl.DataFrame, apps: list[pl.Expr | str], soh: pl.Expr, inputs: RoutingInputs
) -> list[pl.Series]:
    """:func:`_years` for several applications in one call (their lifetime grids are computed
    together, sharing the units' first-life state)."""
    parts = [
        frame.select(
            (pl.lit(app) if isinstance(app, str) else app).alias("application"),
            pl.col("chemistry"),
            soh.alias("soh_percent"),
            *[pl.col(c) for c in LIFE_HISTORY_COLUMNS if c in frame.columns],
        )
        for app in apps
    ]
    years = expected_second_life_years(pl.concat(parts), applications=inputs.applications)
    return [years.slice(k * frame.height, frame.height) for k in range(len(apps))]


def _value_columns(frame: pl.DataFrame, inputs: RoutingInputs) -> pl.DataFrame:
    repurpose, testing = cost_expressions(inputs.economics, inputs.jurisdiction)
    frame = frame.with_columns(
        nominal_kwh().alias("nominal_kwh"),
        repurpose.alias("repurposing_cost_usd"),
        testing.alias("testing_cost_usd"),
    )
    soh = pl.col("soh_basis_percent")
    exprs = []
    years_of = _years_in(frame, list(inputs.applications.application), soh, inputs)
    for (app, spec), years in zip(inputs.applications.application.items(), years_of, strict=True):
        price = inputs.economics.price_for(app, inputs.jurisdiction)
        usable = pl.col("nominal_kwh") * soh / 100.0 * pl.col(f"window__{app}")
        if spec.preferred_families and spec.non_preferred_usable_fraction < 1.0:
            derate = pl.when(pl.col("family").is_in(list(spec.preferred_families))).then(1.0)
            usable = usable * derate.otherwise(spec.non_preferred_usable_fraction)
        exprs += [
            usable.alias(f"usable_kwh__{app}"),
            years.alias(f"years__{app}"),
            (
                usable * years * price - pl.col("repurposing_cost_usd") - pl.col("testing_cost_usd")
            ).alias(f"value__{app}"),
        ]
    return frame.with_columns(exprs)


def _best(apps: list[str]) -> tuple[pl.Expr, pl.Expr]:
    """(best fitting application, its value): highest value, first in catalogue order on ties."""
    values = [pl.when(pl.col(f"misfit__{a}") == 0).then(pl.col(f"value__{a}")) for a in apps]
    best_value = pl.max_horizontal(values)
    best: pl.Expr = pl.lit(None, dtype=pl.String)
    for app, value in reversed(list(zip(apps, values, strict=True))):
        best = pl.when(value == best_value).then(pl.lit(app)).otherwise(best)
    return best, best_value


def _pick(apps: list[str], column: str) -> pl.Expr:
    """The value of ``<column>__<best_application>`` per row."""
    out: pl.Expr = pl.lit(None, dtype=pl.Float64)
    for app in apps:
        out = (
            pl.when(pl.col("best_application") == app)
            .then(pl.col(f"{column}__{app}").cast(pl.Float64))
            .otherwise(out)
        )
    return out


def _break_even_soh(frame: pl.DataFrame, apps: list[str], inputs: RoutingInputs) -> pl.Series:
    """SOH [%] at which the best application's value equals the recycling value (bisection)."""
    price: pl.Expr = pl.lit(None, dtype=pl.Float64)
    for app in apps:
        value = inputs.economics.price_for(app, inputs.jurisdiction)
        price = pl.when(pl.col("best_application") == app).then(value).otherwise(price)
    base = frame.select(
        pl.col("best_application"),
        pl.col("chemistry"),
        *[pl.col(c) for c in LIFE_HISTORY_COLUMNS if c in frame.columns],
        (pl.col("nominal_kwh") * _pick(apps, "window") * price / 100.0).alias("slope"),
        (
            pl.col("recycle_value_usd")
            + pl.col("repurposing_cost_usd")
            + pl.col("testing_cost_usd")
        ).alias("target"),
    )
    slope = base.get_column("slope").to_numpy()
    target = base.get_column("target").to_numpy()

    def gain(soh: np.ndarray) -> np.ndarray:
        """Reuse value − recycling value at SOH ``soh`` [USD] (increasing in SOH)."""
        soh_expr = pl.lit(pl.Series("soh", soh))
        years = _years(base, pl.col("best_application"), soh_expr, inputs).to_numpy()
        return np.asarray(slope * soh * np.nan_to_num(years, nan=0.0) - target)

    lo = np.zeros(len(base))
    hi = np.full(len(base), 100.0)
    ok_hi = gain(hi) >= 0
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2.0
        above = gain(mid) >= 0
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    solvable = ok_hi & np.isfinite(slope) & np.isfinite(target)
    return pl.Series("break_even_soh_percent", np.where(solvable, hi, np.nan)).fill_nan(None)


def route_table(
    graded: pl.DataFrame,
    *,
    inputs: RoutingInputs,
    break_even: bool = True,
) -> pl.DataFrame:
    """Allowed applications with their fit, values, the chosen route and its break-even.

    Parameters
    ----------
    graded : pl.DataFrame
        Output of the gate and grade stage (:func:`echelon.grading.grade_table` with
        ``route=False``): ``gate``, ``grade``, ``soh_basis_percent``, ``resistance_ratio_grade``,
        the prepared table's columns.
    inputs : RoutingInputs
        Profile, applications catalogue and economics (:func:`routing_inputs`).
    break_even : bool
        Also compute the break-even price and SOH (a bisection; a little slower).

    Returns
    -------
    pl.DataFrame
        ``graded`` plus, per application ``<app>``: ``misfit__<app>`` (bit mask,
        :data:`MISFIT_BITS`), ``units_series__``, ``cells_series__``, ``window__``, ``rmax_v__``,
        ``usable_kwh__``, ``years__``, ``value__``; and ``best_application``,
        ``reuse_value_usd``, ``recycle_value_usd`` (with ``recycle_mass_kg``,
        ``recycle_usd_per_kg`` and ``recycle_basis`` it is computed from,
        :func:`~echelon.routing.placeholders.recycling_value_frame`), ``route``, ``route_basis``
        (:data:`ROUTE_BASES`), ``value_usd`` (of the chosen route), ``allowed_applications``
        (``;``-separated, catalogue order), ``expected_years``, ``usable_kwh``,
        ``price_usd_per_kwh_year``, ``break_even_price_usd_per_kwh_year``,
        ``break_even_soh_percent``, ``economics``, ``applications_table``.
    """
    apps = list(inputs.applications.application)
    frame = _value_columns(with_configuration(graded, inputs), inputs)
    frame = frame.with_columns(
        *[
            _misfit(app, spec, inputs).alias(f"misfit__{app}")
            for app, spec in inputs.applications.application.items()
        ],
    ).hstack(recycling_value_frame(frame, economics=inputs.economics))
    best, best_value = _best(apps)
    frame = frame.with_columns(best.alias("best_application"), best_value.alias("reuse_value_usd"))
    only_missing = pl.any_horizontal(
        [pl.col(f"misfit__{a}") == MISFIT_BITS["missing"] for a in apps]
    )
    basis = (
        pl.when(pl.col("gate") == "quarantine")
        .then(pl.lit("quarantine"))
        .when(pl.col("grade").is_null())
        .then(pl.lit("ungraded"))
        .when(pl.col("grade") == Grade.D.value)
        .then(pl.lit("grade"))
        .when(pl.col("best_application").is_null() & only_missing)
        .then(pl.lit("missing_data"))
        .when(pl.col("best_application").is_null())
        .then(pl.lit("no_fit"))
        .otherwise(pl.lit("value"))
    )
    reuse_wins = pl.col("reuse_value_usd") >= pl.col("recycle_value_usd").fill_null(-np.inf)
    route = (
        pl.when(pl.col("route_basis").is_in(["ungraded", "missing_data"]))
        .then(pl.lit("retest"))
        .when((pl.col("route_basis") == "value") & reuse_wins)
        .then(pl.col("best_application"))
        .otherwise(pl.lit("recycle"))
    )
    frame = frame.with_columns(basis.alias("route_basis")).with_columns(route.alias("route"))
    price: pl.Expr = pl.lit(None, dtype=pl.Float64)
    for app in apps:
        value = inputs.economics.price_for(app, inputs.jurisdiction)
        price = pl.when(pl.col("best_application") == app).then(value).otherwise(price)
    usable_years = _pick(apps, "usable_kwh") * _pick(apps, "years")
    frame = frame.with_columns(
        pl.when(pl.col("route") == "recycle")
        .then(pl.col("recycle_value_usd"))
        .when(pl.col("route") != "retest")
        .then(pl.col("reuse_value_usd"))
        .alias("value_usd"),
        pl.concat_str(
            [pl.when(pl.col(f"misfit__{a}") == 0).then(pl.lit(a)) for a in apps],
            separator=";",
            ignore_nulls=True,
        ).alias("allowed_applications"),
        _pick(apps, "years").alias("expected_years"),
        _pick(apps, "usable_kwh").alias("usable_kwh"),
        price.alias("price_usd_per_kwh_year"),
        pl.when(usable_years > 0)
        .then(
            (
                pl.col("recycle_value_usd")
                + pl.col("repurposing_cost_usd")
                + pl.col("testing_cost_usd")
            )
            / usable_years
        )
        .alias("break_even_price_usd_per_kwh_year"),
        pl.lit(inputs.economics.label).alias("economics"),
        pl.lit(inputs.applications.label).alias("applications_table"),
    )
    soh_flip: pl.Series | pl.Expr = pl.lit(None, dtype=pl.Float64)
    if break_even:
        has_best = frame.get_column("best_application").is_not_null()
        if has_best.any():
            subset = frame.filter(has_best)
            flips = _break_even_soh(subset, apps, inputs)
            soh_flip = pl.Series(
                "break_even_soh_percent", [None] * frame.height, dtype=pl.Float64
            ).scatter(has_best.arg_true(), flips)
    return frame.with_columns(
        soh_flip.alias("break_even_soh_percent") if isinstance(soh_flip, pl.Expr) else soh_flip
    )
