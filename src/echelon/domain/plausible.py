"""Plausible ranges of measured and nameplate numbers, and the unit mistake a value outside hints.

One table for every reader of such numbers — the intake manifest (:mod:`echelon.io.manifest`),
the measurements table of ``echelon grade`` (:mod:`echelon.grading.reader`), the regrouping
inventory (:mod:`echelon.regroup.inventory`), the SOH sample table
(:mod:`echelon.estimation.samples`) and the recycling lot table (:mod:`echelon.recycling.units`)
— so a value is refused the same way wherever it is typed: a milliohm written as ohms, a
milliamp-hour as amp-hours, an SOH as a fraction, grams as kilograms. A value outside its
range is an error naming the row and column, with the likely mistake and the value it would then
be. :func:`implausible` checks one value, :func:`implausible_cells` a column of a table.

The limits are sanity bounds, not grading thresholds *[assumption]*: wide enough for every
lithium cell, module and pack a repurposer or recycler receives (consumer and medical cells to
large ESS cells of ≈ 1,200 Ah; modules of a few large cells in parallel; a pack of a few modules
in parallel), and narrow enough that a value 1000× off is caught.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from echelon.errors import MAX_ROW_PROBLEMS, Problem

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class Mistake:
    """A likely unit mistake: what it is and the factor that corrects a value.

    Attributes
    ----------
    what : str
        E.g. ``"mΩ written as Ω"``.
    factor : float
        Multiply the given value by this to get the value in the column's unit.
    """

    what: str
    factor: float


@dataclass(frozen=True)
class PlausibleRange:
    """The plausible [low, high] of one column, optionally with a tighter high per level.

    Attributes
    ----------
    low, high : float
        Bounds in the column's unit (inclusive).
    high_by_level : mapping of str to float
        A tighter ``high`` for a level (``cell``, ``module``, ``pack``).
    below, above : Mistake or None
        The likely unit mistake behind a value below ``low`` / above the high.
    zero_ok : bool
        0 is plausible although below ``low``: nothing left (a dead unit's SOH) reads 0 in any
        unit, so it cannot be a unit mistake.
    """

    low: float
    high: float
    high_by_level: Mapping[str, float] = field(default_factory=dict)
    below: Mistake | None = None
    above: Mistake | None = None
    zero_ok: bool = False

    def high_for(self, level: str | None) -> float:
        """The high bound for a unit of ``level`` (the general one when unknown)."""
        return self.high_by_level.get(level or "", self.high)

    def implausible(self, value: float, *, level: str | None = None) -> str | None:
        """Why ``value`` is outside this range for a unit of ``level``, or ``None`` if it is not.

        Parameters
        ----------
        value : float
            In the column's unit.
        level : str, optional
            ``cell``, ``module`` or ``pack``: selects a tighter high bound where one exists.

        Returns
        -------
        str or None
            E.g. ``"12 outside the plausible range [0, 5] for a cell (wrong unit? mΩ written as
            Ω: write 0.012)"``; the correction is offered only when it lands inside the range.
            NaN or an infinity: ``"nan is not a finite number; the plausible range is […]"``.
        """
        high = self.high_for(level)
        if math.isfinite(value) and (self.low <= value <= high or (self.zero_ok and value == 0)):
            return None
        where = f" for a {level}" if level and high != self.high else ""
        span = f"[{self.low:g}, {high:g}]{where}"
        if not math.isfinite(value):  # no unit mistake gives a NaN or an infinity
            return f"{value:g} is not a finite number; the plausible range is {span}"
        mistake = self.below if value < self.low else self.above
        hint = "wrong unit?"
        if mistake is not None:
            fixed = value * mistake.factor
            if self.low <= fixed <= high:
                hint = f"wrong unit? {mistake.what}: write {fixed:g}"
        return f"{value:g} outside the plausible range {span} ({hint})"


MILLI_OHM: Final = Mistake("mΩ written as Ω", 1e-3)
MILLI_AH: Final = Mistake("mAh written as Ah", 1e-3)
MILLI_VOLT: Final = Mistake("mV written as V", 1e-3)
KILO_OHM: Final = Mistake("kΩ written as MΩ", 1e-3)
FRACTION: Final = Mistake("SOH written as a fraction", 100.0)

CAPACITY_AH_BY_LEVEL: Final = {"cell": 1500.0, "module": 5000.0, "pack": 20000.0}
"""Highest plausible rated or measured capacity [Ah] per level *[assumption]*: the largest ESS
cells are ≈ 1,200 Ah; a module or pack puts a few of them (or many small cells) in parallel."""
GRAM: Final = Mistake("g written as kg", 1e-3)
DCIR_OHM_BY_LEVEL: Final = {"cell": 5.0, "module": 20.0}
"""Highest plausible DC internal resistance [Ω] per level *[assumption]*: small consumer cells
are ≈ 0.05–0.5 Ω new, a few times that worn; a module has tens of them in series."""

PLAUSIBLE: Final[dict[str, PlausibleRange]] = {
    "soh_percent": PlausibleRange(1.5, 150.0, below=FRACTION, zero_ok=True),
    # the lower end of an estimate's interval, not a measured SOH: Echelon's SOH models clip it at
    # 0 % (echelon.estimation.samples.SOH_BOUNDS), so a small lower bound is a wide interval, not a
    # fraction (a fraction is caught on soh_percent)
    "soh_lower_percent": PlausibleRange(0.0, 150.0),
    "nominal_capacity_ah": PlausibleRange(1e-3, 1e5, CAPACITY_AH_BY_LEVEL, above=MILLI_AH),
    "measured_capacity_ah": PlausibleRange(0.0, 1e5, CAPACITY_AH_BY_LEVEL, above=MILLI_AH),
    "nominal_voltage_v": PlausibleRange(1e-3, 2000.0, above=MILLI_VOLT),
    "ocv_v": PlausibleRange(0.0, 2000.0, above=MILLI_VOLT),
    "dcir_ohm": PlausibleRange(0.0, 100.0, DCIR_OHM_BY_LEVEL, above=MILLI_OHM),
    "reference_dcir_ohm": PlausibleRange(1e-9, 100.0, DCIR_OHM_BY_LEVEL, above=MILLI_OHM),
    "self_discharge_mv_per_day": PlausibleRange(0.0, 1e4),
    "insulation_mohm": PlausibleRange(0.0, 1e6, above=KILO_OHM),
    "series_count": PlausibleRange(1, 1000),
    # a row of a recycling lot: one unit, or loose cells or black mass by weight (up to 1,000 t);
    # no bound per level, as a "cell" row of a tonne of loose cells is a real lot
    "mass_kg": PlausibleRange(1e-4, 1e6, above=GRAM),
}
"""Plausible range of each numeric column (outside → an error with the likely unit mistake)."""


def implausible(column: str, value: float, *, level: str | None = None) -> str | None:
    """Why ``value`` is implausible for ``column`` (a unit of ``level``), or ``None`` if it is not:
    :meth:`PlausibleRange.implausible` of ``PLAUSIBLE[column]`` (a column not in
    :data:`PLAUSIBLE` is never implausible)."""
    rng = PLAUSIBLE.get(column)
    return None if rng is None else rng.implausible(value, level=level)


def outside_rows(
    values: pl.Series, rng: PlausibleRange, levels: pl.Series | None = None
) -> list[int]:
    """0-based rows of a column whose value is outside ``rng`` (see :func:`implausible_cells`)."""
    inside = (values >= rng.low) & (values <= rng.high)
    if rng.zero_ok:
        inside = inside | (values == 0)
    outside = values.is_not_null() & ~inside
    if levels is not None:
        for name, high in rng.high_by_level.items():
            outside = outside | ((levels == name) & (values > high))
    return list(outside.fill_null(False).arg_true().to_list())


def implausible_cells(
    values: pl.Series, rng: PlausibleRange, levels: pl.Series | None = None
) -> list[Problem]:
    """A problem for every row of a column whose value is outside ``rng`` (nulls are not checked).

    Parameters
    ----------
    values : pl.Series
        The column's numbers (its name is the problems' column); NaN and infinities are outside.
    rng : PlausibleRange
        Usually ``PLAUSIBLE[column]``; a reader whose column has a genuinely different bound
        passes its own (and says why where it defines it).
    levels : pl.Series, optional
        Each row's level (``cell``, ``module``, ``pack``; other values and nulls get the general
        high bound).

    Returns
    -------
    list of Problem
        1-based row, the column, and :meth:`PlausibleRange.implausible`'s message; at most
        :data:`~echelon.errors.MAX_ROW_PROBLEMS`.
    """
    problems: list[Problem] = []
    for i in outside_rows(values, rng, levels)[:MAX_ROW_PROBLEMS]:
        level = None if levels is None else levels[i]
        why = rng.implausible(float(values[i]), level=level)
        if why is not None:
            problems.append(Problem(why, row=i + 1, column=values.name))
    return problems
