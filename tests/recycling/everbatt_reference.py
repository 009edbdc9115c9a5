"""Reader of the EverBatt 2023 reference file (shared/reference/everbatt-2023-reference-outputs.md).

The reference quotes the workbook's default tables as Markdown tables. This module parses them
*directly from the reference text*, so tests and the independent hand calculation never read
Echelon's catalogue: a typo in the catalogue would show up as a disagreement.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path


def _locate() -> Path:
    """The shared reference file: in ``shared/`` beside the checkout or beside one of its parents
    (a git worktree sits one level deeper than the main checkout)."""
    name = Path("shared") / "reference" / "everbatt-2023-reference-outputs.md"
    for parent in Path(__file__).resolve().parents[2:]:
        if (parent / name).is_file():
            return parent / name
    return Path(__file__).resolve().parents[3] / name


REFERENCE = _locate()
CHEMISTRY_COLUMNS = {
    "NMC(111)": "NMC111",
    "NMC(532)": "NMC532",
    "NMC(622)": "NMC622",
    "NMC(811)": "NMC811",
    "LCO": "LCO",
    "NCA": "NCA",
    "LMO": "LMO",
    "LFP": "LFP",
}
ROW_KEYS = {
    "Active cathode material": "cam",
    "Graphite": "graphite",
    "Carbon black": "carbon_black",
    "Binder: PVDF": "pvdf",
    "Binder: anode": "anode_binder",
    "Copper": "copper",
    "Aluminum": "aluminium",
    "Electrolyte: LiPF6": "lipf6",
    "Electrolyte: EC": "ec",
    "Electrolyte: DMC": "dmc",
    "Plastic: PP": "pp",
    "Plastic: PE": "pe",
    "Plastic: PET": "pet",
    "Steel": "steel",
    "Iron": "iron",
    "Electronics": "electronics",
    "Coolant": "coolant",
    "Insulation": "insulation",
}
FEED_SECTIONS = {
    "pack": "### 4.1 Battery pack",
    "module": "### 4.2 Battery module",
    "cell": "### 4.3 Battery cell",
    "black_mass": "### 4.5 Black mass",
}


@functools.lru_cache(maxsize=1)
def text() -> str:
    """The reference file's text (raises FileNotFoundError when the shared folder is absent)."""
    return REFERENCE.read_text(encoding="utf-8")


def table_after(heading: str) -> list[list[str]]:
    """Rows (header first, separator dropped) of the first Markdown table after ``heading``."""
    lines = text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        elif rows:
            break
    return rows


def _number(cell: str) -> float:
    return float(cell.replace("*", "").replace(",", "").strip())


def feed_composition(level: str) -> dict[str, dict[str, float]]:
    """``{chemistry: {material: kg per kg feed}}`` of a default feedstock (§4), zeros included."""
    rows = table_after(FEED_SECTIONS[level])
    header = rows[0]
    out: dict[str, dict[str, float]] = {CHEMISTRY_COLUMNS[h]: {} for h in header[1:]}
    for row in rows[1:]:
        key = ROW_KEYS[re.sub(r"\s*\(row \d+\)", "", row[0])]
        for name, cell in zip(header[1:], row[1:], strict=True):
            out[CHEMISTRY_COLUMNS[name]][key] = _number(cell)
    for comp in out.values():
        for key in ROW_KEYS.values():
            comp.setdefault(key, 0.0)
    return out


def battery_definitions() -> dict[str, dict[str, float]]:
    """§3: cell energy and mass, pack mass, module and cell totals per 100 kWh pack."""
    rows = table_after("## 3. Battery definitions per chemistry")
    out = {}
    for row in rows[1:]:
        out[CHEMISTRY_COLUMNS[row[0]]] = {
            "cell_energy_kwh": _number(row[1]),
            "cell_mass_kg": _number(row[2]),
            "pack_mass_kg": _number(row[7]),
            "modules_mass_kg": _number(row[8]),
            "cells_mass_kg": _number(row[9]),
        }
    return out


def cathode_stoichiometry() -> dict[str, dict[str, float]]:
    """§5: grams of each element per mole of cathode material (and LiPF6), with molar mass ``M``."""
    rows = table_after("## 5. Cathode stoichiometry used by EverBatt")
    header = rows[0]
    elements = [h.split()[0] for h in header[1:10]]
    out = {}
    for row in rows[1:]:
        name = re.sub(r"\s*\(row \d+\)", "", row[0])
        key = CHEMISTRY_COLUMNS.get(name, name)
        values = {e: _number(c) for e, c in zip(elements, row[1:10], strict=True)}
        values["M"] = _number(row[10])
        out[key] = values
    return out


def prices(heading: str) -> dict[str, float]:
    """``{item: $/kg}`` of a §8 price table (first two columns)."""
    return {row[0]: _number(row[1]) for row in table_after(heading)[1:]}


def recovered_prices() -> dict[str, float]:
    """§8.2 value of recovered materials, $/kg."""
    return prices("### 8.2 Value of recovered materials")


def chemical_prices() -> dict[str, float]:
    """§8.3 consumed chemicals, $/kg."""
    return prices("### 8.3 Consumed chemicals for recycling")


def metal_prices() -> dict[str, float]:
    """§8.1 metal prices, $/kg."""
    return prices("### 8.1 Metal prices")


def location_inputs() -> dict[str, dict[str, float]]:
    """§8.5 location-dependent inputs: ``{parameter: {location: value}}``."""
    rows = table_after("### 8.5 Location-dependent cost inputs")
    header = rows[0]
    return {
        row[0]: {loc: _number(c) for loc, c in zip(header[1:5], row[1:5], strict=True)}
        for row in rows[1:]
    }


def greet_materials() -> dict[str, float]:
    """§9.2 cradle-to-gate GHGs of materials, g CO2e per short ton."""
    rows = table_after("Cradle-to-gate factors of materials, per short ton")
    return {row[0]: _number(row[3]) for row in rows[1:]}
