"""Safety gate, grades per jurisdiction profile and routing, with explanations.

``grade_table`` evaluates every rule as one vectorised expression over a table of units and routes
them (:mod:`echelon.routing`); ``grade_by_region`` picks each unit's profile from its region;
``decisions_from_row`` turns a graded row into typed decisions with every rule's reason;
``to_grading_table`` builds the table to grade from units' records and latest measurements.
"""

from echelon.grading.engine import decisions_from_row, grade_by_region, grade_table
from echelon.grading.gate import gate_rules
from echelon.grading.profile import (
    PROFILE_FOR_REGION,
    GradingProfile,
    load_profile,
    profile_for_region,
)
from echelon.grading.table import GRADING_SCHEMA, prepare_table, to_grading_table

__all__ = [
    "GRADING_SCHEMA",
    "PROFILE_FOR_REGION",
    "GradingProfile",
    "decisions_from_row",
    "gate_rules",
    "grade_by_region",
    "grade_table",
    "load_profile",
    "prepare_table",
    "profile_for_region",
    "to_grading_table",
]
