"""The per-segment reductions of :func:`echelon.diagnostics.segments.segment_table` fused into one
compiled pass over the rows (numba, optional: ``pip install 'echelon[fast]'``).

The numpy kernel makes about 25 passes over row-sized arrays (mode, boundaries, increments, eleven
``reduceat``); these passes are memory-bound, so a per-cycle summary of 10 M rows spends ≈ 0.16 s in
them (docs/performance.md). Here every row is read once: its mode, whether it starts a segment, its
charge and energy increment, and its contribution to the open segment's sums and extremes. Rows are
split into chunks run on threads (the kernel releases the GIL); a segment cut by a chunk edge is
merged afterwards (sums add, extremes combine). The result equals the numpy kernel's to rounding:
sums are accumulated in row order, ``np.add.reduceat`` sums pairwise (tested with a relative
tolerance of 1e-12).

Nothing is compiled at import: numba is imported and the kernel compiled (then cached on disk) on
first use. :func:`use_fused` decides, per call, which kernel runs.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from functools import cache
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from echelon._parallel import row_chunks, run_chunks
from echelon.errors import ConfigError
from echelon.io.bdf import CURRENT, SURFACE_T, TIME, VOLTAGE

F64 = NDArray[np.float64]
KERNEL_ENV: Final = "ECHELON_KERNEL"
"""Environment variable that forces a kernel: ``numpy`` or ``numba`` (default: numba when
installed)."""
TRANSITION_CODES: Final = {"hold": 0, "trapezoid": 1, "exclude": 2}
SUM_FIELDS: Final = (
    "charge_ah",
    "discharge_ah",
    "charge_wh",
    "discharge_wh",
    "_current_sum",
    "_temperature_sum",
    "_temperature_count",
)
MIN_FIELDS: Final = ("min_voltage_v", "min_temperature_c")
MAX_FIELDS: Final = ("max_voltage_v", "max_temperature_c")
KERNEL_ROWS: Final = 1 << 22
"""Rows per kernel call (4.2 M): its output is allocated for a segment per row and only the
pages written are committed, so this bounds the address space reserved, not the memory used."""
FIELDS: Final = SUM_FIELDS + MIN_FIELDS + MAX_FIELDS
"""Rows of the kernel's output table, in order."""


AUTO_MIN_ROWS: Final = 50_000_000
"""Unless ``ECHELON_KERNEL`` says otherwise, a process loads the fused kernel for an input of this
many rows: importing numba and loading the cached kernel cost ≈ 0.3 s once per process (1.5 s to
compile on a cold cache), and the fused pass saves ≈ 3–10 ms per million rows over the numpy
kernel (docs/performance.md, 2026-12-07): a one-off summary repays the import from about here."""
WARM_MIN_ROWS: Final = 1_000_000
"""Once the kernel is loaded in the process, it is used from this many rows (below, the numpy
kernel's passes are too short for the difference to matter)."""
_numpy_rows = 0
"""Rows of large inputs (≥ :data:`WARM_MIN_ROWS`) this process has segmented with the numpy
kernel: once they add up to :data:`AUTO_MIN_ROWS`, the process has shown it summarises enough to
repay loading the fused kernel (a service or batch job), and loads it."""


def use_fused(rows: int) -> bool:
    """Whether a segmentation of ``rows`` rows runs the fused kernel.

    ``ECHELON_KERNEL=numpy``: never; ``ECHELON_KERNEL=numba``: always (an error names the extra
    to install when numba is missing); unset or ``auto``: when numba is installed and ``rows`` ≥
    :data:`AUTO_MIN_ROWS`, or ≥ :data:`WARM_MIN_ROWS` once the kernel is loaded in this process or
    the process has already segmented :data:`AUTO_MIN_ROWS` rows of large inputs with numpy (a
    service or batch job summarising many large files switches by itself).
    """
    choice = os.environ.get(KERNEL_ENV, "").strip().lower()
    if choice == "numpy":
        return False
    if choice not in ("", "auto", "numba"):
        raise ConfigError(f"{KERNEL_ENV}={choice!r}: use 'numpy', 'numba' or 'auto'")
    found = importlib.util.find_spec("numba") is not None
    if choice == "numba" and not found:
        raise ConfigError(
            f"{KERNEL_ENV}=numba but numba is not installed: pip install 'echelon[fast]'"
        )
    if choice == "numba":
        return True
    global _numpy_rows
    loaded = _compiled.cache_info().currsize > 0
    busy = _numpy_rows >= AUTO_MIN_ROWS  # many large inputs already: the import pays off
    if found and rows >= (WARM_MIN_ROWS if loaded or busy else AUTO_MIN_ROWS):
        return True
    if rows >= WARM_MIN_ROWS:
        _numpy_rows += rows
    return False


