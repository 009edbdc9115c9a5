"""Raw Arbin CSV → per-cycle summary with BEEP (run in BEEP's own virtual environment).

Prints one JSON line: seconds (read + summary, imports excluded), cycles, peak RSS increase [MB]
and the first discharge capacities (to check the tools agree on what they computed).
"""

import json
import resource
import sys
import time
import warnings

warnings.filterwarnings("ignore")
import logging  # noqa: E402

logging.disable(logging.WARNING)
from beep.structure.arbin import ArbinDatapath  # noqa: E402

path, nominal = sys.argv[1], float(sys.argv[2])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
datapath = ArbinDatapath.from_file(path)
loaded = time.perf_counter()
summary = datapath.summarize_cycles(nominal_capacity=nominal)
end = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(
    json.dumps(
        {
            "tool": "beep",
            "seconds": round(end - start, 3),
            "read_s": round(loaded - start, 3),
            "summary_s": round(end - loaded, 3),
            "cycles": int(summary.shape[0]),
            "rows": int(datapath.raw_data.shape[0]),
            "peak_rss_increase_mb": round((peak - base) / 1024, 1),
            "discharge_ah_first": [
                round(float(x), 5) for x in summary["discharge_capacity"].head(3)
            ],
        }
    )
)
