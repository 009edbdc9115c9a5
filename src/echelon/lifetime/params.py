"""Typed records of the lifetime catalogue tables (ageing models, duties, forecaster settings).

Data: ``lifetime_models.toml``, ``lifetime_duties.toml`` and ``lifetime_forecasting.toml`` under
``echelon/catalog/data`` (every number with its source and as-of date). Records are validated when
loaded; a broken override is refused with the record named (:class:`~echelon.errors.CatalogError`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from echelon.catalog import chemistry, load_table
from echelon.domain import Chemistry
from echelon.domain.parse import parse_origin
from echelon.errors import CatalogError, EstimationError

CalendarForm = Literal["arrhenius_soc", "arrhenius_anode_potential", "linear_ocv_arrhenius"]
CycleForm = Literal["dod_crate_temperature", "vrms_dod", "constant"]

_CALENDAR_KEYS: dict[str, tuple[str, ...]] = {
    "arrhenius_soc": ("a", "b_kelvin", "c_kelvin"),
    "arrhenius_anode_potential": ("a", "b_kelvin", "c_kelvin_per_volt"),
    "linear_ocv_arrhenius": ("a_per_volt", "b", "scale", "c_kelvin"),
}
_CYCLE_KEYS: dict[str, tuple[str, ...]] = {
    "dod_crate_temperature": ("a", "b_crate", "c_dod", "d_kelvin", "e_kelvin"),
    "vrms_dod": ("a_per_volt2", "b_volt", "c", "d_dod"),
    "constant": ("a",),
}

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class _RateLaw(BaseModel):
    """A rate law: its form, exponent, provenance and the form's coefficients (extra fields)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    required_keys: ClassVar[dict[str, tuple[str, ...]]] = {}

    form: str
    exponent: float = Field(gt=0, le=2)
    source: str
    as_of: str

    @model_validator(mode="after")
    def _keys(self) -> _RateLaw:
        missing = [k for k in self.required_keys[self.form] if k not in self.coefficients]
        if missing:
            raise ValueError(f"form {self.form!r} needs {', '.join(missing)}")
        return self

    @property
    def coefficients(self) -> dict[str, float]:
        """The form's numeric coefficients by name."""
        extra = self.model_extra or {}
        return {k: float(v) for k, v in extra.items() if isinstance(v, int | float)}


class CalendarLaw(_RateLaw):
    """Calendar-fade rate law: ``q_cal = k(T, SOC) · t^exponent`` with ``t`` in days."""

    required_keys: ClassVar[dict[str, tuple[str, ...]]] = _CALENDAR_KEYS
    form: CalendarForm


class CycleLaw(_RateLaw):
    """Cycle-fade rate law: ``q_cyc = k(T, DOD, C-rate, V_rms) · x^exponent``.

    ``x`` is the throughput in equivalent full cycles (``throughput = "efc"``) or in ampere-hours of
    the reference cell (``"ah"``, ``x = ah_per_efc · EFC``).
    """

    required_keys: ClassVar[dict[str, tuple[str, ...]]] = _CYCLE_KEYS
    form: CycleForm
    throughput: Literal["efc", "ah"] = "efc"
    ah_per_efc: float = Field(default=1.0, gt=0)

    @property
    def throughput_per_efc(self) -> float:
        """Units of the law's throughput variable per equivalent full cycle."""
        return self.ah_per_efc if self.throughput == "ah" else 1.0


class OcvCurve(BaseModel):
    """Open-circuit voltage [V] of the model's reference cell vs SOC (0–1)."""

    model_config = _FROZEN

    soc: tuple[float, ...]
    ocv_v: tuple[float, ...]
    source: str
    as_of: str


class AgeingModel(BaseModel):
    """A semi-empirical calendar + cycle capacity-fade model of one chemistry family.

    Attributes
    ----------
    key : str
        Catalogue key (``LFP``, ``NMC``, ``NCA``, ``LMO``).
    basis : {"nominal", "second_life_start"}
        ``nominal``: fade relative to the new cell's capacity (fresh-cell model);
        ``second_life_start``: fade relative to the capacity at the start of second life.
    validity_temperature_celsius, validity_dod, validity_c_rate : tuple of float
        Range of the ageing tests the model was fitted on.
    """

    model_config = _FROZEN

    key: str
    label: str
    basis: Literal["nominal", "second_life_start"]
    reference_capacity_ah: float = Field(gt=0)
    validity_temperature_celsius: tuple[float, float]
    validity_dod: tuple[float, float]
    validity_c_rate: tuple[float, float]
    source: str
    as_of: str
    calendar: CalendarLaw
    cycle: CycleLaw
    ocv: OcvCurve | None = None

    @model_validator(mode="after")
    def _ocv_when_needed(self) -> AgeingModel:
        needs_ocv = self.calendar.form == "linear_ocv_arrhenius" or self.cycle.form == "vrms_dod"
        if needs_ocv and self.ocv is None:
            raise ValueError("voltage-based rate laws need an [model.<key>.ocv] table")
        return self


