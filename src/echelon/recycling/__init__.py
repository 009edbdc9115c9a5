"""Recycling: composition, dismantling, mass balance, recovered value, GHG and EU compliance.

Implements EverBatt 2023's default rules (Argonne National Laboratory) as transparent,
catalogue-driven functions: compositions per chemistry and assembly level, pre-treatment to
black mass, pyro-, hydro- and direct recycling with their yields, reagents, energy, costs and
GHG, the mass balance of a lot with conservation checked per element, its value (dated,
overridable prices; black-mass payables), the EU Batteries Regulation (EU) 2023/1542 targets,
and recycling lots in the registry (discharge record, status ``recycled``, end of the passport).
See docs/recycling.md."""

from echelon.recycling.compliance import (
    compliance_frame,
    recycled_content_check,
    recycled_content_minimums,
    recycled_content_supply,
)
from echelon.recycling.composition import (
    UnitComposition,
    composition_table,
    element_table,
    unit_composition,
)
from echelon.recycling.flows import (
    PROCESSES,
    Dismantle,
    FeedBalance,
    Flow,
    Process,
    cannot_treat,
    feed_balance,
)
from echelon.recycling.lot import LotResult, recycle_lot, unit_recycling_value
from echelon.recycling.prices import PriceTable, load_prices
from echelon.recycling.records import (
    RecordPlan,
    RecordReport,
    Selection,
    Source,
    counted_once_note,
    left_out_note,
    load_lot,
    lots_frame,
    parse_source,
    plan_record,
    record_lot,
    record_planned,
    recycled_units,
    registry_units,
    select_registry_units,
    year_compliance,
)
from echelon.recycling.units import prepare_units, read_units_table

__all__ = [
    "PROCESSES",
    "Dismantle",
    "FeedBalance",
    "Flow",
    "LotResult",
    "PriceTable",
    "Process",
    "RecordPlan",
    "RecordReport",
    "Selection",
    "Source",
    "UnitComposition",
    "cannot_treat",
    "compliance_frame",
    "composition_table",
    "counted_once_note",
    "element_table",
    "feed_balance",
    "left_out_note",
    "load_lot",
    "load_prices",
    "lots_frame",
    "parse_source",
    "plan_record",
    "prepare_units",
    "read_units_table",
    "record_lot",
    "record_planned",
    "recycle_lot",
    "recycled_content_check",
    "recycled_content_minimums",
    "recycled_content_supply",
    "recycled_units",
    "registry_units",
    "select_registry_units",
    "unit_composition",
    "unit_recycling_value",
    "year_compliance",
]
