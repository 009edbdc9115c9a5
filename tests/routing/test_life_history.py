"""The router's second-life years use the unit's origin and age (docs/routing.md).

Before, every unit was valued with the default first-life prior whatever its origin and age: a
2-year-old and a 12-year-old NMC622 EV module at 80 % SOH both got 3.41 years in ESS, where the
lifetime model (``echelon forecast``) gives 0.59 and 3.05 years (the router now 0.59 and 3.19).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from echelon.grading import grade_table
from echelon.grading.table import GRADING_SCHEMA
from echelon.lifetime import expected_life_years
from echelon.routing import age_at, expected_second_life_years, load_applications
from echelon.routing import placeholders as ph
from tests.grading.test_grading import unit

AS_OF = dt.date(2026, 11, 22)
CAPS = {name: spec.life.max_years for name, spec in load_applications().application.items()}
HORIZON_YEARS = max(CAPS.values()) + ph.LIFE_HORIZON_MARGIN_YEARS


def years_of(**columns: Any) -> np.ndarray:
    """The router's years of units given column by column (lists of one length)."""
    return expected_second_life_years(pl.DataFrame(columns)).to_numpy()


def made(age_years: float) -> dt.date:
    """The manufacture date of a unit ``age_years`` old on :data:`AS_OF`."""
    return AS_OF - dt.timedelta(days=round(age_years * 365))


def test_a_young_unit_gets_fewer_years_than_an_old_one_at_the_same_soh() -> None:
    """Same SOH, same origin: the young unit aged fast in its first life and keeps doing so.
    The whole path: the grading table's manufacture_date, the age on the grading day, the
    router's grid."""
    rows = [
        unit(battery_id=f"M{age}", soh_percent=81.0, soh_lower_percent=80.0,
             manufacture_date=made(age))
        for age in (2.0, 12.0)
    ] + [unit(battery_id="M?", soh_percent=81.0, soh_lower_percent=80.0)]  # fmt: skip
    graded = grade_table(pl.DataFrame(rows), profile="baseline", as_of=AS_OF)
    young, old, unknown = (graded.row(i, named=True) for i in range(3))
    assert young["age_years"] == pytest.approx(2.0, abs=0.01)
    assert unknown["age_years"] is None
    for app in ("ess", "ups", "ev_reman"):
        # measured: ess 0.59 / 3.19 years, ups 1.79 / 9.34, ev_reman 1.54 / 7.67
        assert 0 < young[f"years__{app}"] < 0.3 * old[f"years__{app}"], app
        assert old[f"years__{app}"] < CAPS[app]
        # an unknown age takes the automotive prior's (median 8 years): in between
        assert young[f"years__{app}"] < unknown[f"years__{app}"] < old[f"years__{app}"], app


def test_the_lifetime_model_gives_more_years_to_older_units_at_the_same_soh() -> None:
    """Nothing forces the grid to rise with age: the model's median does by itself. Measured on
    every family × application × prior, the drops between neighbouring age nodes are
    Monte-Carlo noise near the end of life (268 of 14,734 pairs, at most 0.15 years); here
    two grids in full."""
    triples = [("NMC622", "ess", "automotive"), ("LFP", "ups", "energy_storage")]
    grids = ph.life_grids(triples, horizon_years=HORIZON_YEARS)
    for (_, app, _), grid in grids.items():
        aged = np.minimum(grid[:, : ph.UNKNOWN_AGE], CAPS[app])
        assert np.all(np.diff(aged, axis=1) >= -0.2), app
        live = aged[:, 0] > 0.1  # 20 years old against 6 months
        assert np.all(aged[live, -1] >= np.minimum(2.0 * aged[live, 0], CAPS[app])), app


