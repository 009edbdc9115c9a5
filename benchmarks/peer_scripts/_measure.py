"""Shared by the measurement scripts (runs in any venv: standard library only)."""

import json
import logging
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any


def quiet() -> None:
    """Silence library warnings and logging (they would cost time and clutter the output)."""
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)


def rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc``)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


class PeakRss:
    """Samples the RSS every 5 ms while active; ``increase`` is the peak minus the start."""

    def __init__(self) -> None:
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def increase(self) -> int:
        return self.peak - self.start


def measure(work: Callable[[], dict[str, Any]], tool: str) -> None:
    """Run ``work`` once and print one JSON line: its result plus wall seconds and the peak RSS
    increase [MB] over the process as it was before (imports done), sampled every 5 ms."""
    with PeakRss() as memory:
        start = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "tool": tool,
                "seconds": round(seconds, 3),
                **result,
                "peak_rss_increase_mb": round(memory.increase / 1e6, 1),
            }
        )
    )
