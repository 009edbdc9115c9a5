"""Grading profiles: the safety gate's limits, grade bands, route table and routing options.

A profile is a catalogue table (``grading_<name>``: ``baseline``, ``eu``, ``cn``, ``us``) or any
TOML file of the same shape. It names its jurisdiction, whose regulatory restrictions the router
applies (see :mod:`echelon.routing.applications`). It is validated when loaded: unknown keys,
overlapping or inverted bands, unknown levels/families and routes to applications the catalogue
does not define are clear errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import Field, field_validator, model_validator

from echelon.catalog import FAMILIES, chemistries, load_table
from echelon.catalog._loader import load_toml_file, override_dir, table_names
from echelon.catalog.models import Source, StrictModel, TableMeta, validated
from echelon.domain import Grade, Level, Region
from echelon.domain.plausible import PLAUSIBLE
from echelon.errors import CatalogError, ConfigError, UsageError

_Strict = StrictModel


SELF_DISCHARGE_PERCENT_PER_DAY: Final = (0.5, 100.0)
"""Plausible gate limit on self-discharge [%/day] (packaged: 5, McKinsey 2019 [S20])."""
INSULATION_MIN_OHM_PER_VOLT: Final = 10.0
"""Smallest plausible non-zero insulation minimum [Ω/V] (packaged: 100, GB 18384 as reported)."""


class GateLimits(_Strict):
    """Safety-gate limits (see the baseline profile for sources)."""

    require_traceability_levels: tuple[Level, ...]
    traceability_source: Source
    self_discharge_max_percent_per_day: float = Field(gt=0)
    self_discharge_source: Source
    self_discharge_outlier_sigma: float = Field(gt=0)
    self_discharge_outlier_min_group: int = Field(ge=3)
    insulation_min_ohm_per_volt: float = Field(ge=0)
    require_insulation_levels: tuple[Level, ...]
    insulation_source: Source
    zero_volt_threshold_v_per_cell: float = Field(ge=0)
    ocv_source: Source

    @field_validator("self_discharge_max_percent_per_day")
    @classmethod
    def _self_discharge_percent(cls, value: float) -> float:
        # the packaged limit is 5 %/day (McKinsey 2019 [S20], as of 2026-11-22); a healthy Li-ion
        # cell loses ~0.03-0.1 %/day, so a limit below 0.5 %/day would quarantine healthy units:
        # a fraction (0.05 for 5 %) written where a percent belongs
        if value < SELF_DISCHARGE_PERCENT_PER_DAY[0] or value > SELF_DISCHARGE_PERCENT_PER_DAY[1]:
            raise ValueError(
                f"{value:g} %/day outside the plausible range {SELF_DISCHARGE_PERCENT_PER_DAY} "
                f"(reference 5 %/day, McKinsey 2019 [S20]); wrong unit? a fraction written for a "
                f"percent: write {value * 100:g}"
            )
        return value

    @field_validator("insulation_min_ohm_per_volt")
    @classmethod
    def _insulation_ohm_per_volt(cls, value: float) -> float:
        # the packaged limit is 100 Ω/V (GB 18384 as reported, as of 2026-11-22; UN ECE R100 also
        # 100 Ω/V DC, 500 Ω/V AC): a minimum in (0, 10) Ω/V is kΩ/V written for Ω/V (0 disables)
        if 0 < value < INSULATION_MIN_OHM_PER_VOLT:
            raise ValueError(
                f"{value:g} Ω/V is below the plausible {INSULATION_MIN_OHM_PER_VOLT:g} Ω/V "
                "(reference 100 Ω/V, GB 18384 as reported); wrong unit? kΩ/V written for Ω/V: "
                f"write {value * 1000:g}"
            )
        return value

    @field_validator("zero_volt_threshold_v_per_cell")
    @classmethod
    def _per_cell_volts(cls, value: float) -> float:
        # a threshold above every chemistry's upper OCV limit would quarantine every unit as a
        # "0 V unit": a unit mistake (mV), not a limit
        top = max(record.ocv_max_v for record in chemistries().values())
        if value > top:
            raise ValueError(
                f"{value:g} V per cell is above every chemistry's upper OCV limit ({top:g} V, "
                f"catalogue chemistries): millivolts? write {value / 1000:g} for {value:g} mV"
            )
        return value


def _soh_percent(value: float) -> float:
    """A band minimum below the plausible SOH (1.5 %, as the measurements reader uses) but above
    0 is a fraction written where a percent belongs (0.8 for 80 %)."""
    if 0 < value < PLAUSIBLE["soh_percent"].low:
        raise ValueError(
            f"SOH minimum {value:g} % looks like a fraction; bands are in percent (write "
            f"{value * 100:g} for {value * 100:g} %)"
        )
    return value


class GradeBand(_Strict):
    """One grade's minimum SOH and maximum resistance ratio."""

    name: Grade
    soh_min_percent: float = Field(ge=0, le=150)
    resistance_ratio_max: float = Field(gt=0)
    meaning: str
    source: Source
    soh_min_percent_by_family: dict[str, float] = Field(default_factory=dict)

    @field_validator("soh_min_percent")
    @classmethod
    def _percent(cls, value: float) -> float:
        return _soh_percent(value)

    @field_validator("soh_min_percent_by_family")
    @classmethod
    def _percents(cls, values: dict[str, float]) -> dict[str, float]:
        for family, value in values.items():
            try:
                _soh_percent(value)
            except ValueError as exc:
                raise ValueError(f"{family}: {exc}") from None
        return values

    def soh_min_for(self, family: str) -> float:
        """Minimum SOH [%] for a chemistry family."""
        return self.soh_min_percent_by_family.get(family, self.soh_min_percent)


