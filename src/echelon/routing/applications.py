"""The applications catalogue: what each second life demands, and the regulations per jurisdiction.

Data: catalogue table ``applications`` (``src/echelon/catalog/data/applications.toml``), validated
when loaded. :func:`series_options` turns an application's voltage window into the series count of
cells a chemistry needs and the share of capacity usable in that window.

References
----------
second-life-domain.md §1 (regulations), §4.3 (duty cycles), §4.4 (float vs cycling), §9a (rule table
and application hints).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from echelon.catalog import FAMILIES, chemistries, load_table
from echelon.catalog._loader import load_toml_file
from echelon.catalog.models import Sourced, StrictModel, TableMeta, validated
from echelon.domain import NON_REUSE_ROUTES, Application, Chemistry, Level, OriginApplication

Duty = Literal["cycling", "float", "float_and_cycling", "traction"]
Effect = Literal["forbid", "condition"]


_Strict = StrictModel


class LifeCap(Sourced):
    """Economic cap on the second life credited in an application's value.

    Attributes
    ----------
    max_years : float
        Longest second life credited [years] (reported second-life durations), whatever the
        ageing model forecasts.
    """

    max_years: float = Field(gt=0, le=50)


class ApplicationSpec(Sourced):
    """Requirements of one second-life application (units in every name; see the table's notes)."""

    description: str
    levels: tuple[Level, ...]
    families: tuple[str, ...]
    preferred_families: tuple[str, ...] = ()
    non_preferred_condition: str = ""
    non_preferred_usable_fraction: float = Field(default=1.0, gt=0, le=1)
    origins: tuple[OriginApplication, ...] = ()
    duty: Duty
    efc_per_year: float = Field(ge=0)
    mean_soc: float = Field(ge=0, le=1)
    voltage_min_v: float | None = Field(default=None, gt=0)
    voltage_max_v: float | None = Field(default=None, gt=0)
    voltage_imposed: bool = False
    load_voltage_min_v: float | None = Field(default=None, gt=0)
    peak_c_rate: float | None = Field(default=None, gt=0)
    power_soc: float = Field(default=0.2, ge=0, le=1)
    string_energy_max_kwh: float | None = Field(default=None, gt=0)
    temperature_min_c: float
    temperature_max_c: float
    temperature_typical_c: float
    life: LifeCap

    @model_validator(mode="after")
    def _consistent(self) -> ApplicationSpec:
        for name, values in (("families", self.families), ("preferred", self.preferred_families)):
            unknown = set(values) - FAMILIES
            if unknown:
                raise ValueError(f"{name}: unknown families {sorted(unknown)}")
        if not set(self.preferred_families) <= set(self.families):
            raise ValueError("preferred_families must be a subset of families")
        if (self.voltage_min_v is None) != (self.voltage_max_v is None):
            raise ValueError("give both voltage_min_v and voltage_max_v, or neither")
        if self.voltage_min_v is not None and self.voltage_max_v is not None:
            if self.voltage_min_v >= self.voltage_max_v:
                raise ValueError(
                    f"voltage window [{self.voltage_min_v}, {self.voltage_max_v}] V is empty"
                )
            if self.load_voltage_min_v is not None and self.load_voltage_min_v > self.voltage_min_v:
                raise ValueError("load_voltage_min_v must not exceed voltage_min_v")
        if not self.temperature_min_c <= self.temperature_typical_c <= self.temperature_max_c:
            raise ValueError("need temperature_min_c ≤ temperature_typical_c ≤ temperature_max_c")
        return self

    @property
    def has_window(self) -> bool:
        """Whether the application imposes a voltage window (else: like-for-like replacement)."""
        return self.voltage_min_v is not None


class Regulation(Sourced):
    """A regulatory restriction on applications in one jurisdiction.

    ``forbid`` removes the application for matching units; ``condition`` keeps it and records the
    condition on the decision. Empty ``applications``/``levels``/``origins`` match every value.
    """

    rule: str = Field(pattern=r"^[a-z][a-z0-9_.]*$")
    jurisdiction: Literal["EU", "CN", "US"]
    applications: tuple[str, ...] = ()
    levels: tuple[Level, ...] = ()
    origins: tuple[OriginApplication, ...] = ()
    effect: Effect
    message: str

    def applies_to(self, application: str, *, level: str | None, origin: str | None) -> bool:
        """Whether the rule covers an application for a unit of this level and origin."""
        return (
            (not self.applications or application in self.applications)
            and (not self.levels or level in {lvl.value for lvl in self.levels})
            and (not self.origins or origin in {o.value for o in self.origins})
        )


class ApplicationCatalog(_Strict):
    """The applications table: every application's requirements and the regulations."""

    meta: TableMeta
    application: dict[str, ApplicationSpec]
    regulation: tuple[Regulation, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ApplicationCatalog:
        bad = [a for a in self.application if not a.replace("_", "").isalnum() or a != a.lower()]
        if bad:
            raise ValueError(f"application ids must be lower-case words: {bad}")
        reserved = set(NON_REUSE_ROUTES) & set(self.application)
        if reserved:
            raise ValueError(f"{sorted(reserved)} are routes, not applications")
        missing = [a.value for a in Application if a.value not in self.application]
        if missing:
            raise ValueError(f"canonical applications missing: {missing}")
        for reg in self.regulation:
            unknown = [a for a in reg.applications if a not in self.application]
            if unknown:
                raise ValueError(f"regulation {reg.rule}: unknown applications {unknown}")
        return self

    @property
    def label(self) -> str:
        """``name@version`` for decisions."""
        return f"{self.meta.name}@{self.meta.version}"

    def regulations(self, jurisdiction: str) -> tuple[Regulation, ...]:
        """The restrictions of one jurisdiction (none for ``none``)."""
        return tuple(r for r in self.regulation if r.jurisdiction == jurisdiction)

    def forbidding(self, application: str, jurisdiction: str) -> tuple[Regulation, ...]:
        """The ``forbid`` rules of one jurisdiction that cover ``application`` (for some or all
        levels and origins: each rule's ``levels``/``origins`` say which; the router removes the
        application for the units they match)."""
        return tuple(
            r
            for r in self.regulations(jurisdiction)
            if r.effect == "forbid" and (not r.applications or application in r.applications)
        )


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, catalog_dir: Path | None) -> ApplicationCatalog:
    if name.endswith(".toml") or Path(name).is_file():
        doc = load_toml_file(Path(name))
    else:
        doc = load_table(name, catalog_dir=catalog_dir)
    return validated(ApplicationCatalog, doc, what=f"applications table {name}")


def load_applications(
    name_or_path: str | Path = "applications", *, catalog_dir: Path | None = None
) -> ApplicationCatalog:
    """Load and validate the applications catalogue.

    Parameters
    ----------
    name_or_path : str or Path
        Catalogue table name or a TOML file of the same shape.
    catalog_dir : Path, optional
        Catalogue override folder.

    Raises
    ------
    ConfigError
        Listing every invalid key or value.
    """
    return _load_cached(str(name_or_path), catalog_dir)


@dataclass(frozen=True)
class SeriesOption:
    """How cells of one chemistry meet an application's voltage window.

    Attributes
    ----------
    cells_min, cells_max : int
        Range of cells in series whose usable window share is ≥ the required fraction (0 when
        no series count fits).
    best_cells : int
        Smallest series count with the largest usable share (0 when none fits).
    best_fraction : float
        That share.
    """

    cells_min: int
    cells_max: int
    best_cells: int
    best_fraction: float


def window_fractions(
    spec: ApplicationSpec,
    chemistry: Chemistry | str,
    cells: npt.ArrayLike,
    *,
    catalog_dir: Path | None = None,
) -> npt.NDArray[np.float64]:
    """Share of capacity usable with ``cells`` in series inside the application's voltage window.

    Computed on the chemistry's resting OCV–SOC table: SOC(upper) − SOC(lower), where the per-cell
    bounds are the window divided by the series count, clipped to the chemistry's cut-offs; an
    application that imposes its charge voltage (``voltage_imposed``) must not push a cell above its
    charge cut-off, else the share is 0. The IR drop under load is left to the resistance limit.
    1.0 for every count when the application has no window (like-for-like replacement).

    Parameters
    ----------
    spec : ApplicationSpec
    chemistry : Chemistry or str
    cells : array_like of int
        Cells in series (≥ 1).

    Returns
    -------
    ndarray of float
        Usable share of capacity (0–1) per series count.
    """
    n = np.asarray(cells, dtype=np.float64)
    if spec.voltage_min_v is None or spec.voltage_max_v is None:
        return np.ones_like(n)
    rec = chemistries(catalog_dir=catalog_dir)[Chemistry(chemistry)]
    if spec.voltage_imposed:
        upper = spec.voltage_max_v / n
        over = upper > rec.charge_cutoff_v * (1 + 1e-9)
    else:
        upper = np.minimum(rec.charge_cutoff_v, spec.voltage_max_v / n)
        over = np.zeros_like(n, dtype=bool)
    lower = np.maximum(rec.discharge_cutoff_v, spec.voltage_min_v / n)
    share = rec.ocv.soc_at(upper) - rec.ocv.soc_at(lower)
    return np.where(over | (upper <= lower) | (n < 1), 0.0, np.maximum(share, 0.0))


def series_options(
    spec: ApplicationSpec,
    chemistry: Chemistry | str,
    *,
    min_fraction: float,
    catalog_dir: Path | None = None,
) -> SeriesOption:
    """Series counts of a chemistry's cells that fit an application's voltage window.

    Parameters
    ----------
    spec : ApplicationSpec
    chemistry : Chemistry or str
    min_fraction : float
        Required usable share of capacity (profile ``routing.min_window_fraction``).

    Returns
    -------
    SeriesOption
        The contiguous range of fitting series counts around the best one.
    """
    if not spec.has_window:
        return SeriesOption(1, 1, 1, 1.0)
    assert spec.voltage_max_v is not None
    rec = chemistries(catalog_dir=catalog_dir)[Chemistry(chemistry)]
    top = max(1, math.ceil(spec.voltage_max_v / rec.discharge_cutoff_v))
    fractions = window_fractions(
        spec, chemistry, np.arange(1, top + 1), catalog_dir=catalog_dir
    ).tolist()
    best = max(range(top), key=lambda i: (round(fractions[i], 6), -i))
    if fractions[best] < min_fraction:
        return SeriesOption(0, 0, 0, fractions[best])
    lo = hi = best
    while lo > 0 and fractions[lo - 1] >= min_fraction:
        lo -= 1
    while hi < top - 1 and fractions[hi + 1] >= min_fraction:
        hi += 1
    return SeriesOption(lo + 1, hi + 1, best + 1, fractions[best])
