"""The registry: batteries, append-only hash-chained events, projections, and the file store.

Open with :func:`open_registry` (SQLite by default, PostgreSQL by URL); reach it only through the
functions exported here.
"""

from echelon.registry.anchor import Anchor, load_anchor, save_anchor, take_anchor
from echelon.registry.backup import Backup, backup
from echelon.registry.core import (
    AssemblyWrite,
    PendingEvent,
    Registry,
    UnitWrite,
    WriteResult,
    open_registry,
)
from echelon.registry.genealogy import (
    Part,
    no_longer_whole,
    parts_of,
    recycled_parts,
    refuse_loop,
    walk_parts,
    went_with,
)
from echelon.registry.listing import flag_listed, listing_warnings
from echelon.registry.locks import UNIT_STATUS, SerializedWrite, serialized
from echelon.registry.queries import (
    LIST_COLUMNS,
    LISTING_FILTERS,
    RETAKE_FAILED,
    BatteryRecord,
    battery_record,
    events_frame,
    list_batteries,
    listing_filters,
    select_units,
    units_frame,
)
from echelon.registry.rows import decision_row, measurement_row, test_run_row
from echelon.registry.status_checks import ended_passport, refused_parents, refused_retakes
from echelon.registry.store import Store
from echelon.registry.verify import (
    ChainProblem,
    VerifyReport,
    refuse_unverified,
    verify,
    verify_batteries,
    verify_battery,
)

__all__ = [
    "LISTING_FILTERS",
    "LIST_COLUMNS",
    "RETAKE_FAILED",
    "UNIT_STATUS",
    "Anchor",
    "AssemblyWrite",
    "Backup",
    "BatteryRecord",
    "ChainProblem",
    "Part",
    "PendingEvent",
    "Registry",
    "SerializedWrite",
    "Store",
    "UnitWrite",
    "VerifyReport",
    "WriteResult",
    "backup",
    "battery_record",
    "decision_row",
    "ended_passport",
    "events_frame",
    "flag_listed",
    "list_batteries",
    "listing_filters",
    "listing_warnings",
    "load_anchor",
    "measurement_row",
    "no_longer_whole",
    "open_registry",
    "parts_of",
    "recycled_parts",
    "refuse_loop",
    "refuse_unverified",
    "refused_parents",
    "refused_retakes",
    "save_anchor",
    "select_units",
    "serialized",
    "take_anchor",
    "test_run_row",
    "units_frame",
    "verify",
    "verify_batteries",
    "verify_battery",
    "walk_parts",
    "went_with",
]
