"""``echelon read FILE -o OUT.parquet`` on a disk that fills: exit 2 naming OUT, no partial file,
an earlier OUT as it was.

The disk is filled for real (``RLIMIT_FSIZE``: a write past the limit fails with ``EFBIG``), so
the failure reaches polars' Parquet writer as a full disk does. Before 2026-12-07 polars' error
was taken for the tester file's: *"could not parse the data"*, exit 3, blaming the input.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app

resource = pytest.importorskip("resource")  # POSIX
runner = CliRunner()
LIMIT_BYTES = 16_384
"""Largest file the process may write while the disk is "full" (the converted file is larger)."""
EARLIER = b"an earlier conversion"


@contextmanager
def _files_limited_to(size_bytes: int) -> Iterator[None]:
    """Writes past ``size_bytes`` in any file fail with ``EFBIG`` (no SIGXFSZ: ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def _tester_file(tmp_path: Path) -> Path:
    """A BDF CSV whose Parquet conversion is far larger than :data:`LIMIT_BYTES`."""
    rng = np.random.default_rng(0)
    n = 20_000
    path = tmp_path / "cell.csv"
    pl.DataFrame(
        {
            "test_time_second": np.arange(n, dtype=float),
            "voltage_volt": 3.6 + rng.normal(0, 0.01, n),
            "current_ampere": rng.normal(0, 1, n),
        }
    ).write_csv(path)
    return path


def test_a_conversion_not_written_names_the_output_and_leaves_the_earlier_one(
    tmp_path: Path,
) -> None:
    source = _tester_file(tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "cell.bdf.parquet"
    out.write_bytes(EARLIER)
    with _files_limited_to(LIMIT_BYTES):
        result = runner.invoke(app, ["read", str(source), "-o", str(out)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"could not write {out}: File too large" in text
    assert "could not parse" not in text
    assert "internal error" not in text
    assert out.read_bytes() == EARLIER
    assert [p.name for p in folder.iterdir()] == [out.name]  # no partial file
    written = runner.invoke(app, ["read", str(source), "-o", str(out)])
    assert written.exit_code == 0, written.output
    assert pl.read_parquet(out).height == 20_000
