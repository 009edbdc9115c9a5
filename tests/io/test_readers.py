"""Every reader through the same contract, Arbin exports from the simulator, and fuzzing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from echelon.errors import ReaderError
from echelon.io import RunMetadata, available_readers, detect_reader, get_reader, read
from echelon.io.bdf import CURRENT, TIME, VOLTAGE, write_bdf_csv, write_bdf_parquet
from echelon.synth import pulse_test
from echelon.synth.writers import truncate_file, write_arbin_csv_file
from tests.diagnostics.protocols import cell


def sample_frame() -> pl.DataFrame:
    params = cell(0.03, r1=0.02, r2=0.02)
    return pulse_test(params, soc0=0.5, nominal_capacity_ah=2.0, rng=np.random.default_rng(1))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    data = sample_frame()
    paths = {
        "bdf_csv": tmp_path / "a.bdf.csv",
        "bdf_parquet": tmp_path / "a.bdf.parquet",
        "arbin_csv": tmp_path / "a_arbin.csv",
    }
    write_bdf_csv(data, paths["bdf_csv"])
    write_bdf_parquet(
        data,
        paths["bdf_parquet"],
        RunMetadata(source_path="a", source_sha256="0" * 64, reader="bdf_csv", reader_version="0"),
    )
    write_arbin_csv_file(data, paths["arbin_csv"], dt.datetime(2026, 11, 22, 8))
    return paths


@pytest.mark.parametrize("name", ["bdf_csv", "bdf_parquet", "arbin_csv"])
def test_reader_contract(name: str, files: dict[str, Path]) -> None:
    reader = get_reader(name)
    assert reader.can_read(files[name])
    assert detect_reader(files[name]).name == name
    lazy, meta = reader.read(files[name])
    assert isinstance(lazy, pl.LazyFrame)
    assert isinstance(meta, RunMetadata)
    data, _ = read(files[name])
    original = sample_frame()
    assert data.height == original.height
    # converted values agree with what was written (CSV keeps 6 decimals)
    for column in (TIME, VOLTAGE, CURRENT):
        assert np.allclose(data[column].to_numpy(), original[column].to_numpy(), atol=1e-5)


def test_other_readers_decline(files: dict[str, Path]) -> None:
    for reader in available_readers():
        for name, path in files.items():
            if name != reader.name and {name, reader.name} != {"bdf_csv", "arbin_csv"}:
                assert not reader.can_read(path), (reader.name, name)


def test_arbin_date_time_becomes_unix_time(files: dict[str, Path]) -> None:
    data, meta = read(files["arbin_csv"])
    assert meta.instrument == "Arbin"
    assert "unix_time_second" in data.columns
    assert data["unix_time_second"][0] == pytest.approx(
        dt.datetime(2026, 11, 22, 8, tzinfo=dt.UTC).timestamp(), abs=2.0
    )


def test_truncated_file_reports_its_last_row(files: dict[str, Path]) -> None:
    truncate_file(files["arbin_csv"], 0.6)
    with pytest.raises(ReaderError, match=r"a_arbin\.csv") as info:
        read(files["arbin_csv"])
    assert "looks truncated" in str(info.value)


def test_missing_empty_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="file not found"):
        read(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ReaderError, match="empty"):
        read(tmp_path / "empty.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ReaderError, match="no reader recognises"):
        read(tmp_path / "other.csv")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    garbage=st.binary(min_size=1, max_size=600),
    suffix=st.sampled_from([".csv", ".parquet", ".txt"]),
)
def test_fuzz_garbage_gives_reader_error(tmp_path: Path, garbage: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(garbage)
    with pytest.raises(ReaderError):
        read(path)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.floats(min_value=0.05, max_value=0.95), name=st.sampled_from(["bdf_csv", "arbin_csv"])
)
def test_fuzz_truncation_never_crashes(tmp_path: Path, cut: float, name: str) -> None:
    data = sample_frame().head(300)
    path = tmp_path / f"t_{name}.csv"
    if name == "bdf_csv":
        write_bdf_csv(data, path)
    else:
        write_arbin_csv_file(data, path, dt.datetime(2026, 1, 1))
    truncate_file(path, cut)
    try:
        result, _ = read(path)
    except ReaderError:
        return
    # a cut exactly at a line end leaves a shorter but valid file
    assert 0 < result.height <= data.height


def test_file_digests_are_remembered_but_never_stale(tmp_path: Path) -> None:
    """A remembered digest is reused only for the same path, size and modification time."""
    import hashlib
    import os

    from echelon.io.base import sha256_file

    path = tmp_path / "run.csv"
    path.write_bytes(b"a" * 1000)
    first = sha256_file(path)
    assert first == hashlib.sha256(b"a" * 1000).hexdigest()
    assert sha256_file(path) == first
    stat = path.stat()
    path.write_bytes(b"b" * 1000)  # same size, new content, then a later mtime
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert sha256_file(path) == hashlib.sha256(b"b" * 1000).hexdigest()


def test_a_folder_is_named_as_one_with_what_it_holds(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    with pytest.raises(ReaderError, match=r"is a folder, not a tester file \(it is empty\)"):
        read(tmp_path / "tests")
    (tmp_path / "tests" / "b.csv").write_text("x")
    (tmp_path / "tests" / "a.csv").write_text("x")
    with pytest.raises(ReaderError) as info:
        read(tmp_path / "tests")
    assert "it holds 2 file(s), e.g. 'a.csv'): give one file inside it" in str(info.value)
    assert "not found" not in str(info.value)
