"""Prices and costs of the reuse-or-recycle decision, as dated data overridable per run.

Data: catalogue table ``routing_economics`` (``src/echelon/catalog/data/routing_economics.toml``).
:func:`load_economics` validates it and applies per-run overrides (``{"price.ess": 9.5}``); the
overrides are recorded in :attr:`Economics.label` so every decision names the numbers it used.

References
----------
second-life-domain.md §5 (cost and price data, the value model); recycling-passport-flows.md §1.3,
§1.6, §2.5, §5 (masses, black-mass grades, EverBatt prices and feed-cost convention).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, cast, get_args

import polars as pl
from pydantic import Field, model_validator

from echelon.catalog import load_table
from echelon.catalog._loader import load_toml_file, packaged_table_path
from echelon.catalog.models import (
    AsOf,
    Source,
    Sourced,
    StrictModel,
    TableMeta,
    validated,
)
from echelon.domain import Chemistry, Level
from echelon.domain.parse import suggest
from echelon.errors import ConfigError

Jurisdiction = Literal["EU", "CN", "US", "none"]
JURISDICTIONS: tuple[str, ...] = get_args(Jurisdiction)
SHORTHAND = {"price": "usd_per_kwh_year", "labour": "usd_per_hour"}
"""``--set price.ess=9`` means ``price.ess.usd_per_kwh_year``; ``labour.EU=45`` its hourly rate."""
OVERRIDE_MAX_ABS = 1e9
"""Largest magnitude a ``--set`` number may have: no price, rate, cost or fee of the table comes
within five orders of magnitude of it (a larger number is a typo), and money columns derived from
it must stay printable as whole dollars (int64 ends at 9.2e18)."""


_Strict = StrictModel


class EconomicsMeta(TableMeta):
    """Provenance of the economics table and its currency."""

    source: Source  # required here (optional in TableMeta)
    currency: str


class Price(Sourced):
    """Reuse price of an application: value of one usable kWh per year of service."""

    usd_per_kwh_year: float = Field(ge=0)
    by_jurisdiction: dict[Jurisdiction, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)

    def for_jurisdiction(self, jurisdiction: str) -> float:
        """Price [USD/(kWh·year)] in a jurisdiction."""
        return self.by_jurisdiction.get(cast(Jurisdiction, jurisdiction), self.usd_per_kwh_year)


class Labour(Sourced):
    """Labour rate of a jurisdiction."""

    usd_per_hour: float = Field(ge=0)


class Repurposing(Sourced):
    """Repurposing cost of one unit of a level: labour (per unit and per kWh) + materials."""

    labour_hours: float = Field(ge=0)
    labour_hours_per_kwh: float = Field(default=0.0, ge=0)
    materials_usd_per_kwh: float = Field(ge=0)


class Testing(Sourced):
    """Qualification-test cost of one unit of a level."""

    tester_hours: float = Field(ge=0)
    tester_usd_per_hour: float = Field(ge=0)
    labour_hours: float = Field(ge=0)


class MetalPrices(Sourced):
    """Prices of the paid metals in black mass [USD/kg]."""

    Ni: float = Field(ge=0)
    Co: float = Field(ge=0)


class RecyclingChemistry(Sourced):
    """Fallback recycling data of one chemistry (``fixed_usd_per_kg`` also sets the router's feed
    price, :meth:`Economics.feed_price_overrides`)."""

    cell_kg_per_kwh: float = Field(gt=0)
    black_mass_ni: float = Field(default=0.0, ge=0, le=1)
    black_mass_co: float = Field(default=0.0, ge=0, le=1)
    fixed_usd_per_kg: float | None = None


class Recycling(_Strict):
    """Recycling prices the router applies to the EverBatt feed price
    (:meth:`Economics.feed_price_overrides`) and the fallback table for units the recycling
    model cannot value."""

    payable_fraction: float = Field(ge=0, le=1)
    payable_source: Source
    black_mass_kg_per_kg_cells: float = Field(gt=0, le=1)
    black_mass_source: Source
    as_of: AsOf
    metal_usd_per_kg: MetalPrices
    chemistry: dict[str, RecyclingChemistry]

    @model_validator(mode="after")
    def _complete(self) -> Recycling:
        missing = [c.value for c in Chemistry if c.value not in self.chemistry]
        unknown = sorted(set(self.chemistry) - {c.value for c in Chemistry})
        if missing or unknown:
            raise ValueError(f"chemistry: missing {missing}, unknown {unknown}")
        return self

    def usd_per_kg_cells(self, chemistry: str) -> float:
        """Fallback recycling value per kg of cells [USD/kg] (negative: the owner pays)."""
        rec = self.chemistry[chemistry]
        if rec.fixed_usd_per_kg is not None:
            return rec.fixed_usd_per_kg
        metals = self.metal_usd_per_kg
        contained = rec.black_mass_ni * metals.Ni + rec.black_mass_co * metals.Co
        return self.payable_fraction * self.black_mass_kg_per_kg_cells * contained


class Economics(_Strict):
    """Every price and cost the router uses, with provenance and the per-run overrides applied.

    Attributes
    ----------
    meta : EconomicsMeta
    price : dict
        Reuse price per application id.
    labour : dict
        Labour rate per jurisdiction (``EU``, ``CN``, ``US``, ``none``).
    repurposing, testing : dict
        Cost model per level.
    recycling : Recycling
        Recycling prices and the fallback recycling-value table.
    overrides : tuple of str
        ``key=value`` overrides applied to the table for this run.
    override_values : dict
        The same overrides as numbers.
    follows_profile : bool
        True for overrides given without a table of their own (``--set`` without
        ``--economics``): :func:`economics_in_force` applies them to the table each grading
        profile names rather than to this one.
    """

    meta: EconomicsMeta
    price: dict[str, Price]
    labour: dict[Jurisdiction, Labour]
    repurposing: dict[Level, Repurposing]
    testing: dict[Level, Testing]
    recycling: Recycling
    overrides: tuple[str, ...] = ()
    override_values: dict[str, float] = Field(default_factory=dict)
    follows_profile: bool = False

    @model_validator(mode="after")
    def _complete(self) -> Economics:
        missing = [j for j in JURISDICTIONS if j not in self.labour]
        if missing:
            raise ValueError(f"labour: missing jurisdictions {missing}")
        for name, table in (("repurposing", self.repurposing), ("testing", self.testing)):
            absent = [lvl.value for lvl in Level if lvl not in table]
            if absent:
                raise ValueError(f"{name}: missing levels {absent}")
        return self

    @property
    def label(self) -> str:
        """``name@version`` plus the overrides, e.g. ``routing_economics@1 (price.ess=9.5)``."""
        base = f"{self.meta.name}@{self.meta.version}"
        return f"{base} ({', '.join(self.overrides)})" if self.overrides else base

    def price_for(self, application: str, jurisdiction: str) -> float:
        """Reuse price [USD/(kWh·year)] of an application in a jurisdiction.

        Raises
        ------
        ConfigError
            When the table has no price for the application.
        """
        if application not in self.price:
            raise ConfigError(
                f"economics {self.label}: no price for application {application!r}; add "
                f"[price.{application}] (usd_per_kwh_year, source, as_of)"
            )
        return self.price[application].for_jurisdiction(jurisdiction)

    def labour_rate(self, jurisdiction: str) -> float:
        """Labour rate [USD/hour] of a jurisdiction."""
        return self.labour[cast(Jurisdiction, jurisdiction)].usd_per_hour

    def feed_price_overrides(self) -> dict[str, float]:
        """The recycling feed-price parameters this table changes, by :func:`feed_price_key`
        name: ``{"metal:Ni": 18.0, "battery_share": 0.4, "fixed:LFP": -3.0}``.

        A ``[recycling]`` metal price, ``payable_fraction`` or ``fixed_usd_per_kg`` that differs
        from the packaged ``routing_economics`` table — set with ``--set``, in an ``--economics``
        file, a profile's own table or a copy in ``ECHELON_CATALOG_DIR`` — replaces that
        parameter of the EverBatt feed price the router pays units with; unchanged numbers
        leave the ``recycling_prices`` table's in force.
        """
        mine, packaged = self.recycling, _packaged().recycling
        out = {
            f"metal:{metal}": getattr(mine.metal_usd_per_kg, metal)
            for metal in ("Ni", "Co")
            if getattr(mine.metal_usd_per_kg, metal) != getattr(packaged.metal_usd_per_kg, metal)
        }
        if mine.payable_fraction != packaged.payable_fraction:
            out["battery_share"] = mine.payable_fraction
        for chem, rec in mine.chemistry.items():
            if rec.fixed_usd_per_kg is not None and (
                rec.fixed_usd_per_kg != packaged.chemistry[chem].fixed_usd_per_kg
            ):
                out[f"fixed:{chem}"] = rec.fixed_usd_per_kg
        return out

    def unit_costs(self, jurisdiction: str) -> dict[str, tuple[float, float, float]]:
        """Per level: (repurposing USD per unit, repurposing USD per nominal kWh, testing USD
        per unit)."""
        rate = self.labour_rate(jurisdiction)
        out = {}
        for level in Level:
            rep = self.repurposing[level]
            test = self.testing[level]
            out[level.value] = (
                rep.labour_hours * rate,
                rep.labour_hours_per_kwh * rate + rep.materials_usd_per_kwh,
                test.tester_hours * test.tester_usd_per_hour + test.labour_hours * rate,
            )
        return out


def _not_an_economics_key(key: str, part: str, doc: dict[str, Any]) -> str:
    """Why ``key`` cannot be set: ``--set`` takes keys of the economics table only (its valid
    prefixes listed); grading-profile thresholds are edited in a profile file."""
    prefixes = ", ".join(f"{k}." for k in sorted(doc) if k != "meta" and isinstance(doc[k], dict))
    return (
        f"economics override {key!r}: --set takes keys of the economics table only, starting "
        f"with {prefixes} (e.g. price.ess=9.5, labour.EU=45){suggest(part, sorted(doc))}; "
        f"{part!r} is not one of them. Thresholds of a grading profile (gate.*, grade.*, "
        "grading.*, route.*) are not run-time overrides: copy the profile's file, edit it and "
        'pass --profile PATH (docs/grading.md, "Editing a profile")'
    )


def _set_path(doc: dict[str, Any], key: str, value: float) -> None:
    parts = key.split(".")
    node: Any = doc
    for depth, part in enumerate(parts):
        if depth == 0 and part not in node:
            raise ConfigError(_not_an_economics_key(key, part, doc))
        if not isinstance(node, dict) or part not in node:
            here = ".".join(parts[:depth])
            options = sorted(node) if isinstance(node, dict) else []
            raise ConfigError(
                f"economics override {key!r}: {here} has no {part!r}{suggest(part, options)}; "
                f"keys there: {', '.join(options) or 'none'}"
            )
        if depth == len(parts) - 1:
            target = node[part]
            if isinstance(target, dict):
                field = SHORTHAND.get(parts[0])
                if field is None or field not in target:
                    numeric = [k for k, v in target.items() if isinstance(v, (int, float))]
                    raise ConfigError(
                        f"economics override {key!r} names a table; give one of its numbers: "
                        f"{', '.join(f'{key}.{k}' for k in numeric)}"
                    )
                target[field] = value
            elif isinstance(target, (int, float)) and not isinstance(target, bool):
                node[part] = value
            else:
                raise ConfigError(f"economics override {key!r}: {target!r} is not a number")
        node = node[part]


def _checked_number(what: str, value: float) -> float:
    """``value`` when finite and within :data:`OVERRIDE_MAX_ABS`, else a :class:`ConfigError`."""
    if not math.isfinite(value) or abs(value) > OVERRIDE_MAX_ABS:
        raise ConfigError(
            f"{what}: {value:g} is not a finite number within ±{OVERRIDE_MAX_ABS:g}; give the "
            "price or cost itself, e.g. price.ess=9.5"
        )
    return value


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Parse ``KEY=NUMBER`` strings (from ``--set``) into a mapping.

    Raises
    ------
    ConfigError
        Naming the malformed item: no ``=``, not a number, or not finite (``inf``, ``nan``) or
        beyond :data:`OVERRIDE_MAX_ABS` — refused before any work is done, so no decision can
        record such a number. Negative prices and rates are refused by the table's validation.
    """
    out: dict[str, float] = {}
    for item in items:
        key, sep, text = item.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            value = float(text)
        except ValueError:
            raise ConfigError(
                f"--set {item!r}: expected KEY=NUMBER, e.g. price.ess=9.5 or labour.EU=45"
            ) from None
        out[key.strip()] = _checked_number(f"--set {item!r}", value)
    return out


