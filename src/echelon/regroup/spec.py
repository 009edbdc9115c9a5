"""What to build and under which limits: the pack spec, the consistency constraints, the settings.

Defaults come from the catalogue table ``regroup`` (every number with its source and as-of date);
a constraints file (TOML, JSON or YAML) overrides any of them for one build.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from echelon.catalog import load_table
from echelon.domain import Grade
from echelon.domain.parse import normalise_token, suggest
from echelon.errors import ConfigError

Objective = Literal["capacity", "energy"]
"""What the optimiser maximises: total usable capacity [A·h] or total usable energy [W·h]."""

Method = Literal["auto", "heuristic", "milp", "cpsat", "random", "sort_chunk", "kmeans"]
"""``auto`` (exact MILP for small inventories, else the heuristic), the fast heuristic, the exact
MILP (scipy/HiGHS), CP-SAT (optional ``echelon[optim]``), or a baseline."""

BASELINES: tuple[Method, ...] = ("random", "sort_chunk", "kmeans")
UnknownModelPolicy = Literal["group", "exclude"]


def _value(table: dict[str, Any], section: str, key: str) -> Any:
    try:
        return table[section][key]["value"]
    except KeyError as exc:
        raise ConfigError(
            f"catalogue table 'regroup' lacks [{section}.{key}] value; restore the packaged "
            "table or fix the override in ECHELON_CATALOG_DIR"
        ) from exc


class PackSpec(BaseModel):
    """The pack layout to build.

    Attributes
    ----------
    series : int
        Series blocks ``S`` per pack.
    parallel : int
        Units ``P`` in parallel per block.
    packs : int or None
        Number of packs to build; ``None`` builds as many as the inventory allows.
    objective : {"capacity", "energy"}
        Maximise total usable capacity [A·h] or energy [W·h] (they differ only in which
        chemistry/model family packs are taken from when ``packs`` is limited).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    series: int = Field(ge=1, le=1000)
    parallel: int = Field(ge=1, le=1000)
    packs: int | None = Field(default=None, ge=1)
    objective: Objective = "capacity"

    @property
    def units_per_pack(self) -> int:
        """``S × P``."""
        return self.series * self.parallel