class GradingOptions(_Strict):
    """How measurements map to grades."""

    cap_without_resistance: Grade
    reference_resistance_min_group: int = Field(ge=2)
    use_soh_lower_bound: bool
    cap_out_of_domain: Grade | None = None
    """Best grade for a unit whose SOH is an estimate flagged out of its model's domain (its
    widened interval is not a calibrated one); ``None``: no cap."""


Jurisdiction = Literal["EU", "CN", "US", "none"]
"""Whose regulatory restrictions apply (``none``: jurisdiction-neutral, no restrictions)."""

PROFILE_FOR_REGION: dict[Region, str] = {
    Region.EU: "eu",
    Region.CN: "cn",
    Region.US: "us",
    Region.OTHER: "baseline",
}
"""Default profile per regulatory region of a unit (``echelon intake`` without ``--profile``)."""


class RoutingOptions(_Strict):
    """How the router derives limits and values (see :mod:`echelon.routing`).

    Attributes
    ----------
    applications : str
        Catalogue table of applications (requirements, life placeholder, regulations).
    economics : str
        Catalogue table of prices and costs (replaceable per run).
    resistance_margin : float
        R_max = margin × (OCV − V_min,load) / I_peak: the share of the available voltage headroom
        the unit's resistance may use (0–1].
    min_window_fraction : float
        Minimum share of the unit's capacity usable inside an application's voltage window with
        the best series count (0–1].
    source : str
    """

    applications: str = "applications"
    economics: str = "routing_economics"
    resistance_margin: float = Field(gt=0, le=1)
    min_window_fraction: float = Field(gt=0, le=1)
    source: Source


class Meta(TableMeta):
    """Provenance of a profile and the jurisdiction whose regulations apply."""

    jurisdiction: Jurisdiction


