"""Routing decisions are reproducible: a unit's second-life years do not depend on the batch.

Before each (chemistry, application) curve had its own random stream, the curves of a batch
shared one: an NMC622 unit at 72 % SOH got 1.61 instead of 1.66 years in ESS (3.83 instead of
4.19 in UPS) when every other pair was in the same batch — the same unit, graded twice, could be
routed differently (25 of these 84 rows changed).
"""

from __future__ import annotations

import polars as pl

from echelon.routing import placeholders

APPLICATIONS = ("ess", "ups", "telecom", "ebike", "auto12v", "lsv", "ev_reman")
CHEMISTRIES = ("LFP", "NMC622", "NMC811", "LMO", "NCA", "LCO")
UNITS = pl.DataFrame(
    [(c, a, s) for c in CHEMISTRIES for a in APPLICATIONS for s in (72.0, 88.0)],
    schema=["chemistry", "application", "soh_percent"],
    orient="row",
)


def test_second_life_years_do_not_depend_on_the_rest_of_the_batch() -> None:
    placeholders._LIFE_CACHE.clear()
    in_batch = placeholders.expected_second_life_years(UNITS).to_list()
    for i in range(UNITS.height):
        placeholders._LIFE_CACHE.clear()
        alone = placeholders.expected_second_life_years(UNITS[i])[0]
        assert alone == in_batch[i], UNITS.row(i)
    # the other order, with every pair already cached by this process: the same values
    again = placeholders.expected_second_life_years(UNITS.reverse()).to_list()
    assert again == in_batch[::-1]