FEED_PRICE_KEYS: dict[str, str] = {
    "recycling.metal_usd_per_kg.Ni": "metal:Ni",
    "recycling.metal_usd_per_kg.Co": "metal:Co",
    "recycling.payable_fraction": "battery_share",
}
"""``--set`` keys of ``[recycling]`` that change the router's recycling value (the EverBatt feed
price, :func:`echelon.routing.placeholders.recycling_value_usd`), with the price they replace;
``recycling.chemistry.<chemistry>.fixed_usd_per_kg`` replaces that chemistry's fixed feed price."""


def feed_price_key(key: str) -> str | None:
    """The feed-price parameter an override key sets (``metal:Ni``, ``battery_share``,
    ``fixed:LFP``), or None for a key outside ``[recycling]``.

    Raises
    ------
    ConfigError
        For a ``[recycling]`` key that only the fallback table reads (cell mass per kWh,
        black-mass yield and grades): it would be recorded on every decision yet change none.
    """
    if not key.startswith("recycling."):
        return None
    if key in FEED_PRICE_KEYS:
        return FEED_PRICE_KEYS[key]
    parts = key.split(".")
    if len(parts) == 4 and parts[1] == "chemistry" and parts[3] == "fixed_usd_per_kg":
        return f"fixed:{parts[2]}"
    raise ConfigError(
        f"economics override {key!r} changes only the fallback recycling table, which values "
        "no unit the recycling model can value (every unit with a rated energy): the router "
        "pays the EverBatt feed price on the unit's own composition. Override its prices "
        f"instead: {', '.join(FEED_PRICE_KEYS)}, recycling.chemistry.<chemistry>.fixed_usd_per_kg"
    )


