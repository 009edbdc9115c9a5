"""Process pools that are safe with polars and numpy thread pools; row chunks for threaded
numpy kernels.

``fork`` after polars has started its thread pool can deadlock the child (polars documents this),
so worker processes are started with ``spawn``.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A ``spawn``-context process pool of ``workers`` processes."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


PARALLEL_MIN_ROWS = 1_000_000
"""Below this many rows a numpy pass is too short for a second thread to pay off."""


def worker_threads() -> int:
    """Threads for numpy kernels: the CPUs this process may use (numpy's ufunc loops release
    the GIL on large arrays, so threads run them in parallel)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def row_chunks(n: int) -> list[tuple[int, int]]:
    """``[start, stop)`` row ranges that split ``n`` rows evenly over :func:`worker_threads`,
    at least :data:`PARALLEL_MIN_ROWS` each (one range for small inputs)."""
    parts = min(worker_threads(), max(1, n // PARALLEL_MIN_ROWS))
    edges = [n * k // parts for k in range(parts + 1)]
    return list(itertools.pairwise(edges))


def run_chunks(work: Callable[[int, int], T], chunks: Sequence[tuple[int, int]]) -> list[T]:
    """``work(start, stop)`` for every chunk, in threads when there are several; results in
    chunk order."""
    if len(chunks) == 1:
        return [work(*chunks[0])]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        return list(pool.map(lambda chunk: work(*chunk), chunks))
