"""``echelon soh predict`` summarises, per cell, its several estimates (pulse blocks, SOC levels):
the median and the spread, labelled as a summary, not a calibrated interval; the CSV keeps one row
per sample (the contract)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from echelon.cli import app
from echelon.cli.soh_cmds import per_cell
from tests.estimation.synthetic_pulse import pulse_samples

runner = CliRunner()


def test_per_cell_gives_the_median_and_spread_of_cells_with_several_estimates() -> None:
    pred = pl.DataFrame(
        {
            "cell_id": ["A", "A", "A", "B", "C", "C"],
            "soh_percent": [80.0, 56.0, 88.0, 90.0, None, 70.0],
            "out_of_domain": [True, True, False, False, False, False],
        }
    )
    cells = per_cell(pred)
    assert cells.to_dicts() == [
        {
            "cell_id": "A",
            "estimates": 3,
            "median_soh_percent": 80.0,
            "lowest_soh_percent": 56.0,
            "highest_soh_percent": 88.0,
            "out_of_domain": 2,
        }
    ]  # B has one estimate, C one with a number: nothing to summarise


def test_predict_prints_the_per_cell_summary_and_keeps_a_row_per_sample(tmp_path: Path) -> None:
    train, table, model = tmp_path / "train.csv", tmp_path / "new.csv", tmp_path / "m.soh.npz"
    pulse_samples(24, seed=0).write_csv(train)
    pulse_samples(3, seed=5, prefix="U").drop("soh_percent").write_csv(table)
    trained = runner.invoke(
        app, ["soh", "train", str(train), "--method", "pulse", "-o", str(model)]
    )
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "pred.csv"
    result = runner.invoke(
        app, ["soh", "predict", "--model", str(model), str(table), "-o", str(out)],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "the median of its estimates and their spread — a summary, not a calibrated" in text
    pred = pl.read_csv(out)
    assert pred.height == 3 * 5  # one row per sample, as before
    medians = per_cell(pred)
    assert medians.height >= 1
    for row in medians.iter_rows(named=True):
        low, high = row["lowest_soh_percent"], row["highest_soh_percent"]
        assert f"{row['median_soh_percent']:.1f}" in text
        assert f"{low:.1f}–{high:.1f}" in text
        assert low <= row["median_soh_percent"] <= high
