"""Typed, validated views of the recycling catalogue tables.

Tables (``src/echelon/catalog/data``; override any of them with ``ECHELON_CATALOG_DIR``):

``recycling_composition``
    compounds (stoichiometry), materials (element and carbon contents), per-chemistry compositions
``recycling_processes``
    products, stages (dismantling, pre-treatment, pyro, hydro, direct) with yields and rules
``recycling_prices``
    product, metal, reagent and utility prices; black-mass payables; the feed-price rule
``recycling_emissions``
    GHG factors (GREET 2022 as used by EverBatt 2023)
``eu_battery_regulation``
    Regulation (EU) 2023/1542 targets

Every record keeps its ``source`` and ``as_of``; a malformed override is refused with the record
named (:class:`~echelon.errors.CatalogError`).
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from echelon.catalog import resolve_table_path
from echelon.catalog._loader import load_toml_file
from echelon.errors import CatalogError

TRACKED_ELEMENTS: tuple[str, ...] = ("Li", "Ni", "Co", "Mn", "Cu", "Al", "Fe", "P", "F", "S")
"""Elements followed through the mass balance (oxygen and the rest of a material are ``rest``)."""
REST = "rest"
FEED = "feed"
LEVELS: tuple[str, ...] = ("cell", "module", "pack", "black_mass")
Location = Literal["US", "California", "China", "Korea"]
LOCATIONS: tuple[str, ...] = get_args(Location)
"""Locations with utility prices and a grid GHG factor (EverBatt 'Geographic Par.')."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Sourced(_Frozen):
    """A number with its source and as-of date."""

    value: float
    source: str
    as_of: str


# ------------------------------------------------------------------------------------ composition


class Compound(_Frozen):
    """Stoichiometry of a compound: grams of each element per mole, and the molar mass."""

    formula: str
    g_per_mol: dict[str, float]
    molar_mass_g_per_mol: float = Field(gt=0)
    source: str
    as_of: str

    @model_validator(mode="after")
    def _mass(self) -> Compound:
        if sum(self.g_per_mol.values()) > self.molar_mass_g_per_mol * (1 + 1e-6):
            raise ValueError("the elements weigh more than the molar mass")
        return self

    def element_fractions(self) -> dict[str, float]:
        """kg of each tracked element per kg of compound."""
        return {
            e: g / self.molar_mass_g_per_mol
            for e, g in self.g_per_mol.items()
            if e in TRACKED_ELEMENTS and g > 0
        }


class Material(_Frozen):
    """A material followed by the mass balance."""

    name: str
    group: str
    compound: str | None = None
    elements: dict[str, float] = Field(default_factory=dict)
    carbon_fraction: float = Field(ge=0, le=1)
    source: str
    as_of: str


class LevelComposition(_Frozen):
    """Quoted mass fractions (kg per kg of unit) of one assembly level."""

    source: str
    as_of: str
    fractions: dict[str, float]

    @model_validator(mode="after")
    def _sum(self) -> LevelComposition:
        total = sum(self.fractions.values())
        if any(v < 0 for v in self.fractions.values()) or not 0.99 <= total <= 1.01:
            raise ValueError(f"fractions must be ≥ 0 and sum to 1 (sum {total:.6f})")
        return self


class ChemistryComposition(_Frozen):
    """Composition record of a chemistry: quoted tables, or the rule that derives it."""

    cathode: str | None = None
    is_estimate: bool = False
    caveat: str = ""
    cell_energy_kwh: Sourced | None = None
    cell_mass_kg: Sourced | None = None
    pack_mass_kg: Sourced | None = None
    modules_mass_kg: Sourced | None = None
    cells_mass_kg: Sourced | None = None
    cell: LevelComposition | None = None
    module: LevelComposition | None = None
    pack: LevelComposition | None = None
    black_mass: LevelComposition | None = None
    derive_from: str | None = None
    remove: tuple[str, ...] = ()
    add_kg_per_kwh: dict[str, Sourced] = Field(default_factory=dict)
    cell_kg_per_kwh: dict[str, Sourced] = Field(default_factory=dict)
    hardware_from: str | None = None
    blend: dict[str, float] = Field(default_factory=dict)
    blend_source: str = ""
    blend_as_of: str = ""
    rule: Literal["conservative"] | None = None
    basis: tuple[str, ...] = ()
    rule_source: str = ""
    rule_as_of: str = ""

    @property
    def quoted(self) -> bool:
        """Whether the record quotes cell, module and pack tables with the pack masses."""
        return all(
            x is not None
            for x in (
                self.cell,
                self.module,
                self.pack,
                self.cell_energy_kwh,
                self.cell_mass_kg,
                self.pack_mass_kg,
                self.modules_mass_kg,
                self.cells_mass_kg,
            )
        )

    def number(self, name: str) -> float:
        """Value of a quoted number (``cell_mass_kg``, ``pack_mass_kg``, …) of this record."""
        value = getattr(self, name)
        if not isinstance(value, Sourced):
            raise CatalogError(f"recycling_composition: the record quotes no {name}")
        return value.value

    @model_validator(mode="after")
    def _one_definition(self) -> ChemistryComposition:
        ways = [
            self.quoted,
            self.derive_from is not None,
            bool(self.cell_kg_per_kwh),
            bool(self.blend),
            self.rule is not None,
        ]
        if sum(ways) != 1:
            raise ValueError(
                "define a chemistry by exactly one of: quoted cell/module/pack tables with masses, "
                "derive_from, cell_kg_per_kwh, blend, rule"
            )
        if self.blend and abs(sum(self.blend.values()) - 1.0) > 1e-9:
            raise ValueError("blend shares must sum to 1")
        return self


