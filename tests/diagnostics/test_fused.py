"""The fused numba kernel (``echelon[fast]``) against the numpy kernel it replaces."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echelon.diagnostics import _fused, step_table
from echelon.errors import ConfigError
from echelon.io import read
from tests.diagnostics.test_diagnostics import random_rows, row_splits, split_rows

needs_numba = pytest.mark.skipif(
    importlib.util.find_spec("numba") is None,
    reason="numba not installed (pip install 'echelon[fast]'): the numpy kernel is used",
)


def tables(
    data: pl.DataFrame, monkeypatch: pytest.MonkeyPatch, **options: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The step table by the numpy kernel and by the fused kernel."""
    monkeypatch.setenv(_fused.KERNEL_ENV, "numpy")
    reference = step_table(data, **options)  # type: ignore[arg-type]
    monkeypatch.setenv(_fused.KERNEL_ENV, "numba")
    return reference, step_table(data, **options)  # type: ignore[arg-type]


def assert_same(reference: pl.DataFrame, fused: pl.DataFrame) -> None:
    """Same rows and columns; integers and labels equal, floats equal to rounding (the fused
    kernel sums in row order, ``np.add.reduceat`` pairwise; 1e-12 relative is ~5000 ulp, and
    the absolute 1e-15 covers sums that cancel to zero)."""
    assert reference.columns == fused.columns
    assert reference.height == fused.height
    for name in reference.columns:
        left, right = reference.get_column(name), fused.get_column(name)
        if left.dtype.is_float():
            np.testing.assert_allclose(
                right.to_numpy(), left.to_numpy(), rtol=1e-12, atol=1e-15, err_msg=name
            )
        else:
            assert left.equals(right), name


@needs_numba
@row_splits
def test_fused_kernel_equals_numpy_kernel(
    currents: list[float], threads: int, min_rows: int, transitions: str
) -> None:
    """Any currents, any split of the rows over threads (segments cut by a chunk edge are
    merged), every transition rule: the numpy kernel's table."""
    data = random_rows(currents)
    with pytest.MonkeyPatch.context() as patch, split_rows(threads, min_rows):
        reference, fused = tables(data, patch, transitions=transitions)
    assert_same(reference, fused)


@needs_numba
def test_fused_kernel_skips_missing_temperatures_like_numpy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Missing temperatures (NaN or null) are skipped by both kernels alike — also when the
    segment is cut by a chunk edge, and when one part of it has no sample at all."""
    data = random_rows([1.5] * 30 + [-2.0] * 30).drop("step_id", "cycle_count")  # 2 segments
    temperature = data["surface_temperature_celsius"].to_numpy().copy()
    temperature[[5, 44]] = np.nan
    temperature[20:30] = np.nan  # the second chunk's part of the first segment
    data = data.with_columns(pl.Series("surface_temperature_celsius", temperature))
    for frame in (data, data.with_columns(pl.col("surface_temperature_celsius").fill_nan(None))):
        with split_rows(3, 20):
            reference, fused = tables(frame, monkeypatch)
        assert reference["n_temperature_points"].to_list() == [19, 29]
        assert reference["min_temperature_c"].is_nan().sum() == 0
        assert reference["min_temperature_c"][0] == pytest.approx(np.nanmin(temperature[:30]))
        assert_same(reference, fused)


@needs_numba
def test_fused_kernel_on_a_real_arbin_file(
    monkeypatch: pytest.MonkeyPatch, real_dataset: Callable[[str], Path]
) -> None:
    """A real CALCE CS2_35 Arbin workbook (../shared/datasets), under every transition rule."""
    data, _ = read(real_dataset("calce") / "CS2_35" / "CS2_35_10_15_10.xlsx")
    for transitions in ("hold", "trapezoid", "exclude"):
        reference, fused = tables(data, monkeypatch, transitions=transitions)
        assert reference.height > 50
        assert_same(reference, fused)


def test_kernel_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ECHELON_KERNEL=numpy`` turns the fused kernel off, ``numba`` on at any size (or says
    how to install it); by default a process loads it only for a very large input, and uses it
    from a million rows once loaded."""
    huge, large, small = _fused.AUTO_MIN_ROWS, _fused.WARM_MIN_ROWS, _fused.WARM_MIN_ROWS - 1
    monkeypatch.setattr(_fused, "_numpy_rows", 0)
    monkeypatch.setenv(_fused.KERNEL_ENV, "numpy")
    assert not _fused.use_fused(huge)
    monkeypatch.setenv(_fused.KERNEL_ENV, "fortran")
    with pytest.raises(ConfigError, match="'numpy', 'numba' or 'auto'"):
        _fused.use_fused(huge)
    monkeypatch.delenv(_fused.KERNEL_ENV)
    have_numba = importlib.util.find_spec("numba") is not None
    assert _fused.use_fused(huge) is have_numba
    assert not _fused.use_fused(small)
    monkeypatch.setattr(_fused, "_compiled", _Loaded(loaded=False))
    assert not _fused.use_fused(large)
    monkeypatch.setattr(_fused, "_compiled", _Loaded(loaded=True))
    assert _fused.use_fused(large) is have_numba
    # not loaded, but the process has summarised enough large inputs to repay loading it
    monkeypatch.setattr(_fused, "_compiled", _Loaded(loaded=False))
    monkeypatch.setattr(_fused, "_numpy_rows", 0)
    if have_numba:
        calls = [_fused.use_fused(large) for _ in range(huge // large + 1)]
        assert not calls[0]
        assert calls[-1]  # switched by itself once 50 M rows of large inputs went through numpy
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert not _fused.use_fused(huge)
    monkeypatch.setenv(_fused.KERNEL_ENV, "numba")
    with pytest.raises(ConfigError, match=r"echelon\[fast\]"):
        _fused.use_fused(small)


class _Loaded:
    """Stands in for the cached ``_compiled``: whether the kernel is loaded in the process."""

    def __init__(self, *, loaded: bool) -> None:
        self.loaded = loaded

    def cache_info(self) -> functools._CacheInfo:
        return functools._CacheInfo(0, 0, None, int(self.loaded))


@needs_numba
def test_kernel_calls_are_bounded_in_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long chunks are cut into kernel calls of at most KERNEL_ROWS rows; the pieces are
    merged into the same table."""
    data = random_rows([1.5] * 40 + [0.0] * 7 + [-2.0] * 50 + [0.003] * 3)
    monkeypatch.setattr(_fused, "KERNEL_ROWS", 6)
    with split_rows(2, 10):
        reference, fused = tables(data, monkeypatch)
    assert_same(reference, fused)
