"""Forecasts for a table of observed capacity trajectories (``echelon forecast --history``).

Input: one row per unit and check-up with ``battery_id``, ``cycle`` (or ``equivalent_full_cycles``),
``capacity_ah`` or ``soh_percent``; optional ``time_day``, ``temperature_celsius``, ``chemistry``,
``nominal_capacity_ah``. Output: one row per unit with ``cycles_to_threshold`` and its 90 % interval
(``cycles_to_threshold_lower``/``_upper``, counted from cycle 0), the same in years from time 0 when
``time_day`` is known, the method, knee indicators and a note for every fallback.

Units of the table that already reached the threshold are the references of the others (same
chemistry family when chemistries are given), together with any reference table passed in; they
should have aged under similar conditions (``temperature_celsius`` is accepted but not modelled).
A unit that cannot be forecast (too little history, capacity rising, no fade) gets
``status = no_forecast`` and the reason; the batch goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from echelon.catalog import resolve_chemistry
from echelon.domain.enums import Chemistry
from echelon.domain.plausible import PLAUSIBLE, implausible_cells
from echelon.errors import (
    EstimationError,
    Problem,
    SchemaError,
    parse_numbers,
    problems_at,
    row_problems,
)
from echelon.io.table import read_table
from echelon.lifetime.params import settings
from echelon.lifetime.second_life import family_of
from echelon.lifetime.trajectory import (
    CycleForecast,
    History,
    ReferenceSet,
    clean_history,
    ensemble_forecast,
    fallback_forecast,
    knee_indicators,
    reference_set,
)

DAYS_PER_YEAR = 365.25
FORECAST_SCHEMA: dict[str, pl.DataType] = {
    "battery_id": pl.String(),
    "cycles_to_threshold": pl.Float64(),
    "cycles_to_threshold_lower": pl.Float64(),
    "cycles_to_threshold_upper": pl.Float64(),
    "years_to_threshold": pl.Float64(),
    "years_to_threshold_lower": pl.Float64(),
    "years_to_threshold_upper": pl.Float64(),
    "threshold_soh_percent": pl.Float64(),
    "status": pl.String(),
    "method": pl.String(),
    "references": pl.Int64(),
    "last_cycle": pl.Float64(),
    "last_soh_percent": pl.Float64(),
    "fade_acceleration_ratio": pl.Float64(),
    "knee_risk": pl.String(),
    "knee_onset_cycle": pl.Float64(),
    "note": pl.String(),
}
"""Columns of the forecast table (``status``: forecast, fallback, reached, no_forecast)."""


HISTORY_NUMERIC = (
    "cycle",
    "equivalent_full_cycles",
    "capacity_ah",
    "soh_percent",
    "nominal_capacity_ah",
    "time_day",
    "temperature_celsius",
)
"""Columns of a history table read as numbers."""


def read_history(path: Path) -> pl.DataFrame:
    """Read a history table (CSV or Parquet) without interpreting it.

    Raises
    ------
    SchemaError
        Unreadable file or unsupported suffix, naming the file.
    """
    return read_table(path, what="history table", numeric=HISTORY_NUMERIC)


def _numeric(frame: pl.DataFrame, column: str, problems: list[Problem]) -> pl.Series:
    numbers, found = parse_numbers(frame.get_column(column))
    problems += found
    return numbers


def _range_problems(numbers: dict[str, pl.Series]) -> list[Problem]:
    """Negative cycles (the output counts from cycle 0) and implausible ``soh_percent`` values
    (an SOH written as a fraction: :data:`echelon.domain.plausible.PLAUSIBLE`), by row."""
    cycles = numbers["cycle"]
    problems = row_problems(
        cycles, cycles < 0, "is negative: cycles are counted from 0, the unit's first cycle"
    )
    if "soh_percent" in numbers:
        problems += implausible_cells(numbers["soh_percent"], PLAUSIBLE["soh_percent"])
    return problems


def _chemistry_problems(names: pl.Series) -> list[Problem]:
    """One problem per unknown chemistry spelling, at its first row, with the closest known name
    (:func:`echelon.catalog.resolve_chemistry`, as every other table)."""
    problems = []
    for name in names.drop_nulls().unique(maintain_order=True).to_list():
        try:
            resolve_chemistry(name)
        except ValueError as exc:
            count = int(names.eq(name).sum())
            more = f"; {count} rows give it" if count > 1 else ""
            problems.append(
                Problem(f"{exc}{more}", row=problems_at(names, name), column="chemistry")
            )
    return problems


def normalise_history(frame: pl.DataFrame, *, source: Path | str = "<table>") -> pl.DataFrame:
    """Check the history contract and return ``battery_id``, ``cycle``, ``soh`` (fraction of
    nominal),
    ``time_day``, ``chemistry`` and ``soh_note`` sorted by unit and cycle.

    Raises
    ------
    SchemaError
        Missing required columns, non-numeric values, an unknown chemistry, a negative cycle or
        an ``soh_percent`` outside the plausible range (an SOH written as a fraction: 0.85 for
        85 %), every problem named with row and column.
    """
    problems: list[Problem] = []
    cols = set(frame.columns)
    if "battery_id" not in cols:
        problems.append(Problem("required column missing", column="battery_id"))
    cycle_col = next((c for c in ("cycle", "equivalent_full_cycles") if c in cols), None)
    if cycle_col is None:
        problems.append(Problem("give 'cycle' or 'equivalent_full_cycles'", column="cycle"))
    if not {"capacity_ah", "soh_percent"} & cols:
        problems.append(Problem("give 'capacity_ah' or 'soh_percent'", column="capacity_ah"))
    if problems:
        raise SchemaError(source, problems)
    assert cycle_col is not None
    numbers = {"cycle": _numeric(frame, cycle_col, problems)}
    for c in ("capacity_ah", "soh_percent", "nominal_capacity_ah", "time_day",
              "temperature_celsius"):  # fmt: skip
        if c in cols:
            numbers[c] = _numeric(frame, c, problems)
    if "chemistry" in cols:
        problems += _chemistry_problems(frame.get_column("chemistry").cast(pl.String))
    if not problems:
        problems += _range_problems(numbers)
    if problems:
        raise SchemaError(source, problems)
    exprs = {c: pl.lit(numbers[c]) if c in numbers else pl.lit(None, pl.Float64)
             for c in ("cycle", *HISTORY_NUMERIC[2:])}  # fmt: skip
    chem = pl.col("chemistry").cast(pl.String) if "chemistry" in cols else pl.lit(None, pl.String)
    out = frame.select(
        pl.col("battery_id").cast(pl.String),
        chem.alias("chemistry"),
        **exprs,
    ).sort("battery_id", "cycle")
    first_capacity = pl.col("capacity_ah").head(5).max().over("battery_id")
    nominal = pl.coalesce(pl.col("nominal_capacity_ah"), first_capacity)
    soh = pl.coalesce(pl.col("soh_percent") / 100.0, pl.col("capacity_ah") / nominal)
    note = (
        pl.when(pl.col("soh_percent").is_null() & pl.col("nominal_capacity_ah").is_null())
        .then(pl.lit("no nominal capacity: SOH relative to the first check-ups"))
        .otherwise(None)
    )
    return out.with_columns(soh.alias("soh"), note.alias("soh_note")).select(
        "battery_id", "cycle", "soh", "time_day", "chemistry", "soh_note"
    )


@dataclass(frozen=True)
class _Unit:
    battery_id: str
    family: str | None
    history: History | None
    time_day: np.ndarray[Any, np.dtype[np.float64]]
    cycle: np.ndarray[Any, np.dtype[np.float64]]
    problem: str | None
    soh_note: str | None


def _family(chemistry: pl.Series) -> str | None:
    """Chemistry family of a unit's rows; ``None`` (compatible with every family) when blank or
    ``unknown``, the spelling the docs ask for an unidentified chemistry."""
    chem = chemistry.drop_nulls()
    family = family_of(str(chem[0])) if chem.len() else None
    return None if family == Chemistry.UNKNOWN.value else family


def _units(frame: pl.DataFrame) -> list[_Unit]:
    out = []
    for (bid,), part in frame.group_by("battery_id", maintain_order=True):
        family = _family(part["chemistry"])
        cycle = part["cycle"].to_numpy().astype(np.float64)
        soh = part["soh"].to_numpy().astype(np.float64)
        hist, problem = None, None
        try:
            hist = clean_history(cycle, soh)
        except EstimationError as exc:
            problem = str(exc)
        notes = [str(n) for n in part["soh_note"].drop_nulls().head(1)]
        out.append(
            _Unit(
                str(bid),
                family,
                hist,
                part["time_day"].to_numpy().astype(np.float64),
                cycle,
                problem,
                "; ".join(notes) or None,
            )
        )
    return out


def _years(unit: _Unit, cycles: float) -> float | None:
    t, c = unit.time_day, unit.cycle
    ok = np.isfinite(t)
    if ok.sum() < 2:
        return None
    t, c = t[ok], c[ok]
    if cycles <= c[-1]:
        return float(np.interp(cycles, c, t) / DAYS_PER_YEAR)
    tail = c >= c[-1] - 0.3 * (c[-1] - c[0])
    if tail.sum() < 2:
        tail = np.ones_like(c, dtype=bool)
    rate = np.polyfit(t[tail], c[tail], 1)[0]  # cycles per day
    if rate <= 0:
        return None
    return float((t[-1] + (cycles - c[-1]) / rate) / DAYS_PER_YEAR)


def _forecast_one(
    unit: _Unit, refs: ReferenceSet | None, threshold: float
) -> tuple[str, CycleForecast | None, str | None]:
    hist = unit.history
    assert hist is not None
    reached = hist.reaches(threshold)
    if reached is not None:
        return "reached", CycleForecast(reached, reached, reached, "observed", 0), None
    rise = float(hist.smooth[-1] - hist.smooth[0]) * 100.0
    limit = float(settings().trajectory["non_monotonic_rise_percent"])
    if rise > limit:
        return (
            "no_forecast",
            None,
            (
                f"capacity rises by {rise:.1f} SOH points over the history (limit {limit:g}): "
                "not a fade trajectory; check the capacity column and nominal capacity"
            ),
        )
    flat = no_fade_note(hist)
    if flat is not None:
        return "no_forecast", None, flat
    steps = step_note(hist)
    forecast = ensemble_forecast(hist, refs) if refs is not None else None
    if forecast is not None:
        return "forecast", forecast, steps
    n_refs = 0 if refs is None else len(refs.refs)
    reason = (
        f"{n_refs} reference trajector{'y' if n_refs == 1 else 'ies'} of the same family reach "
        f"{threshold * 100:g} %: linear extrapolation at the faster of the average and recent "
        "fade rates, with a wide interval (too long if a knee is coming)"
    )
    try:
        fb = fallback_forecast(hist, threshold, reason=reason)
    except EstimationError as exc:
        return "no_forecast", None, str(exc)
    return "fallback", fb, "; ".join(x for x in (reason, steps) if x)


def no_fade_note(hist: History, *, catalog_dir: Path | None = None) -> str | None:
    """Why a history shows no capacity fade to forecast from (``None`` when it does).

    The criterion is a one-sided Kendall rank test of a falling SOH over the kept check-ups: a
    p-value at or above the catalogue ``no_fade_p_value`` (0.01) means the history is no more
    ordered than noise — a flat history, or capacities in random order — and any forecast
    would extrapolate a fade that is not there. It ignores the size of the fade: a small but
    steady fade passes (and gets a long forecast with its interval).
    """
    limit = float(settings(catalog_dir).trajectory["no_fade_p_value"])
    from scipy.stats import kendalltau  # here: scipy.stats would slow every CLI start by 0.3 s

    test = kendalltau(hist.n, hist.y, alternative="less")
    p_value = float(test.pvalue)
    if np.isfinite(p_value) and p_value < limit:
        return None
    fade = float(hist.smooth[0] - hist.smooth[-1]) * 100.0
    return (
        f"no significant capacity fade over the history (Kendall τ = {float(test.statistic):.2f}, "
        f"p = {p_value:.2g} ≥ {limit:g}; smoothed SOH {fade:+.1f} points lower at the end): "
        "nothing to extrapolate; measure again later or check that the rows are in cycle order"
    )


def zero_note(hist: History) -> str | None:
    """The check-ups with zero capacity (partial cycles) left out of the fit, or ``None``."""
    zero = hist.cycle[hist.soh == 0]
    if not zero.size:
        return None
    more = ", …" if zero.size > 5 else ""
    at = ", ".join(f"{c:g}" for c in zero[:5]) + more
    return f"{zero.size} check-up(s) with zero capacity (partial cycles?) at cycle {at} left out"


def step_note(hist: History) -> str | None:
    """What the forecast did with the history's capacity step-ups (``None`` without any).

    Transient recoveries (regeneration after rests) are left out of the fit; a raised level
    that had not fallen back within the catalogue ``regeneration_window`` is kept and named, so
    that a level shift (changed test conditions or nominal capacity) does not pass unnoticed.
    """
    transient = [s for s in hist.steps if s.transient]
    lasting = [s for s in hist.steps if not s.transient]
    parts = []
    if transient:
        more = ", …" if len(transient) > 5 else ""
        at = ", ".join(f"{s.cycle:g}" for s in transient[:5]) + more
        parts.append(
            f"{len(transient)} transient capacity recover{'y' if len(transient) == 1 else 'ies'} "
            f"(regeneration after a rest?) at cycle {at} left out of the fit"
        )
    for s in lasting[:3]:
        parts.append(
            f"capacity steps up by {s.rise_percent:.1f} SOH points at cycle {s.cycle:g} and had "
            "not fallen back after "
            f"{int(settings().trajectory['regeneration_window'])} check-ups (slow regeneration "
            "or a level shift: check the test conditions and the nominal capacity)"
        )
    return "; ".join(parts) or None


def forecast_histories(
    history: pl.DataFrame,
    *,
    until_soh_percent: float,
    references: pl.DataFrame | None = None,
    use_table_as_references: bool = True,
    source: Path | str = "<table>",
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """Forecast when each unit of a history table reaches ``until_soh_percent``.

    Parameters
    ----------
    history : pl.DataFrame
        Observed trajectories (see the module docstring for the columns).
    until_soh_percent : float
        Threshold [% of nominal capacity], e.g. 80.
    references : pl.DataFrame, optional
        Further reference trajectories in the same format (e.g. a lab's ageing data).
    use_table_as_references : bool
        Use the table's own units that reached the threshold as references.
    source : path or str
        Name of the input for error messages.
    progress : callable, optional
        Called with ``(done, total)`` after each unit.

    Returns
    -------
    pl.DataFrame
        One row per unit, columns :data:`FORECAST_SCHEMA`.

    Raises
    ------
    SchemaError
        The table breaks the column contract.
    EstimationError
        ``until_soh_percent`` outside 1–100, or no unit could be forecast.
    """
    if not 1.0 <= until_soh_percent <= 100.0:
        raise EstimationError(f"--until-soh {until_soh_percent} must be between 1 and 100 %")
    threshold = until_soh_percent / 100.0
    units = _units(normalise_history(history, source=source))
    pool = [u for u in units if u.history is not None] if use_table_as_references else []
    if references is not None:
        pool += [u for u in _units(normalise_history(references, source="references"))
                 if u.history is not None]  # fmt: skip
    ref_sets: dict[str | None, ReferenceSet] = {}
    rows = []
    for done, unit in enumerate(units, start=1):
        row: dict[str, Any] = dict.fromkeys(FORECAST_SCHEMA)
        row.update(battery_id=unit.battery_id, threshold_soh_percent=until_soh_percent)
        if unit.history is None:
            row.update(status="no_forecast", note=unit.problem)
        else:
            if unit.family not in ref_sets:
                same = [
                    u.history for u in pool
                    if u.history is not None and (unit.family is None or u.family in (None,
                    unit.family))
                ]  # fmt: skip
                ref_sets[unit.family] = reference_set(same, threshold)
            status, fc, note = _forecast_one(unit, ref_sets[unit.family], threshold)
            knee = knee_indicators(unit.history)
            row.update(
                status=status,
                last_cycle=float(unit.history.cycle[-1]),
                last_soh_percent=float(unit.history.smooth[-1] * 100.0),
                fade_acceleration_ratio=knee.fade_acceleration_ratio,
                knee_risk=knee.knee_risk,
                knee_onset_cycle=knee.knee_onset_cycle,
                note="; ".join(x for x in (note, zero_note(unit.history), unit.soh_note) if x)
                or None,
            )
            if fc is not None:
                row.update(
                    cycles_to_threshold=fc.cycles,
                    cycles_to_threshold_lower=fc.cycles_lower,
                    cycles_to_threshold_upper=fc.cycles_upper,
                    method=fc.method,
                    references=fc.references,
                    years_to_threshold=_years(unit, fc.cycles),
                    years_to_threshold_lower=_years(unit, fc.cycles_lower),
                    years_to_threshold_upper=_years(unit, fc.cycles_upper),
                )
        rows.append(row)
        if progress is not None:
            progress(done, len(units))
    out = pl.DataFrame(rows, schema=FORECAST_SCHEMA)
    if out.height and out["status"].eq("no_forecast").all():
        reasons = "; ".join(f"{r['battery_id']}: {r['note']}" for r in out.head(5).to_dicts())
        raise EstimationError(f"{source}: no unit could be forecast ({reasons})")
    return out