def _kernel_source(
    t: F64,
    v: F64,
    i: F64,
    temp: F64,
    k1: NDArray[Any],
    k2: NDArray[Any],
    threshold: float,
    transitions: int,
    a: int,
    b: int,
) -> tuple[NDArray[np.int64], NDArray[np.int8], F64]:
    """Segments of rows [a, b) (row a compared with row a − 1): their first rows, modes and a
    ``(len(FIELDS), segments)`` table of sums and extremes. Compiled by :func:`_compiled`; the
    arrays ``temp``, ``k1``, ``k2`` are empty when the file has no such column."""
    has_temp, has_k1, has_k2 = temp.size > 0, k1.size > 0, k2.size > 0
    rows = b - a
    starts = np.empty(rows, np.int64)  # over-allocated: untouched pages are never committed
    modes = np.empty(rows, np.int8)
    out = np.empty((len(FIELDS), rows))
    k = -1
    q_pos = q_neg = e_pos = e_neg = i_sum = t_sum = t_count = 0.0
    v_min = v_max = t_min = t_max = 0.0
    before = max(a - 1, 0)  # the previous row (row 0 has no interval: its increments are 0)
    x_prev, t_prev, v_prev = i[before], t[before], v[before]
    mode_prev = (x_prev > threshold) - (x_prev < -threshold)
    for r in range(a, b):
        x, time_s, y = i[r], t[r], v[r]
        mode = (x > threshold) - (x < -threshold)
        first = (r == 0) | (mode != mode_prev)  # bitwise: no branches in the common case
        if has_k1:
            first |= (r > 0) & (k1[r] != k1[r - 1])
        if has_k2:
            first |= (r > 0) & (k2[r] != k2[r - 1])
        dt = time_s - t_prev
        dq = dt * ((x + x_prev) * (0.5 / 3600.0))  # trapezoid A·h
        de = ((y + v_prev) * 0.5) * dq  # W·h
        if first or k < 0:
            if first and r == 0:
                dq = de = 0.0
            elif first and transitions == 0:  # hold: at the new segment's first sample
                dq = x * dt / 3600.0
                de = y * dq
            elif first and transitions == 2:  # exclude
                dq = de = 0.0
            if k >= 0:
                out[0, k], out[1, k], out[2, k], out[3, k] = q_pos, q_neg, e_pos, e_neg
                out[4, k], out[5, k], out[6, k] = i_sum, t_sum, t_count
                out[7, k], out[8, k], out[9, k], out[10, k] = v_min, t_min, v_max, t_max
            k += 1
            starts[k], modes[k] = r, mode
            q_pos = q_neg = e_pos = e_neg = i_sum = t_sum = t_count = 0.0
            v_min = v_max = y
            if has_temp:
                t_min = t_max = temp[r]
        q_pos += max(dq, 0.0)
        q_neg += max(-dq, 0.0)
        e_pos += max(de, 0.0)
        e_neg += max(-de, 0.0)
        i_sum += x
        # voltage extremes as np.minimum/np.maximum: a NaN sticks
        v_min = y if (y < v_min or y != y) else v_min
        v_max = y if (y > v_max or y != y) else v_max
        if has_temp:  # temperature as np.fmin/np.fmax: a missing (NaN) sample is skipped
            z = temp[r]
            if z == z:
                t_sum += z
                t_count += 1.0
                t_min = z if (z < t_min or t_min != t_min) else t_min
                t_max = z if (z > t_max or t_max != t_max) else t_max
        mode_prev, x_prev, t_prev, v_prev = mode, x, time_s, y
    if k >= 0:
        out[0, k], out[1, k], out[2, k], out[3, k] = q_pos, q_neg, e_pos, e_neg
        out[4, k], out[5, k], out[6, k] = i_sum, t_sum, t_count
        out[7, k], out[8, k], out[9, k], out[10, k] = v_min, t_min, v_max, t_max
    n_seg = k + 1
    return starts[:n_seg].copy(), modes[:n_seg].copy(), out[:, :n_seg].copy()


