"""Partial-charge SOH method: features, fit/predict/save round trip, bad input, reader, real data.

Synthetic segments are catalogue OCV curves stretched by the cell's capacity (SOH × rated) plus an
ohmic offset — for unit tests only; the evidence is the real-data validation
(:mod:`echelon.estimation.validation_partial`, docs/_drafts/soh_partial.md).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl
import pytest

from echelon.catalog import chemistry
from echelon.errors import EstimationError, SchemaError
from echelon.estimation.model import SohModel, fit_soh_model
from echelon.estimation.partial import (
    PartialChargeMethod,
    choose_windows,
    read_partial_samples,
    segment_samples,
    window_features,
)
from echelon.estimation.readers import ReadOptions

Dataset = Callable[[str], Path]
NOMINAL_AH = 2.0


def segment(
    soh_percent: float,
    *,
    name: str = "NMC622",
    direction: str = "charge",
    r_ohm: float = 0.05,
    rate_c: float = 0.5,
    soc: tuple[float, float] = (0.1, 0.98),
    n: int = 300,
) -> tuple[list[float], list[float]]:
    """Voltage [V] and charge moved [A·h] of a CC segment of a cell at ``soh_percent``."""
    capacity = NOMINAL_AH * soh_percent / 100.0
    q = np.linspace(0.0, (soc[1] - soc[0]) * capacity, n)
    current = rate_c * NOMINAL_AH
    if direction == "charge":
        state, v_ir = soc[0] + q / capacity, current * r_ohm
    else:
        state, v_ir = soc[1] - q / capacity, -current * r_ohm
    voltage = chemistry(name).ocv.ocv(state) + v_ir
    return voltage.tolist(), q.tolist()


def table(
    sohs: list[float], *, cells: list[str] | None = None, name: str = "NMC622", **kwargs: Any
) -> pl.DataFrame:
    """A labelled sample table, one synthetic segment per SOH."""
    rng = np.random.default_rng(3)
    rows = []
    for i, soh in enumerate(sohs):
        # resistance grows as capacity fades, with cell-to-cell spread
        r_ohm = 0.04 + 0.002 * (100.0 - soh) + rng.normal(0.0, 0.003)
        v, q = segment(soh, name=name, r_ohm=r_ohm, **kwargs)
        rows.append(
            {
                "sample_id": f"s{i}",
                "cell_id": cells[i] if cells else f"c{i}",
                "chemistry": name,
                "nominal_capacity_ah": NOMINAL_AH,
                "direction": kwargs.get("direction", "charge"),
                "current_a": 1.0,
                "voltage_v": v,
                "capacity_ah": q,
                "soh_percent": soh,
            }
        )
    return pl.DataFrame(rows)


def test_window_capacity_scales_with_soh() -> None:
    method = PartialChargeMethod()
    window = method.window_for("NMC", "charge")
    assert window == (3.85, 4.05)
    full = window_features(
        *map(np.asarray, segment(100.0, r_ohm=0.0)), direction="charge", window_v=window, n_bins=3
    )
    aged = window_features(
        *map(np.asarray, segment(80.0, r_ohm=0.0)), direction="charge", window_v=window, n_bins=3
    )
    # OCV(q / C): the charge between two voltages is proportional to the capacity C
    assert aged[0].sum() / full[0].sum() == pytest.approx(0.8, rel=1e-3)
    # the dQ/dV peak stays at the same voltage and shrinks with the capacity
    assert aged[1] == pytest.approx(full[1], abs=0.01)
    assert aged[2] / full[2] == pytest.approx(0.8, rel=0.02)


def test_discharge_and_charge_features_agree_without_resistance() -> None:
    method = PartialChargeMethod(windows_v={"NMC/charge": (3.7, 3.9), "NMC/discharge": (3.7, 3.9)})
    rows = []
    for direction in ("charge", "discharge"):
        v, q = segment(90.0, direction=direction, r_ohm=0.0)
        rows.append(
            {
                "sample_id": direction,
                "chemistry": "NMC622",
                "nominal_capacity_ah": 2.0,
                "direction": direction,
                "voltage_v": v,
                "capacity_ah": q,
            }
        )
    x = method.features(pl.DataFrame(rows))
    assert x[0, :-1] == pytest.approx(x[1, :-1], rel=1e-3)  # same OCV, same charge per bin
    assert x[:, -1].tolist() == [1.0, -1.0]  # direction_sign


def test_fit_predict_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    train_soh = list(rng.uniform(65.0, 100.0, 40))
    train = table(train_soh, cells=[f"c{i // 2}" for i in range(40)])  # 2 samples per cell
    model = fit_soh_model(train, method="partial_charge", name="synthetic")
    assert model.method.config()["windows_v"]["NMC/charge"] == [3.85, 4.05]
    test = table([70.0, 80.0, 90.0, 97.0]).with_columns(pl.lit("new").alias("cell_id"))
    pred = model.predict(test.drop("soh_percent"))
    error = pred["soh_percent"].to_numpy() - np.array([70.0, 80.0, 90.0, 97.0])
    assert np.abs(error).max() < 1.5  # synthetic: window capacity ∝ SOH, small R spread
    assert (pred["soh_lower_percent"] <= pred["soh_percent"]).all()
    assert not pred["out_of_domain"].any()
    path = model.save(tmp_path / "partial.npz")
    loaded = SohModel.load(path)
    assert loaded.method.config() == model.method.config()
    assert loaded.predict(test).equals(model.predict(test))


def test_a_charge_is_out_of_domain_for_a_discharge_model() -> None:
    rng = np.random.default_rng(1)
    train = table(list(rng.uniform(65.0, 100.0, 30)), direction="discharge")
    model = fit_soh_model(train, method="partial_charge", transfer=False)
    pred = model.predict(table([85.0], direction="charge"))
    assert pred["out_of_domain"][0]
    assert "beyond the training domain" in pred["reason"][0]


def test_text_lists_are_read_like_list_columns() -> None:
    frame = table([90.0, 80.0])
    as_text = frame.with_columns(
        pl.col(c).list.eval(pl.element().cast(pl.String)).list.join(";").alias(c)
        for c in ("voltage_v", "capacity_ah")
    )
    method = PartialChargeMethod()
    assert method.check(as_text) == []
    assert method.features(as_text) == pytest.approx(method.features(frame))


def _with(frame: pl.DataFrame, row: int, column: str, value: object) -> pl.DataFrame:
    values = frame[column].to_list()
    values[row] = value
    return frame.with_columns(pl.Series(column, values, dtype=frame.schema[column]))


Spoil = Callable[[pl.DataFrame, list[float], list[float]], pl.DataFrame]
BAD_INPUTS: list[tuple[str, Spoil, str, str]] = [
    (
        "nan",
        lambda f, v, q: _with(f, 1, "voltage_v", [*v[:5], float("nan"), *v[6:]]),
        "voltage_v",
        "NaN or infinity at sample 6",
    ),
    (
        "decreasing",
        lambda f, v, q: _with(f, 1, "capacity_ah", [*q[:9], q[7], *q[10:]]),
        "capacity_ah",
        "decreases at sample 10",
    ),
    (
        "negative",
        lambda f, v, q: _with(f, 1, "capacity_ah", [-x for x in q]),
        "capacity_ah",
        "negative",
    ),
    (
        "pack voltage",
        lambda f, v, q: _with(f, 1, "voltage_v", [12 * x for x in v]),
        "voltage_v",
        "per-cell voltages",
    ),
    (
        "millivolts",
        lambda f, v, q: _with(f, 1, "voltage_v", [1000 * x for x in v]),
        "voltage_v",
        "mV → V",
    ),
    (
        "short",
        lambda f, v, q: _with(_with(f, 1, "voltage_v", v[:4]), 1, "capacity_ah", q[:4]),
        "voltage_v",
        "fewer than 10",
    ),
    ("unpaired", lambda f, v, q: _with(f, 1, "capacity_ah", q[:-3]), "voltage_v", "must pair up"),
    ("empty", lambda f, v, q: _with(f, 1, "voltage_v", []), "voltage_v", "not a list of numbers"),
    ("direction", lambda f, v, q: _with(f, 1, "direction", "up"), "direction", "not a direction"),
    (
        "wrong direction",
        lambda f, v, q: _with(f, 1, "direction", "discharge"),
        "voltage_v",
        "rises over a discharge segment",
    ),
    (
        "not covered",
        lambda f, v, q: _with(_with(f, 1, "voltage_v", v[:150]), 1, "capacity_ah", q[:150]),
        "voltage_v",
        "not the charge window 3.850–4.050 V",
    ),
    (
        "no window",
        lambda f, v, q: _with(f, 1, "chemistry", "Li-S"),
        "direction",
        "no voltage window for charge segments for Li-S",
    ),
]


@pytest.mark.parametrize(
    ("case", "spoil", "column", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_names_row_and_column(
    case: str,
    spoil: Spoil,
    column: str,
    message: str,
) -> None:
    frame = table([90.0, 85.0, 80.0])
    v, q = frame["voltage_v"][1].to_list(), frame["capacity_ah"][1].to_list()
    with pytest.raises(SchemaError) as info:
        fit_soh_model(spoil(frame, v, q), method=PartialChargeMethod())
    problems = [p for p in info.value.problems if p.row == 2]
    assert problems, str(info.value)
    assert problems[0].column == column, str(info.value)
    assert message in problems[0].message, str(info.value)


def test_missing_columns_are_named() -> None:
    with pytest.raises(SchemaError, match=re.escape("['direction']")):
        fit_soh_model(table([90.0, 80.0]).drop("direction"), method="partial_charge")
    problems = PartialChargeMethod(features=["rate"]).check(table([90.0]).drop("current_a"))
    assert "current_a" in problems[0].message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ["voltage"]}, "features must be"),
        ({"features": []}, "features must be"),
        ({"n_bins": 0}, "n_bins"),
        ({"windows_v": {"NMC/charge": (4.0, 3.9)}}, "low < high"),
    ],
)
def test_bad_configuration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(EstimationError, match=message):
        PartialChargeMethod(**kwargs)


def test_windows_follow_the_training_segments() -> None:
    covered = table([90.0, 80.0])
    assert choose_windows(covered)["NMC/charge"] == (3.85, 4.05)  # default covered by all
    late_start = table([90.0, 80.0], soc=(0.72, 0.99))  # starts above 3.85 V
    window = choose_windows(late_start)["NMC/charge"]
    assert window[0] > 3.85
    assert window[1] - window[0] == pytest.approx(0.2)  # the default's width, moved up
    method = PartialChargeMethod.for_samples(late_start)
    assert isinstance(method, PartialChargeMethod)
    assert method.check(late_start) == []


def _tester_file(tmp_path: Path) -> Path:
    from echelon.synth import capacity_test
    from echelon.synth.writers import write_arbin_csv_file
    from tests.diagnostics.protocols import cell as protocol_cell

    cell = protocol_cell(0.03, r1=0.02, r2=0.02, capacity=1.7, chem="NMC622")
    frame = capacity_test(
        cell, soc0=0.5, rate_c=0.5, nominal_capacity_ah=NOMINAL_AH, rng=np.random.default_rng(1)
    )
    path = tmp_path / "B1_capacity.csv"
    write_arbin_csv_file(frame, path, dt.datetime(2026, 12, 6, 8))
    return path


def test_reader_answers_only_when_asked(tmp_path: Path) -> None:
    path = _tester_file(tmp_path)
    # the registered reader must not take capacity or pulse tests meant for other readers
    assert read_partial_samples(path, ReadOptions("NMC622", NOMINAL_AH)) is None
    ask = SimpleNamespace(
        chemistry="NMC622", nominal_capacity_ah=NOMINAL_AH, method="partial_charge"
    )
    samples = read_partial_samples(path, ask)  # type: ignore[arg-type]
    assert samples is not None
    assert samples["direction"].to_list() == ["discharge", "charge", "discharge"]
    # the full CC discharge moves ≈ the true 1.7 Ah (the CC charge stops at 4.2 V, before CV)
    assert samples["capacity_ah"].list.last()[2] == pytest.approx(1.7, rel=0.03)
    pred_input = samples.filter(pl.col("direction") == "charge")
    assert PartialChargeMethod().check(pred_input) == []
    with pytest.raises(SchemaError, match="--nominal-capacity-ah"):
        read_partial_samples(
            path,
            SimpleNamespace(
                chemistry="NMC622",
                nominal_capacity_ah=None,  # type: ignore[arg-type]
                method="partial_charge",
            ),
        )
    not_a_tester_file = tmp_path / "notes.csv"
    not_a_tester_file.write_text("a,b\n1,2\n")
    assert read_partial_samples(not_a_tester_file, ask) is None  # type: ignore[arg-type]


# --- real data (../shared/datasets; skipped when absent) ---------------------------------------


@pytest.mark.real_data
def test_nasa_discharge_file_gives_one_sample_with_nasa_capacity(real_dataset: Dataset) -> None:
    from echelon.io import read

    folder = real_dataset("nasa")
    path = next((folder / "discharge" / "B0005").glob("dis_1_cap_*.csv"))
    stated = float(re.search(r"cap_([0-9.]+)\.csv", path.name).group(1))  # type: ignore[union-attr]
    samples = segment_samples(
        read(path)[0], chemistry="LCO", nominal_capacity_ah=2.0, cell_id="B0005", source=str(path)
    )
    assert samples["direction"].to_list() == ["discharge"]
    # NASA integrates to 2.7 V incl. the step from rest; our segment ends at the same cut-off
    assert samples["capacity_ah"].list.last()[0] == pytest.approx(stated, rel=0.01)
    assert PartialChargeMethod().check(samples) == []
    charge = next((folder / "charge_subset" / "B0005").glob("charge_1.csv"))
    cc = segment_samples(
        read(charge)[0],
        chemistry="LCO",
        nominal_capacity_ah=2.0,
        cell_id="B0005",
        directions=("charge",),
    )
    assert cc.height == 1
    assert cc["voltage_v"].list.max()[0] == pytest.approx(4.2, abs=0.03)  # CC ends at 4.2 V


@pytest.mark.real_data
def test_calce_window_capacity_falls_with_ageing(real_dataset: Dataset) -> None:
    from echelon.io import read

    folder = real_dataset("calce") / "CS2_35"
    method = PartialChargeMethod(features=["window"])
    means = []
    for name in ("CS2_35_8_30_10.xlsx", "CS2_35_1_28_11.xlsx"):  # early and late life
        samples = segment_samples(
            read(folder / name)[0],
            chemistry="LCO",
            nominal_capacity_ah=1.1,
            cell_id=name,
            directions=("charge",),
        )
        problems = method.check(samples)
        uncovered = {p.row for p in problems}
        assert all("window" in p.message or "fewer than" in p.message for p in problems)
        usable = samples.with_row_index().filter(~(pl.col("index") + 1).is_in(list(uncovered)))
        means.append(float(method.features(usable)[:, 0].mean()))
    # 0.5 C charge from 3.85 to 4.05 V: 0.52 × rated in the first weeks (measured 2026-12-06),
    # 0.15 × rated after ~800 cycles (SOH ≈ 30–40 %); bounds leave ±0.05 for reader changes
    assert 0.45 < means[0] < 0.6
    assert means[1] < 0.4 * means[0]


@pytest.mark.real_data
def test_nasa_unseen_cell_within_three_points(real_dataset: Dataset) -> None:
    from echelon.estimation.validation_partial import metrics, nasa_samples

    samples = nasa_samples(real_dataset("nasa").parent, every=6)
    model = fit_soh_model(samples.filter(pl.col("cell_id") != "B0007"), method="partial_charge")
    result = metrics(model, samples.filter(pl.col("cell_id") == "B0007"))
    # leave-one-cell-out RMSE of B0007 is 1.4 points at every 2nd discharge (validation table);
    # 3 points leaves room for the coarser subsample
    assert result["rmse_soh_points"] < 3.0
    assert result["n_samples"] == 28


@pytest.mark.real_data
def test_matr_subset_has_no_time_base(real_dataset: Dataset) -> None:
    from echelon.estimation.validation_partial import matr_check

    checks = dict(matr_check(real_dataset("matr_subset").parent).select("check", "value").rows())
    assert checks["cells"] == 43
    assert checks["usable for partial charge"] == 0.0
    assert checks["corr(4 C CC samples, capacity)"] < 0.9
