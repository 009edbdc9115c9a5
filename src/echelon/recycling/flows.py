"""Where every kilogram of a unit goes: the stage-by-stage flows of one kg of feed through a
process.

A feed (chemistry × level) is a stream of ``(material, component)`` masses, a component being a
tracked element or the ``rest`` of the material. Each stage routes every mass to a product, to
the next stage (black mass) or to a loss (solid waste, slag, flue dust, off-gas), and evaluates
its reagent and energy rules on the stream it receives. The rules are linear, so a lot is the
mass-weighted sum of its feeds (:mod:`echelon.recycling.lot`).

Stage semantics follow EverBatt 2023 (see the ``recycling_processes`` table):

* **dismantling** (optional) — pack/module hardware removed by hand and sold as parts;
* **preprocessing** — black-mass capture, Al/Cu/steel scrap, plastics/electrolyte/binders burned
  (a share to flue dust), the rest to solid waste;
* **pyro / hydro / direct** — a material yield takes precedence, then an element yield;
  unrecovered mass is burned, volatilised or goes to the stage's residue (slag, solid waste).

Mass is conserved by construction of the routing *per material*; :func:`check_conservation`
verifies it per element on the aggregated result, which catches an override whose yields exceed 1
or a routing bug.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from echelon.errors import RecyclingError
from echelon.recycling.catalog import (
    FEED,
    REST,
    TRACKED_ELEMENTS,
    CompositionCatalog,
    Dismantling,
    Rule,
    Stage,
    composition_catalog,
    process_catalog,
    table_file,
)
from echelon.recycling.composition import (
    Vector,
    components,
    family,
    unit_composition,
)

Process = Literal["mechanical", "pyro", "hydro", "direct"]
PROCESSES: tuple[str, ...] = ("mechanical", "pyro", "hydro", "direct")
Dismantle = Literal["none", "modules", "cells"]
PRODUCT = "product"
Stream = dict[tuple[str, str], float]


@dataclass(frozen=True)
class Flow:
    """Mass of one component of one material reaching one destination in one stage.

    Attributes
    ----------
    stage : str
        ``dismantling``, ``preprocessing``, ``pyro``, ``hydro`` or ``direct``.
    material : str
        Feed material (``cam:NMC811``, ``copper``, …).
    component : str
        Tracked element or ``rest``.
    destination : str
        ``product`` or a loss (``solid_waste``, ``slag``, ``flue_dust``, ``off_gas``).
    product : str or None
        Product key when ``destination == "product"``.
    kg : float
        Mass per kg of feed [kg].
    """

    stage: str
    material: str
    component: str
    destination: str
    product: str | None
    kg: float


@dataclass(frozen=True)
class FeedBalance:
    """Flows, reagents and energy of one kg of a feed through a process.

    Attributes
    ----------
    flows : tuple of Flow
    stage_feed_kg : dict
        Mass entering each stage per kg of feed [kg] (pre-treatment 1, hydro ≈ black-mass yield).
    reagents_kg : dict
        ``{(stage, reagent): kg}`` per kg of feed.
    energy_mj : dict
        ``{(stage, carrier): MJ}`` per kg of feed (``diesel``, ``natural_gas``, ``electricity``).
    water_gal : dict
        ``{stage: US gal}`` per kg of feed.
    labour_hours : float
        Manual dismantling per kg of feed [h].
    fixed_cost_usd : dict
        ``{stage: USD}`` fixed operating cost per kg of feed.
    catalog_dir : Path or None
        Folder of catalogue overrides the balance was computed with.
    """

    chemistry: str
    level: str
    process: str
    dismantle: str
    flows: tuple[Flow, ...]
    stage_feed_kg: dict[str, float] = field(default_factory=dict)
    reagents_kg: dict[tuple[str, str], float] = field(default_factory=dict)
    energy_mj: dict[tuple[str, str], float] = field(default_factory=dict)
    water_gal: dict[str, float] = field(default_factory=dict)
    labour_hours: float = 0.0
    fixed_cost_usd: dict[str, float] = field(default_factory=dict)
    catalog_dir: Path | None = None


def _stream(vector: Mapping[str, float], catalog: CompositionCatalog) -> Stream:
    out: Stream = {}
    for material, kg in vector.items():
        for component, share in components(material, catalog).items():
            if kg * share > 0:
                out[(material, component)] = out.get((material, component), 0.0) + kg * share
    return out


def rule_variables(stream: Stream) -> dict[str, float]:
    """Quantities a rule may refer to, per kg of feed: ``feed``, elements, material families."""
    out: dict[str, float] = {FEED: 0.0, **dict.fromkeys(TRACKED_ELEMENTS, 0.0)}
    for (material, component), kg in stream.items():
        out[FEED] += kg
        if component != REST:
            out[component] += kg
        fam = family(material)
        out[fam] = out.get(fam, 0.0) + kg
    return out


def evaluate(rule: Rule, variables: Mapping[str, float]) -> float:
    """Value of a linear rule: Σ factor / divisor × variable."""
    return sum(t.factor / t.divisor * variables.get(t.of, 0.0) for t in rule.terms)


def _dismantle(
    parts: Mapping[str, Vector],
    dismantle: Dismantle,
    spec: Dismantling,
    catalog: CompositionCatalog,
) -> tuple[Vector, list[Flow]]:
    """Remove hardware by hand; returns what goes on to shredding and the dismantling flows."""
    removed = {
        "none": (),
        "modules": ("pack_hardware",),
        "cells": ("pack_hardware", "module_hardware"),
    }
    remaining: Vector = {}
    flows: list[Flow] = []
    for part, vector in parts.items():
        if part not in removed[dismantle]:
            for m, kg in vector.items():
                remaining[m] = remaining.get(m, 0.0) + kg
            continue
        for (material, component), kg in _stream(vector, catalog).items():
            product = spec.products.get(family(material))
            share = spec.recovery.value if product else 0.0
            if share > 0:
                flows.append(Flow("dismantling", material, component, PRODUCT, product, kg * share))
            if share < 1:
                flows.append(
                    Flow("dismantling", material, component, "solid_waste", None, kg * (1 - share))
                )
    return remaining, flows


def _preprocess(stage: Stage, stream: Stream, name: str) -> tuple[Stream, list[Flow]]:
    """Mechanical pre-treatment: black mass (returned), scrap, burned, solid waste."""
    black_mass: Stream = {}
    flows: list[Flow] = []
    dust = stage.flue_dust_fraction_of_burned.value
    for (material, component), kg in stream.items():
        fam = family(material)
        captured = kg * stage.black_mass_capture.get(fam, 0.0)
        if captured > 0:
            black_mass[(material, component)] = captured
        rest = kg - captured
        scrap = stage.scrap.get(fam)
        if scrap is not None and scrap.value > 0:
            flows.append(Flow(name, material, component, PRODUCT, scrap.product, kg * scrap.value))
            rest -= kg * scrap.value
        flows.extend(_dispose(name, stage, material, component, rest, dust))
    return black_mass, flows


def _dispose(
    name: str, stage: Stage, material: str, component: str, kg: float, dust: float
) -> list[Flow]:
    """Unrecovered mass: burned (flue dust + off-gas), volatilised (off-gas) or residue."""
    if kg <= 0:
        return []
    fam = family(material)
    if fam in stage.burned:
        return [
            Flow(name, material, component, "flue_dust", None, kg * dust),
            Flow(name, material, component, "off_gas", None, kg * (1 - dust)),
        ]
    if fam in stage.volatilised:
        return [Flow(name, material, component, "off_gas", None, kg)]
    return [Flow(name, material, component, stage.residue, None, kg)]


def _recover(stage: Stage, stream: Stream, name: str) -> list[Flow]:
    """Critical-material recovery: material yields, then element yields, then disposal."""
    flows: list[Flow] = []
    dust = stage.flue_dust_fraction_of_burned.value
    for (material, component), kg in stream.items():
        fam = family(material)
        y = stage.material_recovery.get(fam) or stage.element_recovery.get(component)
        recovered = 0.0
        if y is not None and y.value > 0:
            product = y.product
            if fam == "cam" and fam in stage.material_recovery:
                product = f"{y.product}:{material.split(':', 1)[1]}"
            recovered = kg * y.value
            flows.append(Flow(name, material, component, PRODUCT, product, recovered))
        flows.extend(_dispose(name, stage, material, component, kg - recovered, dust))
    return flows


def _inputs(
    stage: Stage, stream: Stream, name: str, balance: dict[str, dict[tuple[str, str], float]]
) -> None:
    variables = rule_variables(stream)
    for reagent, rule in stage.reagent.items():
        balance["reagents"][(name, reagent)] = evaluate(rule, variables)
    for carrier, rule in stage.energy.items():
        balance["energy"][(name, carrier)] = evaluate(rule, variables)


def cannot_treat(process: str, chemistry: str, *, catalog_dir: Path | None = None) -> str | None:
    """Why ``process`` cannot treat ``chemistry`` (``None`` when it can)."""
    catalog = process_catalog(catalog_dir)
    for stage_name in catalog.processes[process].stages:
        reason = catalog.stages[stage_name].cannot_treat.get(chemistry)
        if reason is not None:
            return f"{stage_name}: {reason}"
    return None


SHOWN_PER_CHEMISTRY = 20
"""Units (or rows) named per chemistry in :func:`untreatable_message`; the rest are counted."""


def untreatable_message(
    process: str,
    units: Mapping[str, Sequence[str]],
    *,
    what: str = "unit(s) of the lot",
    catalog_dir: Path | None = None,
) -> str | None:
    """Why ``process`` cannot treat some of ``units``, every one named, or None when it can.

    Parameters
    ----------
    process : str
    units : mapping of str to sequence of str
        Catalogue chemistry → the labels of its units (battery ids, ``row 3``, …).
    what : str
        What the labels are, for the message's first line.

    Returns
    -------
    str or None
        One line per chemistry the process cannot treat: its units (the first
        :data:`SHOWN_PER_CHEMISTRY`, then a count) and the stage's reason, once.
    """
    lines, count = [], 0
    for chemistry in sorted(units):
        reason = cannot_treat(process, chemistry, catalog_dir=catalog_dir)
        labels = list(units[chemistry])
        if reason is None or not labels:
            continue
        count += len(labels)
        shown = ", ".join(labels[:SHOWN_PER_CHEMISTRY])
        if len(labels) > SHOWN_PER_CHEMISTRY:
            shown += f" … (+{len(labels) - SHOWN_PER_CHEMISTRY})"
        lines.append(f"  - {chemistry} ({len(labels)}): {shown} — {reason}")
    if not lines:
        return None
    return "\n".join(
        [
            f"process {process!r} cannot treat {count} {what}:",
            *lines,
            "treat them with another process, or leave them out",
        ]
    )


@functools.lru_cache(maxsize=1024)
def _feed_balance(
    chemistry: str,
    level: str,
    process: str,
    dismantle: str,
    catalog_dir: Path | None,
    tables: tuple[tuple[Path, int], ...],
) -> FeedBalance:
    del tables  # cache key only
    catalog = process_catalog(catalog_dir)
    if process not in catalog.processes:
        raise RecyclingError(
            f"unknown process {process!r}; use one of {', '.join(catalog.processes)}"
        )
    reason = cannot_treat(process, chemistry, catalog_dir=catalog_dir)
    if reason is not None:
        raise RecyclingError(f"process {process!r} cannot treat {chemistry}: {reason}")
    unit = unit_composition(chemistry, level, catalog_dir=catalog_dir)
    materials = composition_catalog(catalog_dir)
    feed, flows = _dismantle(unit.parts, dismantle, catalog.dismantling, materials)  # type: ignore[arg-type]
    labour = 0.0
    if unit.kg_per_kwh and level in ("pack", "module") and dismantle != "none":
        spec = catalog.dismantling
        steps = []
        if level == "pack":
            steps.append(spec.labour_hours_per_kwh_pack_to_modules.value)
        if dismantle == "cells":
            steps.append(spec.labour_hours_per_kwh_modules_to_cells.value)
        labour = sum(steps) / unit.kg_per_kwh
    stream = _stream(feed, materials)
    io: dict[str, dict[tuple[str, str], float]] = {"reagents": {}, "energy": {}}
    stage_feed: dict[str, float] = {}
    water: dict[str, float] = {}
    fixed: dict[str, float] = {}
    for name in catalog.processes[process].stages:
        stage = catalog.stages[name]
        if name == "preprocessing" and level == "black_mass":
            continue  # black mass is already pre-treated (EverBatt: it enters CM recovery directly)
        stage_feed[name] = sum(stream.values())
        water[name] = stage.water_gal_per_kg.value * stage_feed[name]
        fixed[name] = stage.fixed_cost_usd_per_kg.value
        _inputs(stage, stream, name, io)
        if name == "preprocessing":
            stream, stage_flows = _preprocess(stage, stream, name)
        else:
            stage_flows, stream = _recover(stage, stream, name), {}
        flows.extend(stage_flows)
    # whatever is left after the last stage is the black mass product (mechanical pre-treatment)
    flows.extend(
        Flow(f"{catalog.processes[process].stages[-1]}", m, c, PRODUCT, "black_mass", kg)
        for (m, c), kg in stream.items()
    )
    return FeedBalance(
        chemistry=chemistry,
        level=level,
        process=process,
        dismantle=dismantle,
        flows=tuple(f for f in flows if f.kg != 0.0),
        stage_feed_kg=stage_feed,
        reagents_kg=io["reagents"],
        energy_mj=io["energy"],
        water_gal=water,
        labour_hours=labour,
        fixed_cost_usd=fixed,
        catalog_dir=catalog_dir,
    )


def feed_balance(
    chemistry: str,
    level: str,
    *,
    process: Process = "hydro",
    dismantle: Dismantle = "none",
    catalog_dir: Path | None = None,
) -> FeedBalance:
    """Flows, reagents and energy of one kg of ``chemistry`` at ``level`` through ``process``.

    Parameters
    ----------
    chemistry : str
        Catalogue chemistry key.
    level : str
        ``cell``, ``module``, ``pack`` or ``black_mass``.
    process : {"mechanical", "pyro", "hydro", "direct"}
    dismantle : {"none", "modules", "cells"}
        Hardware removed by hand before shredding (packs and modules only).
    catalog_dir : Path, optional

    Raises
    ------
    RecyclingError
        If the process cannot treat the chemistry, or the process is unknown.
    """
    tables = tuple(
        table_file(name, catalog_dir) for name in ("recycling_composition", "recycling_processes")
    )
    return _feed_balance(chemistry, level, process, dismantle, catalog_dir, tables)


def input_elements(balance: FeedBalance) -> dict[str, float]:
    """Element (and ``rest``) mass per kg of feed from the composition (not from the flows)."""
    unit = unit_composition(balance.chemistry, balance.level, catalog_dir=balance.catalog_dir)
    catalog = composition_catalog(balance.catalog_dir)
    out: dict[str, float] = {}
    for material, kg in unit.fractions.items():
        for component, share in components(material, catalog).items():
            out[component] = out.get(component, 0.0) + kg * share
    return out


def check_conservation(
    inputs: Mapping[str, float], outputs: Mapping[str, float], *, what: str, rel_tol: float = 1e-9
) -> dict[str, float]:
    """Check ``outputs + losses = inputs`` per element; returns the imbalance per element [kg].

    Raises
    ------
    RecyclingError
        Naming the element and both totals when an imbalance exceeds ``rel_tol`` of the input
        (plus 1 µg absolute).
    """
    errors = {}
    for key in sorted(set(inputs) | set(outputs)):
        diff = outputs.get(key, 0.0) - inputs.get(key, 0.0)
        errors[key] = diff
        if abs(diff) > rel_tol * abs(inputs.get(key, 0.0)) + 1e-9:
            raise RecyclingError(
                f"{what}: {key} is not conserved: {inputs.get(key, 0.0):.9g} kg in, "
                f"{outputs.get(key, 0.0):.9g} kg out (recovered + lost); check the yields of the "
                "recycling_processes table (a material cannot be recovered more than once)"
            )
    return errors