class RegroupConstraints(BaseModel):
    """Consistency limits every pack must satisfy (chemistry is always uniform).

    Attributes
    ----------
    same_model : bool
        Units of one pack share one model family (UL 1974, [S17c]).
    model_families : dict of str to list of str
        Optional map ``family → models`` declaring models interchangeable; models not listed are
        their own family. Model names match ignoring case and separators.
    unknown_model : {"group", "exclude"}
        Units without a model: grouped together as one family (``group``; the same-model rule
        cannot be checked for them and the result says so) or left out (``exclude``).
    max_resistance_ratio : float or None
        Highest ÷ lowest unit DCIR within a pack; ``None`` = not limited.
    capacity_tolerance_fraction : float or None
        Lowest unit capacity ≥ (1 − value) × highest within a pack; ``None`` = not limited.
    allowed_grades : tuple of Grade or None
        Only units of these grades are used (units without a grade are then left out);
        ``None`` = any grade.
    max_self_discharge_spread_mv_per_day : float or None
        Highest − lowest unit self-discharge [mV/day] within a pack; ``None`` = not limited.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    same_model: bool = True
    model_families: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    unknown_model: UnknownModelPolicy = "group"
    max_resistance_ratio: float | None = Field(default=None, ge=1.0)
    capacity_tolerance_fraction: float | None = Field(default=None, ge=0.0, lt=1.0)
    allowed_grades: tuple[Grade, ...] | None = None
    max_self_discharge_spread_mv_per_day: float | None = Field(default=None, ge=0.0)

    @field_validator("allowed_grades", mode="before")
    @classmethod
    def _grades(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(v.strip().upper() for v in value.split(",") if v.strip())
        if isinstance(value, (list, tuple)):
            return tuple(str(v).strip().upper() for v in value)
        return value

    @classmethod
    def defaults(cls, *, catalog_dir: Path | None = None) -> RegroupConstraints:
        """The catalogue defaults (table ``regroup``, section ``constraints``)."""
        table = load_table("regroup", catalog_dir=catalog_dir)
        sd = float(_value(table, "constraints", "max_self_discharge_spread_mv_per_day"))
        return cls(
            same_model=bool(_value(table, "constraints", "same_model")),
            max_resistance_ratio=float(_value(table, "constraints", "max_resistance_ratio")),
            capacity_tolerance_fraction=float(
                _value(table, "constraints", "capacity_tolerance_fraction")
            ),
            allowed_grades=_value(table, "constraints", "allowed_grades"),
            max_self_discharge_spread_mv_per_day=None if sd < 0 else sd,
        )

    @classmethod
    def unconstrained(cls) -> RegroupConstraints:
        """No limit beyond one chemistry per pack (for comparisons and tests)."""
        return cls(same_model=False)

    def family_of(self, model: str | None) -> str | None:
        """The model family of a model: its declared family, else the model itself compared
        ignoring case and separators (``None`` for a unit without a model)."""
        if model is None:
            return None
        key = normalise_token(model)
        for family, members in self.model_families.items():
            if key == normalise_token(family) or key in {normalise_token(m) for m in members}:
                return family
        return key

    def active(self) -> dict[str, Any]:
        """The limits in force, as a JSON-ready dict (for summaries and event payloads)."""
        return self.model_dump(mode="json")


_DISABLED = {"none", "null", "off", "false", ""}


def _clean_limits(raw: dict[str, Any]) -> dict[str, Any]:
    """Turn ``"none"``/``false`` (TOML has no null) into ``None`` for the numeric limits."""
    out = dict(raw)
    for key in (
        "max_resistance_ratio",
        "capacity_tolerance_fraction",
        "max_self_discharge_spread_mv_per_day",
        "allowed_grades",
    ):
        value = out.get(key, ...)
        if value is False or (isinstance(value, str) and value.strip().lower() in _DISABLED):
            out[key] = None
    return out


def load_constraints(
    path: Path | str | None = None,
    *,
    catalog_dir: Path | None = None,
    **overrides: Any,
) -> RegroupConstraints:
    """Constraints for one build: catalogue defaults, then a file, then keyword overrides.

    Parameters
    ----------
    path : path-like, optional
        TOML, JSON or YAML file with any of the :class:`RegroupConstraints` fields at top level
        (or under ``[constraints]``). Write ``"none"`` (or ``false``) to lift a limit.
    catalog_dir : Path, optional
        Folder of catalogue overrides.
    **overrides
        Field values that win over the file.

    Returns
    -------
    RegroupConstraints

    Raises
    ------
    ConfigError
        For a missing or unparsable file, an unknown key (with the closest known one) or an
        invalid value, naming the file and the key.
    """
    data = RegroupConstraints.defaults(catalog_dir=catalog_dir).model_dump()
    source = "keyword overrides"
    if path is not None:
        file = Path(path)
        source = str(file)
        raw = _read_mapping(file)
        raw = raw.get("constraints", raw) if isinstance(raw.get("constraints"), dict) else raw
        known = set(RegroupConstraints.model_fields)
        unknown = [k for k in raw if k not in known]
        if unknown:
            hints = "; ".join(f"{k!r}{suggest(k, sorted(known))}" for k in unknown)
            raise ConfigError(
                f"{file}: unknown constraint key(s) {hints}; known keys: {', '.join(sorted(known))}"
            )
        data.update(_clean_limits(raw))
    data.update(_clean_limits(overrides))
    try:
        return RegroupConstraints.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{source}: invalid constraints: {problems}") from exc


def _read_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: constraints file not found")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
        if suffix == ".toml":
            doc: Any = tomllib.loads(text)
        elif suffix == ".json":
            doc = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            doc = yaml.safe_load(text)
        else:
            raise ConfigError(
                f"{path}: unsupported constraints file type {suffix!r}; use .toml, .json or .yaml"
            )
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError, OSError) as exc:
        raise ConfigError(f"{path}: cannot parse the constraints file: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the constraints file must hold a table of keys")
    return doc


class RegroupSettings(BaseModel):
    """Physics constants and solver settings (catalogue table ``regroup``).

    Attributes
    ----------
    reference_soc : float
        State of charge (fraction) for OCV, power limit and OCV-slope conversions.
    prematch_inrush_c_rate_max : float
        Highest equalising current (C-rate of the smaller unit) accepted when paralleling.
    passive_balancing_c_rate : float
        Balancing current [C] a passive balancer provides ([S61]: ~0.001 C).
    exact_max_units : int
        ``method="auto"`` solves the exact MILP up to this many eligible units.
    time_limit_s : float
        Time limit of the exact solvers [s].
    gap_tolerance_fraction : float
        The exact method stops improving a plan (no annealing) once its proven gap — (best bound −
        usable) ÷ usable — is at most this.
    kmeans_clusters : int
        Clusters of the k-means baseline.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference_soc: float = Field(gt=0.0, lt=1.0)
    prematch_inrush_c_rate_max: float = Field(gt=0.0)
    passive_balancing_c_rate: float = Field(gt=0.0)
    exact_max_units: int = Field(ge=0)
    time_limit_s: float = Field(gt=0.0)
    gap_tolerance_fraction: float = Field(ge=0.0, lt=1.0)
    kmeans_clusters: int = Field(ge=1)

    @classmethod
    def load(cls, *, catalog_dir: Path | None = None) -> RegroupSettings:
        """Settings from the catalogue table ``regroup``."""
        table = load_table("regroup", catalog_dir=catalog_dir)
        try:
            return cls(
                reference_soc=_value(table, "physics", "reference_soc"),
                prematch_inrush_c_rate_max=_value(table, "physics", "prematch_inrush_c_rate_max"),
                passive_balancing_c_rate=_value(table, "physics", "passive_balancing_c_rate"),
                exact_max_units=_value(table, "solver", "exact_max_units"),
                time_limit_s=_value(table, "solver", "time_limit_s"),
                gap_tolerance_fraction=_value(table, "solver", "gap_tolerance_fraction"),
                kmeans_clusters=_value(table, "solver", "kmeans_clusters"),
            )
        except ValidationError as exc:
            raise ConfigError(f"catalogue table 'regroup': {exc}") from exc
