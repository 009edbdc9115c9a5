"""``echelon soh``: train → model file, evaluate with grouped splits, predict the CSV contract."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from tests.estimation.synthetic_pulse import pulse_samples, pulsebat_workbook

runner = CliRunner()


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("soh")
    train, new = folder / "train.csv", folder / "new.csv"
    pulse_samples(24, seed=0).write_csv(train)
    pulse_samples(4, seed=5, prefix="U").drop("soh_percent").write_csv(new)
    return train, new


@pytest.fixture(scope="module")
def trained(tables: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tmp_path_factory.mktemp("model") / "mine.soh.npz"
    result = runner.invoke(
        app, ["soh", "train", str(tables[0]), "--method", "pulse", "-o", str(model)]
    )
    assert result.exit_code == 0, result.output
    assert "NMC" in result.output
    return model


def test_predict_writes_the_contract_columns(
    trained: Path, tables: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "predictions.csv"
    result = runner.invoke(
        app, ["soh", "predict", "--model", str(trained), str(tables[1]), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    pred = pl.read_csv(out)
    assert pred.columns[:5] == [  # the contract's four first, in its order (cell_id was 2nd)
        "sample_id",
        "soh_percent",
        "soh_lower_percent",
        "soh_upper_percent",
        "cell_id",
    ]
    assert pred.height == 4 * 5
    assert (pred["soh_lower_percent"] <= pred["soh_upper_percent"]).all()


def test_predict_names_the_delivery(
    trained: Path, tables: tuple[Path, Path], tmp_path: Path
) -> None:
    # the same cells as a delivery the model was not trained on: out of domain by name
    out = tmp_path / "delivery.csv"
    args = ["soh", "predict", "--model", str(trained), str(tables[1]), "-o", str(out),
            "--batch", "delivery-7"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    pred = pl.read_csv(out)
    assert pred["out_of_domain"].all()
    assert pred["reason"].str.contains("batch delivery-7 was not in training").all()
    # a single-batch model knows no transfer error: no number, rather than a confident one
    assert pred["soh_percent"].null_count() == pred.height


def test_evaluate_with_a_split(trained: Path, tables: tuple[Path, Path], tmp_path: Path) -> None:
    metrics, plot = tmp_path / "metrics.csv", tmp_path / "parity.svg"
    args = ["soh", "evaluate", "--model", str(trained), str(tables[0]), "--split", "cells",
            "--folds", "3", "-o", str(metrics), "--plot", str(plot)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pl.read_csv(metrics)
    assert {"mape_percent", "rmse_points", "worst_points", "coverage", "mean_width_points"} <= set(
        table.columns
    )
    assert table.filter(pl.col("group") == "all")["n_cells"][0] == 24
    assert plot.read_text().startswith("<svg")


def test_shipped_models_are_listed_and_load() -> None:
    listed = runner.invoke(app, ["soh", "models"])
    assert listed.exit_code == 0, listed.output
    assert "pulse-u21" in listed.output
    assert "capacity" in listed.output
    card = runner.invoke(app, ["soh", "models", "pulse-u21"])
    assert card.exit_code == 0, card.output
    for family in ("LFP", "LMO", "NMC"):
        assert family in card.output


def test_capacity_model_is_the_reference(tmp_path: Path) -> None:
    table = tmp_path / "caps.csv"
    pl.DataFrame(
        {
            "sample_id": ["a"],
            "chemistry": ["LFP"],
            "nominal_capacity_ah": [100.0],
            "measured_capacity_ah": [82.0],
        }
    ).write_csv(table)
    out = tmp_path / "p.csv"
    result = runner.invoke(
        app, ["soh", "predict", "--model", "capacity", str(table), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    row = pl.read_csv(out).row(0, named=True)
    assert row["soh_percent"] == pytest.approx(82.0)
    assert row["soh_lower_percent"] == pytest.approx(82.0 * 0.99)  # catalogue: ±1 % of reading


def test_errors_have_exit_codes(trained: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pulse_samples(2, seed=1).drop("u3_v").write_csv(bad)
    result = runner.invoke(app, ["soh", "predict", "--model", str(trained), str(bad)])
    assert result.exit_code == 3
    assert "u3_v" in result.output
    assert str(bad) in "".join(result.output.split())  # the error names the file
    for split in ([], ["--split", "cells"]):  # evaluate names it too, with or without a split
        evaluated = runner.invoke(
            app, ["soh", "evaluate", "--model", str(trained), str(bad), *split]
        )
        assert evaluated.exit_code == 3
        assert str(bad) in "".join(evaluated.output.split())
    unknown = runner.invoke(app, ["soh", "predict", "--model", "no-such-model", str(bad)])
    assert unknown.exit_code == 2  # usage: a name not offered
    assert "pulse-u21" in unknown.output  # lists what is available
    missing = runner.invoke(
        app, ["soh", "predict", "--model", "capacity", str(tmp_path / "none.csv")]
    )
    assert missing.exit_code == 3
    assert "file not found" in missing.output


def test_evaluate_on_a_trained_batch_says_it_may_not_be_held_out(
    trained: Path, tables: tuple[Path, Path]
) -> None:
    """Scoring a model on its own training file must not be called held-out without a word."""
    result = runner.invoke(app, ["soh", "evaluate", "--model", str(trained), str(tables[0])])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output
    assert "trained on batch(es)" in result.output
    assert "held-out data" not in result.output


def test_a_word_in_a_workbook_number_cell_is_bad_input_naming_the_cell(
    trained: Path, tmp_path: Path
) -> None:
    """Was "internal error: InvalidOperationError … This is a bug" (exit 1) in every command."""
    samples = pulse_samples(4, seed=2, socs=(10.0, 20.0))
    bad = pulsebat_workbook(tmp_path / "bad.xlsx", samples, cells={("SOC10", 3, "U3"): "abc"})
    good = pulsebat_workbook(tmp_path / "good.xlsx", samples)
    out = str(tmp_path / "p.csv")
    commands = [
        ["soh", "predict", "--model", str(trained), str(bad), "-o", out],
        ["soh", "predict", "--model", str(trained), str(good), "--references", str(bad)],
        ["soh", "evaluate", "--model", str(trained), str(bad)],
        ["soh", "evaluate", "--model", str(trained), str(bad), "--split", "cells"],
        ["soh", "train", str(bad), "-o", str(tmp_path / "m.soh.npz")],
    ]
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exit_code == 3, (command, result.output)
        text = "".join(result.output.split())
        assert str(bad) in text
        assert "sheet'SOC10',spreadsheetrow3,column'U3':'abc'isnotanumber" in text
        assert "internal error" not in result.output


def test_a_model_option_that_is_not_a_model_file_says_how_to_get_one(
    tables: tuple[Path, Path],
) -> None:
    result = runner.invoke(app, ["soh", "predict", "--model", str(tables[0]), str(tables[1])])
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "not an Echelon SOH model file" in text
    assert "echelon soh train" in text
    assert "pulse-u21" in text
    assert "allow_pickle" not in text


def test_a_bad_reference_table_is_named(
    trained: Path, tables: tuple[Path, Path], tmp_path: Path
) -> None:
    """Errors in --references name that file (they said `<references>` before 2026-12-07)."""
    refs = tmp_path / "my-references.csv"
    frame = pulse_samples(10, seed=9, prefix="R")
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(500.0).otherwise(pl.col("soh_percent"))
        .alias("soh_percent")
    ).write_csv(refs)  # fmt: skip
    out = tmp_path / "p.csv"
    args = ["soh", "predict", "--model", str(trained), str(tables[1]), "-o", str(out),
            "--references", str(refs)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output
    assert "my-references.csv" in result.output
    assert "<references>" not in result.output
    assert not out.exists()


@pytest.mark.filterwarnings("default::echelon.errors.EchelonWarning")
def test_echelon_warnings_are_one_warning_line(trained: Path, tmp_path: Path) -> None:
    """An EchelonWarning was printed in Python's 'file.py:123: EchelonWarning: …' form."""
    samples = pulse_samples(4, seed=2, socs=(10.0, 20.0))
    book = pulsebat_workbook(tmp_path / "wb.xlsx", samples, random_sheet=True)
    result = runner.invoke(app, ["soh", "evaluate", "--model", str(trained), str(book)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "warning: " in text
    assert "sheet 'SOC TEST RANDOM' left out" in text
    assert "EchelonWarning" not in text
    assert ".py:" not in text