@cache
def _compiled() -> Callable[..., tuple[NDArray[np.int64], NDArray[np.int8], F64]]:
    """The kernel compiled with numba (cached on disk; nopython, releases the GIL)."""
    import numba  # optional dependency, imported on first use

    return numba.njit(nogil=True, cache=True)(_kernel_source)


def _merge(
    parts: list[tuple[NDArray[np.int64], NDArray[np.int8], F64]], continued: list[bool]
) -> tuple[NDArray[np.int64], NDArray[np.int8], F64]:
    """Join chunk results in order; where a chunk's first row continues the previous chunk's
    last segment (``continued``), that partial segment is folded into it."""
    starts, modes, tables = [parts[0][0]], [parts[0][1]], [parts[0][2]]
    n_sum, n_min = len(SUM_FIELDS), len(SUM_FIELDS) + len(MIN_FIELDS)
    for (s, m, table), joined in zip(parts[1:], continued[1:], strict=True):
        if joined and s.size:
            last, head = tables[-1][:, -1], table[:, 0]  # ``last`` is a view: updated in place
            last[:n_sum] += head[:n_sum]
            # voltage: a NaN sticks (np.minimum); temperature: a part without samples is
            # skipped (np.fmin), as in the kernel
            last[n_sum] = np.minimum(last[n_sum], head[n_sum])
            last[n_sum + 1] = np.fmin(last[n_sum + 1], head[n_sum + 1])
            last[n_min] = np.maximum(last[n_min], head[n_min])
            last[n_min + 1] = np.fmax(last[n_min + 1], head[n_min + 1])
            s, m, table = s[1:], m[1:], table[:, 1:]
        if s.size:  # a chunk inside one segment leaves nothing after the merge
            starts.append(s)
            modes.append(m)
            tables.append(table)
    return np.concatenate(starts), np.concatenate(modes), np.concatenate(tables, axis=1)


def fused_reductions(
    arrays: dict[str, NDArray[Any]],
    *,
    keys: tuple[str, ...],
    threshold: float,
    transitions: str,
) -> tuple[NDArray[np.int64], NDArray[np.int8], dict[str, F64]]:
    """Segment starts, modes and per-segment sums/extremes (:data:`FIELDS`) in one pass.

    Parameters
    ----------
    arrays : dict of numpy arrays
        BDF columns by name: time [s], voltage [V], current [A], and surface temperature [°C]
        and ``keys`` when the file has them.
    keys : tuple of str
        Columns whose change starts a new segment (step, cycle); at most two.
    threshold : float
        Rest dead-band [A].
    transitions : {"hold", "trapezoid", "exclude"}
        See :func:`echelon.diagnostics.segments.segment`.

    Returns
    -------
    starts, modes, sums
        First row and mode (−1, 0, 1) of every segment, and the per-segment values by name
        (temperature entries only when the column exists).
    """
    present = [arrays[key] for key in keys if key in arrays]
    if len(present) > 2:
        raise ValueError("the fused kernel takes at most two segment keys")
    empty = np.empty(0)
    k1, k2 = [*present, empty, empty][:2]
    temp_in = arrays.get(SURFACE_T)
    temp = empty if temp_in is None else np.ascontiguousarray(temp_in, dtype=np.float64)
    t, v, i = (np.ascontiguousarray(arrays[c], dtype=np.float64) for c in (TIME, VOLTAGE, CURRENT))
    kernel = _compiled()
    code = TRANSITION_CODES[transitions]
    chunks = row_chunks(i.size)

    def work(a: int, b: int) -> list[tuple[NDArray[np.int64], NDArray[np.int8], F64]]:
        return [
            kernel(t, v, i, temp, k1, k2, threshold, code, lo, min(lo + KERNEL_ROWS, b))
            for lo in range(a, b, KERNEL_ROWS)
        ]

    parts = [part for chunk in run_chunks(work, chunks) for part in chunk]
    firsts = [lo for a, b in chunks for lo in range(a, b, KERNEL_ROWS)]
    # a piece continues the previous one's last segment when its first row keeps that segment's
    # mode (the kernel's own output) and every key
    continued = [False] + [
        bool(parts[k - 1][1][-1] == parts[k][1][0])
        and all(key[lo] == key[lo - 1] for key in present)
        for k, lo in enumerate(firsts[1:], start=1)
    ]
    starts, modes, table = _merge(parts, continued)
    sums = {name: table[row] for row, name in enumerate(FIELDS)}
    if temp_in is None:
        for name in [name for name in FIELDS if "temperature" in name]:
            del sums[name]
    return starts, modes, sums
