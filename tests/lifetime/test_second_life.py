"""Single-SOH second-life forecasts, the router's vectorised contract and packs from blocks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from echelon.errors import EstimationError
from echelon.lifetime import (
    Duty,
    duty,
    expected_life_years,
    forecast_unit,
    pack_life_years,
    second_life,
)
from echelon.lifetime.second_life import LIFE_COLUMNS, quantiles

AS_OF = dt.date(2026, 11, 22)


def units(**columns: list[object]) -> pl.DataFrame:
    return pl.DataFrame(columns, strict=False)


def test_contract_columns_and_types() -> None:
    frame = units(battery_id=["a", "b"], chemistry=["LFP", "NMC622"], soh_percent=[85.0, 78.0])
    out = expected_life_years(frame, application="ess", n_samples=64)
    assert out.schema == pl.Schema(LIFE_COLUMNS)
    assert out["battery_id"].to_list() == ["a", "b"]
    row = out.row(1, named=True)  # the NMC622 unit: its interval is within the 40-year horizon
    assert row["years_to_eol_lower"] < row["years_to_eol"] < row["years_to_eol_upper"] < 40.0
    assert out["eol_soh_percent"].to_list() == [60.0, 60.0]


def test_more_health_lasts_longer_and_lfp_outlasts_nmc_on_float() -> None:
    frame = units(
        battery_id=["lfp-90", "lfp-75", "nmc-90"],
        chemistry=["LFP", "LFP", "NMC811"],
        soh_percent=[90.0, 75.0, 90.0],
        origin_application=["automotive"] * 3,
        age_years=[8.0, 8.0, 8.0],
    )
    out = expected_life_years(frame, application="ups", n_samples=128)
    years = dict(zip(out["battery_id"], out["years_to_eol"], strict=True))
    assert years["lfp-90"] > years["lfp-75"]
    # §4.4: route NMC/LMO away from float duties, prefer LFP (BLAST-Lite float simulations)
    assert years["lfp-90"] > years["nmc-90"]


def test_per_row_application_and_aliases() -> None:
    frame = units(
        battery_id=["a", "b", "c"],
        chemistry=["LFP", "LFP", "LFP"],
        soh_percent=[85.0, 85.0, 85.0],
        application=["ess", "telecom_backup", None],
    )
    out = expected_life_years(frame, n_samples=64)
    assert out["eol_soh_percent"].to_list() == [60.0, 50.0, None]  # LFP telecom floor 50 %
    assert out["lifetime_note"][2] == "no application given"


def test_units_that_cannot_be_forecast_get_null_and_the_reason() -> None:
    frame = units(
        battery_id=["li-s", "unknown-chem", "no-soh", "proxy"],
        chemistry=["Li-S", "unobtainium", "LFP", "LCO"],
        soh_percent=[85.0, 85.0, None, 85.0],
    )
    out = expected_life_years(frame, application="ess", n_samples=64)
    notes = out["lifetime_note"].to_list()
    assert out["years_to_eol"][:3].to_list() == [None, None, None]
    assert "no ageing model" in notes[0]
    assert "unknown chemistry" in notes[1]
    assert "no SOH" in notes[2]
    assert out["years_to_eol"][3] is not None
    assert "proxy" in notes[3]


def test_missing_inputs_are_clear_errors() -> None:
    with pytest.raises(EstimationError, match="give application"):
        expected_life_years(units(battery_id=["a"], chemistry=["LFP"], soh_percent=[80.0]))
    with pytest.raises(EstimationError, match="lacks soh_percent"):
        expected_life_years(units(battery_id=["a"], chemistry=["LFP"]), application="ess")
    with pytest.raises(EstimationError, match="unknown application"):
        forecast_unit({"battery_id": "a", "chemistry": "LFP", "soh_percent": 80.0},
                      application="spaceship")  # fmt: skip


def test_unit_below_threshold_reaches_it_at_once() -> None:
    frame = units(battery_id=["a"], chemistry=["NMC622"], soh_percent=[55.0])
    row = expected_life_years(frame, application="ess", n_samples=64).row(0, named=True)
    assert row["years_to_eol"] == 0.0
    assert "already at or below" in row["lifetime_note"]


def test_a_wider_soh_interval_widens_the_forecast() -> None:
    frame = units(
        battery_id=["tight", "wide"],
        chemistry=["NCA", "NCA"],
        soh_percent=[82.0, 82.0],
        soh_lower_percent=[81.5, 74.0],
        age_years=[6.0, 6.0],
    )
    out = expected_life_years(frame, application="ess", n_samples=256)
    width = (out["years_to_eol_upper"] - out["years_to_eol_lower"]).to_list()
    assert width[1] > width[0]


def test_unit_forecast_band_and_threshold_consistency() -> None:
    f = forecast_unit(
        {"battery_id": "u", "chemistry": "LFP", "soh_percent": 80.0, "soh_lower_percent": 79.0,
         "manufacture_date": "2017-03-01", "origin_application": "automotive"},
        application="ess", as_of=AS_OF, n_samples=128,
    )  # fmt: skip
    band = f.band
    assert band["year"][0] == 0.0
    assert band["soh_percent"][0] == pytest.approx(80.0, abs=0.5)
    assert (band["soh_lower_percent"] <= band["soh_percent"]).all()
    assert (band["soh_percent"] <= band["soh_upper_percent"]).all()
    # the median SOH path crosses the threshold near the median years (both from the samples)
    crossing = float(np.interp(-f.eol_soh_percent, -band["soh_percent"], band["year"]))
    assert crossing == pytest.approx(f.years_to_eol, rel=0.25)


def test_pack_is_limited_by_its_weakest_block() -> None:
    unit = {"battery_id": "P", "chemistry": "NMC622", "manufacture_date": "2018-01-01",
            "origin_application": "automotive"}  # fmt: skip
    blocks = [{"battery_id": f"M{i}", "soh_percent": s} for i, s in enumerate([86.0, 85.0, 79.0])]
    pack = forecast_unit(unit, application="telecom", blocks=blocks, as_of=AS_OF, n_samples=128)
    weakest = forecast_unit({**unit, "soh_percent": 79.0}, application="telecom", as_of=AS_OF,
                            n_samples=128)  # fmt: skip
    assert pack.blocks == ["M0", "M1", "M2"]
    assert pack.years_to_eol <= weakest.years_to_eol * 1.05
    samples = np.array([[3.0, 5.0, 7.0], [4.0, 2.0, 9.0]])
    assert pack_life_years(samples).tolist() == [3.0, 2.0, 7.0]


def test_quantiles_handle_samples_beyond_the_horizon() -> None:
    q = quantiles(np.array([[1.0, 2.0, np.inf, np.inf, np.inf]]))
    assert q[0, 0] == 1.0
    assert np.isinf(q[0, 2])


def test_second_life_lmo_model_uses_its_own_basis() -> None:
    # the Leaf LMO model describes fade relative to the start of second life (BLAST-Lite qNew/q)
    frame = units(battery_id=["lmo-72", "lmo-62"], chemistry=["LMO", "LMO"],
                  soh_percent=[72.0, 62.0])  # fmt: skip
    out = expected_life_years(frame, application="ebike", n_samples=128)
    years = out["years_to_eol"].to_list()
    assert years[0] > 0.0
    assert years[1] == 0.0  # below the 70 % e-bike threshold already
    # knee onset of the LMO family: 65 % (catalogue lifetime_forecasting [knee.soh_onset_percent])
    assert out["knee_risk"].to_list() == ["low", "elevated"]


UNIT = {"battery_id": "U", "chemistry": "NMC622", "soh_percent": 85.0, "age_years": 6.0,
        "origin_application": "automotive"}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"soh_percent": float("nan")}, "SOH nan is not a finite number"),
        ({"soh_percent": 0.85}, "SOH written as a fraction: write 85"),
        ({"soh_percent": 150.0}, "SOH 150 % is above 110 %"),
        ({"age_years": -3.0}, "age -3 years is negative"),
        ({"age_years": None, "manufacture_date": "2030-01-01"}, "after the as-of date 2026-11-22"),
        ({"origin_application": "automotiv"}, "did you mean 'automotive'"),
    ],
)
def test_invalid_single_soh_inputs_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(EstimationError, match=message):
        forecast_unit({**UNIT, **change}, application="ess", as_of=AS_OF, n_samples=32)
    row = {**UNIT, **change}
    row.pop("manufacture_date", None)
    if "manufacture_date" in change:
        row["age_years"] = -3.9
    out = expected_life_years(pl.DataFrame([row]), application="ess", n_samples=32)
    assert out["years_to_eol"][0] is None
    assert out["lifetime_note"][0]


def test_origin_spelling_is_parsed_not_defaulted() -> None:
    rows = [
        UNIT,
        {**UNIT, "origin_application": "Automotive"},
        {**UNIT, "origin_application": "EV"},
    ]
    frame = pl.DataFrame(rows).with_columns(pl.lit("U").alias("battery_id"))
    years = expected_life_years(frame, application="ess", n_samples=64)["years_to_eol"].to_list()
    assert years[0] == years[1] == years[2]  # same unit, same prior, same draws


def test_a_unit_does_not_depend_on_the_other_units_of_the_call() -> None:
    odd = {**UNIT, "soh_percent": 60.5, "age_years": 0.5}
    alone = expected_life_years(pl.DataFrame([UNIT]), application="ess", n_samples=128)
    batch = pl.DataFrame([odd | {"battery_id": "ODD"}, UNIT, odd | {"battery_id": "ODD2"}])
    mixed = expected_life_years(batch, application="ess", n_samples=128)
    assert mixed.row(1) == alone.row(0)
    assert "not explained" in mixed["lifetime_note"][0]
    assert "not explained" not in (alone["lifetime_note"][0] or "")


@pytest.mark.parametrize("chemistry", ["NMC622", "LMO"])  # first-life posterior; second-life basis
def test_applications_of_one_call_share_the_start_and_give_the_separate_results(
    chemistry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The units' start state (draws, first-life posterior) is computed once per call for every
    application that has the same units: the years and notes are those of separate calls."""
    units = pl.DataFrame(
        [{**UNIT, "chemistry": chemistry, "battery_id": f"U{k}", "soh_percent": soh}
         for k, soh in enumerate((71.0, 83.5, 92.0))]
    )  # fmt: skip
    apps = ("ess", "ups", "telecom")
    separate = pl.concat([expected_life_years(units, application=a, n_samples=64) for a in apps])
    starts = []
    real_start = second_life._start
    monkeypatch.setattr(
        second_life, "_start", lambda *a, **kw: starts.append(1) or real_start(*a, **kw)
    )
    together = expected_life_years(
        pl.concat([units.with_columns(pl.lit(app).alias("application")) for app in apps]),
        n_samples=64,
    )
    assert len(starts) == 1
    assert together.equals(separate)


