"""Raw tester file → per-cycle summary with cellpy (run in cellpy's own virtual environment).

``instrument`` is cellpy's loader name (``arbin_sql_csv`` for MITS Pro CSV exports,
``arbin_sql_xlsx`` for the workbooks). Prints one JSON line like beep_summary.py.
"""

import sys

from _measure import measure, quiet

quiet()
import cellpy  # noqa: E402
from cellpy import prms  # noqa: E402

prms.Reader.sep = ","  # cellpy's CSV loaders default to ";" (its documented setting)
path, instrument, nominal = sys.argv[1], sys.argv[2], float(sys.argv[3])


def work() -> dict[str, object]:
    cell = cellpy.get(path, instrument=instrument, nom_cap=nominal, mass=1.0, cycle_mode="cathode")
    summary = cell.data.summary
    return {
        "cycles": int(summary.shape[0]),
        "rows": int(cell.data.raw.shape[0]),
        "discharge_ah_first": [round(float(x), 5) for x in summary["discharge_capacity"].head(3)],
    }


measure(work, "cellpy")
