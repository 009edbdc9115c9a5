"""Simulator of incoming retired batteries and their tester files (for demos and tests only).

Synthetic data shows that the pipeline works end to end; it is never evidence that a model is
accurate — that comes from the measured datasets (``docs/validation.md``).
"""

from echelon.synth.batch import SynthBatch, write_batch
from echelon.synth.ecm import EcmParameters, capacity_test, pulse_test
from echelon.synth.population import SynthUnit, simulate_population

__all__ = [
    "EcmParameters",
    "SynthBatch",
    "SynthUnit",
    "capacity_test",
    "pulse_test",
    "simulate_population",
    "write_batch",
]
