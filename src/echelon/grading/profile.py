"""Grading profiles: the safety gate's limits, grade bands, and the route table, as validated data.

A profile is a catalogue table (``grading_<name>``) or any TOML file of the same shape. It is
validated when loaded: unknown keys, overlapping or inverted bands, unknown levels/families and
routes to undefined applications are clear errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from echelon.catalog import load_table
from echelon.catalog._loader import load_toml_file
from echelon.domain import Grade, Level, OriginApplication
from echelon.errors import ConfigError

FAMILIES = frozenset({"LFP", "NMC", "NCA", "LMO", "LCO", "LMO-NMC", "Li-metal", "Li-S", "unknown"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateLimits(_Strict):
    """Safety-gate limits (see the baseline profile for sources)."""

    require_traceability_levels: tuple[Level, ...]
    traceability_source: str
    self_discharge_max_percent_per_day: float = Field(gt=0)
    self_discharge_source: str
    self_discharge_outlier_sigma: float = Field(gt=0)
    self_discharge_outlier_min_group: int = Field(ge=3)
    insulation_min_ohm_per_volt: float = Field(ge=0)
    require_insulation_levels: tuple[Level, ...]
    insulation_source: str
    zero_volt_threshold_v_per_cell: float = Field(ge=0)
    ocv_source: str


class GradeBand(_Strict):
    """One grade's minimum SOH and maximum resistance ratio."""

    name: Grade
    soh_min_percent: float = Field(ge=0, le=150)
    resistance_ratio_max: float = Field(gt=0)
    meaning: str
    source: str
    soh_min_percent_by_family: dict[str, float] = Field(default_factory=dict)

    def soh_min_for(self, family: str) -> float:
        """Minimum SOH [%] for a chemistry family."""
        return self.soh_min_percent_by_family.get(family, self.soh_min_percent)


class GradingOptions(_Strict):
    """How measurements map to grades."""

    cap_without_resistance: Grade
    reference_resistance_min_group: int = Field(ge=2)
    use_soh_lower_bound: bool


class Application(_Strict):
    """A second-life application the router can choose."""

    description: str
    levels: tuple[Level, ...]
    origins: tuple[OriginApplication, ...] = ()
    families: tuple[str, ...]
    source: str


class Meta(_Strict):
    """Provenance of a profile."""

    name: str
    version: str
    as_of: str
    description: str = ""
    source: str = ""


class GradingProfile(_Strict):
    """A complete grading profile (gate, bands, options, routes, applications)."""

    meta: Meta
    gate: GateLimits
    grade: tuple[GradeBand, ...]
    grading: GradingOptions
    route: dict[Grade, tuple[str, ...]]
    application: dict[str, Application]

    @model_validator(mode="after")
    def _consistent(self) -> GradingProfile:
        names = [b.name for b in self.grade]
        expected = [g for g in Grade if g is not Grade.D]
        if names != expected:
            raise ValueError(
                f"grade bands must be A, B, C in that order (D is everything below C); got {names}"
            )
        for upper, lower in zip(self.grade, self.grade[1:], strict=False):
            for family in FAMILIES:
                if upper.soh_min_for(family) <= lower.soh_min_for(family):
                    raise ValueError(
                        f"overlapping SOH bands for {family}: grade {upper.name.value} minimum "
                        f"{upper.soh_min_for(family)} % must exceed grade {lower.name.value} "
                        f"minimum {lower.soh_min_for(family)} %"
                    )
            if upper.resistance_ratio_max >= lower.resistance_ratio_max:
                raise ValueError(
                    f"resistance bands must widen from A to C: grade {upper.name.value} "
                    f"{upper.resistance_ratio_max} ≥ grade {lower.name.value} "
                    f"{lower.resistance_ratio_max}"
                )
        for band in self.grade:
            unknown = set(band.soh_min_percent_by_family) - FAMILIES
            if unknown:
                raise ValueError(f"grade {band.name.value}: unknown families {sorted(unknown)}")
        for app_name, app in self.application.items():
            unknown = set(app.families) - FAMILIES
            if unknown:
                raise ValueError(f"application {app_name}: unknown families {sorted(unknown)}")
        for grade, apps in self.route.items():
            missing = [a for a in apps if a not in self.application]
            if missing:
                raise ValueError(f"route {grade.value} names undefined applications {missing}")
        return self

    @property
    def label(self) -> str:
        """``name@version`` for decisions."""
        return f"{self.meta.name}@{self.meta.version}"


def _from_doc(doc: dict[str, Any], origin: str) -> GradingProfile:
    try:
        return GradingProfile.model_validate(doc)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            lines.append(f"  - {loc or '(profile)'}: {err.get('msg', 'invalid')}")
        raise ConfigError(f"grading profile {origin} is invalid:\n" + "\n".join(lines)) from exc


def load_profile(
    name_or_path: str | Path = "baseline", *, catalog_dir: Path | None = None
) -> GradingProfile:
    """Load and validate a grading profile.

    Parameters
    ----------
    name_or_path : str or Path
        A catalogue profile name (``baseline`` → table ``grading_baseline``) or a path to a
        TOML file of the same shape (copy a packaged profile to start).
    catalog_dir : Path, optional
        Catalogue override folder.

    Raises
    ------
    ConfigError
        Listing every invalid key or value.
    """
    text = str(name_or_path)
    if text.endswith(".toml") or Path(text).is_file():
        return _from_doc(load_toml_file(Path(text)), text)
    return _from_doc(load_table(f"grading_{text}", catalog_dir=catalog_dir), text)
