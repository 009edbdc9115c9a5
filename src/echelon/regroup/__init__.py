"""Regrouping: build consistent second-life packs from a heterogeneous inventory.

Pack physics (:mod:`echelon.regroup.physics`), the inventory contract
(:mod:`echelon.regroup.inventory`), the optimiser — a fast heuristic, an exact MILP, CP-SAT as an
optional extra — with baselines and a proven upper bound (:func:`regroup`, :func:`compare`), and
the registry event of a pack build (:func:`record_packs`). See ``docs/regroup.md``.
"""

from echelon.regroup.inventory import (
    RegistryInventory,
    inventory_from_registry,
    load_inventory,
    read_inventory,
    validate_inventory,
)
from echelon.regroup.physics import (
    arrange,
    block_physics,
    block_resistance_ohm,
    capacity_bound_ah,
    pack_physics,
    pack_table,
    prematch_delta_v,
    usable_capacity_ah,
)
from echelon.regroup.record import RecordReport, record_packs
from echelon.regroup.solve import RegroupResult, compare, regroup
from echelon.regroup.spec import (
    Method,
    Objective,
    PackSpec,
    RegroupConstraints,
    RegroupSettings,
    load_constraints,
)

__all__ = [
    "Method",
    "Objective",
    "PackSpec",
    "RecordReport",
    "RegistryInventory",
    "RegroupConstraints",
    "RegroupResult",
    "RegroupSettings",
    "arrange",
    "block_physics",
    "block_resistance_ohm",
    "capacity_bound_ah",
    "compare",
    "inventory_from_registry",
    "load_constraints",
    "load_inventory",
    "pack_physics",
    "pack_table",
    "prematch_delta_v",
    "read_inventory",
    "record_packs",
    "regroup",
    "usable_capacity_ah",
    "validate_inventory",
]