def test_router_years_agree_with_the_units_forecast() -> None:
    """The router's interpolated years against :func:`expected_life_years` of each unit (its
    own random stream, the router's Monte-Carlo size and horizon). Measured on 152 random units
    (6 chemistries, 7 applications, 5 origins, SOH 60–99 %, age 0.5–20 years or unknown, lives
    0.5 year to the cap): median |difference| 0.19 years (6 %), 90 % within 0.51 years (15 %),
    95 % within 21 %; the old default-prior curve was off by 26 % (median), 97 % (90th
    percentile). These 23 units: at most 0.67 years and 23 % off, 4.6 % median (the old curve:
    median 38 %, up to 5.9 years)."""
    ages = (1.5, 3.0, 5.5, 8.5, 12.5, 17.0)
    groups = {  # SOH [%] where these lives stay under the cap
        ("NMC622", "ess", "automotive"): (78.0, 83.0, 86.5, 91.0, 84.0, 80.5),
        ("NMC811", "ups", "ebike_lev"): (71.0, 76.5, 73.0, 79.0, 68.5, 74.0),
        ("LFP", "telecom", "energy_storage"): (66.0, 61.5, 58.0, 56.5, 57.0, 55.5),
        ("NCA", "ev_reman", "automotive"): (81.0, 83.5, 79.0, 77.5, 80.5, 76.0),
    }
    units = pl.DataFrame(
        [
            (f"U{len(groups) * i + k}", chem, app, soh, origin, age)
            for k, ((chem, app, origin), sohs) in enumerate(groups.items())
            for i, (soh, age) in enumerate(zip(sohs, ages, strict=True))
        ],
        schema=["battery_id", "chemistry", "application", "soh_percent",
                "origin_application", "age_years"],
        orient="row",
    )  # fmt: skip
    router = expected_second_life_years(units).to_numpy()
    forecast = expected_life_years(
        units.with_columns(pl.col("soh_percent").alias("soh_lower_percent")),
        n_samples=ph.LIFE_SAMPLES,
        horizon_years=HORIZON_YEARS,
    )["years_to_eol"].to_numpy()
    cap = np.array([CAPS[a] for a in units["application"]])
    forecast = np.minimum(forecast, cap)
    uncapped = np.maximum(router, forecast) < cap
    assert uncapped.sum() >= 20
    diff = np.abs(router - forecast)[uncapped]
    rel = diff / forecast[uncapped]
    assert diff.max() <= 0.75
    assert rel.max() <= 0.25
    assert np.median(rel) <= 0.08


@pytest.mark.parametrize("origin", [None, "other", "medical", "no such origin"])
def test_units_without_age_or_origin_keep_the_default_curve(origin: str | None) -> None:
    """A unit of unknown age and origin (or an origin without a prior of its own) is valued
    exactly as before ages and origins were read; so are a negative age (a manufacture date
    after the grading day) and a missing one."""
    soh = [52.5, 71.0, 80.0, 88.8, 99.0]
    plain = years_of(application=["ups"] * 5, chemistry=["NMC622"] * 5, soh_percent=soh)
    with_history = years_of(
        application=["ups"] * 5,
        chemistry=["NMC622"] * 5,
        soh_percent=soh,
        origin_application=[origin] * 5,
        age_years=[None, -1.0, None, float("nan"), None],
    )
    assert with_history.tolist() == plain.tolist()
    curve = ph.life_curves([("NMC622", "ups")], horizon_years=HORIZON_YEARS)[("NMC622", "ups")]
    expected = np.minimum(np.interp(soh, ph.LIFE_SOH_GRID, curve), CAPS["ups"])
    assert plain.tolist() == expected.tolist()


def test_a_manufacture_date_after_the_grading_day_is_an_unknown_age() -> None:
    frame = pl.DataFrame(
        {"manufacture_date": [dt.date(2020, 11, 22), dt.date(2027, 1, 1), None]},
        schema={"manufacture_date": pl.Date},
    )
    ages = frame.select(age_at(AS_OF)).to_series().to_list()
    assert ages[0] == pytest.approx((6 * 365 + 1) / 365)  # days / 365, as lifetime
    assert ages[1:] == [None, None]
    assert GRADING_SCHEMA["manufacture_date"] == pl.Date()


def test_grid_columns_do_not_depend_on_what_else_is_computed() -> None:
    """One lifetime call evaluates every missing column (all applications share the units'
    first-life state): a column computed alone is the same, bit for bit."""
    triple = ("NMC622", "ess", "automotive")
    ph._LIFE_CACHE.clear()
    every = ph.life_grids(
        [triple, ("LFP", "ups", "automotive"), ("NMC622", "ups", "default")],
        horizon_years=HORIZON_YEARS,
    )[triple]
    for col in (0, 4, ph.UNKNOWN_AGE):
        ph._LIFE_CACHE.clear()
        only = {triple: {col}}
        alone = ph.life_grids([triple], horizon_years=HORIZON_YEARS, columns=only)[triple]
        assert alone[:, col].tolist() == every[:, col].tolist()
        assert np.isnan(np.delete(alone, col, axis=1)).all()
