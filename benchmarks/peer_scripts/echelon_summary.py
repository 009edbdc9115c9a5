"""Raw tester file → per-cycle summary with Echelon (same measurement as the peer scripts)."""

import json
import logging
import resource
import sys
import time

logging.disable(logging.WARNING)
from echelon.diagnostics import cycle_summary  # noqa: E402
from echelon.io import read  # noqa: E402

path = sys.argv[1]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
frame, _ = read(path)
loaded = time.perf_counter()
summary = cycle_summary(frame)
end = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(
    json.dumps(
        {
            "tool": "echelon",
            "seconds": round(end - start, 3),
            "read_s": round(loaded - start, 3),
            "summary_s": round(end - loaded, 3),
            "cycles": summary.height,
            "rows": frame.height,
            "peak_rss_increase_mb": round((peak - base) / 1024, 1),
            "discharge_ah_first": [round(float(x), 5) for x in summary["discharge_ah"].head(3)],
        }
    )
)