def test_a_user_duty_is_forecast_through_the_public_api() -> None:
    mine = Duty.from_summary(efc_per_year=180, mean_soc=0.6, dod=0.5, temperature_celsius=30,
                             eol_soh_percent=65)  # fmt: skip
    f = forecast_unit(UNIT, application=mine, as_of=AS_OF, n_samples=64)
    assert (f.application, f.eol_soh_percent) == ("user", 65.0)
    hot = duty("ess").with_temperature(mean_celsius=40)
    out = expected_life_years(pl.DataFrame([UNIT]), application=hot, n_samples=64)
    cool = expected_life_years(pl.DataFrame([UNIT]), application="ess", n_samples=64)
    assert out["years_to_eol"][0] < cool["years_to_eol"][0]
    no_eol = Duty.from_summary(efc_per_year=180, mean_soc=0.6, dod=0.5, temperature_celsius=30)
    with pytest.raises(EstimationError, match="give eol_soh_percent="):
        forecast_unit(UNIT, application=no_eol, n_samples=32)


def test_soh_band_stays_within_0_and_100_percent_and_ends_at_the_horizon() -> None:
    wide = {**UNIT, "chemistry": "NMC622", "soh_percent": 87.2, "soh_lower_percent": 68.85}
    f = forecast_unit(wide, application="telecom", as_of=AS_OF, n_samples=128)
    assert f.band["soh_lower_percent"].min() >= 0.0
    assert f.band["soh_upper_percent"].max() <= 100.0
    assert f.soh_after_years[0] >= 0.0
    short = forecast_unit(UNIT, application="ess", years=0.5, as_of=AS_OF, n_samples=32)
    assert short.band["year"][-1] == pytest.approx(0.5)


