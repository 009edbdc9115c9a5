"""The orchestrator: an intake batch end to end (manifest + files → registry)."""

from echelon.pipeline.intake import IntakeReport, fingerprint, intake
from echelon.pipeline.unit import UnitOutcome, process_unit

__all__ = ["IntakeReport", "UnitOutcome", "fingerprint", "intake", "process_unit"]
