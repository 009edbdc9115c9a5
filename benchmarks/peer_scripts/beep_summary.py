"""Raw Arbin CSV → per-cycle summary with BEEP (run in BEEP's own virtual environment).

Prints one JSON line: seconds (read + summary, imports excluded), cycles, rows, peak RSS increase
and the first discharge capacities (to check the tools computed the same thing).
"""

import sys

from _measure import measure, quiet

quiet()
from beep.structure.arbin import ArbinDatapath  # noqa: E402

path, nominal = sys.argv[1], float(sys.argv[2])


def work() -> dict[str, object]:
    datapath = ArbinDatapath.from_file(path)
    summary = datapath.summarize_cycles(nominal_capacity=nominal)
    return {
        "cycles": int(summary.shape[0]),
        "rows": int(datapath.raw_data.shape[0]),
        "discharge_ah_first": [round(float(x), 5) for x in summary["discharge_capacity"].head(3)],
    }


measure(work, "beep")