def test_pack_notes_the_blocks_left_out_and_refuses_when_none_is_measured() -> None:
    unit = {"battery_id": "P", "chemistry": "NMC622", "age_years": 6.0}
    blocks = [{"battery_id": "M1", "soh_percent": 86.0}, {"battery_id": "M2", "soh_percent": None},
              {"battery_id": "M3", "soh_percent": 84.0, "status": "quarantined"}]  # fmt: skip
    f = forecast_unit(unit, application="ess", blocks=blocks, as_of=AS_OF, n_samples=32)
    assert f.blocks == ["M1", "M3"]
    assert f.blocks_excluded == ["M2"]
    assert any("1 of 3 blocks have no SOH measurement and are left out: M2" in n for n in f.notes)
    assert any("quarantined blocks included with their SOH: M3" in n for n in f.notes)
    assert f.summary()["blocks_excluded"] == ["M2"]
    with pytest.raises(EstimationError, match="none of its 1 blocks has an SOH"):
        forecast_unit(unit, application="ess", blocks=blocks[1:2], n_samples=32)


def test_a_duty_the_unit_cannot_deliver_is_noted() -> None:
    deep = Duty.from_summary(efc_per_year=200, mean_soc=0.5, dod=1.0, temperature_celsius=25,
                             eol_soh_percent=60)  # fmt: skip
    shallow = Duty.from_summary(efc_per_year=200, mean_soc=0.5, dod=0.5, temperature_celsius=25,
                                eol_soh_percent=60)  # fmt: skip
    f = forecast_unit(UNIT, application=deep, as_of=AS_OF, n_samples=32)
    assert any("duty not fully met" in n and "from the start" in n for n in f.notes)
    g = forecast_unit(UNIT, application=shallow, as_of=AS_OF, n_samples=32)
    assert not any("duty not fully met" in n for n in g.notes)


def test_threshold_override() -> None:
    f = forecast_unit(UNIT, application="ess", eol_soh_percent=70, as_of=AS_OF, n_samples=32)
    g = forecast_unit(UNIT, application="ess", as_of=AS_OF, n_samples=32)
    assert f.eol_soh_percent == 70.0
    assert f.years_to_eol < g.years_to_eol


def test_a_first_life_throughput_of_zero_is_a_value_not_unknown() -> None:
    unit = {**UNIT, "battery_id": "E0", "efc_first_life": 0.0}
    one = forecast_unit(unit, application="ess", n_samples=64)
    many = expected_life_years(pl.DataFrame([unit]), application="ess", n_samples=64)
    unknown = forecast_unit({**unit, "efc_first_life": None}, application="ess", n_samples=64)
    assert one.years_to_eol == pytest.approx(many["years_to_eol"][0])
    assert one.years_to_eol != pytest.approx(unknown.years_to_eol, rel=0.1)
