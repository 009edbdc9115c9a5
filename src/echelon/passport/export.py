"""Write a passport, check it against the Battery Pass schemas, record it in the event chain."""

from __future__ import annotations

from pathlib import Path

from echelon.errors import PassportError
from echelon.passport.access import Access
from echelon.passport.build import Passport, canonical_json, sha256_of
from echelon.passport.model import BATTERYPASS_VERSION, aspect_urn
from echelon.passport.schemas import schema_problems
from echelon.registry import PendingEvent

PASSPORT_EVENT = "passport_issued"
"""Event kind recorded when a passport is written (payload: identifier, status, sha256, …)."""


def check_against_schemas(passport: Passport, folder: Path) -> None:
    """Validate every complete section against its Battery Pass v1.2.0 schema (Draft 4).

    Raises
    ------
    PassportError
        Listing every schema error, by section and member path.
    """
    problems = [
        f"{name}.{problem}"
        for name, body in passport.sections.items()
        for problem in schema_problems(name, body, folder)
    ]
    if problems:
        raise PassportError(
            f"{passport.battery_id}: the passport does not validate against the Battery Pass "
            f"{BATTERYPASS_VERSION} schemas in {folder}:\n  - " + "\n  - ".join(problems)
        )


def passport_json(passport: Passport, *, access: Access = "full") -> tuple[str, str]:
    """The composite passport as the JSON text written (:func:`canonical_json`) and its
    SHA-256, ``(text, sha256)``: the hash is known before the file is written, so the file can
    appear only once :func:`passport_event` is recorded (:func:`echelon.io.atomic.write_recorded`,
    as ``echelon passport`` does)."""
    document = passport.document(access=access)
    return canonical_json(document), sha256_of(document)


def passport_event(
    passport: Passport, *, sha256: str, file_name: str, access: Access
) -> PendingEvent:
    """The ``passport_issued`` event that records a written passport in the unit's chain."""
    return PendingEvent(
        PASSPORT_EVENT,
        None,
        {
            "battery_passport_identifier": passport.identifier,
            "predecessor_identifier": passport.predecessor,
            "battery_status": passport.status,
            "battery_pass_version": BATTERYPASS_VERSION,
            "aspect_models": [aspect_urn(name) for name in passport.sections],
            "incomplete_sections": sorted(passport.missing),
            "access": access,
            "sha256": sha256,
            "file": file_name,
            "issued_at": passport.issued_at.isoformat(timespec="seconds"),
            "reflects_seq": passport.chain_head[0],
            "reflects_hash": passport.chain_head[1],
        },
    )
