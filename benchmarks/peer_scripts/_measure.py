"""Shared by the measurement scripts (runs in any venv: standard library only)."""

import json
import logging
import resource
import time
import warnings
from collections.abc import Callable
from typing import Any


def quiet() -> None:
    """Silence library warnings and logging (they would cost time and clutter the output)."""
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)


def measure(work: Callable[[], dict[str, Any]], tool: str) -> None:
    """Run ``work`` once and print one JSON line: its result plus wall seconds and the peak RSS
    increase [MB] over the process as it was before (imports done)."""
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "tool": tool,
                "seconds": round(seconds, 3),
                **result,
                "peak_rss_increase_mb": round((peak - base) / 1024, 1),
            }
        )
    )
