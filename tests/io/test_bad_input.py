"""Bad input gives a ReaderError naming the file (and row/column where there is one): truncated
files, wrong separators, decimal commas, mixed units, time going backwards or repeating, NaNs,
empty files, binary garbage, a 2 GB file — and hypothesis mutates a valid file of every format."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from echelon.cli import app
from echelon.errors import EchelonError, ReaderError
from echelon.io import read
from echelon.io.bdf import CURRENT, TIME, VOLTAGE, write_bdf_csv
from echelon.io.convert import convert_to_bdf
from echelon.synth.writers import truncate_file, write_arbin_csv_file
from tests.io import formats
from tests.io.test_readers import sample_frame

TEXT_FORMATS = ["maccor_txt", "neware_csv", "neware_bts7_csv", "biologic_mpt", "bitrode_csv"]


def bdf_text(times: list[float], volts: list[str], amps: list[float]) -> str:
    rows = [f"{t},{v},{i}" for t, v, i in zip(times, volts, amps, strict=True)]
    return "\n".join([f"{TIME},{VOLTAGE},{CURRENT}", *rows]) + "\n"


@pytest.mark.parametrize("name", TEXT_FORMATS)
@pytest.mark.parametrize("fraction", [0.3, 0.55, 0.8])
def test_truncated_vendor_file_is_named(name: str, fraction: float, tmp_path: Path) -> None:
    filename, writer = formats.WRITERS[name]
    path = tmp_path / filename
    writer(sample_frame(), path)
    truncate_file(path, fraction)
    try:
        data, _ = read(path)
    except ReaderError as exc:
        message = str(exc)
        assert path.name in message, message
        assert "truncated" in message or "row" in message, message
        return
    # a cut inside a trailing field the reader does not store loses nothing it converts:
    # every row read equals the original
    original = sample_frame().head(data.height)
    assert data[VOLTAGE].to_list() == pytest.approx(original[VOLTAGE].to_list(), abs=1e-4)
    assert data.height < sample_frame().height


def test_truncated_workbook(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    formats.arbin_xlsx(sample_frame(), path)
    truncate_file(path, 0.5)
    with pytest.raises(ReaderError, match=r"a\.xlsx") as caught:
        read(path)
    # said as such since 2026-12-07 (was "no reader recognises this file")
    assert "not a readable .xlsx workbook: a zip archive cut short" in str(caught.value)
    assert "truncated or corrupt" in str(caught.value)


def test_a_csv_under_an_xlsx_name_is_said_to_be_one(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    path.write_text(bdf_text([0.0, 1.0], ["3.6", "3.6"], [0.0, 0.0]))
    with pytest.raises(ReaderError, match=r"does not start like a workbook .*a CSV: rename it"):
        read(path)


def test_more_missing_values_than_listed_are_counted(tmp_path: Path) -> None:
    """Twenty problems are listed; the rest are counted per column, not left unsaid."""
    path = tmp_path / "c.csv"
    times = [float(t) for t in range(50)]
    path.write_text(bdf_text(times, ["3.6"] * 10 + ["nan"] * 40, [0.0] * 50))
    with pytest.raises(ReaderError) as caught:
        read(path)
    problems = caught.value.problems
    assert len(problems) == 21
    assert problems[-1].column == VOLTAGE
    assert problems[-1].message.startswith("… 40 of 50 rows in all have no value or NaN here")


HEADER = f"{TIME},{VOLTAGE},{CURRENT}"
BAD_TEXT = [
    pytest.param(
        f"{HEADER}\n0;3.6;0\n1;3.6;0\n", "row 1: 1 field where the header has 3", id="separator"
    ),
    pytest.param(
        f"{HEADER}\n0,3,61,0\n1,3,62,0\n",
        "decimal commas in a comma-separated file",
        id="decimal-comma",
    ),
    pytest.param(
        bdf_text([0, 1, 2], ["3.6", "3600", "3.6"], [0, 0, 0]),
        r"column 'voltage_volt': 1 of 3 rows exceed \|2000.0\| \(row 2: 3600.0\): a unit",
        id="millivolts-among-volts",
    ),
    pytest.param(
        bdf_text([0, 1, 1, 2], ["3.6"] * 4, [0.0] * 4),
        "row 3, column 'test_time_second': time duplicated",
        id="duplicated-time",
    ),
    pytest.param(
        bdf_text([0, 2, 1, 3], ["3.6"] * 4, [0.0] * 4),
        "row 3, column 'test_time_second': time going backwards",
        id="time-backwards",
    ),
    pytest.param(
        bdf_text([0, 1, 2], ["3.6", "nan", "3.6"], [0, 0, 0]),
        "row 2, column 'voltage_volt': missing or NaN",
        id="nan",
    ),
    pytest.param(
        bdf_text([0, 1, 2], ["3.6", "3.6", "3.6V"], [0, 0, 0]),
        r"row 3, column 'voltage_volt': '3.6V' is not a number",
        id="text-in-numbers",
    ),
    pytest.param(f"{HEADER}\n", "no data rows", id="header-only"),
    pytest.param("", "empty", id="empty"),
]


@pytest.mark.parametrize(("text", "match"), BAD_TEXT)
def test_bad_text_is_located(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ReaderError, match=match) as info:
        read(path)
    assert "bad.csv" in str(info.value)


def test_semicolons_with_decimal_commas_are_read(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text(f"{TIME};{VOLTAGE};{CURRENT}\n0;3,61;0\n1;3,62;-1,5\n")
    data, _ = read(path)
    assert data[VOLTAGE].to_list() == [3.61, 3.62]
    assert data[CURRENT].to_list() == [0.0, -1.5]


def test_two_gigabyte_file_fails_fast_without_reading_it(tmp_path: Path) -> None:
    """A 2 GB file (sparse: no disk used) whose body is NUL bytes after a valid text head."""
    path = tmp_path / "huge.csv"
    data = sample_frame()
    while data.height < 4000:  # > 64 KiB of valid lines, so the head looks fine
        data = pl.concat([data, data.with_columns(pl.col(TIME) + data[TIME].max() + 1)])
    write_bdf_csv(data, path)
    with path.open("r+b") as fh:
        fh.truncate(2 * 1024**3)
    assert path.stat().st_size == 2 * 1024**3
    with pytest.raises(ReaderError, match=r"binary data \(NUL bytes\) at byte"):
        read(path)
    big_book = tmp_path / "huge.xlsx"
    formats.arbin_xlsx(sample_frame(), big_book)
    with big_book.open("r+b") as fh:
        fh.truncate(2 * 1024**3)
    with pytest.raises(ReaderError, match="export the data sheet as CSV"):
        read(big_book)


def test_binary_garbage_with_a_text_suffix(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(os.urandom(3000) + b"\x00" * 10)
    with pytest.raises(ReaderError, match=r"garbage\.csv"):
        read(path)


def test_cli_reports_bad_input_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(bdf_text([0, 2, 1], ["3.6"] * 3, [0.0] * 3))
    result = CliRunner().invoke(app, ["read", str(path), "-o", str(tmp_path / "o.bdf.parquet")])
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    assert not (tmp_path / "o.bdf.parquet").exists()


def test_streaming_conversion_leaves_nothing_behind_on_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(bdf_text([0, 1, 1], ["3.6"] * 3, [0.0] * 3))
    with pytest.raises(ReaderError, match="duplicated"):
        convert_to_bdf(path, tmp_path / "out" / "x.bdf.parquet")
    assert list((tmp_path / "out").iterdir()) == []


# ---- fuzzing: mutate a valid file of every format ------------------------------------------


@functools.cache
def valid_bytes(name: str) -> tuple[str, bytes]:
    """A valid small file of a format (written once per session)."""
    folder = Path(os.environ.get("PYTEST_TMPDIR", "/tmp")) / f"echelon-fuzz-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    frame = sample_frame().head(120)
    if name == "bdf_csv":
        path = folder / "a.csv"
        write_bdf_csv(frame, path)
    elif name == "arbin_csv":
        path = folder / "a_arbin.csv"
        write_arbin_csv_file(frame, path, formats.START)
    else:
        filename, writer = formats.WRITERS[name]
        path = folder / f"{name}_{filename}"
        writer(frame, path)
    return path.suffix, path.read_bytes()


ALL_FORMATS = sorted({*formats.WRITERS, "bdf_csv", "arbin_csv"})


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str, bytes]:
    name = draw(st.sampled_from(ALL_FORMATS))
    suffix, data = valid_bytes(name)
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "drop_line", "dup_line"]))
    n = len(data)
    if kind == "truncate":
        data = data[: draw(st.integers(1, n - 1))]
    elif kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, n - 1))
            data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    elif kind == "insert":
        i = draw(st.integers(0, n))
        data = data[:i] + draw(st.binary(min_size=1, max_size=40)) + data[i:]
    else:
        lines = data.split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        lines = (
            lines[:i] + lines[i + 1 :]
            if kind == "drop_line"
            else [*lines[:i], lines[i], *lines[i:]]
        )
        data = b"\n".join(lines)
    return name, suffix, data


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=mutated())
def test_fuzz_every_reader_fails_only_with_reader_errors(
    tmp_path: Path, case: tuple[str, str, bytes]
) -> None:
    name, suffix, data = case
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    for forced in (None, name):
        try:
            frame, _ = read(path, reader=forced)
        except EchelonError:
            continue
        assert frame.height > 0


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    """A NASA PCoE file without its voltage column: detection names the closest format and what
    its header lacks; forcing that reader says which column is missing."""
    path = tmp_path / "dis_1.csv"
    path.write_text(
        "current,temperature,current_load,voltage_load,discharge_time\n"
        "-0.004,24.27,0.0006,0.0,0.0\n-2.01,24.3,2.0,3.1,9.4\n"
    )
    with pytest.raises(ReaderError, match="closest: nasa_pcoe_csv, whose header lacks voltage"):
        read(path)
    with pytest.raises(ReaderError, match=r"not found \(missing: voltage\)"):
        read(path, reader="nasa_pcoe_csv")