def _economics_from_doc(
    doc: dict[str, Any], origin: str, overrides: Mapping[str, float]
) -> Economics:
    data = copy.deepcopy(doc)
    for key, value in overrides.items():
        feed_price_key(key)  # refuses a key that would change no routed unit
        _set_path(data, key, _checked_number(f"economics override {key!r}", float(value)))
    data["overrides"] = tuple(f"{k}={v:g}" for k, v in overrides.items())
    data["override_values"] = dict(overrides)
    return validated(Economics, data, what=f"economics table {origin}")


@functools.lru_cache(maxsize=16)
def _load_cached(
    name: str, catalog_dir: Path | None, overrides: tuple[tuple[str, float], ...]
) -> Economics:
    if name.endswith(".toml") or Path(name).is_file():
        doc = load_toml_file(Path(name))
    else:
        doc = load_table(name, catalog_dir=catalog_dir)
    return _economics_from_doc(doc, name, dict(overrides))


def _packaged() -> Economics:
    """The packaged ``routing_economics`` table (not a copy in ``ECHELON_CATALOG_DIR``)."""
    return load_economics(packaged_table_path("routing_economics"))


def load_economics(
    name_or_path: str | Path = "routing_economics",
    *,
    overrides: Mapping[str, float] | None = None,
    catalog_dir: Path | None = None,
) -> Economics:
    """Load and validate the prices and costs, with optional per-run overrides.

    Parameters
    ----------
    name_or_path : str or Path
        Catalogue table name or a TOML file of the same shape (copy the packaged one).
    overrides : mapping of str to float, optional
        Dotted keys into the table, e.g. ``{"price.ess": 9.5, "labour.EU": 45,
        "recycling.metal_usd_per_kg.Ni": 18}``; ``price.<app>`` and ``labour.<jurisdiction>``
        are shorthands for their main number.
    catalog_dir : Path, optional
        Catalogue override folder.

    Raises
    ------
    ConfigError
        For an invalid table or an override naming no number in it.
    """
    items = tuple(sorted((overrides or {}).items()))
    return _load_cached(str(name_or_path), catalog_dir, items)


