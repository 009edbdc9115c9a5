"""Vectorised safety gate and grading over a grading table, then routing (echelon.routing).

Every rule is one polars expression over the whole table, so a batch of 10⁵ units is graded in
one pass. Each gate rule leaves a boolean column ``fail__<rule>``, a message column ``msg__<rule>``
(filled only where the rule fired) and an ``unchecked__<rule>`` flag where its input is missing
and the rule could not be applied (the unit passes it, with that said in its reasons — never
silently). :func:`decisions_from_row` turns a row into typed, explainable
:class:`~echelon.domain.Decision` records for the registry.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Final

import polars as pl

from echelon.domain import Decision, Grade, Reason
from echelon.domain.parse import parse_date
from echelon.domain.plausible import PLAUSIBLE
from echelon.errors import EstimationError, Problem, SchemaError
from echelon.estimation.capacity import relative_uncertainty, soh_from_capacity
from echelon.grading.gate import Rule
from echelon.grading.gate import gate_rules as gate_rules  # (re-exported: passport.catalog)
from echelon.grading.gate_numbers import GATE_NUMBERS
from echelon.grading.profile import PROFILE_FOR_REGION, GradingProfile, load_profile
from echelon.grading.resistance import (
    RATIO_TO_NEW,
    resistance_reasons,
    with_resistance_criterion,
)
from echelon.grading.table import prepare_table
from echelon.routing import (
    Economics,
    RoutingInputs,
    age_at,
    load_economics,
    route_decision,
    route_summary,
    route_table,
    routing_inputs,
    with_configuration,
)

GRADES: Final = [g.value for g in Grade]
MAD_TO_SIGMA: Final = 1.4826
"""Scale factor from median absolute deviation to σ for normal data."""


def _with_batch_statistics(frame: pl.DataFrame, profile: GradingProfile) -> pl.DataFrame:
    """Add the columns that need the whole batch (group statistics), before any filtering.

    ``self_discharge_outlier_limit_mv_per_day`` (the table's, else group median + n × 1.4826 ×
    MAD) and ``self_discharge_outlier_applies`` per (chemistry, model, level);
    ``batch_dcir_median_ohm`` and ``batch_dcir_count`` per (chemistry, model, level, nominal
    capacity). Computed with a group-by and a join (several times faster than window
    expressions on 10⁵ rows).
    """
    g = profile.gate
    k = pl.col("self_discharge_mv_per_day")
    sd_group = ["chemistry", "model", "level"]
    sd = frame.group_by(sd_group).agg(
        k.median().alias("__median"),
        (k - k.median()).abs().median().alias("__mad"),
        k.count().alias("__n"),
    )
    r_group = ["chemistry", "model", "level", "nominal_capacity_ah"]
    dcir = frame.group_by(r_group).agg(
        pl.col("dcir_ohm").median().alias("batch_dcir_median_ohm"),
        pl.col("dcir_ohm").count().alias("batch_dcir_count"),
    )
    joined = frame.join(sd, on=sd_group, how="left", maintain_order="left", nulls_equal=True).join(
        dcir, on=r_group, how="left", maintain_order="left", nulls_equal=True
    )
    given = pl.col("self_discharge_outlier_limit_mv_per_day")  # recorded at intake, when known
    computed = pl.col("__median") + g.self_discharge_outlier_sigma * MAD_TO_SIGMA * pl.col("__mad")
    applies = (pl.col("__n") >= g.self_discharge_outlier_min_group) & (pl.col("__mad") > 0)
    limit, applies = pl.coalesce(given, computed), given.is_not_null() | applies
    return joined.with_columns(
        limit.alias("self_discharge_outlier_limit_mv_per_day"),
        applies.alias("self_discharge_outlier_applies"),
    ).drop("__median", "__mad", "__n")


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


def _messages_where_fired(frame: pl.DataFrame, rules: list[Rule]) -> pl.DataFrame:
    """Add ``msg__<rule>`` columns, formatted only on the rows where some rule fired."""
    fired = frame.select(pl.any_horizontal([pl.col(f"fail__{r.name}") for r in rules]))
    rows = fired.to_series().arg_true()
    empty = pl.Series([None] * frame.height, dtype=pl.String)
    if rows.len() == 0:
        return frame.with_columns(empty.alias(f"msg__{r.name}") for r in rules)
    subset = frame[rows].select(
        pl.when(pl.col(f"fail__{r.name}")).then(r.message).alias(f"msg__{r.name}") for r in rules
    )
    return frame.with_columns(
        empty.scatter(rows, subset.get_column(f"msg__{r.name}")).alias(f"msg__{r.name}")
        for r in rules
    )


def _domain_grade_index(profile: GradingProfile) -> pl.Expr:
    """Best grade index an out-of-domain SOH estimate allows (0 = A: no cap)."""
    cap = profile.grading.cap_out_of_domain
    if cap is None:
        return pl.lit(0, dtype=pl.Int64)
    return (
        pl.when(
            pl.col("soh_out_of_domain").fill_null(False)
            & pl.col("soh_source").ne_missing(CAPACITY_TEST)
        )
        .then(pl.lit(GRADES.index(cap.value), dtype=pl.Int64))
        .otherwise(pl.lit(0, dtype=pl.Int64))
    )


def _grade_note(profile: GradingProfile) -> pl.Expr:
    """Why a passed unit is not grade A: the criterion that set its grade."""
    soh_i, r_i = pl.col("soh_grade_index"), pl.col("resistance_grade_index")
    cap = profile.grading.cap_without_resistance.value
    by_soh = pl.format(
        "grade {}: SOH basis {} % below the next band",
        pl.col("grade"),
        pl.col("soh_basis_percent").round(1),
    )
    by_r = (
        pl.when(pl.col("resistance_ratio").is_null())
        .then(
            pl.lit(
                f"grade capped at {cap}: no resistance ratio (DCIR or reference missing) and no "
                "application R_max computable (ratio-to-new fallback)"
            )
        )
        .otherwise(
            pl.format(
                "grade {}: R/R_ref {} above the next band (ratio-to-new fallback: no "
                "application R_max computable)",
                pl.col("grade"),
                pl.col("resistance_ratio").round(2),
            )
        )
    )
    d_i = pl.col("domain_grade_index")
    by_domain = pl.lit(
        f"grade capped at {profile.grading.cap_out_of_domain}: the SOH is an estimate out of its "
        "model's domain (a capacity test or reference units lift the cap)"
    )
    return (
        pl.when((pl.col("gate") != "pass") | pl.col("grade").is_null() | (pl.col("grade") == "A"))
        .then(pl.lit(None, dtype=pl.String))
        .when((d_i > soh_i) & (d_i >= r_i))
        .then(by_domain)
        .when(r_i > soh_i)
        .then(by_r)
        .otherwise(by_soh)
    )


CAPACITY_TEST: Final = "capacity_test"
"""``soh_source`` of a unit whose SOH comes from its ``measured_capacity_ah``."""


def _with_capacity_soh(frame: pl.DataFrame, *, catalog_dir: Path | None) -> pl.DataFrame:
    """Add ``capacity_soh_percent`` and ``capacity_soh_lower_percent``: the SOH and its lower
    bound from ``measured_capacity_ah`` ÷ ``nominal_capacity_ah``, as the intake computes them
    (:func:`~echelon.estimation.capacity.soh_from_capacity`: the catalogue's capacity-test
    uncertainty, table ``soh_capacity_test``); empty where either capacity is.

    Raises
    ------
    SchemaError
        Naming the row and field of every capacity that gives no SOH (negative, or implausibly
        far above the rated capacity).
    """
    measured, nominal = pl.col("measured_capacity_ah"), pl.col("nominal_capacity_ah")
    soh = 100.0 * measured / nominal  # as soh_from_capacity computes it
    usual = (
        measured.is_finite() & nominal.is_finite() & (measured >= 0) & (nominal > 0)
        & (soh <= PLAUSIBLE["soh_percent"].high)
    )  # fmt: skip
    relative = relative_uncertainty(catalog_dir=catalog_dir)
    out = frame.with_columns(
        soh.alias("capacity_soh_percent"),
        (soh * (1.0 - relative)).alias("capacity_soh_lower_percent"),
        (measured.is_not_null() & nominal.is_not_null() & ~usual.fill_null(False)).alias("_odd"),
    )
    odd = out.get_column("_odd").to_list()
    if not any(odd):
        return out.drop("_odd")
    # the rare rows outside the usual range go through soh_from_capacity: its verdict and message
    values = out.select("capacity_soh_percent", "capacity_soh_lower_percent").to_dict(
        as_series=False
    )
    problems: list[Problem] = []
    pairs = frame.select("measured_capacity_ah", "nominal_capacity_ah").rows()
    for i in (i for i, flag in enumerate(odd) if flag):
        try:
            estimate = soh_from_capacity(*pairs[i], catalog_dir=catalog_dir)
        except EstimationError as exc:
            problems.append(Problem(str(exc), row=i + 1, column="measured_capacity_ah"))
            continue
        values["capacity_soh_percent"][i] = estimate.soh_percent
        values["capacity_soh_lower_percent"][i] = estimate.soh_lower_percent
    if problems:
        raise SchemaError("grading table", problems)
    return out.drop("_odd").with_columns(
        pl.Series("capacity_soh_percent", values["capacity_soh_percent"], dtype=pl.Float64),
        pl.Series(
            "capacity_soh_lower_percent", values["capacity_soh_lower_percent"], dtype=pl.Float64
        ),
    )


def _soh_columns(profile: GradingProfile) -> list[pl.Expr]:
    """``soh_source``, ``soh_estimate_percent`` and ``soh_basis_percent``: a measured capacity
    wins over a given estimate (the estimate is what a capacity test replaces)."""
    measured = pl.col("capacity_soh_percent").is_not_null()
    soh = pl.coalesce(pl.col("capacity_soh_percent"), pl.col("soh_percent"))
    lower = (
        pl.when(measured)
        .then(pl.col("capacity_soh_lower_percent"))
        .otherwise(pl.col("soh_lower_percent"))
    )
    basis = pl.coalesce(lower, soh) if profile.grading.use_soh_lower_bound else soh
    source = (
        pl.when(measured)
        .then(pl.lit(CAPACITY_TEST))
        .when(pl.col("soh_percent").is_not_null())
        .then(pl.lit("estimate"))
    )
    return [
        source.alias("soh_source"),
        soh.alias("soh_estimate_percent"),
        basis.alias("soh_basis_percent"),
    ]


def _soh_note() -> pl.Expr:
    """Say where the SOH came from: none, or a measured capacity (replacing a given estimate)."""
    replaced = pl.format(
        " — it replaces the given estimate soh_percent {} %",
        pl.col("soh_percent").round(1),
    )
    return (
        pl.when(pl.col("soh_basis_percent").is_null())
        .then(pl.lit("no SOH: run a capacity or pulse test, then grade"))
        .when(pl.col("soh_source") == CAPACITY_TEST)
        .then(
            pl.concat_str(
                pl.format(
                    "SOH {} % (basis {} %) from the measured capacity {} A·h of the rated {} A·h "
                    "(capacity test, catalogue soh_capacity_test uncertainty)",
                    pl.col("soh_estimate_percent").round(2),
                    pl.col("soh_basis_percent").round(2),
                    pl.col("measured_capacity_ah"),
                    pl.col("nominal_capacity_ah"),
                ),
                pl.when((pl.col("soh_percent") - pl.col("soh_estimate_percent")).abs() >= 0.005)
                .then(replaced)
                .otherwise(pl.lit("")),
            )
        )
    )


def _gate_and_grade(
    table: pl.DataFrame, inputs: RoutingInputs, *, as_of: dt.date, catalog_dir: Path | None
) -> pl.DataFrame:
    profile = inputs.profile
    frame = _with_capacity_soh(
        _with_batch_statistics(prepare_table(table, catalog_dir=catalog_dir), profile),
        catalog_dir=catalog_dir,
    ).with_columns(age_at(as_of))  # the router's second-life years use it
    rules = gate_rules(profile, as_of=as_of)
    frame = frame.with_columns(
        *[r.fail.alias(f"fail__{r.name}") for r in rules],
        *[(r.unchecked & ~r.fail).alias(f"unchecked__{r.name}") for r in rules],
    )
    frame = _messages_where_fired(frame, rules)
    quarantine = pl.any_horizontal([pl.col(f"fail__{r.name}") for r in rules])
    enough = pl.col("batch_dcir_count") >= profile.grading.reference_resistance_min_group
    r_ref = pl.coalesce(
        pl.col("reference_dcir_ohm"), pl.when(enough).then(pl.col("batch_dcir_median_ohm"))
    )
    frame = frame.with_columns(
        pl.when(quarantine).then(pl.lit("quarantine")).otherwise(pl.lit("pass")).alias("gate"),
        *_soh_columns(profile),
        (pl.col("dcir_ohm") / r_ref).alias("resistance_ratio"),
        r_ref.alias("reference_resistance_ohm"),
    ).with_columns(
        _grade_index(pl.col("soh_basis_percent"), profile).alias("soh_grade_index"),
    )
    # application R_max where computable, ratio-to-new as the fallback (grading.resistance)
    frame = with_resistance_criterion(
        with_configuration(frame, inputs), profile, inputs.applications
    )
    frame = frame.with_columns(_domain_grade_index(profile).alias("domain_grade_index"))
    worst = pl.max_horizontal("soh_grade_index", "resistance_grade_index", "domain_grade_index")
    grade = (
        pl.when(pl.col("gate") == "quarantine")
        .then(pl.lit("D"))
        .when(pl.col("soh_basis_percent").is_null())
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(worst.replace_strict(dict(enumerate(GRADES)), return_dtype=pl.String))
    )
    fields: dict[str, list[str]] = {}
    for r in rules:
        fields.setdefault(r.field, []).append(f"unchecked__{r.name}")
    unchecked = pl.concat_str(
        [pl.when(pl.any_horizontal(cols)).then(pl.lit(f)) for f, cols in fields.items()]
        + [
            pl.when(pl.col("dcir_ohm").is_null()).then(pl.lit("dcir_ohm")),
            pl.when(
                pl.col("dcir_ohm").is_not_null()
                & pl.col("resistance_ratio").is_null()
                & (pl.col("resistance_criterion") == RATIO_TO_NEW)
            ).then(pl.lit("reference_dcir_ohm")),
        ],
        separator=";",
        ignore_nulls=True,
    )
    return frame.with_columns(
        grade.alias("grade"),
        unchecked.alias("unchecked"),
        pl.lit(profile.label).alias("profile"),
        pl.lit(profile.meta.jurisdiction).alias("jurisdiction"),
    )


def _reasons(rules: list[str], profile: GradingProfile, *, routed: bool) -> pl.Expr:
    fired = [pl.col(f"msg__{name}") for name in rules]
    parts = [*fired, _soh_note(), pl.col("chemistry_note"), _grade_note(profile)]
    return pl.concat_str(
        [*parts, route_summary()] if routed else parts, separator="; ", ignore_nulls=True
    )


def grade_table(
    table: pl.DataFrame,
    *,
    profile: GradingProfile | str | Path = "baseline",
    as_of: dt.date | str | None = None,
    catalog_dir: Path | None = None,
    economics: Economics | str | Path | None = None,
    route: bool = True,
    break_even: bool = True,
) -> pl.DataFrame:
    """Gate, grade and route every unit of a grading table.

    Parameters
    ----------
    table : pl.DataFrame
        Grading table (see :mod:`echelon.grading.table` for columns; any may be missing/empty).
    profile : GradingProfile, str or Path
        Profile object, catalogue name (``baseline``, ``eu``, ``cn``, ``us``) or TOML path.
    as_of : date or str, optional
        Date against which calendar expiry is checked (``YYYY-MM-DD`` accepted; default:
        today, UTC).
    catalog_dir : Path, optional
        Catalogue override folder.
    economics : Economics, str or Path, optional
        Prices and costs (default: the table the profile names); see
        :func:`echelon.routing.load_economics` for per-run overrides.
    route : bool
        Also route (allowed applications, values, route); ``False`` stops after the grade.
    break_even : bool
        Also compute the break-even price and SOH of the reuse-or-recycle decision.

    Returns
    -------
    pl.DataFrame
        The prepared table plus ``gate`` (``pass``/``quarantine``), ``grade`` (A–D, empty when
        no SOH is available), ``soh_basis_percent``, ``resistance_ratio``,
        ``resistance_criterion`` (``application_r_max`` where an application's R_max can be
        computed for the unit, else the ``ratio_to_new`` fallback; see
        :mod:`echelon.grading.resistance`), ``resistance_ratio_grade``, ``unchecked``
        (fields missing, so their rules were not applied), ``profile``, ``jurisdiction``,
        per-rule ``fail__*``/``msg__*``/``unchecked__*``, ``reasons`` (fired rules, the grade's
        limiting criterion and the route's reason, ``; ``-separated) and, when routing, the
        columns of :func:`echelon.routing.route_table` (``route``, ``allowed_applications``,
        ``value_usd``, …).
    """
    prof = (
        profile
        if isinstance(profile, GradingProfile)
        else load_profile(profile, catalog_dir=catalog_dir)
    )
    if isinstance(as_of, str):
        as_of = parse_date(as_of, option="as_of")
    day = as_of or dt.datetime.now(dt.UTC).date()
    econ = (
        economics
        if isinstance(economics, Economics) or economics is None
        else load_economics(economics, catalog_dir=catalog_dir)
    )
    inputs = routing_inputs(prof, economics=econ, catalog_dir=catalog_dir)
    frame = _gate_and_grade(table, inputs, as_of=day, catalog_dir=catalog_dir)
    rules = [r.name for r in gate_rules(prof, as_of=day)]
    if route:
        frame = route_table(frame, inputs=inputs, break_even=break_even)
    else:
        frame = frame.with_columns(
            pl.lit(None, dtype=pl.String).alias(c)
            for c in ("route", "route_basis", "best_application")
        )
    return frame.with_columns(
        _reasons(rules, prof, routed=route).alias("reasons"), pl.lit(day).alias("gate_as_of")
    )


def grade_by_region(
    table: pl.DataFrame,
    *,
    profile: GradingProfile | str | Path | None = None,
    as_of: dt.date | None = None,
    catalog_dir: Path | None = None,
    economics: Economics | None = None,
    break_even: bool = True,
) -> tuple[pl.DataFrame, dict[str, RoutingInputs]]:
    """Grade a table with the profile of each unit's region, or one profile for all.

    Parameters
    ----------
    table : pl.DataFrame
        Grading table; its ``region`` column (``EU``, ``CN``, ``US``, ``other``) selects the
        profile (:data:`~echelon.grading.profile.PROFILE_FOR_REGION`) when ``profile`` is None.
    profile : GradingProfile, str or Path, optional
        Override: grade every unit with this profile.
    as_of, catalog_dir, economics, break_even
        As for :func:`grade_table`.

    Returns
    -------
    (pl.DataFrame, dict)
        The graded rows (input order kept) and the routing inputs per profile label (for
        :func:`decisions_from_row`).
    """
    indexed = table.with_row_index("__row")
    if profile is not None or table.height == 0:
        plan: list[tuple[GradingProfile | str | Path, pl.DataFrame]] = [
            (profile or "baseline", indexed)
        ]
    else:
        region = (
            pl.col("region").cast(pl.String).str.strip_chars().str.to_uppercase()
            if "region" in table.columns
            else pl.lit(None, dtype=pl.String)
        )
        names = {r.value.upper(): name for r, name in PROFILE_FOR_REGION.items()}
        keyed = indexed.with_columns(
            region.replace_strict(names, default="baseline").alias("__profile")
        )
        parts = keyed.partition_by("__profile", as_dict=True, include_key=False)
        plan = [(str(key[0]), part) for key, part in parts.items()]
    frames = []
    inputs: dict[str, RoutingInputs] = {}
    for chosen, part in plan:
        prof = (
            chosen
            if isinstance(chosen, GradingProfile)
            else load_profile(chosen, catalog_dir=catalog_dir)
        )
        resolved = routing_inputs(prof, economics=economics, catalog_dir=catalog_dir)
        inputs[prof.label] = resolved
        frames.append(
            grade_table(
                part,
                profile=prof,
                as_of=as_of,
                catalog_dir=catalog_dir,
                economics=resolved.economics,
                break_even=break_even,
            )
        )
    out = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    return out.sort("__row").drop("__row"), inputs


def decisions_from_row(
    row: dict[str, Any], profile: GradingProfile | RoutingInputs
) -> list[Decision]:
    """Gate, grade and route :class:`Decision` records for one graded row (every rule listed).

    Parameters
    ----------
    row : dict
        One row of :func:`grade_table`'s output.
    profile : GradingProfile or RoutingInputs
        The profile the row was graded with, or the full routing inputs (needed to explain a
        route when the run overrode prices); a profile alone loads its default catalogue and
        economics.
    """
    inputs = profile if isinstance(profile, RoutingInputs) else routing_inputs(profile)
    prof = inputs.profile
    bid = str(row["battery_id"])
    rule_names = [k.removeprefix("fail__") for k in row if k.startswith("fail__")]
    gate_reasons = tuple(_gate_reason(row, name, prof) for name in rule_names)
    inputs_seen = {
        k: row.get(k)
        for k in (
            "chemistry",
            "level",
            "soh_percent",
            "soh_lower_percent",
            "measured_capacity_ah",
            "soh_source",
            "soh_basis_percent",
            "dcir_ohm",
            "reference_dcir_ohm",
            "resistance_criterion",
            "resistance_ratio",
            "ocv_v",
            "self_discharge_mv_per_day",
            "insulation_mohm",
            "unchecked",
        )
    }
    common = {
        "battery_id": bid,
        "profile": prof.meta.name,
        "profile_version": prof.meta.version,
    }
    decisions = [
        Decision(
            kind="gate", outcome=row["gate"], reasons=gate_reasons, inputs=inputs_seen, **common
        )
    ]
    if row["grade"] is not None:
        decisions.append(
            Decision(
                kind="grade",
                outcome=row["grade"],
                reasons=_grade_reasons(row, inputs),
                inputs=inputs_seen,
                **common,
            )
        )
    if row.get("route") is not None:
        decisions.append(route_decision(row, inputs))
    return decisions


def _gate_reason(row: dict[str, Any], name: str, profile: GradingProfile) -> Reason:
    """One gate rule's reason: its message and, for every rule with a known comparison, the
    field, the observed value and the limit (``gate_numbers``), fired or passed."""
    fired = bool(row[f"fail__{name}"])
    numbers = GATE_NUMBERS.get(name)
    field, observed, limit, text = (
        (None, None, None, "") if numbers is None else numbers(row, profile)
    )
    if fired:
        message = str(row[f"msg__{name}"])
    elif row.get(f"unchecked__{name}"):
        message = f"{name}: not checked — input missing (a measurement would tighten this)"
    else:
        message = f"{name}: ok — {text}" if text else f"{name}: ok"
    return Reason(
        rule=name, passed=not fired, message=message, field=field, observed=observed, limit=limit
    )


def _grade_reasons(row: dict[str, Any], inputs: RoutingInputs) -> tuple[Reason, ...]:
    profile = inputs.profile
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
    cap = profile.grading.cap_out_of_domain
    if cap is not None and row.get("soh_out_of_domain") and row.get("soh_source") != CAPACITY_TEST:
        reasons.append(
            Reason(
                rule="grade.soh_domain",
                passed=max(row.get("soh_grade_index") or 0, row.get("resistance_grade_index") or 0)
                >= GRADES.index(cap.value),  # failed where the cap lowered the grade
                field="soh_out_of_domain",
                message=f"SOH estimated out of its model's domain: grade capped at {cap.value} "
                f"(its widened interval is not calibrated; a capacity test or reference units "
                f"lift the cap; {profile.label})",
            )
        )
    reasons += resistance_reasons(row, profile, inputs.applications)
    return tuple(reasons)
