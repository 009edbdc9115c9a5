"""Projection rows built from domain records (complete rows, so the chain can re-verify them)."""

from __future__ import annotations

from typing import Any

from echelon.domain import Decision, Measurement, TestRun


def test_run_row(run: TestRun) -> dict[str, Any]:
    """``test_runs`` row (without ``battery_id``/``event_seq``) for a test run."""
    return {
        "kind": run.kind.value,
        "source_path": run.source_path,
        "source_sha256": run.source_sha256,
        "bdf_sha256": run.bdf_sha256,
        "reader": run.reader,
        "reader_version": run.reader_version,
        "n_rows": run.n_rows,
        "duration_s": run.duration_s,
        "run_metadata": dict(run.metadata),
    }


test_run_row.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def measurement_row(measurement: Measurement) -> dict[str, Any]:
    """``measurements`` row for a measurement."""
    return {
        "quantity": measurement.quantity,
        "value": measurement.value,
        "lower": measurement.lower,
        "upper": measurement.upper,
        "method": measurement.method,
        "source_sha256": measurement.source_sha256,
    }


def decision_row(decision: Decision) -> dict[str, Any]:
    """``decisions`` row for a decision (reasons as JSON)."""
    return {
        "kind": decision.kind,
        "outcome": decision.outcome,
        "profile": decision.profile,
        "profile_version": decision.profile_version,
        "reasons": [r.model_dump(mode="json") for r in decision.reasons],
        "inputs": dict(decision.inputs),
    }
