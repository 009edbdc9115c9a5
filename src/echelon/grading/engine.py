"""Vectorised safety gate, grading and first routing over a grading table.

Every rule is one polars expression over the whole table, so a batch of 10⁵ units is graded in
one pass. Each rule leaves a boolean column ``fail__<rule>`` and a message column ``msg__<rule>``;
:func:`decisions_from_row` turns them into typed, explainable :class:`~echelon.domain.Decision`
records for the registry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl

from echelon.domain import Decision, Grade, Reason
from echelon.grading.profile import GradingProfile, load_profile
from echelon.grading.table import prepare_table

GRADES: Final = [g.value for g in Grade]
MAD_TO_SIGMA: Final = 1.4826
"""Scale factor from median absolute deviation to σ for normal data."""


@dataclass(frozen=True)
class Rule:
    """A gate rule: the field it reads, and its fail and message expressions."""

    name: str
    field: str
    fail: pl.Expr
    message: pl.Expr


def gate_rules(profile: GradingProfile, *, as_of: dt.date) -> list[Rule]:
    """The safety-gate rules of a profile as polars expressions (evaluated on a prepared table)."""
    g = profile.gate
    flags = pl.col("visual_flags").str.strip_chars().str.to_lowercase()
    has_flags = flags.is_not_null() & ~flags.is_in(["", "none", "ok"])
    trace_levels = [lvl.value for lvl in g.require_traceability_levels]
    ins_levels = [lvl.value for lvl in g.require_insulation_levels]
    ocv_cell = pl.col("ocv_v") / pl.col("series_count")
    ins_ohm_per_v = pl.col("insulation_mohm") * 1e6 / pl.col("nominal_voltage_v")
    sd_pct = (pl.col("self_discharge_mv_per_day") / pl.col("series_count")) / pl.col(
        "ocv_slope_mv_per_percent"
    )
    group = ["chemistry", "model", "level"]
    k = pl.col("self_discharge_mv_per_day")
    median = k.median().over(group)
    mad = (k - median).abs().median().over(group)
    n = k.count().over(group)
    limit_outlier = median + g.self_discharge_outlier_sigma * MAD_TO_SIGMA * mad
    return [
        Rule(
            "gate.visual_damage",
            "visual_flags",
            has_flags.fill_null(False),
            pl.format("visual damage: {}", pl.col("visual_flags")),
        ),
        Rule(
            "gate.traceability",
            "has_traceability",
            (pl.col("level").is_in(trace_levels) & ~pl.col("has_traceability").fill_null(False)),
            pl.when(pl.col("has_traceability").is_null())
            .then(
                pl.format(
                    "traceability unknown for a {}: treated as absent ({})",
                    pl.col("level"),
                    pl.lit(g.traceability_source),
                )
            )
            .otherwise(
                pl.format(
                    "no lifetime traceability data for a {} ({})",
                    pl.col("level"),
                    pl.lit(g.traceability_source),
                )
            ),
        ),
        Rule(
            "gate.calendar_expiry",
            "calendar_expiry_date",
            (pl.col("calendar_expiry_date") < pl.lit(as_of)).fill_null(False),
            pl.format(
                "past the OEM calendar-expiry date {} (UL 1974 ed. 2 [S15c])",
                pl.col("calendar_expiry_date"),
            ),
        ),
        Rule(
            "gate.reuse_standard",
            "chemistry",
            ~pl.col("has_reuse_standard").fill_null(False),
            pl.format(
                "chemistry {} has no reuse standard: recycling only ([S1][S16])",
                pl.col("chemistry"),
            ),
        ),
        Rule(
            "gate.ocv_measured",
            "ocv_v",
            pl.col("ocv_v").is_null(),
            pl.lit("OCV not measured: measure the resting voltage before grading"),
        ),
        Rule(
            "gate.ocv_window",
            "ocv_v",
            ((ocv_cell < pl.col("ocv_min_v")) | (ocv_cell > pl.col("ocv_max_v"))).fill_null(False),
            pl.when(ocv_cell < g.zero_volt_threshold_v_per_cell)
            .then(pl.format("0 V unit: {} V per cell", ocv_cell.round(3)))
            .otherwise(
                pl.format(
                    "OCV {} V per cell outside the {} window [{}, {}] V ({})",
                    ocv_cell.round(3),
                    pl.col("chemistry"),
                    pl.col("ocv_min_v"),
                    pl.col("ocv_max_v"),
                    pl.lit(g.ocv_source),
                )
            ),
        ),
        Rule(
            "gate.insulation",
            "insulation_mohm",
            (
                (pl.col("level").is_in(ins_levels) & pl.col("insulation_mohm").is_null())
                | (ins_ohm_per_v < g.insulation_min_ohm_per_volt).fill_null(False)
            ),
            pl.when(pl.col("insulation_mohm").is_null())
            .then(pl.format("insulation resistance not measured for a {}", pl.col("level")))
            .otherwise(
                pl.format(
                    "insulation {} Ω/V < {} Ω/V ({})",
                    ins_ohm_per_v.round(1),
                    pl.lit(g.insulation_min_ohm_per_volt),
                    pl.lit(g.insulation_source),
                )
            ),
        ),
        Rule(
            "gate.self_discharge",
            "self_discharge_mv_per_day",
            (sd_pct >= g.self_discharge_max_percent_per_day).fill_null(False),
            pl.format(
                "self-discharge {} %/day ≥ {} %/day ({})",
                sd_pct.round(2),
                pl.lit(g.self_discharge_max_percent_per_day),
                pl.lit(g.self_discharge_source),
            ),
        ),
        Rule(
            "gate.self_discharge_outlier",
            "self_discharge_mv_per_day",
            ((n >= g.self_discharge_outlier_min_group) & (mad > 0) & (k > limit_outlier)).fill_null(
                False
            ),
            pl.format(
                "self-discharge {} mV/day is a batch outlier (> median + {}σ = {} mV/day)",
                k.round(2),
                pl.lit(g.self_discharge_outlier_sigma),
                limit_outlier.round(2),
            ),
        ),
        Rule(
            "gate.lithium_plating",
            "plating_signature",
            pl.col("plating_signature").fill_null(False),
            pl.lit("lithium-plating signature in post-charge relaxation ([S38])"),
        ),
    ]


def _grade_index(basis: pl.Expr, profile: GradingProfile) -> pl.Expr:
    families = {f for b in profile.grade for f in b.soh_min_percent_by_family}
    expr = pl.lit(len(profile.grade), dtype=pl.Int64)
    for index in reversed(range(len(profile.grade))):
        band = profile.grade[index]
        minimum: pl.Expr = pl.lit(band.soh_min_percent)
        for family in families:
            minimum = (
                pl.when(pl.col("family") == family)
                .then(pl.lit(band.soh_min_for(family)))
                .otherwise(minimum)
            )
        expr = pl.when(basis >= minimum).then(pl.lit(index, dtype=pl.Int64)).otherwise(expr)
    return expr


def _resistance_index(ratio: pl.Expr, profile: GradingProfile) -> pl.Expr:
    cap = GRADES.index(profile.grading.cap_without_resistance.value)
    expr = pl.lit(len(profile.grade), dtype=pl.Int64)
    for index in reversed(range(len(profile.grade))):
        expr = (
            pl.when(ratio <= profile.grade[index].resistance_ratio_max)
            .then(pl.lit(index, dtype=pl.Int64))
            .otherwise(expr)
        )
    return pl.when(ratio.is_null()).then(pl.lit(cap, dtype=pl.Int64)).otherwise(expr)


def _eligible(app_name: str, profile: GradingProfile) -> pl.Expr:
    app = profile.application[app_name]
    ok = pl.col("level").is_in([lvl.value for lvl in app.levels]) & pl.col("family").is_in(
        list(app.families)
    )
    if app.origins:
        ok = ok & pl.col("origin_application").is_in([o.value for o in app.origins])
    return ok.fill_null(False)


def _routes(profile: GradingProfile) -> tuple[pl.Expr, pl.Expr]:
    """(chosen route, allowed applications joined by ';') expressions."""
    allowed_by_grade: dict[str, list[str]] = {}
    for index, grade in enumerate(GRADES):
        names: list[str] = []
        for lower in GRADES[index:]:
            names += [a for a in profile.route.get(Grade(lower), ()) if a not in names]
        allowed_by_grade[grade] = names
    chosen: pl.Expr = pl.lit(None, dtype=pl.String)
    allowed: pl.Expr = pl.lit(None, dtype=pl.String)
    for grade, names in allowed_by_grade.items():
        pick = pl.coalesce(
            *[pl.when(_eligible(a, profile)).then(pl.lit(a)) for a in names],
            pl.lit(None, dtype=pl.String),
        )
        listing = (
            pl.concat_list(
                [pl.when(_eligible(a, profile)).then(pl.lit(a)) for a in names]
                or [pl.lit(None, dtype=pl.String)]
            )
            .list.drop_nulls()
            .list.join(";")
        )
        chosen = pl.when(pl.col("grade") == grade).then(pick).otherwise(chosen)
        allowed = pl.when(pl.col("grade") == grade).then(listing).otherwise(allowed)
    return chosen, allowed


def grade_table(
    table: pl.DataFrame,
    *,
    profile: GradingProfile | str | Path = "baseline",
    as_of: dt.date | None = None,
    catalog_dir: Path | None = None,
) -> pl.DataFrame:
    """Gate, grade and route every unit of a grading table.

    Parameters
    ----------
    table : pl.DataFrame
        Grading table (see :mod:`echelon.grading.table` for columns; any may be missing/empty).
    profile : GradingProfile, str or Path
        Profile object, catalogue name or TOML path.
    as_of : date, optional
        Date against which calendar expiry is checked (default: today, UTC).
    catalog_dir : Path, optional
        Catalogue override folder.

    Returns
    -------
    pl.DataFrame
        The prepared table plus ``gate`` (``pass``/``quarantine``), ``grade`` (A–D, empty when
        no SOH is available), ``route`` (application, ``recycle`` or ``retest``),
        ``allowed_applications``, ``soh_basis_percent``, ``resistance_ratio``, ``reasons``
        (fired rules, ``; ``-separated), ``profile``, and per-rule ``fail__*``/``msg__*``.
    """
    prof = (
        profile
        if isinstance(profile, GradingProfile)
        else load_profile(profile, catalog_dir=catalog_dir)
    )
    day = as_of or dt.datetime.now(dt.UTC).date()
    frame = prepare_table(table, catalog_dir=catalog_dir)
    rules = gate_rules(prof, as_of=day)
    frame = frame.with_columns(
        *[r.fail.alias(f"fail__{r.name}") for r in rules],
        *[r.message.alias(f"msg__{r.name}") for r in rules],
    )
    quarantine = pl.any_horizontal([pl.col(f"fail__{r.name}") for r in rules])
    soh = pl.coalesce(
        pl.col("soh_percent"),
        100.0 * pl.col("measured_capacity_ah") / pl.col("nominal_capacity_ah"),
    )
    basis = (
        pl.coalesce(pl.col("soh_lower_percent"), soh) if prof.grading.use_soh_lower_bound else soh
    )
    group = ["chemistry", "model", "level", "nominal_capacity_ah"]
    median_r = pl.col("dcir_ohm").median().over(group)
    enough = pl.col("dcir_ohm").count().over(group) >= prof.grading.reference_resistance_min_group
    r_ref = pl.coalesce(pl.col("reference_dcir_ohm"), pl.when(enough).then(median_r))
    frame = frame.with_columns(
        pl.when(quarantine).then(pl.lit("quarantine")).otherwise(pl.lit("pass")).alias("gate"),
        basis.alias("soh_basis_percent"),
        (pl.col("dcir_ohm") / r_ref).alias("resistance_ratio"),
        r_ref.alias("reference_resistance_ohm"),
    )
    worst = pl.max_horizontal(
        _grade_index(pl.col("soh_basis_percent"), prof),
        _resistance_index(pl.col("resistance_ratio"), prof),
    )
    grade = (
        pl.when(pl.col("gate") == "quarantine")
        .then(pl.lit("D"))
        .when(pl.col("soh_basis_percent").is_null())
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(worst.replace_strict(dict(enumerate(GRADES)), return_dtype=pl.String))
    )
    frame = frame.with_columns(grade.alias("grade"))
    chosen, allowed = _routes(prof)
    route = (
        pl.when(pl.col("grade").is_null())
        .then(pl.lit("retest"))
        .when(pl.col("gate") == "quarantine")
        .then(pl.lit("recycle"))
        .otherwise(pl.coalesce(chosen, pl.lit("recycle")))
    )
    fired = pl.concat_list(
        [pl.when(pl.col(f"fail__{r.name}")).then(pl.col(f"msg__{r.name}")) for r in rules]
    ).list.drop_nulls()
    soh_note = pl.when(pl.col("soh_basis_percent").is_null()).then(
        pl.lit("no SOH: run a capacity or pulse test, then grade")
    )
    return frame.with_columns(
        route.alias("route"),
        pl.when(pl.col("gate") == "pass")
        .then(allowed)
        .otherwise(pl.lit(""))
        .alias("allowed_applications"),
        pl.concat_list(
            [fired, pl.concat_list([soh_note, pl.col("chemistry_note")]).list.drop_nulls()]
        )
        .list.join("; ")
        .alias("reasons"),
        pl.lit(prof.label).alias("profile"),
    )


def decisions_from_row(row: dict[str, Any], profile: GradingProfile) -> list[Decision]:
    """Gate, grade and route :class:`Decision` records for one graded row (every rule listed)."""
    bid = str(row["battery_id"])
    rule_names = [k.removeprefix("fail__") for k in row if k.startswith("fail__")]
    gate_reasons = tuple(
        Reason(
            rule=name,
            passed=not row[f"fail__{name}"],
            message=row[f"msg__{name}"] if row[f"fail__{name}"] else f"{name}: ok",
        )
        for name in rule_names
    )
    inputs = {
        k: row.get(k)
        for k in (
            "chemistry",
            "level",
            "soh_percent",
            "soh_lower_percent",
            "dcir_ohm",
            "ocv_v",
            "self_discharge_mv_per_day",
            "insulation_mohm",
        )
    }
    common = {
        "battery_id": bid,
        "profile": profile.meta.name,
        "profile_version": profile.meta.version,
    }
    decisions = [
        Decision(kind="gate", outcome=row["gate"], reasons=gate_reasons, inputs=inputs, **common)
    ]
    if row["grade"] is not None:
        decisions.append(
            Decision(
                kind="grade",
                outcome=row["grade"],
                reasons=_grade_reasons(row, profile),
                inputs=inputs,
                **common,
            )
        )
    route_reason = Reason(
        rule="route.first_allowed",
        passed=row["route"] not in ("recycle", "retest"),
        message=(f"route {row['route']} (allowed: {row['allowed_applications'] or 'none'})"),
        observed=row["route"],
    )
    decisions.append(
        Decision(kind="route", outcome=row["route"], reasons=(route_reason,), **common)
    )
    return decisions


def _grade_reasons(row: dict[str, Any], profile: GradingProfile) -> tuple[Reason, ...]:
    reasons = []
    basis = row.get("soh_basis_percent")
    family = row.get("family") or "unknown"
    if row["gate"] == "quarantine":
        reasons.append(
            Reason(
                rule="grade.quarantine",
                passed=False,
                message="quarantined at the safety gate: grade D (recycle)",
            )
        )
    for band in profile.grade:
        minimum = band.soh_min_for(family)
        ok = basis is not None and basis >= minimum
        reasons.append(
            Reason(
                rule=f"grade.{band.name.value}.soh",
                passed=ok,
                field="soh_basis_percent",
                observed=None if basis is None else round(float(basis), 2),
                limit=minimum,
                message=f"SOH basis {basis:.1f} % {'≥' if ok else '<'} {minimum} % (grade "
                f"{band.name.value})"
                if basis is not None
                else "no SOH",
            )
        )
        ratio = row.get("resistance_ratio")
        if ratio is None:
            reasons.append(
                Reason(
                    rule=f"grade.{band.name.value}.resistance",
                    passed=band.name.value >= profile.grading.cap_without_resistance.value,
                    field="resistance_ratio",
                    message=f"no resistance ratio (no DCIR or reference): grade capped at "
                    f"{profile.grading.cap_without_resistance.value}",
                )
            )
        else:
            r_ok = ratio <= band.resistance_ratio_max
            reasons.append(
                Reason(
                    rule=f"grade.{band.name.value}.resistance",
                    passed=r_ok,
                    field="resistance_ratio",
                    observed=round(float(ratio), 3),
                    limit=band.resistance_ratio_max,
                    message=f"R/R_ref {ratio:.2f} {'≤' if r_ok else '>'} "
                    f"{band.resistance_ratio_max} (grade {band.name.value})",
                )
            )
    return tuple(reasons)
