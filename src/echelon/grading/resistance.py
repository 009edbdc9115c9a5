"""The grade's resistance criterion: the application's R_max where its peak is known, else R/R_ref.

Resistance limits are derived from the target application where its peak power is known —
R_max = margin × s × (OCV(power SOC) − V_min,load per cell) / I_peak — and the ratio to the new-cell
resistance is the fallback (issue 5; second-life-domain.md §9a note 2). A grade is computed per
unit, before an application is chosen, so the criterion is decided per unit:

``application_r_max``
    An R_max can be computed for the unit for at least one application of the catalogue (DCIR
    measured, the application's peak C-rate known, a series count of the unit fits its voltage
    window, rated capacity and SOH known). The grade takes **no** band from resistance and a
    missing new-cell reference does not cap it: the router admits or refuses each application by
    its own R_max (misfit bit ``resistance``, with the numbers).
``ratio_to_new``
    Fallback when no R_max can be computed: R/R_ref against the grade bands; without a ratio (no
    DCIR, or no reference and too small a batch group) the grade is capped at the profile's
    ``grading.cap_without_resistance``.

The ratio-to-new grade (``resistance_ratio_grade``) is computed for every unit: the router also
applies it to applications whose peak current is not known.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import polars as pl

from echelon.domain import Grade, Reason
from echelon.grading.profile import GradingProfile
from echelon.routing import ApplicationCatalog, rmax_ohm

ResistanceCriterion = Literal["application_r_max", "ratio_to_new"]
APPLICATION_R_MAX: Final = "application_r_max"
RATIO_TO_NEW: Final = "ratio_to_new"
GRADES: Final = [g.value for g in Grade]


def ratio_grade_index(ratio: pl.Expr, profile: GradingProfile) -> pl.Expr:
    """Index (0 = A … 3 = D) of the best grade band whose R/R_ref limit ``ratio`` meets.

    A missing ratio gives the profile's ``cap_without_resistance`` grade.
    """
    cap = GRADES.index(profile.grading.cap_without_resistance.value)
    expr = pl.lit(len(profile.grade), dtype=pl.Int64)
    for index in reversed(range(len(profile.grade))):
        expr = (
            pl.when(ratio <= profile.grade[index].resistance_ratio_max)
            .then(pl.lit(index, dtype=pl.Int64))
            .otherwise(expr)
        )
    return pl.when(ratio.is_null()).then(pl.lit(cap, dtype=pl.Int64)).otherwise(expr)


def with_resistance_criterion(
    frame: pl.DataFrame, profile: GradingProfile, applications: ApplicationCatalog
) -> pl.DataFrame:
    """Add the resistance criterion and its grade index to a frame being graded.

    Parameters
    ----------
    frame : pl.DataFrame
        Prepared table with ``soh_basis_percent``, ``dcir_ohm``, ``resistance_ratio`` and the
        series configuration of every application (:func:`echelon.routing.with_configuration`).
    profile : GradingProfile
    applications : ApplicationCatalog
        The catalogue the profile routes with (its peak C-rates give R_max).

    Returns
    -------
    pl.DataFrame
        ``frame`` plus ``resistance_criterion`` (``application_r_max`` or ``ratio_to_new``),
        ``resistance_ratio_grade`` (A–D from R/R_ref, capped when there is no ratio),
        ``resistance_grade_index`` (the grade index resistance imposes: 0 under
        ``application_r_max``, the ratio grade's under ``ratio_to_new``) and ``rmax_ohm__<app>``
        [Ω] for every application with a known peak current.
    """
    peak = {a: s for a, s in applications.application.items() if s.peak_c_rate is not None}
    frame = frame.with_columns(rmax_ohm(a, s).alias(f"rmax_ohm__{a}") for a, s in peak.items())
    computable: pl.Expr = pl.lit(False)
    if peak:
        any_rmax = pl.any_horizontal([pl.col(f"rmax_ohm__{a}").is_not_null() for a in peak])
        computable = any_rmax & pl.col("dcir_ohm").is_not_null()
    ratio_index = ratio_grade_index(pl.col("resistance_ratio"), profile)
    by_rmax = pl.col("resistance_criterion") == APPLICATION_R_MAX
    return (
        frame.with_columns(
            pl.when(computable.fill_null(False))
            .then(pl.lit(APPLICATION_R_MAX))
            .otherwise(pl.lit(RATIO_TO_NEW))
            .alias("resistance_criterion"),
            ratio_index.replace_strict(dict(enumerate(GRADES)), return_dtype=pl.String).alias(
                "resistance_ratio_grade"
            ),
            ratio_index.alias("__ratio_index"),
        )
        .with_columns(
            pl.when(by_rmax)
            .then(pl.lit(0, dtype=pl.Int64))
            .otherwise(pl.col("__ratio_index"))
            .alias("resistance_grade_index")
        )
        .drop("__ratio_index")
    )


def _mohm(value: float) -> str:
    return f"{value * 1e3:.3g} mΩ"


def _fallback_why(row: dict[str, Any], applications: ApplicationCatalog) -> str:
    if not any(s.peak_c_rate is not None for s in applications.application.values()):
        return f"no application of {applications.label} has a known peak current"
    if row.get("dcir_ohm") is None:
        return "no DCIR measured"
    return (
        "R_max cannot be computed for any application (rated capacity, SOH or a series count "
        "fitting an application's window missing)"
    )


def resistance_reasons(
    row: dict[str, Any], profile: GradingProfile, applications: ApplicationCatalog
) -> list[Reason]:
    """The grade's resistance reasons for one graded row: the criterion used and its numbers.

    Under ``application_r_max``: one reason with the measured DCIR against every application's
    R_max, the margin and the profile; under ``ratio_to_new``: one reason per grade band with
    R/R_ref against the band's limit (or the cap when there is no ratio), saying why it is the
    fallback.
    """
    margin = profile.routing.resistance_margin
    dcir = row.get("dcir_ohm")
    ratio = row.get("resistance_ratio")
    if row.get("resistance_criterion") == APPLICATION_R_MAX and dcir is not None:
        parts = []
        for app, spec in applications.application.items():
            rmax = row.get(f"rmax_ohm__{app}")
            if spec.peak_c_rate is None or rmax is None:
                continue
            sign = "≤" if dcir <= rmax else ">"
            parts.append(f"{app} {sign} {_mohm(rmax)} ({spec.peak_c_rate:g} C)")
        ratio_text = (
            f"R/R_ref {ratio:.2f} not used" if ratio is not None else "no new-cell reference needed"
        )
        return [
            Reason(
                rule="grade.resistance",
                passed=True,
                field="dcir_ohm",
                observed=round(float(dcir), 6),
                message=(
                    f"resistance criterion: application R_max (peak current known; {ratio_text}) "
                    f"— DCIR {_mohm(dcir)} vs R_max = {margin:.0%} × (OCV − V_min,load)/I_peak: "
                    f"{', '.join(parts)}; an application whose R_max is exceeded is refused in "
                    f"the route ({profile.label})"
                ),
            )
        ]
    why = _fallback_why(row, applications)
    cap = profile.grading.cap_without_resistance.value
    reasons = []
    for band in profile.grade:
        grade = band.name.value
        if ratio is None:
            missing = "no DCIR" if dcir is None else "no new-cell reference"
            reasons.append(
                Reason(
                    rule=f"grade.{grade}.resistance",
                    passed=grade >= cap,
                    field="resistance_ratio",
                    message=f"resistance criterion: ratio-to-new (fallback: {why}) — no ratio "
                    f"({missing}): grade capped at {cap} ({profile.label})",
                )
            )
            continue
        ok = ratio <= band.resistance_ratio_max
        reasons.append(
            Reason(
                rule=f"grade.{grade}.resistance",
                passed=ok,
                field="resistance_ratio",
                observed=round(float(ratio), 3),
                limit=band.resistance_ratio_max,
                message=f"resistance criterion: ratio-to-new (fallback: {why}) — R/R_ref "
                f"{ratio:.2f} (DCIR {_mohm(float(dcir or 0.0))} / R_ref "
                f"{_mohm(float(row.get('reference_resistance_ohm') or 0.0))}) "
                f"{'≤' if ok else '>'} {band.resistance_ratio_max} (grade {grade}, "
                f"{profile.label})",
            )
        )
    return reasons
