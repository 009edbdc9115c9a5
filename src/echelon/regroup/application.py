"""The target application's voltage window, checked on every built pack.

A pack is built for one second-life application (catalogue ``applications``): its equipment works
in a DC window ``voltage_min_v``–``voltage_max_v``. A pack breaks the window
(violation ``application_voltage``) when its nominal voltage lies outside it, or when no capacity
is usable inside it (:func:`echelon.routing.applications.window_fractions`): the pack's range
from ``cells × discharge cut-off`` to ``cells × charge cut-off`` misses the window, or an
application that imposes its charge voltage would push the cells above their charge cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.errors import check_choice
from echelon.routing.applications import ApplicationSpec, load_applications, window_fractions

VIOLATION = "application_voltage"
"""Name of the violation a pack outside the application's voltage window gets."""


def flagged() -> pl.Expr:
    """Whether a pack's ``violations`` (comma-separated) include :data:`VIOLATION`."""
    return pl.col("violations").str.split(",").list.contains(VIOLATION)


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
    cells = np.rint(np.asarray(cells_in_series, dtype=np.float64))
    usable = np.array(
        [window_fractions(spec, chem, [n])[0] for chem, n in zip(chemistry, cells, strict=True)],
        dtype=np.float64,
    )
    tol = 1e-9
    return np.asarray(
        (nominal < window.voltage_min_v * (1 - tol))
        | (nominal > window.voltage_max_v * (1 + tol))
        | (usable <= 0.0),
        dtype=bool,
    )
