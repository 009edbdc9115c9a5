"""The target application's voltage window, checked on every built pack.

A pack is built for one second-life application (catalogue ``applications``): its equipment works
in a DC window ``voltage_min_v``–``voltage_max_v``. A pack breaks the window
(violation ``application_voltage``) when its nominal voltage lies outside it, or when less than the
router's ``min_window_fraction`` of its capacity (grading profile, baseline: 80 %) is usable inside
it (:func:`echelon.routing.applications.window_fractions`), the router's own fit rule: the pack's
range from ``cells × discharge cut-off`` to ``cells × charge cut-off`` covers too little of it, or
an application that imposes its charge voltage would push the cells above their charge cut-off.

The series count decides a pack's voltage and every pack of one group of units (same chemistry and
unit voltage) has the same, so the optimisers have no choice to make: :func:`window_misfits` leaves
out, before any pack is built, the units whose packs would be outside the window, each with the
``--series`` that would fit, and :func:`echelon.regroup.regroup` refuses a run they leave short.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.catalog import chemistries
from echelon.domain import Chemistry, Gate
from echelon.errors import check_choice
from echelon.grading.profile import load_profile
from echelon.routing.applications import ApplicationSpec, load_applications, window_fractions
from echelon.routing.router import load_cell_voltage_v

VIOLATION = "application_voltage"
"""Name of the violation a pack outside the application's voltage window gets."""
PEAK_VIOLATION = "application_peak_current"
"""Name of the violation a pack whose resistance exceeds the application's R_max gets."""


def flagged(violation: str = VIOLATION) -> pl.Expr:
    """Whether a pack's ``violations`` (comma-separated) include ``violation`` (default
    :data:`VIOLATION`)."""
    return pl.col("violations").str.split(",").list.contains(violation)


@dataclass(frozen=True)
class ApplicationWindow:
    """The application packs are built for, and its DC voltage window.

    Attributes
    ----------
    application : str
        Canonical application id (catalogue ``applications``).
    voltage_min_v, voltage_max_v : float or None
        The window [V]; ``None`` for a like-for-like replacement (no window, nothing checked).
    voltage_imposed : bool
        The application charges to ``voltage_max_v`` by itself.
    """

    application: str
    voltage_min_v: float | None
    voltage_max_v: float | None
    voltage_imposed: bool

    @property
    def label(self) -> str:
        """``ups: 40–600 V``, or ``ev_reman: no voltage window``."""
        if self.voltage_min_v is None or self.voltage_max_v is None:
            return f"{self.application}: no voltage window"
        return f"{self.application}: {self.voltage_min_v:g}–{self.voltage_max_v:g} V"

    def spec(self, catalog_dir: Path | None = None) -> ApplicationSpec:
        """The application's catalogue entry."""
        return load_applications(catalog_dir=catalog_dir).application[self.application]


def application_window(application: str, *, catalog_dir: Path | None = None) -> ApplicationWindow:
    """The voltage window of a canonical application id.

    Raises
    ------
    UsageError
        For an id the catalogue does not offer, listing the valid ones.
    """
    catalogue = load_applications(catalog_dir=catalog_dir).application
    check_choice("application", application, sorted(catalogue))
    spec = catalogue[application]
    return ApplicationWindow(
        application, spec.voltage_min_v, spec.voltage_max_v, spec.voltage_imposed
    )


def route_application(route: str | None, *, catalog_dir: Path | None = None) -> str | None:
    """The application a registry ``--route`` names (any case), else ``None`` (no route, or a
    route that is not a catalogue application: ``recycle``, ``retest``, a facility route)."""
    if not route:
        return None
    name = route.strip().lower()
    return name if name in load_applications(catalog_dir=catalog_dir).application else None