def overrides_for_profiles(
    overrides: Mapping[str, float], *, catalog_dir: Path | None = None
) -> Economics:
    """Per-run overrides for the table each grading profile names (``--set`` alone).

    The overrides are checked now against the ``routing_economics`` table (a misspelt key fails
    before any work is done); :func:`economics_in_force` applies them to the profile's table.

    Raises
    ------
    ConfigError
        For an override naming no number of ``routing_economics`` or making it invalid.
    """
    checked = load_economics(overrides=overrides, catalog_dir=catalog_dir)
    return checked.model_copy(update={"follows_profile": True})


def economics_in_force(
    table: str, economics: Economics | None, *, catalog_dir: Path | None = None
) -> Economics:
    """The economics a profile routes with: ``economics`` if given, else its own ``table``.

    Parameters
    ----------
    table : str
        The table the profile names (``profile.routing.economics``).
    economics : Economics, optional
        The run's table; when it only carries overrides (:func:`overrides_for_profiles`), they
        are applied to ``table``.
    catalog_dir : Path, optional
        Catalogue override folder.
    """
    if economics is None:
        return load_economics(table, catalog_dir=catalog_dir)
    if economics.follows_profile:
        return load_economics(table, overrides=economics.override_values, catalog_dir=catalog_dir)
    return economics


def nominal_kwh() -> pl.Expr:
    """Rated energy of a unit [kWh] from a prepared grading table (``unit_voltage_v``)."""
    return pl.col("nominal_capacity_ah") * pl.col("unit_voltage_v") / 1000.0


def cost_expressions(economics: Economics, jurisdiction: str) -> tuple[pl.Expr, pl.Expr]:
    """(repurposing cost, testing cost) of each unit [USD] as polars expressions.

    Repurposing = (labour hours per unit + per kWh × nominal kWh) × labour rate + materials per
    kWh × nominal kWh, by level; testing = tester hours × tester rate + labour hours × labour rate.
    Null for an unknown level.
    """
    costs = economics.unit_costs(jurisdiction)
    repurpose: pl.Expr = pl.lit(None, dtype=pl.Float64)
    testing: pl.Expr = pl.lit(None, dtype=pl.Float64)
    for level, (per_unit_usd, per_kwh_usd, test_usd) in costs.items():
        is_level = pl.col("level") == level
        repurpose = (
            pl.when(is_level).then(per_unit_usd + per_kwh_usd * nominal_kwh()).otherwise(repurpose)
        )
        testing = pl.when(is_level).then(pl.lit(test_usd)).otherwise(testing)
    return repurpose, testing