class AnodePotential(BaseModel):
    """Graphite potential vs Li/Li+ from SOC (Safari & Delacourt 2011)."""

    model_config = _FROZEN

    x_min: float
    x_max: float
    c0: float
    c1: float
    c2: float
    tanh_amplitude: tuple[float, ...]
    tanh_centre: tuple[float, ...]
    tanh_width: tuple[float, ...]
    source: str
    as_of: str


class ModelTable(BaseModel):
    """The parsed ``lifetime_models`` table."""

    model_config = _FROZEN

    models: dict[str, AgeingModel]
    family_model: dict[str, str]
    proxy_families: frozenset[str]
    anode_potential: AnodePotential


def _refuse(table: str, record: str, exc: Exception) -> CatalogError:
    return CatalogError(f"{table} table, record {record!r}: {exc}")


@functools.lru_cache(maxsize=8)
def model_table(catalog_dir: Path | None = None) -> ModelTable:
    """The ageing models, the family → model map and the anode-potential curve (validated)."""
    doc = load_table("lifetime_models", catalog_dir=catalog_dir)
    models: dict[str, AgeingModel] = {}
    for key, body in doc.get("model", {}).items():
        try:
            models[key] = AgeingModel(key=key, **body)
        except (ValidationError, TypeError) as exc:
            raise _refuse("lifetime_models", key, exc) from exc
    fam = dict(doc.get("family_model", {}))
    proxies = frozenset(fam.pop("proxy_families", []))
    fam.pop("source", None)
    fam.pop("as_of", None)
    unknown = {f: m for f, m in fam.items() if m not in models}
    if unknown:
        raise CatalogError(f"lifetime_models table, [family_model]: unknown models {unknown}")
    try:
        anode = AnodePotential(**doc["anode_potential"])
    except (KeyError, ValidationError, TypeError) as exc:
        raise _refuse("lifetime_models", "anode_potential", exc) from exc
    return ModelTable(
        models=models, family_model=fam, proxy_families=proxies, anode_potential=anode
    )


def model_for(
    chem: Chemistry | str, *, catalog_dir: Path | None = None
) -> tuple[AgeingModel, str | None]:
    """The ageing model of a chemistry (enum, spelling or family name) and a note for proxies.

    Raises
    ------
    EstimationError
        For chemistries without an ageing model (Li-metal, Li–S, unknown) or unknown spellings.
    """
    table = model_table(catalog_dir)
    family = str(chem)
    if family not in table.family_model:
        try:
            family = chemistry(chem, catalog_dir=catalog_dir).family
        except ValueError as exc:
            raise EstimationError(f"no ageing model: {exc}") from exc
    key = table.family_model.get(family)
    if key is None:
        known = ", ".join(sorted(table.family_model))
        raise EstimationError(
            f"no ageing model for chemistry {str(chem)!r} (family {family}); models exist for "
            f"families {known}. Give the chemistry if it is known, or route the unit by its "
            "measured state alone."
        )
    note = None
    if family in table.proxy_families:
        note = (
            f"{family} has no semi-empirical model of its own: the {key} model is used as a "
            "proxy (wider uncertainty)"
        )
    return table.models[key], note


class Settings(BaseModel):
    """Forecaster settings: sections of ``lifetime_forecasting`` as plain mappings."""

    model_config = _FROZEN

    single_soh: dict[str, Any]
    first_life: dict[str, dict[str, Any]]
    trajectory: dict[str, Any]
    fallback: dict[str, Any]
    knee: dict[str, Any]
    pack: dict[str, Any]


@functools.lru_cache(maxsize=8)
def settings(catalog_dir: Path | None = None) -> Settings:
    """The ``lifetime_forecasting`` table, checked for its sections."""
    doc = load_table("lifetime_forecasting", catalog_dir=catalog_dir)
    try:
        return Settings(**{k: v for k, v in doc.items() if k != "meta"})
    except ValidationError as exc:
        raise _refuse("lifetime_forecasting", "sections", exc) from exc


def origin_key(origin: str | None) -> str | None:
    """The canonical origin application of a spelling (``None`` for a missing one).

    Matching ignores case and separators and knows the usual aliases (``EV``, ``e-bike``,
    ``BESS``: :func:`echelon.domain.parse.parse_origin`).

    Raises
    ------
    EstimationError
        An unknown spelling, with the closest known origin (an unknown origin used to fall back
        silently to the ``default`` prior, about 3× the life of ``automotive``).
    """
    if origin is None or not str(origin).strip():
        return None
    try:
        return parse_origin(str(origin)).value
    except ValueError as exc:
        raise EstimationError(f"origin_application: {exc}") from None


def first_life_prior(origin: str | None, *, catalog_dir: Path | None = None) -> dict[str, Any]:
    """First-life prior of an origin application (any spelling :func:`origin_key` reads).

    Origins without a prior of their own (medical, industrial, aerospace/defence, other) and a
    missing origin get ``default``.

    Raises
    ------
    EstimationError
        An unknown origin spelling.
    """
    table = settings(catalog_dir).first_life
    return table.get(origin_key(origin) or "default", table["default"])
