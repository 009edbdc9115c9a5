"""Benchmarks: run with `make bench` (marked `bench`, skipped by `make test`).

Each benchmark prints a result line and appends a JSON record to ``benchmarks/results.jsonl``
(git-ignored) so numbers can be copied into docs/performance.md with their date and machine.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import pytest

RESULTS = Path(__file__).with_name("results.jsonl")


@pytest.fixture
def record() -> Any:
    def write(name: str, **values: Any) -> None:
        entry = {
            "benchmark": name,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {os.cpu_count()} cpu, "
            f"Python {platform.python_version()}",
            **values,
        }
        print(f"\n[bench] {json.dumps(entry)}")
        with RESULTS.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")

    return write
