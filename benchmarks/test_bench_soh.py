"""SOH prediction speed: target ≤ 1 ms per unit when batched (issue "State of health from a short
test").

Rows are the measured PulseBat samples (every family of ``pulse-u21``), tiled to 20,000 rows with
unique ids; timed: ``SohModel.predict`` end to end (validation, features, GP mean, nearest-
neighbour domain distance, conformal intervals, format and batch checks), best of 3, with the
shipped model already loaded. Also timed: a batch calibrated on reference units, and loading a
shipped model from disk.
"""

from __future__ import annotations

import time
from typing import Any

import polars as pl
import pytest
from tests.conftest import REAL_DATA

from echelon.estimation.model import SohModel
from echelon.estimation.validation import pulse_samples
from echelon.estimation.zoo import MODELS_DIR, load_model

pytestmark = pytest.mark.bench
ROWS = 20_000
TARGET_MS_PER_UNIT = 1.0
REPEATS = 3


def _rows(n: int) -> pl.DataFrame:
    if not (REAL_DATA / "pulsebat").is_dir():
        pytest.skip(f"PulseBat datasets not found under {REAL_DATA}")
    one = pulse_samples(REAL_DATA, collection="pulsebat+lfp").drop("soh_percent")
    copies = -(-n // one.height)
    return pl.concat([one.with_columns(pl.col("sample_id") + f"#{k}") for k in range(copies)]).head(
        n
    )


def _best(fn: Any) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def test_prediction_speed(record: Any) -> None:
    model = load_model("pulse-u21")
    rows = _rows(ROWS)
    seconds = _best(lambda: model.predict(rows))
    ms_per_unit = 1000.0 * seconds / ROWS
    record("soh_predict", rows=ROWS, seconds=round(seconds, 3), ms_per_unit=round(ms_per_unit, 4))
    assert model.predict(rows.head(100)).height == 100


def test_prediction_speed_of_a_new_delivery(record: Any) -> None:
    """The same rows named as a delivery the model was not trained on: every row out of domain
    (by name), widened to the transfer error — the intake's case without reference units."""
    model = load_model("pulse-u21")
    rows = _rows(ROWS).with_columns(pl.lit("delivery").alias("batch"))
    seconds = _best(lambda: model.predict(rows))
    ms_per_unit = 1000.0 * seconds / ROWS
    record(
        "soh_predict_new_delivery",
        rows=ROWS,
        seconds=round(seconds, 3),
        ms_per_unit=round(ms_per_unit, 4),
    )
    assert model.predict(rows.head(100))["out_of_domain"].all()


def test_calibrated_batch_speed(record: Any) -> None:
    model = load_model("pulse-u21")
    rows = _rows(2_000).with_columns(pl.lit("delivery").alias("batch"))
    refs = (
        pulse_samples(REAL_DATA, collection="pulsebat")
        .filter(pl.col("batch") == "LMO-10.0Ah")
        .head(30)
        .with_columns(pl.lit("delivery").alias("batch"))
    )
    lmo = rows.filter(pl.col("chemistry") == "LMO")
    seconds = _best(lambda: model.predict(lmo, references=refs))
    record(
        "soh_predict_calibrated",
        rows=lmo.height,
        references=refs.height,
        seconds=round(seconds, 3),
        ms_per_unit=round(1000.0 * seconds / lmo.height, 4),
    )


def test_model_load_time(record: Any) -> None:
    path = MODELS_DIR / "pulse-u21.soh.npz"
    seconds = _best(lambda: SohModel.load(path))
    record("soh_model_load", file_kb=round(path.stat().st_size / 1024), seconds=round(seconds, 3))