class CompositionCatalog(_Frozen):
    """The ``recycling_composition`` table."""

    version: str
    cells_per_pack: int
    compounds: dict[str, Compound]
    materials: dict[str, Material]
    chemistries: dict[str, ChemistryComposition]


# ------------------------------------------------------------------------------------ processes


class Term(_Frozen):
    """``factor / divisor × (kg of `of` per kg of stage feed)``."""

    of: str
    factor: float
    divisor: float = Field(gt=0)


class Rule(_Frozen):
    """A linear rule for a reagent [kg] or an energy carrier [MJ] per kg of stage feed."""

    terms: tuple[Term, ...]
    source: str
    as_of: str


class Yield(_Frozen):
    """Fraction of a material or element that becomes a product."""

    value: float = Field(ge=0, le=1)
    product: str


class Stage(_Frozen):
    """A pre-treatment or critical-material recovery stage."""

    description: str
    upstream: Literal["none", "preprocessing"] = "none"
    black_mass_capture: dict[str, float] = Field(default_factory=dict)
    black_mass_capture_source: str = ""
    scrap: dict[str, Yield] = Field(default_factory=dict)
    scrap_source: str = ""
    element_recovery: dict[str, Yield] = Field(default_factory=dict)
    material_recovery: dict[str, Yield] = Field(default_factory=dict)
    recovery_source: str = ""
    burned: tuple[str, ...] = ()
    volatilised: tuple[str, ...] = ()
    burned_source: str = ""
    flue_dust_fraction_of_burned: Sourced
    residue: Literal["solid_waste", "slag"]
    water_gal_per_kg: Sourced
    fixed_cost_usd_per_kg: Sourced
    cannot_treat: dict[str, str] = Field(default_factory=dict)
    reagent: dict[str, Rule] = Field(default_factory=dict)
    energy: dict[str, Rule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fractions(self) -> Stage:
        for material in {*self.black_mass_capture, *self.scrap}:
            cap = self.black_mass_capture.get(material, 0.0)
            scrap = self.scrap[material].value if material in self.scrap else 0.0
            if not 0.0 <= cap <= 1.0 or cap + scrap > 1.0 + 1e-12:
                raise ValueError(
                    f"{material}: black-mass capture {cap} + scrap {scrap} must lie in [0, 1]"
                )
        if not 0.0 <= self.flue_dust_fraction_of_burned.value <= 1.0:
            raise ValueError("flue_dust_fraction_of_burned must lie in [0, 1]")
        unknown = set(self.energy) - {"diesel", "natural_gas", "electricity"}
        if unknown:
            raise ValueError(f"unknown energy carriers {sorted(unknown)}")
        return self


class Dismantling(_Frozen):
    """Manual removal of pack and module hardware."""

    description: str
    products: dict[str, str]
    recovery: Sourced
    labour_hours_per_kwh_pack_to_modules: Sourced
    labour_hours_per_kwh_modules_to_cells: Sourced
    labour_usd_per_hour: Sourced


class Product(_Frozen):
    """A product stream and the mass shipped per kg recovered."""

    name: str
    product_kg_per_kg: Sourced
    priced_per: Literal["product", "basis"] = "product"


class ProcessDefinition(_Frozen):
    """A process: its stages in order."""

    description: str
    stages: tuple[str, ...]


class Discharge(_Frozen):
    """Discharge-before-recycling rules (GB/T 33598.3)."""

    standard: str
    methods: dict[str, str]
    methods_source: str
    residual_limit: Literal["discharge_cutoff"]
    residual_limit_source: str
    as_of: str


class ProcessCatalog(_Frozen):
    """The ``recycling_processes`` table."""

    version: str
    products: dict[str, Product]
    losses: dict[str, str]
    dismantling: Dismantling
    stages: dict[str, Stage]
    processes: dict[str, ProcessDefinition]
    discharge: Discharge

    def flow_label(self, product: str) -> str:
        """The name of a product's mass in the flows, the chart and the mass balance.

        They count the element or material recovered, so a product sold by its own, different
        mass is named by what they count: ``Li in Li2CO3 (crude)`` (EverBatt ships Li × 37/7 kg
        of crude Li2CO3). Salts sold by their metal content already say so in their name
        (``CoSO4 (Co²⁺ in salt)``); other products weigh what is recovered.
        """
        spec = self.products[product]
        if spec.priced_per == "basis" or spec.product_kg_per_kg.value == 1.0:
            return spec.name
        basis = sorted(
            key
            for stage in self.stages.values()
            for yields in (stage.element_recovery, stage.material_recovery, stage.scrap)
            for key, y in yields.items()
            if y.product == product
        )
        return f"{'/'.join(dict.fromkeys(basis)) or 'recovered mass'} in {spec.name}"

    @model_validator(mode="after")
    def _references(self) -> ProcessCatalog:
        problems = []
        for name, stage in self.stages.items():
            yields = [*stage.scrap.values(), *stage.element_recovery.values()]
            yields += list(stage.material_recovery.values())
            for y in yields:
                if y.product not in self.products:
                    problems.append(f"stage {name}: unknown product {y.product!r}")
        for product in self.dismantling.products.values():
            if product not in self.products:
                problems.append(f"dismantling: unknown product {product!r}")
        for name, proc in self.processes.items():
            missing = [s for s in proc.stages if s not in self.stages]
            if missing:
                problems.append(f"process {name}: unknown stages {missing}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# ------------------------------------------------------------------------------------ emissions


class EmissionFactors(_Frozen):
    """The ``recycling_emissions`` table, reduced to the factors the model multiplies."""

    version: str
    short_ton_per_kg: float
    mj_per_mmbtu: float
    co2_kg_per_kg_carbon: float
    decomposition_co2_kg_per_kg: dict[str, float]
    fuel_g_per_mmbtu: dict[str, float]
    """Natural gas and diesel: upstream + combustion GHGs [g CO2e per mmBtu]."""
    electricity_g_per_mmbtu: dict[str, float]
    reagent_g_per_short_ton: dict[str, float]


# ------------------------------------------------------------------------------------ regulation


class Target(_Frozen):
    """A regulatory level with its deadline (or start date)."""

    percent: float = Field(ge=0, le=100)
    date: dt.date
    source: str
    as_of: str


class Regulation(_Frozen):
    """The ``eu_battery_regulation`` table."""

    version: str
    recycling_efficiency: tuple[Target, ...]
    material_recovery: dict[str, tuple[Target, ...]]
    recycled_content: dict[str, tuple[Target, ...]]
    recycled_content_batteries: dict[str, Literal["lithium-based", "lead-based"]] = Field(
        default_factory=dict
    )
    """The batteries an element's recycled-content minimum is for (absent: lithium-based)."""


# ------------------------------------------------------------------------------------ loading


def _wrap(table: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        raise CatalogError(f"catalogue table {table!r}: {exc}") from exc


def table_file(name: str, catalog_dir: Path | None = None) -> tuple[Path, int]:
    """The file a table loads from (user override first) and its mtime, as a cache key."""
    path = resolve_table_path(name, catalog_dir=catalog_dir)
    return path, path.stat().st_mtime_ns


def composition_catalog(catalog_dir: Path | None = None) -> CompositionCatalog:
    """The validated ``recycling_composition`` table."""
    return _composition_catalog(*table_file("recycling_composition", catalog_dir))


def process_catalog(catalog_dir: Path | None = None) -> ProcessCatalog:
    """The validated ``recycling_processes`` table."""
    return _process_catalog(*table_file("recycling_processes", catalog_dir))


def emission_factors(catalog_dir: Path | None = None) -> EmissionFactors:
    """The ``recycling_emissions`` table, with fuel factors combined to GHGs per mmBtu."""
    return _emission_factors(*table_file("recycling_emissions", catalog_dir))


def regulation(catalog_dir: Path | None = None) -> Regulation:
    """The ``eu_battery_regulation`` table (targets sorted by date)."""
    return _regulation(*table_file("eu_battery_regulation", catalog_dir))


@functools.lru_cache(maxsize=8)
def _composition_catalog(path: Path, mtime_ns: int) -> CompositionCatalog:
    """The validated ``recycling_composition`` table."""

    def build() -> CompositionCatalog:
        doc = load_toml_file(path)
        config = doc["pack_configuration"]
        chemistries = {}
        for key, body in doc["chemistry"].items():
            try:
                chemistries[key] = ChemistryComposition(**body)
            except ValidationError as exc:
                raise ValueError(f"chemistry {key!r}: {exc}") from exc
        return CompositionCatalog(
            version=str(doc["meta"]["version"]),
            cells_per_pack=int(
                config["cells_per_module"]["value"] * config["modules_per_pack"]["value"]
            ),
            compounds={k: Compound(**v) for k, v in doc["compound"].items()},
            materials={k: Material(**v) for k, v in doc["material"].items()},
            chemistries=chemistries,
        )

    catalog: CompositionCatalog = _wrap("recycling_composition", build)
    problems = []
    for key, chem in catalog.chemistries.items():
        for level in LEVELS:
            table = getattr(chem, level)
            unknown = set(table.fractions) - set(catalog.materials) if table else set()
            if unknown:
                problems.append(f"{key}.{level}: unknown materials {sorted(unknown)}")
        for ref in (chem.cathode, chem.derive_from, chem.hardware_from, *chem.blend, *chem.basis):
            if ref is not None and ref not in catalog.chemistries and ref not in catalog.compounds:
                problems.append(f"{key}: unknown reference {ref!r}")
    if problems:
        raise CatalogError("catalogue table 'recycling_composition': " + "; ".join(problems))
    return catalog


@functools.lru_cache(maxsize=8)
def _process_catalog(path: Path, mtime_ns: int) -> ProcessCatalog:
    """The validated ``recycling_processes`` table."""

    def build() -> ProcessCatalog:
        doc = load_toml_file(path)
        stages = dict(doc["stage"])
        return ProcessCatalog(
            version=str(doc["meta"]["version"]),
            products={k: Product(**v) for k, v in doc["product"].items()},
            losses=dict(doc["loss"]),
            dismantling=Dismantling(**stages.pop("dismantling")),
            stages={k: Stage(**v) for k, v in stages.items()},
            processes={k: ProcessDefinition(**v) for k, v in doc["process"].items()},
            discharge=Discharge(**doc["discharge"]),
        )

    result: ProcessCatalog = _wrap("recycling_processes", build)
    return result


@functools.lru_cache(maxsize=8)
def _emission_factors(path: Path, mtime_ns: int) -> EmissionFactors:
    """The ``recycling_emissions`` table, with fuel factors combined to GHGs per mmBtu."""

    def build() -> EmissionFactors:
        doc = load_toml_file(path)
        gwp = {k: v["value"] for k, v in doc["gwp100"].items()}
        fuels = {}
        for fuel, body in doc["fuel"].items():
            vals = {k: v["value"] for k, v in body.items()}
            total = vals.pop("upstream_ghg_g_per_mmbtu", 0.0)
            for key, value in vals.items():
                gas = key.split("_")[1]
                total += value * (1.0 if gas == "co2" else gwp[gas])
            fuels[fuel] = total
        conv = doc["conversion"]
        return EmissionFactors(
            version=str(doc["meta"]["version"]),
            short_ton_per_kg=conv["short_ton_per_kg"]["value"],
            mj_per_mmbtu=conv["mj_per_mmbtu"]["value"],
            co2_kg_per_kg_carbon=conv["co2_kg_per_kg_carbon"]["value"],
            decomposition_co2_kg_per_kg={
                k: v["value"] for k, v in doc["decomposition_co2_kg_per_kg"].items()
            },
            fuel_g_per_mmbtu=fuels,
            electricity_g_per_mmbtu={k: v["value"] for k, v in doc["electricity"].items()},
            reagent_g_per_short_ton={k: v["value"] for k, v in doc["reagent"].items()},
        )

    result: EmissionFactors = _wrap("recycling_emissions", build)
    return result


@functools.lru_cache(maxsize=8)
def _regulation(path: Path, mtime_ns: int) -> Regulation:
    """The ``eu_battery_regulation`` table (targets sorted by date)."""

    def targets(items: list[dict[str, Any]], date_key: str) -> tuple[Target, ...]:
        out = [
            Target(
                percent=t["percent"],
                date=dt.date.fromisoformat(t[date_key]),
                source=t["source"],
                as_of=t["as_of"],
            )
            for t in items
        ]
        return tuple(sorted(out, key=lambda t: t.date))

    def build() -> Regulation:
        doc = load_toml_file(path)
        return Regulation(
            version=str(doc["meta"]["version"]),
            recycling_efficiency=targets(
                doc["recycling_efficiency"]["lithium"]["targets"], "deadline"
            ),
            material_recovery={
                k: targets(v["targets"], "deadline") for k, v in doc["material_recovery"].items()
            },
            recycled_content={
                k: targets(v["minimums"], "from") for k, v in doc["recycled_content"].items()
            },
            recycled_content_batteries={
                k: v.get("batteries", "lithium-based") for k, v in doc["recycled_content"].items()
            },
        )

    result: Regulation = _wrap("eu_battery_regulation", build)
    return result


def clear_caches() -> None:
    """Forget loaded tables (after editing an override in the same process)."""
    for fn in (_composition_catalog, _process_catalog, _emission_factors, _regulation):
        fn.cache_clear()
