"""Streaming conversion of a large tester file to ``.bdf.parquet`` (time and peak memory)."""

import sys

from _measure import measure, quiet

quiet()
from echelon.io.convert import convert_to_bdf  # noqa: E402

source, target = sys.argv[1], sys.argv[2]


def work() -> dict[str, object]:
    return {"rows": convert_to_bdf(source, target).n_rows}


measure(work, "echelon")
