"""A battery's passport status, category and identifier from its registry record.

* ``batteryStatus`` (EU 2023/1542 Art. 3(1) definitions; Annex XIII(4c)): a pack built by
  ``echelon regroup --record`` is Repurposed; a unit quarantined by the safety gate or routed to
  recycling is Waste; no route yet (or ``retest``) is Original; a remanufacturing application gives
  Remanufactured only when the SOH reaches the catalogue's minimum (90 %); any other second life is
  Reused when its battery category equals the first life's, else Repurposed.
* ``batteryCategory``: of the new use for a second life, of the origin otherwise (catalogue).
* ``batteryPassportIdentifier``: a battery placed on the market again gets a new passport linked
  to the original (Art. 77(7)): ``urn:<namespace>:<24 hex>`` from the facility's namespace, the
  battery id, the status and the hash of the event that decided it — the same on every export of
  that decision, new for a new decision. Original and Waste batteries keep the original passport.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from echelon.domain import Event
from echelon.passport.catalog import PassportCatalog
from echelon.registry import BatteryRecord

NEW_PASSPORT = ("Repurposed", "Reused", "Remanufactured")
"""Statuses under which a battery placed on the market again gets a new passport (Art. 77(7))."""


@dataclass(frozen=True)
class PassportStatus:
    """Status, category and identifier of a battery's passport, with the reasons."""

    status: str
    category: str | None
    why: str
    identifier: str | None
    predecessor: str | None
    notes: list[str] = field(default_factory=list)


def _status(
    record: BatteryRecord, catalog: PassportCatalog
) -> tuple[str, str | None, str, Event | None, list[str]]:
    by_origin = catalog.category.by_origin
    origin_category = by_origin.get(record.battery.origin_application)
    latest = record.latest_decisions()
    gate, route = latest.get("gate"), latest.get("route")
    assembled = record.last_event("assembled")
    if assembled is not None:
        why = "a pack assembled from second-life units (echelon regroup)"
        return "Repurposed", None, why, assembled, []
    if gate is not None and gate.outcome == "quarantine":
        failed = sorted(r.rule for r in gate.reasons if not r.passed)
        if failed and set(failed) <= set(catalog.status.pending_gate_rules):
            note = (
                f"quarantined for missing or invalid input ({', '.join(failed)}), not for a "
                "finding on the unit: no second-life decision yet; complete it and grade again"
            )
            return "Original", origin_category, "quarantined for missing input", None, [note]
        return "Waste", origin_category, "failed the safety gate (quarantined)", None, []
    if route is None or route.outcome == "retest":
        return "Original", origin_category, "no second-life decision yet", None, []
    if route.outcome == "recycle":
        return "Waste", origin_category, "routed to recycling", None, []
    routed = record.last_event("routed")
    category = next(
        (c for app, c in catalog.category.by_application.items() if app.value == route.outcome),
        None,
    )
    why = f"routed to {route.outcome}"
    notes = []
    if route.outcome in {a.value for a in catalog.status.remanufacturing}:
        soh = [m.value for m in record.measurements if m.quantity == "soh_percent"]
        minimum = catalog.status.remanufactured_min_soh_percent
        if soh and soh[-1] >= minimum:
            notes.append(
                "Remanufactured also requires the cells' SOH within 3 % of each other (Art. 3(1)); "
                "Echelon does not see the cell spread of a module or pack: confirm it"
            )
            return "Remanufactured", category, why, routed, notes
        notes.append(
            f"routed to {route.outcome} but its SOH "
            f"({f'{soh[-1]:.1f} %' if soh else 'unknown'}) is below the {minimum:g} % a "
            "remanufactured battery must reach (Art. 3(1)): not Remanufactured"
        )
    same = category is not None and category == origin_category
    return ("Reused" if same else "Repurposed"), category, why, routed, notes


def passport_status(
    record: BatteryRecord,
    catalog: PassportCatalog,
    *,
    namespace: str | None,
    original: str | None,
) -> PassportStatus:
    """The passport status, category and identifier of a battery.

    Parameters
    ----------
    record : BatteryRecord
    catalog : PassportCatalog
    namespace : str or None
        The facility's identifier namespace; without it no new identifier is minted.
    original : str or None
        The original (first-life) passport identifier, from the data file.
    """
    status, category, why, decided_by, notes = _status(record, catalog)
    if category is None:
        notes.append(
            f"batteryCategory: not derived ({why}): the use is not recorded or is outside the "
            "passport's categories (lmt, ev, industrial, stationary; Art. 77(1)); give it in the "
            "data file if the battery needs a passport"
        )
    if status not in NEW_PASSPORT:
        if original is None:
            notes.append(
                f"batteryPassportIdentifier: a battery whose status is {status} keeps its "
                "original passport (Art. 77(7)); give originalPassportIdentifier in the data file"
            )
        return PassportStatus(status, category, why, original, None, notes)
    if original is None:
        notes.append(
            "no original passport identifier: the new passport cannot be linked to the first "
            "life's (Art. 77(7)); give originalPassportIdentifier in the data file"
        )
    if namespace is None:
        notes.append(
            "batteryPassportIdentifier: a new passport needs the facility's identifier namespace "
            "(namespace in the data file, e.g. its registered operator code)"
        )
        return PassportStatus(status, category, why, None, original, notes)
    decision = decided_by.hash if decided_by is not None else ""
    seed = f"{namespace}|{record.battery.battery_id}|{status}|{decision}"
    identifier = f"urn:{namespace}:{hashlib.sha256(seed.encode()).hexdigest()[:24]}"
    return PassportStatus(status, category, why, identifier, original, notes)
