"""SOH of units that had only a short test (pulse or EIS), estimated batch by batch.

The pipeline's rule is: the best available estimator per unit — a capacity test if the unit had
one, else its pulse test, else its impedance spectrum, else nothing (the grader then asks for a
retest). Estimates use the shipped models (``pulse-u21`` and ``eis-lco-nmc811`` by default,
:mod:`echelon.estimation.zoo`). A delivery is one
batch per chemistry, model and rated capacity; units of the batch that had *both* a capacity
test and a pulse test are its reference units: with at least 9 of them (for 90 % intervals) the
batch is calibrated on them (:mod:`echelon.estimation.calibration`), which is what makes an
estimate usable for a cell model no public data covers. Without enough references the model's
own estimate is used with the interval widened to its transfer error: a delivery is a batch the
shipped model was not trained on, so it is out of domain by name
(:mod:`echelon.estimation.domain`). (The same for spectra: units with a capacity test and an EIS
file are the references of the EIS estimate.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from echelon.domain.records import SOH_OUT_OF_DOMAIN_TAG
from echelon.errors import EstimationError, SchemaError
from echelon.estimation import SohEstimate
from echelon.estimation.conformal import min_calibration_size
from echelon.estimation.model import SohModel, prepare
from echelon.estimation.samples import BATCH, CELL_ID, CHEMISTRY, NOMINAL, SAMPLE_ID, SOH
from echelon.io.manifest import ManifestUnit
from echelon.pipeline.unit import UnitOutcome

COVERAGE = 0.9


def _batch(unit: ManifestUnit) -> str:
    b = unit.battery
    return f"{b.chemistry.value}|{b.model or '?'}|{b.nominal_capacity_ah:g}Ah"


def _inputs(out: UnitOutcome, method: str) -> dict[str, Any] | None:
    return out.pulse_features if method in ("pulse", "relaxation") else out.eis_spectrum


def _rows(
    units: Sequence[ManifestUnit], outcomes: dict[str, UnitOutcome], method: str
) -> pl.DataFrame:
    rows = []
    for unit in units:
        out = outcomes[unit.battery.battery_id]
        inputs = _inputs(out, method)
        if out.error is not None or inputs is None:
            continue
        labelled = out.soh is not None and out.soh.method == "capacity_test"
        rows.append(
            {
                SAMPLE_ID: unit.battery.battery_id,
                CELL_ID: unit.battery.battery_id,
                CHEMISTRY: unit.battery.chemistry.value,
                NOMINAL: unit.battery.nominal_capacity_ah,
                BATCH: _batch(unit),
                SOH: out.soh.soh_percent if labelled and out.soh else None,
                **inputs,
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None)


def _unusable(table: pl.DataFrame, model: SohModel) -> dict[str, str]:
    """Units whose own inputs the model cannot take, and why — checked unit by unit only when
    the whole table fails, so that one unit's implausible pulse response never refuses the rest
    of its batch nor, as a reference, stops its calibration. (Labels are capacity-test SOHs,
    checked when they were measured.)"""
    inputs = table.drop(SOH)
    try:
        prepare(inputs, model.method, labelled=False, source="<short tests>")
    except SchemaError:
        pass
    else:
        return {}
    bad: dict[str, str] = {}
    for i in range(inputs.height):
        row = inputs.slice(i, 1)
        try:
            prepare(row, model.method, labelled=False, source="<unit>")
        except SchemaError as exc:
            said = [p.message if p.column is None else f"{p.column}: {p.message}"
                    for p in exc.problems]  # fmt: skip
            more = f"; … and {len(said) - 3} more" if len(said) > 3 else ""
            bad[str(row.item(0, SAMPLE_ID))] = "; ".join(said[:3]) + more
    return bad


def estimate_short_tests(
    units: Sequence[ManifestUnit],
    outcomes: dict[str, UnitOutcome],
    model: SohModel,
    *,
    coverage: float = COVERAGE,
) -> int:
    """Set ``outcome.soh`` of every unit with the model's inputs and no SOH yet.

    Parameters
    ----------
    units : sequence of ManifestUnit
        The units processed in this intake.
    outcomes : dict
        Their outcomes by battery id (modified in place).
    model : SohModel
        Pulse, relaxation or EIS model (the units' pulse features or spectra are used).
    coverage : float
        Coverage of the intervals.

    Returns
    -------
    int
        Units that received a short-test estimate. A unit the model refused gets none; the
        refusal and its reason are appended to its ``soh_refusals`` (the intake records them as
        ``soh_refused`` events, so the unit's history says why it has no SOH).
    """
    name = model.method.name
    table = _rows(units, outcomes, name)
    if table.height == 0 or SOH not in table.columns:
        return 0
    bad = _unusable(table, model)
    for unit, why in bad.items():
        if outcomes[unit].soh is None:  # a reference keeps its capacity test; it is just not used
            outcomes[unit].soh_refusals.append(
                (f"{name}:{model.name}", f"its {name} inputs cannot be used: {why}")
            )
    table = table.filter(~pl.col(SAMPLE_ID).is_in(list(bad)))
    unestimated = [b for b, o in outcomes.items() if o.soh is None]
    targets = table.filter(pl.col(SOH).is_null() & pl.col(SAMPLE_ID).is_in(unestimated))
    if targets.height == 0:
        return 0
    refs = table.filter(pl.col(SOH).is_not_null())
    counts = refs.group_by(BATCH).len()
    enough = counts.filter(pl.col("len") >= min_calibration_size(coverage)).get_column(BATCH)
    refs = refs.filter(pl.col(BATCH).is_in(enough.implode()))
    try:
        pred = model.predict(
            targets.drop(SOH), coverage=coverage, references=refs if refs.height else None
        )
    except EstimationError:  # a batch the references cannot calibrate: use the model alone
        pred = model.predict(targets.drop(SOH), coverage=coverage)
    done = 0
    for row in pred.iter_rows(named=True):
        calibrated = bool(row["reason"]) and "calibrated on" in str(row["reason"])
        method = f"{name}:{model.name}" + ("+references" if calibrated else "")
        if row["soh_percent"] is None or not np.isfinite(row["soh_percent"]):
            outcomes[row[SAMPLE_ID]].soh_refusals.append((method, row["reason"] or "no estimate"))
            continue
        method += SOH_OUT_OF_DOMAIN_TAG if row["out_of_domain"] else ""
        outcomes[row[SAMPLE_ID]].soh = SohEstimate(
            soh_percent=float(row["soh_percent"]),
            soh_lower_percent=float(row["soh_lower_percent"]),
            soh_upper_percent=float(row["soh_upper_percent"]),
            coverage=coverage,
            method=method,
            out_of_domain=bool(row["out_of_domain"]),
        )
        done += 1
    return done
