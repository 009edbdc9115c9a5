"""Per-cycle summary of an already-converted ``.bdf.parquet`` (throughput and peak memory).

Prints one JSON line: best wall and CPU seconds over ``repeats`` runs, rows per second, the bytes
of the columns the summary reads, and the peak RSS increase over the process after imports. An
optional third argument picks the segment kernel (``numpy`` or ``numba``, see
``echelon.diagnostics._fused``); the first run's time is reported apart (with numba it includes
loading — or, on a cold cache, compiling — the kernel).
"""

import json
import os
import sys
import time

if len(sys.argv) > 3:
    os.environ["ECHELON_KERNEL"] = sys.argv[3]

import polars as pl
from _measure import PeakRss

from echelon.diagnostics import _fused, cycle_summary

path, repeats = sys.argv[1], int(sys.argv[2])
needed = ["test_time_second", "voltage_volt", "current_ampere", "step_id", "cycle_count"]
schema = pl.read_parquet_schema(path)
rows = pl.scan_parquet(path).select(pl.len()).collect().item()
raw_bytes = sum(rows * 8 for c in needed if c in schema)  # all five are 8-byte columns
wall, cpu, cycles, peaks = [], [], 0, []
for _ in range(repeats):
    with PeakRss() as memory:
        start, start_cpu = time.perf_counter(), time.process_time()
        summary = cycle_summary(path)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    peaks.append(memory.increase)
    cycles = summary.height
    del summary
best = min(wall)
print(
    json.dumps(
        {
            "kernel": "numba" if _fused.use_fused(rows) else "numpy",
            "rows": rows,
            "cycles": cycles,
            "best_wall_s": round(best, 3),
            "median_wall_s": round(sorted(wall)[len(wall) // 2], 3),
            "first_wall_s": round(wall[0], 3),
            "best_cpu_s": round(min(cpu), 3),
            "rows_per_s_wall": round(rows / best),
            "raw_column_mb": round(raw_bytes / 1e6, 1),
            "peak_rss_increase_mb": round(max(peaks) / 1e6, 1),
            "peak_over_raw": round(max(peaks) / raw_bytes, 2),
        }
    )
)
