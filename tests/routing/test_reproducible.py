"""Routing decisions are reproducible: a unit's second-life years do not depend on the batch.

Before each (chemistry, application) curve had its own random stream, the curves of a batch
shared one: an NMC622 unit at 72 % SOH got 1.61 instead of 1.66 years in ESS (3.83 instead of
4.19 in UPS) when every other pair was in the same batch — the same unit, graded twice, could be
routed differently (25 of these 84 rows changed). The same holds with the units' ages and
origins (one lifetime call evaluates every grid column a batch needs; each column's units have
their own random streams).
"""

from __future__ import annotations

import polars as pl
import pytest

from echelon.routing import placeholders

APPLICATIONS = ("ess", "ups", "telecom", "ebike", "auto12v", "lsv", "ev_reman")
CHEMISTRIES = ("LFP", "NMC622", "NMC811", "LMO", "NCA", "LCO")
UNITS = pl.DataFrame(
    [(c, a, s) for c in CHEMISTRIES for a in APPLICATIONS for s in (72.0, 88.0)],
    schema=["chemistry", "application", "soh_percent"],
    orient="row",
)


ORIGINS = ("automotive", None, "energy_storage", "ebike_lev")
AGES = (1.5, None, 6.0, 11.0, 19.0, 30.0, 0.2)
WITH_HISTORY = UNITS.with_columns(
    pl.Series("origin_application", [ORIGINS[i % 4] for i in range(UNITS.height)]),
    pl.Series("age_years", [AGES[i % 7] for i in range(UNITS.height)], dtype=pl.Float64),
)


@pytest.mark.parametrize("units", [UNITS, WITH_HISTORY], ids=["plain", "age_and_origin"])
def test_second_life_years_do_not_depend_on_the_rest_of_the_batch(units: pl.DataFrame) -> None:
    placeholders._LIFE_CACHE.clear()
    in_batch = placeholders.expected_second_life_years(units).to_list()
    for i in range(units.height):
        placeholders._LIFE_CACHE.clear()
        alone = placeholders.expected_second_life_years(units[i])[0]
        assert alone == in_batch[i], units.row(i)
    # the other order, with every grid column already cached by this process: the same values
    again = placeholders.expected_second_life_years(units.reverse()).to_list()
    assert again == in_batch[::-1]
