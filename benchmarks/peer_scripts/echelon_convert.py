"""Streaming conversion of a large tester file to ``.bdf.parquet`` (time and peak memory)."""

import json
import resource
import sys
import time

from echelon.io.convert import convert_to_bdf

source, target = sys.argv[1], sys.argv[2]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
result = convert_to_bdf(source, target)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(
    json.dumps(
        {
            "rows": result.n_rows,
            "seconds": round(seconds, 2),
            "rows_per_s": round(result.n_rows / seconds),
            "peak_rss_increase_mb": round((peak - base) / 1024, 1),
        }
    )
)
