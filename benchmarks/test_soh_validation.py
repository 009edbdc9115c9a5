"""Validation of the short-test SOH estimators on measured retired cells (``make bench``).

Every split is grouped by physical cell. Each test writes its metric table to
``docs/data/soh_<name>.csv`` and, for the headline splits, a parity figure to ``docs/img``;
docs/validation.md quotes them. Quick versions run in ``make test`` (tests/estimation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tests.conftest import REAL_DATA

from echelon.estimation.evaluate import cross_validate
from echelon.estimation.methods import PulseMethod, RelaxationMethod
from echelon.estimation.validation import (
    pulse_samples,
    random_soc_evaluation,
    random_soc_new_format,
)
from echelon.reports.charts import save_chart
from echelon.reports.soh_charts import parity_chart

pytestmark = pytest.mark.bench
DOCS = Path(__file__).resolve().parents[1] / "docs"


def datasets() -> Path:
    if not (REAL_DATA / "pulsebat").is_dir() or not (REAL_DATA / "pulsebat_lfp").is_dir():
        pytest.skip(f"PulseBat datasets not found under {REAL_DATA}")
    return REAL_DATA


def publish(
    name: str,
    metrics: pl.DataFrame,
    record: Any,
    predictions: pl.DataFrame | None = None,
    title: str = "",
) -> None:
    (DOCS / "data").mkdir(exist_ok=True)
    metrics.write_csv(DOCS / "data" / f"soh_{name}.csv", float_precision=4)
    if predictions is not None:
        save_chart(
            parity_chart(predictions, title=title), DOCS / "img" / f"validation_soh_{name}.png"
        )
    overall = metrics.filter(pl.col("group") == "all").row(0, named=True)
    record(f"soh_{name}", **{k: v for k, v in overall.items() if k not in ("level", "group")})


@pytest.mark.parametrize("collection", ["pulsebat", "pulsebat+lfp"])
def test_unseen_cells(collection: str, record: Any) -> None:
    samples = pulse_samples(datasets(), collection=collection)  # type: ignore[arg-type]
    result = cross_validate(samples, method=PulseMethod(21), split="cells", n_folds=5)
    name = "cells_" + collection.replace("+", "_")
    publish(
        name,
        result.metrics,
        record,
        result.predictions,
        f"Pulse U1–U21, unseen cells ({collection}), 90 % intervals",
    )
    print(result.metrics)


def test_unseen_cells_and_soc(record: Any) -> None:
    samples = pulse_samples(datasets(), collection="pulsebat")
    result = cross_validate(samples, method=PulseMethod(21), split="soc", n_folds=5)
    publish("soc_pulsebat", result.metrics, record)
    print(result.metrics)


@pytest.mark.parametrize("references", [0, 10, 20])
def test_leave_one_batch_out(references: int, record: Any) -> None:
    samples = pulse_samples(datasets(), collection="pulsebat+lfp")
    result = cross_validate(
        samples, method=PulseMethod(21), split="chemistry", references=references
    )
    publish(f"chemistry_refs{references}", result.metrics, record)
    print(result.metrics)


def test_random_soc_lfp(record: Any) -> None:
    predictions, metrics = random_soc_evaluation(datasets(), method=PulseMethod(21))
    publish(
        "random_soc_lfp",
        metrics,
        record,
        predictions,
        "Pulse U1–U21, random-SOC sheet of unseen LFP cells",
    )
    print(metrics)


@pytest.mark.parametrize("calibrate", [True, False])
@pytest.mark.parametrize("references", [10, 20])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_soc_lfp_with_references(
    references: int, seed: int, calibrate: bool, record: Any
) -> None:
    """``calibrate=False``: the control (references drawn and left out of training, unused)."""
    predictions, metrics = random_soc_evaluation(
        datasets(), method=PulseMethod(21), references=references, calibrate=calibrate, seed=seed
    )
    name = f"random_soc_lfp_refs{references}_seed{seed}" + ("" if calibrate else "_control")
    title = f"Pulse U1–U21, random-SOC sheet, {references} reference units per group"
    publish(name, metrics, record, predictions if seed == 0 and calibrate else None, title)
    print(metrics)


@pytest.mark.parametrize("references", [0, 10])
def test_random_soc_new_format(references: int, record: Any) -> None:
    _predictions, metrics = random_soc_new_format(
        datasets(), method=PulseMethod(21), references=references
    )
    publish(f"random_soc_new_format_refs{references}", metrics, record)
    print(metrics)


def test_relaxation_unseen_cells(record: Any) -> None:
    samples = pulse_samples(datasets(), collection="pulsebat+lfp")
    result = cross_validate(samples, method=RelaxationMethod(21), split="cells", n_folds=5)
    publish("relaxation_cells", result.metrics, record)
    print(result.metrics)


def _eis_partial_data(name: str) -> Path:
    if not (REAL_DATA / name).is_dir():
        pytest.skip(f"dataset {name!r} not found under {REAL_DATA}")
    return REAL_DATA


@pytest.mark.parametrize(
    "name",
    [
        "zhang_loco",
        "zhang_leak",
        "zhang_published_split",
        "warwick_cells",
        "warwick_unseen_temperature",
        "eis_soh_transfer",
    ],
)
def test_eis(name: str, record: Any) -> None:
    from echelon.estimation import validation_eis

    root = _eis_partial_data("eis_zhang2020" if name.startswith("zhang") else "eis_soh")
    table = getattr(validation_eis, name)(root)
    (DOCS / "data").mkdir(exist_ok=True)
    table.write_csv(DOCS / "data" / f"soh_eis_{name}.csv", float_precision=4)
    record(f"soh_eis_{name}", rows=table.height)
    print(table)


@pytest.mark.parametrize("name", ["nasa_leave_one_cell_out", "calce_within_cell", "cross_dataset"])
def test_partial_charge(name: str, record: Any) -> None:
    from echelon.estimation import validation_partial

    root = _eis_partial_data("nasa")
    table = getattr(validation_partial, name)(root)
    (DOCS / "data").mkdir(exist_ok=True)
    table.write_csv(DOCS / "data" / f"soh_partial_{name}.csv", float_precision=4)
    record(f"soh_partial_{name}", rows=table.height)
    print(table)
