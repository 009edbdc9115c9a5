"""Process pools that are safe with polars and numpy thread pools.

``fork`` after polars has started its thread pool can deadlock the child (polars documents this),
so worker processes are started with ``spawn``.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A ``spawn``-context process pool of ``workers`` processes."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
