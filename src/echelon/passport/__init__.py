"""Battery passports: the Battery Pass v1.2.0 view of a battery in the registry.

See docs/passport.md.
"""

from echelon.passport.build import (
    Passport,
    build_passport,
    canonical_json,
    incomplete_message,
    refuse_ended,
    refuse_passport_of,
    refuse_recycled_parts,
    sha256_of,
)
from echelon.passport.data import PassportData, load_passport_data
from echelon.passport.model import (
    BATTERYPASS_VERSION,
    SECTION_MODELS,
    SectionName,
    aspect_urn,
)
from echelon.passport.schemas import schema_dir, schema_problems

__all__ = [
    "BATTERYPASS_VERSION",
    "SECTION_MODELS",
    "Passport",
    "PassportData",
    "SectionName",
    "aspect_urn",
    "build_passport",
    "canonical_json",
    "incomplete_message",
    "load_passport_data",
    "refuse_ended",
    "refuse_passport_of",
    "refuse_recycled_parts",
    "schema_dir",
    "schema_problems",
    "sha256_of",
]