def outside_window(
    window: ApplicationWindow,
    chemistry: list[str],
    cells_in_series: npt.ArrayLike,
    nominal_voltage_v: npt.ArrayLike,
    *,
    catalog_dir: Path | None = None,
) -> npt.NDArray[np.bool_]:
    """Per pack, whether it breaks the application's voltage window.

    Parameters
    ----------
    window : ApplicationWindow
    chemistry : list of str
        Canonical chemistry of each pack.
    cells_in_series : array_like, shape (K,)
        Cells in series of each pack (over all its blocks).
    nominal_voltage_v : array_like, shape (K,)
        Nominal voltage of each pack [V].

    Returns
    -------
    ndarray of bool, shape (K,)
        All ``False`` when the application has no window.
    """
    nominal = np.asarray(nominal_voltage_v, dtype=np.float64)
    if window.voltage_min_v is None or window.voltage_max_v is None:
        return np.zeros(nominal.shape, dtype=bool)
    spec = window.spec(catalog_dir)
    min_fraction = load_profile(catalog_dir=catalog_dir).routing.min_window_fraction
    cells = np.rint(np.asarray(cells_in_series, dtype=np.float64))
    usable = np.array(
        [
            window_fractions(spec, chem, [n], catalog_dir=catalog_dir)[0]
            for chem, n in zip(chemistry, cells, strict=True)
        ],
        dtype=np.float64,
    )
    tol = 1e-9
    return np.asarray(
        (nominal < window.voltage_min_v * (1 - tol))
        | (nominal > window.voltage_max_v * (1 + tol))
        | (usable < min_fraction - tol),
        dtype=bool,
    )


def peak_rmax_ohm(
    window: ApplicationWindow,
    chemistry: list[str],
    cells_in_series: npt.ArrayLike,
    usable_capacity_ah: npt.ArrayLike,
    *,
    margin: float,
    catalog_dir: Path | None = None,
) -> npt.NDArray[np.float64]:
    """Per pack, the largest resistance that still delivers the application's peak current [Ω].

    The router's R_max (docs/routing.md) for a whole pack: margin × cells × (OCV at the
    application's power SOC − lowest per-cell voltage under the peak load) / I_peak, with
    I_peak = ``peak_c_rate`` × the pack's usable capacity and the lowest voltage under load the
    application's ``load_voltage_min_v`` (a transient dip, e.g. cranking) spread over the cells,
    else its ``voltage_min_v``, not below the discharge cut-off.

    Parameters
    ----------
    window : ApplicationWindow
    chemistry : list of str
        Canonical chemistry of each pack.
    cells_in_series : array_like, shape (K,)
        Cells in series of each pack.
    usable_capacity_ah : array_like, shape (K,)
        Usable capacity of each pack [A·h].
    margin : float
        Share of the voltage headroom allowed for the IR drop (profile ``resistance_margin``).

    Returns
    -------
    ndarray of float, shape (K,)
        NaN for every pack when the application knows no peak current.
    """
    capacity = np.asarray(usable_capacity_ah, dtype=np.float64)
    spec = window.spec(catalog_dir)
    if spec.peak_c_rate is None:
        return np.full(capacity.shape, np.nan)
    records = chemistries(catalog_dir=catalog_dir)
    cells = np.rint(np.asarray(cells_in_series, dtype=np.float64)).astype(int)
    headroom_v = np.array(
        [
            float(records[Chemistry(chem)].ocv.ocv(spec.power_soc))
            - load_cell_voltage_v(spec, Chemistry(chem), int(n), catalog_dir=catalog_dir)
            for chem, n in zip(chemistry, cells, strict=True)
        ],
        dtype=np.float64,
    )
    i_peak_a = spec.peak_c_rate * capacity
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            i_peak_a > 0, margin * cells * np.maximum(headroom_v, 0.0) / i_peak_a, np.nan
        )


