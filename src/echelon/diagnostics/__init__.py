"""Diagnostics on BDF frames: steps and cycles, capacity, DCIR and HPPC, relaxation, ECM fits,
dQ/dV and dV/dQ, self-discharge, impedance.

Functions are pure (frame in, typed result or frame out) and columnar: segment reductions and
as-of joins instead of Python loops over per-cycle masks.
"""

from echelon.diagnostics.capacity import CapacityResult, capacity_at_rate, discharge_capacity
from echelon.diagnostics.classify import classify_test
from echelon.diagnostics.cycles import cycle_summary, detect_cycles
from echelon.diagnostics.ecm import EcmFit, fit_thevenin, pulse_ecm
from echelon.diagnostics.eis import EisFit, fit_circuit, fit_spectra, nyquist_features
from echelon.diagnostics.hppc import hppc_table
from echelon.diagnostics.ica import (
    differential_voltage,
    ica_peaks,
    incremental_capacity,
    track_peaks,
)
from echelon.diagnostics.relaxation import relaxation_features
from echelon.diagnostics.resistance import (
    PulseResistance,
    dcir_method,
    dcir_ohm,
    pulse_resistances,
    pulse_table,
    reference_pulse,
)
from echelon.diagnostics.selfdischarge import (
    SelfDischarge,
    self_discharge_from_rest,
    self_discharge_k,
)
from echelon.diagnostics.steps import step_table, with_segments

__all__ = [
    "CapacityResult",
    "EcmFit",
    "EisFit",
    "PulseResistance",
    "SelfDischarge",
    "capacity_at_rate",
    "classify_test",
    "cycle_summary",
    "dcir_method",
    "dcir_ohm",
    "detect_cycles",
    "differential_voltage",
    "discharge_capacity",
    "fit_circuit",
    "fit_spectra",
    "fit_thevenin",
    "hppc_table",
    "ica_peaks",
    "incremental_capacity",
    "nyquist_features",
    "pulse_ecm",
    "pulse_resistances",
    "pulse_table",
    "reference_pulse",
    "relaxation_features",
    "self_discharge_from_rest",
    "self_discharge_k",
    "step_table",
    "track_peaks",
    "with_segments",
]
