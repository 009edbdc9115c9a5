"""The numbers a safety-gate rule compared, for its :class:`~echelon.domain.Reason`.

A fired rule's message already carries them; a passed rule is recorded with the same numbers
(``observed`` and ``limit``, and in the message) so that an explanation shows what was checked,
not only "ok" (docs/grading.md, explanations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from echelon.grading.profile import GradingProfile

Numbers = tuple[str, Any, Any, str]
"""(field, observed, limit, text) of one rule."""


def _round(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _per(row: dict[str, Any], value: Any) -> float | None:
    """``value`` divided by the unit's cells in series (``None`` when either is unknown)."""
    cells = row.get("series_count")
    return None if value is None or not cells else float(value) / float(cells)


def _level(row: dict[str, Any], _: GradingProfile) -> Numbers:
    return "level", row.get("level"), "cell|module|pack", f"level {row.get('level')}"


def _visual(row: dict[str, Any], _: GradingProfile) -> Numbers:
    flags = (row.get("visual_flags") or "").strip() or "none"
    return "visual_flags", flags, "none", f"visual flags: {flags}"


def _traceability(row: dict[str, Any], profile: GradingProfile) -> Numbers:
    levels = [lvl.value for lvl in profile.gate.require_traceability_levels]
    needed = row.get("level") in levels
    limit = f"required for {', '.join(levels) or 'no level'}"
    text = (
        f"traceability {row.get('has_traceability')} for a {row.get('level')} ({limit})"
        if needed
        else f"not required for a {row.get('level')} ({limit})"
    )
    return "has_traceability", row.get("has_traceability"), limit, text


def _expiry(row: dict[str, Any], _: GradingProfile) -> Numbers:
    date, day = row.get("calendar_expiry_date"), row.get("gate_as_of")
    observed = None if date is None else str(date)
    limit = None if day is None else f"on or after {day}"
    return "calendar_expiry_date", observed, limit, f"calendar expiry {observed} {limit}"


def _standard(row: dict[str, Any], _: GradingProfile) -> Numbers:
    return (
        "chemistry",
        row.get("chemistry"),
        "a chemistry with a reuse standard",
        f"{row.get('chemistry')} has a reuse standard",
    )


def _ocv_measured(row: dict[str, Any], _: GradingProfile) -> Numbers:
    return "ocv_v", row.get("ocv_v"), "measured", f"OCV {row.get('ocv_v')} V measured"


def _ocv_window(row: dict[str, Any], profile: GradingProfile) -> Numbers:
    cell = _round(_per(row, row.get("ocv_v")), 3)
    low, high = row.get("ocv_min_v"), row.get("ocv_max_v")
    zero = profile.gate.zero_volt_threshold_v_per_cell
    limit = f"[{low}, {high}] V per cell, ≥ {zero:g} V (0 V unit)"
    return "ocv_v", cell, limit, f"OCV {cell} V per cell in {limit}"


def _chemistry_voltage(row: dict[str, Any], _: GradingProfile) -> Numbers:
    high = _round(_per(row, row.get("max_charge_voltage_v")), 3)
    low = _round(_per(row, row.get("min_discharge_voltage_v")), 3)
    limit = f"charge ≤ {row.get('ocv_max_v')} V, discharge ≥ {row.get('ocv_min_v')} V per cell"
    text = f"tester file {low}–{high} V per cell fits {row.get('chemistry')} ({limit})"
    return "max_charge_voltage_v", high if high is not None else low, limit, text


def _insulation(row: dict[str, Any], profile: GradingProfile) -> Numbers:
    mohm, volts = row.get("insulation_mohm"), row.get("unit_voltage_v")
    per_volt = None if mohm is None or not volts else round(float(mohm) * 1e6 / float(volts), 1)
    limit = profile.gate.insulation_min_ohm_per_volt
    return "insulation_mohm", per_volt, limit, f"insulation {per_volt} Ω/V ≥ {limit:g} Ω/V"


def _self_discharge(row: dict[str, Any], profile: GradingProfile) -> Numbers:
    slope = row.get("ocv_slope_mv_per_percent")
    per_cell = _per(row, row.get("self_discharge_mv_per_day"))
    pct = None if per_cell is None or not slope else round(per_cell / float(slope), 3)
    limit = profile.gate.self_discharge_max_percent_per_day
    return "self_discharge_mv_per_day", pct, limit, f"self-discharge {pct} %/day < {limit:g} %/day"


def _outlier(row: dict[str, Any], _: GradingProfile) -> Numbers:
    k = _round(row.get("self_discharge_mv_per_day"), 2)
    limit = _round(row.get("self_discharge_outlier_limit_mv_per_day"), 2)
    if not row.get("self_discharge_outlier_applies"):
        return "self_discharge_mv_per_day", k, None, f"{k} mV/day (batch group too small)"
    return "self_discharge_mv_per_day", k, limit, f"{k} mV/day ≤ batch limit {limit} mV/day"


def _plating(row: dict[str, Any], _: GradingProfile) -> Numbers:
    sign = row.get("plating_signature")
    return "plating_signature", sign, "absent", f"plating signature {sign}"


GATE_NUMBERS: dict[str, Callable[[dict[str, Any], GradingProfile], Numbers]] = {
    "gate.level": _level,
    "gate.visual_damage": _visual,
    "gate.traceability": _traceability,
    "gate.calendar_expiry": _expiry,
    "gate.reuse_standard": _standard,
    "gate.ocv_measured": _ocv_measured,
    "gate.ocv_window": _ocv_window,
    "gate.chemistry_voltage": _chemistry_voltage,
    "gate.insulation": _insulation,
    "gate.self_discharge": _self_discharge,
    "gate.self_discharge_outlier": _outlier,
    "gate.lithium_plating": _plating,
}
"""Per gate rule: the field, observed value, limit and a sentence with them."""
