"""Raw tester file → per-cycle summary with cellpy (run in cellpy's own virtual environment).

Prints one JSON line like beep_summary.py. ``instrument`` is cellpy's loader name
(``arbin_sql_csv`` for MITS Pro CSV exports, ``arbin_sql_xlsx`` for the workbooks).
"""

import json
import resource
import sys
import time
import warnings

warnings.filterwarnings("ignore")
import logging  # noqa: E402

logging.disable(logging.WARNING)
import cellpy  # noqa: E402
from cellpy import prms  # noqa: E402

prms.Reader.sep = ","  # cellpy's CSV loaders default to ";" (its documented setting)

path, instrument, nominal = sys.argv[1], sys.argv[2], float(sys.argv[3])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
cell = cellpy.get(path, instrument=instrument, nom_cap=nominal, mass=1.0, cycle_mode="cathode")
summary = cell.data.summary
end = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(
    json.dumps(
        {
            "tool": "cellpy",
            "seconds": round(end - start, 3),
            "cycles": int(summary.shape[0]),
            "rows": int(cell.data.raw.shape[0]),
            "peak_rss_increase_mb": round((peak - base) / 1024, 1),
            "discharge_ah_first": [
                round(float(x), 5) for x in summary["discharge_capacity"].head(3)
            ],
        }
    )
)
