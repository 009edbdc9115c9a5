"""The safety-gate rules: one polars expression per rule over a prepared grading table.

Each :class:`Rule` reads one field, fires (quarantine) on a condition, formats its message where it
fired, and is *unchecked* where its input is missing (the unit passes it, with that said in its
reasons: never a pass on a value that does not exist). :mod:`echelon.grading.engine` applies them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import polars as pl

from echelon.domain import Level
from echelon.grading.profile import GradingProfile

LEVELS: Final = [lvl.value for lvl in Level]


@dataclass(frozen=True)
class Rule:
    """A gate rule: the field it reads, when it fires, its message, and when it is unchecked."""

    name: str
    field: str
    fail: pl.Expr
    message: pl.Expr
    unchecked: pl.Expr


def gate_rules(profile: GradingProfile, *, as_of: dt.date) -> list[Rule]:
    """The safety-gate rules of a profile as polars expressions (on a prepared table with the
    batch-statistics columns)."""
    g = profile.gate
    flags = pl.col("visual_flags").str.strip_chars().str.to_lowercase()
    has_flags = flags.is_not_null() & ~flags.is_in(["", "none", "ok"])
    trace_levels = [lvl.value for lvl in g.require_traceability_levels]
    ins_levels = [lvl.value for lvl in g.require_insulation_levels]
    ocv_cell = pl.col("ocv_v") / pl.col("series_count")
    charged = pl.col("max_charge_voltage_v") / pl.col("series_count")
    discharged = pl.col("min_discharge_voltage_v") / pl.col("series_count")
    ins_ohm_per_v = pl.col("insulation_mohm") * 1e6 / pl.col("unit_voltage_v")
    sd_pct = (pl.col("self_discharge_mv_per_day") / pl.col("series_count")) / pl.col(
        "ocv_slope_mv_per_percent"
    )
    k = pl.col("self_discharge_mv_per_day")
    limit_outlier = pl.col("self_discharge_outlier_limit_mv_per_day")
    never = pl.lit(False)
    return [
        Rule(
            "gate.level",
            "level",
            ~pl.col("level").is_in(LEVELS).fill_null(False),
            pl.format(
                "level {} is not cell, module or pack: level-dependent rules cannot be applied; "
                "fix the record and grade again",
                pl.col("level").fill_null("(missing)"),
            ),
            never,
        ),
        Rule(
            "gate.visual_damage",
            "visual_flags",
            has_flags.fill_null(False),
            pl.format("visual damage: {}", pl.col("visual_flags")),
            never,
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
            never,
        ),
        Rule(
            "gate.calendar_expiry",
            "calendar_expiry_date",
            (pl.col("calendar_expiry_date") < pl.lit(as_of)).fill_null(False),
            pl.format(
                "past the OEM calendar-expiry date {} (UL 1974 ed. 2 [S15c])",
                pl.col("calendar_expiry_date"),
            ),
            pl.col("calendar_expiry_date").is_null(),
        ),
        Rule(
            "gate.reuse_standard",
            "chemistry",
            ~pl.col("has_reuse_standard").fill_null(False),
            pl.format(
                "chemistry {} has no reuse standard: recycling only ([S1][S16])",
                pl.col("chemistry"),
            ),
            never,
        ),
        Rule(
            "gate.ocv_measured",
            "ocv_v",
            pl.col("ocv_v").is_null(),
            pl.lit("OCV not measured: measure the resting voltage before grading"),
            never,
        ),
        Rule(
            "gate.ocv_window",
            "ocv_v",
            (
                (ocv_cell < pl.col("ocv_min_v")).fill_null(False)
                | (ocv_cell > pl.col("ocv_max_v")).fill_null(False)
                | (ocv_cell < g.zero_volt_threshold_v_per_cell).fill_null(False)
            ),
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
            ocv_cell.is_null(),  # (no OCV, or cells in series unknown: not checked)
        ),
        Rule(
            "gate.chemistry_voltage",
            "max_charge_voltage_v",
            (charged > pl.col("ocv_max_v")).fill_null(False)
            | (discharged < pl.col("ocv_min_v")).fill_null(False),
            pl.when((charged > pl.col("ocv_max_v")).fill_null(False))
            .then(
                pl.format(
                    "max charge {} V per cell in the tester file exceeds {}'s {} V upper "
                    "protection limit: is the chemistry right? (or the unit was over-charged)",
                    charged.round(3),
                    pl.col("chemistry"),
                    pl.col("ocv_max_v"),
                )
            )
            .otherwise(
                pl.format(
                    "min discharge {} V per cell in the tester file is below {}'s {} V lower "
                    "protection limit: is the chemistry right? (or the unit was over-discharged)",
                    discharged.round(3),
                    pl.col("chemistry"),
                    pl.col("ocv_min_v"),
                )
            ),
            charged.is_null() & discharged.is_null(),
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
            ins_ohm_per_v.is_null(),  # (not measured where not required, or voltage unknown)
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
            sd_pct.is_null(),  # (not measured, or cells in series unknown)
        ),
        Rule(
            "gate.self_discharge_outlier",
            "self_discharge_mv_per_day",
            (pl.col("self_discharge_outlier_applies") & (k > limit_outlier)).fill_null(False),
            pl.format(
                "self-discharge {} mV/day is a batch outlier (> median + {}σ = {} mV/day)",
                k.round(2),
                pl.lit(g.self_discharge_outlier_sigma),
                limit_outlier.round(2),
            ),
            k.is_null(),
        ),
        Rule(
            "gate.lithium_plating",
            "plating_signature",
            pl.col("plating_signature").fill_null(False),
            pl.lit("lithium-plating signature in post-charge relaxation ([S38])"),
            pl.col("plating_signature").is_null(),
        ),
    ]
