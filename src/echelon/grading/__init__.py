"""Safety gate, grades and first routing per profile, with explanations.

``grade_table`` evaluates every rule as one vectorised expression over a table of units;
``decisions_from_row`` turns a graded row into typed decisions with every rule's reason.
"""

from echelon.grading.engine import decisions_from_row, gate_rules, grade_table
from echelon.grading.profile import GradingProfile, load_profile
from echelon.grading.table import GRADING_SCHEMA, prepare_table

__all__ = [
    "GRADING_SCHEMA",
    "GradingProfile",
    "decisions_from_row",
    "gate_rules",
    "grade_table",
    "load_profile",
    "prepare_table",
]
