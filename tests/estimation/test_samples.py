"""The sample table's common columns: the plausible ranges and unit-mistake hints of all readers."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.errors import SchemaError
from echelon.estimation.readers import read_samples
from echelon.estimation.samples import validate_samples
from tests.estimation.synthetic_pulse import pulse_samples


def _with(table: pl.DataFrame, column: str, values: dict[int, float | None]) -> pl.DataFrame:
    """``table`` with ``column`` replaced at the given 0-based rows."""
    new = table.get_column(column).to_list()
    for row, value in values.items():
        new[row] = value
    return table.with_columns(pl.Series(column, new, dtype=pl.Float64))


@pytest.fixture
def table() -> pl.DataFrame:
    return pulse_samples(2, seed=1)


def test_an_soh_fraction_and_a_capacity_in_mah_name_the_mistake(
    table: pl.DataFrame, tmp_path: Path
) -> None:
    table = _with(table, "soh_percent", {1: 0.9, 2: 200.0})
    table = _with(table, "nominal_capacity_ah", {3: 200_000.0, 4: None})
    table = _with(table, "soc_percent", {5: 120.0})
    path = tmp_path / "samples.csv"
    table.write_csv(path)
    with pytest.raises(SchemaError) as info:
        validate_samples(read_samples(path), labelled=True, source=path)
    assert str(path) in str(info.value)
    assert {(p.row, p.column): p.message for p in info.value.problems} == {
        # the messages of the intake manifest and `echelon grade` (echelon.domain.plausible)
        (2, "soh_percent"): "0.9 outside the plausible range [1.5, 150] "
        "(wrong unit? SOH written as a fraction: write 90)",
        (3, "soh_percent"): "200 outside the plausible range [1.5, 150] (wrong unit?)",
        (4, "nominal_capacity_ah"): "200000 outside the plausible range [0.001, 100000] "
        "(wrong unit? mAh written as Ah: write 200)",
        (5, "nominal_capacity_ah"): "is empty: give the rated capacity [A·h]",
        # SOC's own range: its definition, no unit mistake to name
        (6, "soc_percent"): "120.0 is outside [0, 100]",
    }


def test_labels_are_required_only_to_train_and_checked_whenever_given(
    table: pl.DataFrame,
) -> None:
    unlabelled = _with(table, "soh_percent", {0: None})
    with pytest.raises(
        SchemaError, match=r"row 1, column 'soh_percent': is empty: give the measured"
    ):
        validate_samples(unlabelled, labelled=True)
    assert validate_samples(unlabelled).height == table.height
    with pytest.raises(SchemaError, match="SOH written as a fraction: write 85"):
        validate_samples(_with(table, "soh_percent", {0: 0.85}))


def test_soh_train_refuses_an_soh_fraction_naming_file_row_and_column(
    table: pl.DataFrame, tmp_path: Path
) -> None:
    bad = tmp_path / "train.csv"
    _with(table, "soh_percent", {2: 0.9}).write_csv(bad)
    result = CliRunner().invoke(app, ["soh", "train", str(bad), "-o", str(tmp_path / "m.npz")])
    assert result.exit_code == 3  # bad input, nothing trained
    text = " ".join(result.output.split())
    assert str(bad) in text
    assert (
        "row 3, column 'soh_percent': 0.9 outside the plausible range [1.5, 150] "
        "(wrong unit? SOH written as a fraction: write 90)" in text
    )
    assert not (tmp_path / "m.npz").exists()


def test_a_word_for_a_number_is_one_problem(table: pl.DataFrame) -> None:
    words = table.with_columns(pl.col("nominal_capacity_ah").cast(pl.String))
    words = words.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("twenty"))
        .otherwise(pl.col("nominal_capacity_ah"))
        .alias("nominal_capacity_ah")
    )
    with pytest.raises(SchemaError) as info:
        validate_samples(words)
    assert [(p.row, p.column, p.message) for p in info.value.problems] == [
        (1, "nominal_capacity_ah", "'twenty' is not a number")
    ]


def test_the_capacity_method_names_a_capacity_in_mah(tmp_path: Path) -> None:
    table = tmp_path / "caps.csv"
    pl.DataFrame(
        {
            "sample_id": ["a", "b", "c"],
            "chemistry": ["LFP"] * 3,
            "nominal_capacity_ah": [280.0] * 3,
            "measured_capacity_ah": [250.0, 250_000.0, None],
        }
    ).write_csv(table)
    result = CliRunner().invoke(app, ["soh", "predict", "--model", "capacity", str(table)])
    assert result.exit_code == 3
    text = " ".join(result.output.split())
    assert str(table) in text
    assert (
        "row 2, column 'measured_capacity_ah': 250000 outside the plausible range [0, 100000] "
        "(wrong unit? mAh written as Ah: write 250)" in text
    )
    assert "row 3, column 'measured_capacity_ah': is empty: give the measured capacity" in text


def test_a_european_spreadsheet_export_reads_like_the_plain_csv(
    table: pl.DataFrame, tmp_path: Path
) -> None:
    """';'-separated, decimal commas, a UTF-8 byte-order mark and CRLF (Excel in Europe): the
    same sample table as the plain CSV, typed the same way."""
    plain = tmp_path / "plain.csv"
    table.write_csv(plain)
    europe = tmp_path / "europe.csv"
    text = table.write_csv(separator=";").replace(".", ",").replace("\n", "\r\n")
    europe.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    read = read_samples(europe).drop("source")
    expected = read_samples(plain).drop("source")
    assert read.schema == expected.schema
    assert read.equals(expected)


def test_text_columns_of_a_sample_table_stay_text(table: pl.DataFrame, tmp_path: Path) -> None:
    """A column of codes or names (model 18650A, an operator) is kept as text, not refused as
    'a unit after the number'; the number columns are still typed."""
    path = tmp_path / "extra.csv"
    table.with_columns(pl.lit("18650A").alias("model"), pl.lit("Anna").alias("operator")).write_csv(
        path
    )
    read = read_samples(path)
    assert read.get_column("model").unique().to_list() == ["18650A"]
    assert read.schema["soh_percent"] == pl.Float64