def fitting_series(
    window: ApplicationWindow,
    chemistry: str,
    unit_voltage_v: float,
    cells_per_unit: int,
    *,
    catalog_dir: Path | None = None,
) -> list[int]:
    """Units in series (1, 2, …) whose pack lies inside the application's voltage window.

    Parameters
    ----------
    window : ApplicationWindow
        An application with a window (every count fits one without).
    chemistry : str
        Canonical chemistry of the units.
    unit_voltage_v : float
        Nominal voltage of one unit [V].
    cells_per_unit : int
        Cells in series in one unit.
    """
    if window.voltage_max_v is None:
        return [1]
    top = max(1, int(window.voltage_max_v * (1 + 1e-9) // unit_voltage_v))
    counts = np.arange(1, top + 1)
    off = outside_window(
        window,
        [chemistry] * top,
        counts * cells_per_unit,
        counts * unit_voltage_v,
        catalog_dir=catalog_dir,
    )
    return [int(c) for c in counts[~off]]


def _ranges(counts: list[int]) -> str:
    """``4, 8–10``: consecutive counts as ranges."""
    spans: list[list[int]] = []
    for c in counts:
        if spans and c == spans[-1][1] + 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in spans)


def window_misfits(
    inventory: pl.DataFrame,
    window: ApplicationWindow,
    series: int,
    *,
    catalog_dir: Path | None = None,
) -> pl.DataFrame:
    """Units a pack of ``series`` of them in series would put outside the application's window.

    A unit's voltage is its ``nominal_voltage_v`` (else its chemistry's cell voltage) and its cells
    in series that voltage over the cell's, as the pack physics count them. Quarantined units and
    units of unknown chemistry are left to the inventory's own exclusions.

    Parameters
    ----------
    inventory : pl.DataFrame
        A validated inventory (:func:`echelon.regroup.validate_inventory`).
    window : ApplicationWindow
    series : int
        Units in series per pack (``--series``).

    Returns
    -------
    pl.DataFrame
        ``battery_id``, ``reason``: what the pack would be, why it is outside the window and the
        ``--series`` that would fit (or that none does); empty when every pack fits.
    """
    schema = {"battery_id": pl.String, "reason": pl.String}
    if window.voltage_min_v is None:
        return pl.DataFrame(schema=schema)
    cell_v = {
        c.value: rec.nominal_voltage_v for c, rec in chemistries(catalog_dir=catalog_dir).items()
    }
    units = (
        inventory.filter(
            pl.col("chemistry").is_in(list(cell_v))
            & pl.col("gate").ne_missing(Gate.QUARANTINE.value)
        )
        .with_columns(
            pl.coalesce(
                pl.col("nominal_voltage_v"),
                pl.col("chemistry").replace_strict(cell_v, return_dtype=pl.Float64),
            ).alias("_unit_v")
        )
        .with_columns(
            (
                pl.col("_unit_v")
                / pl.col("chemistry").replace_strict(cell_v, return_dtype=pl.Float64)
            )
            .round(0)
            .clip(lower_bound=1)
            .cast(pl.Int64)
            .alias("_cells")
        )
    )
    reasons: dict[tuple[str, float, int], str] = {}
    for chem, volt, cells in units.select("chemistry", "_unit_v", "_cells").unique().rows():
        if not outside_window(
            window, [chem], [series * cells], [series * volt], catalog_dir=catalog_dir
        )[0]:
            continue
        fits = fitting_series(window, chem, volt, cells, catalog_dir=catalog_dir)
        advice = (
            f"--series {_ranges(fits)} would fit"
            if fits
            else "no series count of these units fits: regroup them for another application"
        )
        reasons[(chem, volt, cells)] = (
            f"outside the voltage window ({window.label}): {series} of these {volt:g} V {chem} "
            f"units in series make a {series * cells}S pack of {series * volt:.4g} V nominal; "
            f"{advice}"
        )
    if not reasons:
        return pl.DataFrame(schema=schema)
    keyed = pl.DataFrame(
        [(*key, text) for key, text in reasons.items()],
        schema={
            "chemistry": pl.String,
            "_unit_v": pl.Float64,
            "_cells": pl.Int64,
            "reason": pl.String,
        },
        orient="row",
    )
    return units.join(
        keyed, on=["chemistry", "_unit_v", "_cells"], how="inner", maintain_order="left"
    ).select("battery_id", "reason")
