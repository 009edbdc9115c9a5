"""Raw tester file → per-cycle summary with Echelon (the same measurement as the peer scripts)."""

import sys

from _measure import measure, quiet

quiet()
from echelon.diagnostics import cycle_summary  # noqa: E402
from echelon.io import read  # noqa: E402

path = sys.argv[1]


def work() -> dict[str, object]:
    frame, _ = read(path)
    summary = cycle_summary(frame)
    return {
        "cycles": summary.height,
        "rows": frame.height,
        "discharge_ah_first": [round(float(x), 5) for x in summary["discharge_ah"].head(3)],
    }


measure(work, "echelon")
