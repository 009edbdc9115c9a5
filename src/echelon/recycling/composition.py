"""What a retired battery is made of: per chemistry and assembly level, kg per kg and kg per kWh.

Compositions come from the ``recycling_composition`` catalogue table. EverBatt 2023 chemistries
(NMC111/532/622/811, NCA, LFP, LMO, LCO) quote cell, module, pack and black-mass tables; the flagged
estimates are derived here from the numbers stored there:

* ``Li-metal`` — a base cell with components removed and a lithium foil added (``derive_from``);
* ``Li-S`` — a cell given directly in kg per kWh (``cell_kg_per_kwh``);
* ``LMO-NMC`` — a mass-weighted blend of two records (``blend``);
* ``unknown`` — the conservative rule: every component except the cathode at its smallest fraction
  among the basis records, the rest an unidentified cathode holding only the smallest lithium
  fraction of any basis cathode, at the largest kg/kWh.

A module or pack is split into ``cells``, ``module_hardware`` and ``pack_hardware`` (casing, jacket,
rack, cooling, bus bars, BMS). For quoted chemistries the hardware is what the pack (module) holds
beyond its modules (cells), from EverBatt's pack, module and cell masses
(``Disassembly!AD3:AK5``); derived chemistries take the hardware per kWh of ``hardware_from``.

References
----------
EverBatt 2023, Argonne National Laboratory ('Preproc. Par.' rows 202–303, 'Man Par.' 15–16,
Disassembly 3–5), via shared/reference/everbatt-2023-reference-outputs.md §3–§5.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from echelon.errors import CatalogError
from echelon.recycling.catalog import (
    LEVELS,
    REST,
    ChemistryComposition,
    CompositionCatalog,
    composition_catalog,
    process_catalog,
    table_file,
)

UNKNOWN_CATHODE = "unknown"
HARDWARE_NOISE_KG = 0.01
"""Hardware entries below this mass per 100 kWh pack are rounding noise of the 6-digit tables."""
PARTS = ("cells", "module_hardware", "pack_hardware", "black_mass")

Vector = dict[str, float]


def family(material: str) -> str:
    """Material family: ``cam:NMC811`` → ``cam``; other keys are their own family."""
    return material.split(":", 1)[0]


def _scale(vector: Mapping[str, float], factor: float) -> Vector:
    return {k: v * factor for k, v in vector.items()}


def _add(*vectors: Mapping[str, float]) -> Vector:
    out: Vector = {}
    for vector in vectors:
        for k, v in vector.items():
            out[k] = out.get(k, 0.0) + v
    return out


def _normalised(vector: Mapping[str, float]) -> Vector:
    total = sum(vector.values())
    return {k: v / total for k, v in vector.items() if v > 0}


@dataclass(frozen=True)
class UnitComposition:
    """Composition of one kg of a unit of a chemistry at an assembly level.

    Attributes
    ----------
    chemistry : str
        Catalogue chemistry key.
    level : str
        ``cell``, ``module``, ``pack`` or ``black_mass``.
    parts : dict of str to dict of str to float
        ``{part: {material: kg per kg of unit}}``; parts are ``cells``, ``module_hardware``,
        ``pack_hardware`` (modules and packs) or ``black_mass``. The parts sum to 1.
    kg_per_kwh : float or None
        Unit mass per kWh of nominal energy [kg/kWh] (``None`` for black mass).
    is_estimate : bool
        The record is a flagged estimate.
    caveat : str
        Why it is an estimate.
    """

    chemistry: str
    level: str
    parts: dict[str, Vector]
    kg_per_kwh: float | None
    is_estimate: bool
    caveat: str

    @property
    def fractions(self) -> Vector:
        """kg of each material per kg of unit (all parts)."""
        return _add(*self.parts.values())

    @property
    def cathode(self) -> str | None:
        """The cathode compound of the cells, if any (``cam:<cathode>``)."""
        cams = [family_key for family_key in self.fractions if family(family_key) == "cam"]
        return cams[0].split(":", 1)[1] if len(cams) == 1 else None


def material_elements(material: str, catalog: CompositionCatalog | None = None) -> dict[str, float]:
    """kg of each tracked element per kg of a material (``cam:<compound>`` uses its stoichiometry).

    The unidentified cathode (``cam:unknown``) holds only the smallest lithium fraction of any
    catalogued cathode (conservative).
    """
    catalog = catalog or composition_catalog()
    return dict(_material_elements(material, catalog))


def _material_elements(material: str, catalog: CompositionCatalog) -> tuple[tuple[str, float], ...]:
    fam = family(material)
    if fam not in catalog.materials:
        raise CatalogError(f"recycling_composition: unknown material {material!r}")
    record = catalog.materials[fam]
    if fam == "cam":
        compound = material.split(":", 1)[1]
        if compound == UNKNOWN_CATHODE:
            li = min(
                catalog.compounds[c.cathode].element_fractions().get("Li", 0.0)
                for c in catalog.chemistries.values()
                if c.quoted and c.cathode
            )
            return (("Li", li),)
        if compound not in catalog.compounds:
            raise CatalogError(f"recycling_composition: no compound {compound!r} for {material}")
        return tuple(catalog.compounds[compound].element_fractions().items())
    if record.compound is not None:
        return tuple(catalog.compounds[record.compound].element_fractions().items())
    return tuple(record.elements.items())


def components(material: str, catalog: CompositionCatalog | None = None) -> dict[str, float]:
    """Split of a material into tracked elements and ``rest`` (sums to 1)."""
    elements = material_elements(material, catalog)
    return {**elements, REST: max(0.0, 1.0 - sum(elements.values()))}


# ------------------------------------------------------------------------------ cells


def _quoted(rec: ChemistryComposition, level: str) -> Vector:
    table = getattr(rec, level)
    return _normalised(
        {(f"cam:{rec.cathode}" if k == "cam" else k): v for k, v in table.fractions.items()}
    )


def _cell(key: str, catalog: CompositionCatalog) -> tuple[Vector, float]:
    """(kg per kg of cell, kg of cell per kWh) of a chemistry."""
    rec = catalog.chemistries[key]
    if rec.quoted:
        return _quoted(rec, "cell"), rec.number("cell_mass_kg") / rec.number("cell_energy_kwh")
    if rec.derive_from is not None:
        base, base_kg_per_kwh = _cell(rec.derive_from, catalog)
        per_kwh = {m: v * base_kg_per_kwh for m, v in base.items() if family(m) not in rec.remove}
        per_kwh = _add(per_kwh, {m: s.value for m, s in rec.add_kg_per_kwh.items()})
        return _normalised(per_kwh), sum(per_kwh.values())
    if rec.cell_kg_per_kwh:
        per_kwh = {m: s.value for m, s in rec.cell_kg_per_kwh.items()}
        return _normalised(per_kwh), sum(per_kwh.values())
    if rec.blend:
        cells = {k: _cell(k, catalog) for k in rec.blend}
        mixed = _add(*(_scale(cells[k][0], w) for k, w in rec.blend.items()))
        return mixed, 1.0 / sum(w / cells[k][1] for k, w in rec.blend.items())
    return _conservative({k: _cell(k, catalog) for k in rec.basis})


def _conservative(records: Mapping[str, tuple[Vector, float]]) -> tuple[Vector, float]:
    """Smallest fraction of every non-cathode material; the rest an unidentified cathode."""
    materials = {m for vec, _ in records.values() for m in vec if family(m) != "cam"}
    mins = {m: min(vec.get(m, 0.0) for vec, _ in records.values()) for m in materials}
    mins = {m: v for m, v in mins.items() if v > 0}
    mins[f"cam:{UNKNOWN_CATHODE}"] = 1.0 - sum(mins.values())
    return mins, max(k for _, k in records.values())


# ------------------------------------------------------------------------------ assemblies


def _hardware_per_kwh(key: str, catalog: CompositionCatalog) -> dict[str, Vector]:
    """Module and pack hardware [kg per kWh] of a quoted chemistry."""
    rec = catalog.chemistries[key]
    if not rec.quoted:
        raise CatalogError(f"recycling_composition: hardware_from {key!r} must quote its tables")
    parts = _quoted_parts(rec, "pack", catalog)
    kwh = catalog.cells_per_pack * rec.number("cell_energy_kwh")
    kg_per_kwh = rec.number("pack_mass_kg") / kwh
    return {p: _scale(parts[p], kg_per_kwh) for p in ("module_hardware", "pack_hardware")}


def _quoted_parts(
    rec: ChemistryComposition, level: str, catalog: CompositionCatalog
) -> dict[str, Vector]:
    """Split a quoted module or pack into cells and hardware (kg per kg of unit)."""
    pack_kg, modules_kg, cells_kg = (
        rec.number("pack_mass_kg"),
        rec.number("modules_mass_kg"),
        rec.number("cells_mass_kg"),
    )
    cell = _quoted(rec, "cell")
    module = _quoted(rec, "module")

    def peel(outer: Vector, inner: Vector, inner_share: float, outer_kg: float) -> Vector:
        hardware = {m: v - inner_share * inner.get(m, 0.0) for m, v in outer.items()}
        return {m: v for m, v in hardware.items() if v * outer_kg > HARDWARE_NOISE_KG}

    if level == "module":
        module_hw = peel(module, cell, cells_kg / modules_kg, modules_kg)
        return {
            "cells": {m: v - module_hw.get(m, 0.0) for m, v in module.items()},
            "module_hardware": module_hw,
        }
    pack = _quoted(rec, "pack")
    pack_hw = peel(pack, module, modules_kg / pack_kg, pack_kg)
    inside = {m: v - pack_hw.get(m, 0.0) for m, v in pack.items()}
    module_hw = peel(inside, cell, cells_kg / pack_kg, pack_kg)
    return {
        "cells": {m: v - module_hw.get(m, 0.0) for m, v in inside.items()},
        "module_hardware": module_hw,
        "pack_hardware": pack_hw,
    }


def _black_mass_of(cell: Vector, catalog_dir: Path | None) -> Vector:
    """Black mass of a cell composition: what generic pre-treatment captures, normalised."""
    capture = process_catalog(catalog_dir).stages["preprocessing"].black_mass_capture
    return _normalised({m: v * capture.get(family(m), 0.0) for m, v in cell.items()})


def _compose(
    key: str, level: str, catalog: CompositionCatalog, catalog_dir: Path | None
) -> UnitComposition:
    rec = catalog.chemistries[key]
    cell, cell_kg_per_kwh = _cell(key, catalog)
    if level == "cell":
        return UnitComposition(
            key, level, {"cells": cell}, cell_kg_per_kwh, rec.is_estimate, rec.caveat
        )
    if level == "black_mass":
        quoted = rec.black_mass is not None
        bm = _quoted(rec, "black_mass") if quoted else _black_mass_of(cell, catalog_dir)
        return UnitComposition(key, level, {"black_mass": bm}, None, rec.is_estimate, rec.caveat)
    if rec.quoted:
        mass = rec.number("pack_mass_kg" if level == "pack" else "modules_mass_kg")
        kwh = catalog.cells_per_pack * rec.number("cell_energy_kwh")
        parts = _quoted_parts(rec, level, catalog)
        return UnitComposition(key, level, parts, mass / kwh, rec.is_estimate, rec.caveat)
    if rec.blend:
        units = {k: _compose(k, level, catalog, catalog_dir) for k in rec.blend}
        parts = {
            p: _add(*(_scale(units[k].parts.get(p, {}), w) for k, w in rec.blend.items()))
            for p in PARTS
            if any(p in u.parts for u in units.values())
        }
        inv = sum(w / (units[k].kg_per_kwh or 1.0) for k, w in rec.blend.items())
        return UnitComposition(key, level, parts, 1.0 / inv, rec.is_estimate, rec.caveat)
    hardware_key = rec.hardware_from or rec.derive_from
    if hardware_key is None:
        raise CatalogError(f"recycling_composition: {key} needs hardware_from for {level}s")
    hardware = _hardware_per_kwh(hardware_key, catalog)
    per_kwh = {
        "cells": _scale(cell, cell_kg_per_kwh),
        "module_hardware": hardware["module_hardware"],
    }
    if level == "pack":
        per_kwh["pack_hardware"] = hardware["pack_hardware"]
    total = sum(sum(v.values()) for v in per_kwh.values())
    parts = {p: _scale(v, 1.0 / total) for p, v in per_kwh.items()}
    return UnitComposition(key, level, parts, total, rec.is_estimate, rec.caveat)


@functools.lru_cache(maxsize=512)
def _cached(
    key: str, level: str, catalog_dir: Path | None, tables: tuple[tuple[Path, int], ...]
) -> UnitComposition:
    del tables  # part of the cache key only: a changed table file is a new entry
    catalog = composition_catalog(catalog_dir)
    if key not in catalog.chemistries:
        raise CatalogError(
            f"recycling_composition has no chemistry {key!r}; "
            f"known: {', '.join(catalog.chemistries)}"
        )
    if level not in LEVELS:
        raise CatalogError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    return _compose(key, level, catalog, catalog_dir)


def unit_composition(
    chemistry: str, level: str, *, catalog_dir: Path | None = None
) -> UnitComposition:
    """Composition of a unit of ``chemistry`` at ``level`` (cell, module, pack, black_mass).

    Parameters
    ----------
    chemistry : str
        Catalogue key (``NMC811``, ``LFP``, ``Li-S``, ``unknown``, …).
    level : str
        Assembly level.
    catalog_dir : Path, optional
        Folder of catalogue overrides.

    Returns
    -------
    UnitComposition
    """
    tables = tuple(
        table_file(name, catalog_dir) for name in ("recycling_composition", "recycling_processes")
    )
    return _cached(chemistry, level, catalog_dir, tables)


ACTIVE_MATERIALS = ("cam", "graphite", "li_metal", "sulfur")
"""Material families that are a cell's active materials (cathode and anode), whose cobalt,
lithium and nickel Art. 8 of Regulation (EU) 2023/1542 asks recycled shares of."""


def active_material_elements(
    chemistry: str, *, catalog_dir: Path | None = None
) -> frozenset[str] | None:
    """Tracked elements a ``chemistry`` cell's active materials hold (:data:`ACTIVE_MATERIALS`):
    ``{"Fe", "Li", "P"}`` for LFP, ``{"Co", "Li", "Mn", "Ni"}`` for NMC811.

    Returns
    -------
    frozenset of str or None
        ``None`` when the cathode is not identified (``unknown``): what it holds is not known.
    """
    catalog = composition_catalog(catalog_dir)
    cell = unit_composition(chemistry, "cell", catalog_dir=catalog_dir).fractions
    active = [m for m, kg in cell.items() if family(m) in ACTIVE_MATERIALS and kg > 0]
    if f"cam:{UNKNOWN_CATHODE}" in active:
        return None
    return frozenset(e for m in active for e, kg in material_elements(m, catalog).items() if kg > 0)


def composition_table(
    *,
    level: str = "cell",
    chemistries: Iterable[str] | None = None,
    catalog_dir: Path | None = None,
) -> pl.DataFrame:
    """Long table of compositions: ``chemistry``, ``material``, ``kg_per_kg``, ``kg_per_kwh``,
    ``is_estimate`` (one row per material, modules and packs summed over their parts)."""
    catalog = composition_catalog(catalog_dir)
    rows = []
    for key in chemistries or catalog.chemistries:
        comp = unit_composition(key, level, catalog_dir=catalog_dir)
        for material, kg in sorted(comp.fractions.items()):
            rows.append(
                {
                    "chemistry": key,
                    "material": material,
                    "kg_per_kg": kg,
                    "kg_per_kwh": None if comp.kg_per_kwh is None else kg * comp.kg_per_kwh,
                    "is_estimate": comp.is_estimate,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "chemistry": pl.String,
            "material": pl.String,
            "kg_per_kg": pl.Float64,
            "kg_per_kwh": pl.Float64,
            "is_estimate": pl.Boolean,
        },
    )


def element_table(
    *,
    level: str = "cell",
    chemistries: Iterable[str] | None = None,
    catalog_dir: Path | None = None,
) -> pl.DataFrame:
    """Element contents: ``chemistry``, ``element``, ``kg_per_kg``, ``kg_per_kwh``."""
    catalog = composition_catalog(catalog_dir)
    materials = composition_table(level=level, chemistries=chemistries, catalog_dir=catalog_dir)
    rows = []
    for row in materials.iter_rows(named=True):
        for element, frac in material_elements(row["material"], catalog).items():
            rows.append(
                {
                    "chemistry": row["chemistry"],
                    "element": element,
                    "kg_per_kg": row["kg_per_kg"] * frac,
                    "kg_per_kwh": None if row["kg_per_kwh"] is None else row["kg_per_kwh"] * frac,
                }
            )
    frame = pl.DataFrame(
        rows,
        schema={
            "chemistry": pl.String,
            "element": pl.String,
            "kg_per_kg": pl.Float64,
            "kg_per_kwh": pl.Float64,
        },
    )
    return frame.group_by("chemistry", "element", maintain_order=True).agg(
        pl.col("kg_per_kg").sum(), pl.col("kg_per_kwh").sum()
    )