class GradingProfile(_Strict):
    """A complete grading profile (gate, bands, options, route table, routing options).

    ``route`` maps a grade to the applications it may serve; a grade may also serve every lower
    grade's applications (:meth:`applications_for`).
    """

    meta: Meta
    gate: GateLimits
    grade: tuple[GradeBand, ...]
    grading: GradingOptions
    route: dict[Grade, tuple[str, ...]]
    routing: RoutingOptions

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
        if self.route.get(Grade.D):
            raise ValueError("route D must be empty: grade D units are recycled")
        return self

    @property
    def label(self) -> str:
        """``name@version`` for decisions."""
        return f"{self.meta.name}@{self.meta.version}"

    def applications_for(self, grade: Grade | str) -> tuple[str, ...]:
        """Applications a grade may serve: its own and every lower grade's, in table order."""
        order = list(Grade)
        names: list[str] = []
        for lower in order[order.index(Grade(grade)) :]:
            names += [a for a in self.route.get(lower, ()) if a not in names]
        return tuple(names)


def _check_routes(profile: GradingProfile, origin: str, catalog_dir: Path | None) -> None:
    try:
        doc = load_table(profile.routing.applications, catalog_dir=catalog_dir)
    except CatalogError as exc:
        raise ConfigError(f"grading profile {origin}: routing.applications: {exc}") from exc
    defined = set(doc.get("application", {}))
    for grade, apps in profile.route.items():
        missing = [a for a in apps if a not in defined]
        if missing:
            raise ConfigError(
                f"grading profile {origin} is invalid:\n  - route.{grade.value}: undefined "
                f"applications {missing}; table {profile.routing.applications!r} defines "
                f"{sorted(defined)}"
            )


def _profile_tables(catalog_dir: Path | None) -> dict[str, str]:
    """Profile name, as its file spells it → the ``grading_<name>`` table to load."""
    tables = {t.removeprefix("grading_"): t for t in table_names() if t.startswith("grading_")}
    folder = override_dir(catalog_dir)
    if folder is not None:
        tables |= {p.stem.removeprefix("grading_"): p.stem for p in folder.glob("grading_*.toml")}
    return tables


def profile_names(*, catalog_dir: Path | None = None) -> list[str]:
    """Names of the grading profiles (packaged ``grading_<name>`` tables and user overrides),
    as their files spell them; :func:`load_profile` matches them in any case."""
    return sorted(_profile_tables(catalog_dir))


def load_profile(
    name_or_path: str | Path = "baseline", *, catalog_dir: Path | None = None
) -> GradingProfile:
    """Load and validate a grading profile.

    Parameters
    ----------
    name_or_path : str or Path
        A catalogue profile name in any case (``baseline``, ``eu``, ``cn``, ``us`` → table
        ``grading_<name>``; a ``grading_<Name>.toml`` of the override folder) or a path to a
        TOML file of the same shape (copy a packaged profile
        to start).
    catalog_dir : Path, optional
        Catalogue override folder.

    Raises
    ------
    ConfigError
        Listing every invalid key or value, or a route to an application the applications
        catalogue does not define.
    """
    text = str(name_or_path)
    if text.endswith(".toml") or Path(text).is_file():
        doc = load_toml_file(Path(text))
    else:
        tables = _profile_tables(catalog_dir)
        matches = sorted(n for n in tables if n.lower() == text.lower())
        if not matches:
            raise UsageError(
                f"no grading profile named {text!r}; available: {', '.join(sorted(tables))} "
                "(or the path of a .toml profile)"
            )
        if len(matches) > 1:
            raise ConfigError(
                f"grading profile {text!r} is ambiguous: files "
                f"{', '.join(f'{tables[m]}.toml' for m in matches)} differ only in case; "
                "keep one"
            )
        doc = load_table(tables[matches[0]], catalog_dir=catalog_dir)
    profile = validated(GradingProfile, doc, what=f"grading profile {text}")
    _check_routes(profile, text, catalog_dir)
    return profile


def profile_for_region(region: Region | str | None) -> str:
    """Profile name for a unit's regulatory region (``baseline`` when unknown)."""
    try:
        return PROFILE_FOR_REGION[Region(region)] if region is not None else "baseline"
    except ValueError:
        return "baseline"
