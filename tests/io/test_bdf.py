"""BDF frames: validation errors name file, row and column; Parquet round trip keeps metadata."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from echelon.errors import ReaderError
from echelon.io import RunMetadata, read, read_run_metadata, validate_bdf, write_bdf_parquet
from echelon.io.bdf import CURRENT, TIME, VOLTAGE


def frame(n: int = 5) -> pl.DataFrame:
    return pl.DataFrame(
        {TIME: [float(i) for i in range(n)], VOLTAGE: [3.6] * n, CURRENT: [0.0] * n}
    )


def meta() -> RunMetadata:
    return RunMetadata(
        source_path="x.csv",
        source_sha256="0" * 64,
        reader="test",
        reader_version="1",
        instrument="Arbin BT2000",
        channel="7",
    )


def test_missing_required_column_is_named() -> None:
    with pytest.raises(ReaderError, match="column 'current_ampere': required BDF column missing"):
        validate_bdf(frame().drop(CURRENT), "f.csv")


def test_nan_and_null_rows_are_listed() -> None:
    bad = frame().with_columns(
        pl.when(pl.int_range(pl.len()) == 2)
        .then(float("nan"))
        .otherwise(pl.col(VOLTAGE))
        .alias(VOLTAGE)
    )
    with pytest.raises(ReaderError, match="row 3, column 'voltage_volt': missing or NaN"):
        validate_bdf(bad, "f.csv")


@pytest.mark.parametrize(
    ("times", "row", "kind"),
    [([0, 1, 1, 2], 3, "duplicated"), ([0, 2, 1, 3], 3, "going backwards")],
)
def test_time_must_increase(times: list[float], row: int, kind: str) -> None:
    bad = pl.DataFrame({TIME: times, VOLTAGE: [3.6] * 4, CURRENT: [0.0] * 4})
    with pytest.raises(ReaderError, match=f"row {row}, column 'test_time_second': time {kind}"):
        validate_bdf(bad, "f.csv")


def test_millivolts_written_as_volts_are_flagged() -> None:
    """One problem per column, counting every row, quoting the first few: not one line per row."""
    bad = frame().with_columns(pl.lit(3600.0).alias(VOLTAGE))
    with pytest.raises(ReaderError) as caught:
        validate_bdf(bad, "f.csv")
    problems = caught.value.problems
    assert len(problems) == 1
    assert problems[0].column == VOLTAGE
    assert f"{bad.height:,} of {bad.height:,} rows exceed" in problems[0].message
    assert "row 1: 3600.0" in problems[0].message
    assert "mV or mA as V or A?" in problems[0].message


def test_text_in_numeric_column_is_located() -> None:
    bad = pl.DataFrame({TIME: ["0", "1", "x"], VOLTAGE: [3.6] * 3, CURRENT: [0.0] * 3})
    with pytest.raises(ReaderError, match="row 3, column 'test_time_second': not a number"):
        validate_bdf(bad, "f.csv")


def test_empty_frame_is_refused() -> None:
    with pytest.raises(ReaderError, match="no data rows"):
        validate_bdf(frame(0), "f.csv")


def test_parquet_round_trip_keeps_data_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "run.bdf.parquet"
    digest = write_bdf_parquet(frame(), path, meta())
    assert len(digest) == 64
    stored = read_run_metadata(path)
    assert stored is not None
    assert stored.instrument == "Arbin BT2000"
    assert stored.channel == "7"
    back, back_meta = read(path)
    assert back.equals(frame())
    assert back_meta.reader == "test"


def test_bdf_csv_with_human_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "Test Time / s,Voltage / V,Current / A,Comment\n0,3.6,0\n1,3.7,1.5\n".replace(
            "\n0,3.6,0\n1,3.7,1.5", "\n0,3.6,0,a\n1,3.7,1.5,b"
        )
    )
    data, metadata = read(path)
    assert data.columns == [TIME, VOLTAGE, CURRENT]
    assert metadata.reader == "bdf_csv"
    assert metadata.unmapped_columns == ["Comment"]
