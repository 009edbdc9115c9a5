"""Explanations of routes: a one-line summary per unit (vectorised) and the full route decision.

The decision lists every application of the catalogue with whether it is allowed and fits and,
for each check that failed, the numbers compared (from the ``misfit__<app>`` bit mask and the
numeric columns of :func:`echelon.routing.route_table`), the recycling value, the conditions that
regulations attach to the chosen application, and the choice with its break-even.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from echelon.domain import NON_REUSE_ROUTES, Decision, Reason
from echelon.recycling.prices import PriceTable
from echelon.routing.applications import ApplicationSpec, Regulation, series_options
from echelon.routing.economics import Economics
from echelon.routing.placeholders import recycling_price_table
from echelon.routing.router import MISFIT_BITS, RoutingInputs


def usd_text(value: float | None) -> str:
    """``$1,234``, ``$7.00``, ``-$41`` (the sign before the currency)."""
    if value is None:
        return "?"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.0f}" if abs(value) >= 10 else f"{sign}${abs(value):,.2f}"


def route_summary() -> pl.Expr:
    """One sentence per unit on why its route was chosen (for the ``reasons`` column)."""
    usd = pl.col("reuse_value_usd").round(2).cast(pl.String)
    recycle = pl.col("recycle_value_usd").round(2).cast(pl.String)
    return (
        pl.when(pl.col("route_basis") == "ungraded")
        .then(pl.lit("retest: no SOH to route on"))
        .when(pl.col("route_basis") == "missing_data")
        .then(pl.lit("retest: data missing to decide any application (see unchecked)"))
        .when(pl.col("route_basis") == "no_fit")
        .then(pl.lit("recycle: no application allowed and fitting"))
        .when(pl.col("route_basis") == "grade")
        .then(pl.lit("recycle: grade D"))
        .when(pl.col("route_basis") == "value")
        .then(
            pl.when(pl.col("route") == "recycle")
            .then(
                pl.format(
                    "recycle: recycling ${} > best reuse ({}) ${}",
                    recycle,
                    pl.col("best_application"),
                    usd,
                )
            )
            .otherwise(pl.format("{}: reuse ${} ≥ recycling ${}", pl.col("route"), usd, recycle))
        )
    )


def fits_summary(apps: list[str]) -> pl.Expr:
    """``app $value (years y)`` for every allowed, fitting application, ``; ``-separated."""
    return pl.concat_str(
        [
            pl.when(pl.col(f"misfit__{a}") == 0).then(
                pl.format(
                    "{} ${} ({} y, {} kWh)",
                    pl.lit(a),
                    pl.col(f"value__{a}").round(0).cast(pl.Int64),
                    pl.col(f"years__{a}").round(1),
                    pl.col(f"usable_kwh__{a}").round(3),
                )
            )
            for a in apps
        ],
        separator="; ",
        ignore_nulls=True,
    )


def _window_text(spec: ApplicationSpec) -> str:
    if spec.voltage_min_v is None:
        return "like-for-like (no voltage window)"
    imposed = ", charge imposed" if spec.voltage_imposed else ""
    return f"{spec.voltage_min_v:g}–{spec.voltage_max_v:g} V{imposed}"


def _misfit_messages(
    app: str, spec: ApplicationSpec, row: dict[str, Any], inputs: RoutingInputs
) -> list[str]:
    bits = int(row[f"misfit__{app}"])
    out: list[str] = []
    if bits & MISFIT_BITS["grade"]:
        grades = [g for g, names in inputs.profile.route.items() if app in names]
        allowed = ", ".join(sorted(g.value for g in grades)) or "none"
        grade = row.get("grade")
        graded = f"grade {grade} may not" if grade else "not graded: it may not"
        out.append(f"{graded} serve it (grades {allowed} and up)")
    if bits & MISFIT_BITS["unit"]:
        level, family = row.get("level"), row.get("family")
        if level not in {lvl.value for lvl in spec.levels}:
            out.append(f"level {level} not accepted ({', '.join(v.value for v in spec.levels)})")
        if family not in spec.families:
            out.append(
                f"{row.get('chemistry')} ({family}) not accepted ({', '.join(spec.families)})"
            )
        origins = {o.value for o in spec.origins}
        if origins and row.get("origin_application") not in origins:
            out.append(
                f"origin {row.get('origin_application')} not accepted (needs "
                f"{', '.join(sorted(origins))})"
            )
    if bits & MISFIT_BITS["regulation"]:
        for reg in inputs.applications.regulations(inputs.jurisdiction):
            if reg.effect == "forbid" and reg.applies_to(
                app, level=row.get("level"), origin=row.get("origin_application")
            ):
                out.append(f"forbidden by {reg.rule}: {reg.message} ({reg.source})")
    if bits & MISFIT_BITS["voltage"]:
        min_fraction = inputs.profile.routing.min_window_fraction
        option = series_options(
            spec, row["chemistry"], min_fraction=min_fraction, catalog_dir=inputs.catalog_dir
        )
        if option.best_cells == 0:
            out.append(
                f"no series count of {row['chemistry']} cells keeps ≥ {min_fraction:.0%} of "
                f"capacity in {_window_text(spec)} (best {option.best_fraction:.0%})"
            )
        else:
            out.append(
                f"a {row['series_count']}S unit cannot be stacked to {option.cells_min}–"
                f"{option.cells_max} cells in series for {_window_text(spec)}"
            )
    if bits & MISFIT_BITS["resistance"]:
        out.append(_resistance_misfit(app, spec, row, inputs))
    if bits & MISFIT_BITS["energy"]:
        string_kwh = (
            row[f"units_series__{app}"] * row["nominal_kwh"] * row["soh_basis_percent"] / 100
        )
        out.append(
            f"a string of {row[f'units_series__{app}']} unit(s) holds {string_kwh:.2f} kWh > "
            f"{spec.string_energy_max_kwh:g} kWh"
        )
    if bits & MISFIT_BITS["missing"]:
        missing = [
            name
            for name, absent in (
                ("SOH", row.get("soh_basis_percent") is None),
                (
                    "rated energy (nominal_capacity_ah, nominal_voltage_v)",
                    row.get("nominal_kwh") is None,
                ),
                (
                    "series count (nominal_voltage_v or series_count)",
                    row.get("series_count") is None,
                ),
                (
                    "DCIR (peak power cannot be certified)",
                    spec.peak_c_rate is not None and row.get("dcir_ohm") is None,
                ),
            )
            if absent
        ]
        out.append(f"missing: {', '.join(missing)}")
    return out


def _rmax_ohm(app: str, spec: ApplicationSpec, row: dict[str, Any]) -> float:
    capacity_ah = row["nominal_capacity_ah"] * row["soh_basis_percent"] / 100.0
    return float(row[f"rmax_v__{app}"]) / (float(spec.peak_c_rate or 0) * float(capacity_ah))


def _resistance_misfit(
    app: str, spec: ApplicationSpec, row: dict[str, Any], inputs: RoutingInputs
) -> str:
    """Why the resistance criterion refuses an application, with every number compared."""
    profile = inputs.profile
    if spec.peak_c_rate is None:
        ratio = row.get("resistance_ratio")
        grades = ", ".join(sorted(g.value for g, names in profile.route.items() if app in names))
        measured = (
            f"R/R_ref {ratio:.2f}"
            if ratio is not None
            else f"no R/R_ref (capped at {profile.grading.cap_without_resistance.value})"
        )
        return (
            f"no peak current known for {app}: ratio-to-new fallback — {measured} gives "
            f"resistance grade {row.get('resistance_ratio_grade')}, {app} needs grade {grades} "
            f"or better ({profile.label})"
        )
    margin = profile.routing.resistance_margin
    series = int(row["series_count"])  # R_max is the unit's: its own cells in series
    headroom_v = float(row[f"rmax_v__{app}"]) / (margin * series)
    i_peak_a = spec.peak_c_rate * row["nominal_capacity_ah"] * row["soh_basis_percent"] / 100.0
    return (
        f"DCIR {row['dcir_ohm'] * 1e3:.3g} mΩ > R_max {_rmax_ohm(app, spec, row) * 1e3:.3g} mΩ = "
        f"{margin:.0%} × {series} cells × {headroom_v:.3f} V (OCV − V_min,load per cell) / "
        f"{i_peak_a:.1f} A (I_peak = {spec.peak_c_rate:g} C × {row['nominal_capacity_ah']:g} Ah "
        f"× SOH {row['soh_basis_percent']:.1f} %, at {spec.power_soc:.0%} SOC; {profile.label})"
    )


def _conditions(route: Any, level: Any, origin: Any, inputs: RoutingInputs) -> list[Regulation]:
    """The ``condition`` rules of the jurisdiction that cover a route for a unit of this level and
    origin (none for a route that is not a catalogue application)."""
    if route not in inputs.applications.application:
        return []
    return [
        reg
        for reg in inputs.applications.regulations(inputs.jurisdiction)
        if reg.effect == "condition" and reg.applies_to(route, level=level, origin=origin)
    ]


def condition_reasons(row: dict[str, Any], inputs: RoutingInputs) -> list[Reason]:
    """The conditions regulations of the jurisdiction attach to the chosen application."""
    return [
        Reason(
            rule=f"condition.{reg.rule}",
            passed=True,
            message=f"condition ({reg.jurisdiction}): {reg.message} — source: {reg.source}",
        )
        for reg in _conditions(
            row.get("route"), row.get("level"), row.get("origin_application"), inputs
        )
    ]


def route_conditions(graded: pl.DataFrame, inputs: dict[str, RoutingInputs]) -> pl.Series:
    """Column ``route_conditions``: the conditions the jurisdiction's regulations attach to each
    row's route, as ``rule: text`` joined by ``"; "`` (empty when none; a ``;`` inside a text
    becomes ``,`` so the column splits on ``;``), the conditions :func:`condition_reasons`
    records on the route decision (there with their sources).

    The rules are matched once per distinct (profile, route, level, origin), not per row.

    Parameters
    ----------
    graded : pl.DataFrame
        Graded, routed rows with a ``profile`` column (the profile label).
    inputs : dict of str to RoutingInputs
        Routing inputs per profile label, as :func:`echelon.grading.grade_by_region` returns.
    """
    keys = graded.select("profile", "route", "level", "origin_application").rows()
    texts: dict[tuple[Any, ...], str] = {}
    for key in set(keys):
        profile, route, level, origin = key
        resolved = inputs.get(profile)
        found = [] if resolved is None else _conditions(route, level, origin, resolved)
        texts[key] = "; ".join(f"{reg.rule}: {reg.message.replace(';', ',')}" for reg in found)
    return pl.Series("route_conditions", [texts[key] for key in keys], dtype=pl.String)


def _fit_message(
    app: str, spec: ApplicationSpec, row: dict[str, Any], inputs: RoutingInputs
) -> str:
    units, cells = row[f"units_series__{app}"], row[f"cells_series__{app}"]
    parts = [f"{app}: fits"]
    if spec.has_window:
        parts.append(
            f"{units} × {row['series_count']}S = {cells}S in {_window_text(spec)} "
            f"({row[f'window__{app}']:.0%} of capacity)"
        )
    if spec.peak_c_rate is not None:
        parts.append(
            f"DCIR {row['dcir_ohm'] * 1e3:.3g} mΩ ≤ R_max {_rmax_ohm(app, spec, row) * 1e3:.3g} mΩ "
            f"at {spec.peak_c_rate:g} C (margin {inputs.profile.routing.resistance_margin:.0%})"
        )
    else:
        ratio = row.get("resistance_ratio")
        parts.append(
            "no peak current known: ratio-to-new fallback, resistance grade "
            f"{row.get('resistance_ratio_grade')}"
            + (f" (R/R_ref {ratio:.2f})" if ratio is not None else " (no R/R_ref)")
        )
    price = inputs.economics.price_for(app, inputs.jurisdiction)
    parts.append(
        f"{row[f'usable_kwh__{app}']:.3g} kWh usable × {row[f'years__{app}']:.1f} y × "
        f"${price:g}/(kWh·y) − {usd_text(row['repurposing_cost_usd'])} repurposing − "
        f"{usd_text(row['testing_cost_usd'])} testing = {usd_text(row[f'value__{app}'])}"
    )
    return " · ".join(parts)


def application_reasons(row: dict[str, Any], inputs: RoutingInputs) -> list[Reason]:
    """One reason per catalogue application: allowed and fitting (with value) or why not."""
    out = []
    for app, spec in inputs.applications.application.items():
        misfit = row.get(f"misfit__{app}")
        if misfit is None:
            continue
        if misfit == 0:
            message = _fit_message(app, spec, row, inputs)
            if spec.preferred_families and row.get("family") not in spec.preferred_families:
                preferred = ", ".join(spec.preferred_families)
                message += f" · {spec.non_preferred_condition or f'prefers {preferred}'}"
        else:
            message = f"{app}: " + "; ".join(_misfit_messages(app, spec, row, inputs))
        value = row.get(f"value__{app}")
        out.append(
            Reason(
                rule=f"route.{app}",
                passed=misfit == 0,
                message=message,
                field="value_usd",
                observed=None if value is None else round(float(value), 2),
            )
        )
    return out


def _choice_message(row: dict[str, Any]) -> str:
    basis = row["route_basis"]
    if basis == "quarantine":
        return "quarantined at the safety gate: discharge (GB/T 33598.3), then recycle"
    if basis == "ungraded":
        return "no SOH: test (capacity or pulse) before routing"
    if basis == "grade":
        return "grade D: recycle"
    if basis == "missing_data":
        return "no application can be decided with the data given: complete them and retest"
    if basis == "no_fit":
        return "no application is both allowed and fitting: recycle"
    best, reuse, recycle = row["best_application"], row["reuse_value_usd"], row["recycle_value_usd"]
    price, flip_price = row["price_usd_per_kwh_year"], row["break_even_price_usd_per_kwh_year"]
    flip_soh = row.get("break_even_soh_percent")
    soh_text = (
        f"SOH {flip_soh:.1f} % (now {row['soh_basis_percent']:.1f} %)"
        if flip_soh is not None
        else "no SOH ≤ 100 %"
    )
    price_text = f"${flip_price:.2f}/(kWh·y) (now ${price:g})" if flip_price is not None else "none"
    if row["route"] == "recycle":
        return (
            f"recycling {usd_text(recycle)} > best reuse {best} {usd_text(reuse)}; reuse would "
            f"win at a price ≥ {price_text} or at {soh_text}"
        )
    return (
        f"{best}: reuse {usd_text(reuse)} ≥ recycling {usd_text(recycle)}; the decision flips to "
        f"recycling below a price of {price_text} or below {soh_text}"
    )


def recycling_value_text(
    row: dict[str, Any], economics: Economics, prices: PriceTable | None = None
) -> str:
    """The recycling value of a routed row as the product that gave it, with its prices.

    ``recycle_mass_kg`` × ``recycle_usd_per_kg`` = ``recycle_value_usd``, and where the price per
    kg comes from: the EverBatt feed price (a fixed price for the chemistry, or the share of the
    contained Ni + Co value at the metal prices in force, overrides included) or the fallback
    table of the economics. ``prices``: :func:`recycling_price_table` of ``economics`` when the
    caller has it (a batch builds it once).
    """
    value, mass, per_kg = (
        row["recycle_value_usd"],
        row["recycle_mass_kg"],
        row["recycle_usd_per_kg"],
    )
    sign = "-" if per_kg < 0 else ""
    price = f"{sign}${abs(per_kg):,.2f}/kg"
    head = f"recycling value {usd_text(value)} = {mass:.3g} kg"
    chem = row.get("chemistry") or "unknown"
    if row.get("recycle_basis") != "feed_price":
        return (
            f"{head} cells × {price} (fallback table of {economics.label}: the "
            f"recycling model cannot value this {row.get('level') or 'unit'})"
        )
    prices = recycling_price_table(economics) if prices is None else prices
    if chem in prices.fixed_feed_usd_per_kg:
        how = f"the fixed feed price of {chem}"
    else:
        how = (
            f"{prices.battery_share:.0%} of its contained Ni + Co value at Ni "
            f"${prices.price('metal:Ni'):,.2f}/kg, Co ${prices.price('metal:Co'):,.2f}/kg"
        )
    return (
        f"{head} ({row.get('level') or 'unit'}, cells and hardware) × {price}: "
        f"EverBatt 2023 feed price, {how} ({prices.origin}; hydrometallurgy)"
    )


def route_decision(row: dict[str, Any], inputs: RoutingInputs) -> Decision:
    """The route :class:`Decision` of one routed row, with every application's reason.

    Parameters
    ----------
    row : dict
        One row of :func:`echelon.grading.grade_table` (routed).
    inputs : RoutingInputs
        The profile, catalogue and economics the row was routed with.
    """
    route = str(row["route"])
    reasons = [
        Reason(
            rule="route.choice",
            passed=route not in NON_REUSE_ROUTES,
            message=_choice_message(row),
            field="value_usd",
            observed=None if row.get("value_usd") is None else round(float(row["value_usd"]), 2),
        )
    ]
    recycle = row.get("recycle_value_usd")
    if recycle is not None:
        reasons.append(
            Reason(
                rule="route.recycling_value",
                passed=True,
                message=recycling_value_text(row, inputs.economics, inputs.recycling_prices),
                field="recycle_value_usd",
                observed=round(float(recycle), 2),
            )
        )
    reasons += condition_reasons(row, inputs)
    reasons += application_reasons(row, inputs)
    keys = (
        "route_basis",
        "allowed_applications",
        "best_application",
        "value_usd",
        "reuse_value_usd",
        "recycle_value_usd",
        "price_usd_per_kwh_year",
        "expected_years",
        "usable_kwh",
        "break_even_price_usd_per_kwh_year",
        "break_even_soh_percent",
        "soh_basis_percent",
        "soh_source",
    )
    seen: dict[str, Any] = {
        k: round(v, 4) if isinstance(v, float) else v for k, v in ((k, row.get(k)) for k in keys)
    }
    seen |= {
        "jurisdiction": inputs.jurisdiction,
        "economics": inputs.economics.label,
        "applications_table": inputs.applications.label,
    }
    return Decision(
        battery_id=str(row["battery_id"]),
        kind="route",
        outcome=route,
        reasons=tuple(reasons),
        profile=inputs.profile.meta.name,
        profile_version=inputs.profile.meta.version,
        inputs=seen,
    )
