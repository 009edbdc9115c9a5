"""Diagnostics on BDF frames: step segmentation, capacity, DCIR, test classification.

Functions are pure (frame in, typed result out) and columnar: one group-by over segments instead
of a Python loop over per-cycle masks.
"""

from echelon.diagnostics.capacity import CapacityResult, discharge_capacity
from echelon.diagnostics.classify import classify_test
from echelon.diagnostics.resistance import PulseResistance, dcir_ohm, pulse_resistances
from echelon.diagnostics.steps import step_table, with_segments

__all__ = [
    "CapacityResult",
    "PulseResistance",
    "classify_test",
    "dcir_ohm",
    "discharge_capacity",
    "pulse_resistances",
    "step_table",
    "with_segments",
]
