"""``echelon forecast``: a registered unit (and a pack from its modules), and a history table."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.domain import Battery, Measurement
from echelon.recycling import record_lot, recycle_lot
from echelon.registry import PendingEvent, UnitWrite, measurement_row, open_registry
from tests.lifetime.fleet import fleet

runner = CliRunner()


def _unit(battery: Battery, soh: float | None) -> UnitWrite:
    events = []
    if soh is not None:
        m = Measurement(battery_id=battery.battery_id, quantity="soh_percent", value=soh,
                        lower=soh - 1.0, upper=soh + 1.0, method="capacity_test")  # fmt: skip
        events.append(PendingEvent("measured", None, {}, {"measurements": [measurement_row(m)]}))
    return UnitWrite(battery, uuid.uuid4().hex * 2, "m" * 64, "ok", events=events)


MADE = dt.date(2017, 6, 1)


def _pack(pack_id: str) -> tuple[Battery, list[Battery]]:
    """An NMC622 EV pack made in 2017 and its three modules."""
    pack = Battery(
        battery_id=pack_id,
        level="pack",
        chemistry="NMC622",
        nominal_capacity_ah=60,
        series_count=96,
        origin_application="automotive",
        manufacture_date=MADE,
    )
    modules = [
        Battery(battery_id=f"{pack_id}-M{i}", level="module", parent_id=pack_id,
                chemistry="NMC622", nominal_capacity_ah=60, origin_application="automotive",
                manufacture_date=MADE)
        for i in range(3)
    ]  # fmt: skip
    return pack, modules


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    made = MADE
    pack, modules = _pack("PACK-1")
    cell = Battery(battery_id="CELL-1", level="cell", chemistry="LFP", nominal_capacity_ah=20,
                   origin_application="automotive", manufacture_date=made)  # fmt: skip
    bare = Battery(battery_id="BARE-1", level="cell", chemistry="LFP", nominal_capacity_ah=20)
    with open_registry(url, store_dir=tmp_path / "store") as reg:
        reg.record_units(
            [_unit(pack, None), _unit(cell, 82.0), _unit(bare, None)]
            + [_unit(m, s) for m, s in zip(modules, [84.0, 80.5, 86.0], strict=True)]
        )
    return url


def test_forecast_registered_unit_writes_json_csv_and_plot(db: str, tmp_path: Path) -> None:
    out = tmp_path / "f"
    args = ["forecast", "CELL-1", "--application", "ess", "--years", "12", "-o", str(out),
            "--db", db, "--date", "2026-11-22"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "CELL-1" in result.output
    summary = json.loads((out / "forecast.json").read_text())
    assert summary["application"] == "ess"
    assert summary["eol_soh_percent"] == 60.0
    assert summary["years_to_eol_lower"] < summary["years_to_eol"] < summary["years_to_eol_upper"]
    band = pl.read_csv(out / "trajectory.csv")
    assert band["year"].max() == pytest.approx(12.0)
    assert (out / "fade_trajectory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_forecast_pack_from_its_modules(db: str, tmp_path: Path) -> None:
    out = tmp_path / "p"
    result = runner.invoke(
        app, ["forecast", "PACK-1", "--application", "telecom_backup", "-o", str(out), "--db", db]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "forecast.json").read_text())
    assert summary["application"] == "telecom"
    assert summary["blocks"] == ["PACK-1-M0", "PACK-1-M1", "PACK-1-M2"]
    assert summary["soh_percent"] == 80.5  # the weakest module
    assert "SOH80.5%ofitsweakestblock" in "".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["forecast", "CELL-1"], 2, "--application is required"),
        (["forecast", "CELL-1", "--application", "spaceship"], 2, "is not an application"),
        (["forecast", "NOPE", "--application", "ess"], 4, "no battery"),
        (["forecast", "BARE-1", "--application", "ess"], 8, "no SOH measurement"),
        (["forecast"], 2, "give a battery ID or --history"),
    ],
)
def test_forecast_errors(db: str, args: list[str], code: int, text: str) -> None:
    result = runner.invoke(app, [*args, "--db", db])
    assert result.exit_code == code, result.output
    assert text in result.output


def test_forecast_of_a_recycled_unit_is_refused(db: str, tmp_path: Path) -> None:
    with open_registry(db, store_dir=tmp_path / "store") as reg:
        lot = pl.DataFrame({"battery_id": ["CELL-1"], "chemistry": ["LFP"], "level": ["cell"],
                            "nominal_capacity_ah": [20.0], "nominal_voltage_v": [3.2]})  # fmt: skip
        record_lot(reg, recycle_lot(lot, process="hydro", year=2027, lot_id="LOT-END"))
    out = tmp_path / "f"
    args = ["forecast", "CELL-1", "--application", "ess", "-o", str(out), "--db", db]
    result = runner.invoke(app, args)
    assert result.exit_code == 8, result.output  # analysis impossible (docs/cli.md)
    text = " ".join(result.output.split())
    assert "CELL-1 was recycled in lot LOT-END on 20" in text
    assert "no second life to forecast" in text
    assert not out.exists()


def test_forecast_of_a_pack_with_a_recycled_part_is_refused(db: str, tmp_path: Path) -> None:
    # review 2026-12-07: the pack was forecast from its modules, the recycled one included
    with open_registry(db, store_dir=tmp_path / "store") as reg:
        lot = pl.DataFrame({"battery_id": ["PACK-1-M1"], "chemistry": ["NMC622"],
                            "level": ["module"], "nominal_capacity_ah": [60.0],
                            "nominal_voltage_v": [3.6]})  # fmt: skip
        record_lot(reg, recycle_lot(lot, process="hydro", year=2027, lot_id="LOT-M1"))
    out = tmp_path / "p"
    args = ["forecast", "PACK-1", "--application", "ess", "-o", str(out), "--db", db]
    result = runner.invoke(app, args)
    assert result.exit_code == 8, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "PACK-1 is no longer the assembly it was: 1 of its parts were recycled (PACK-1-M1)" in (
        text
    )
    assert not out.exists()
    kept = ["forecast", "PACK-1-M0", "--application", "ess", "-o", str(out), "--db", db]
    assert runner.invoke(app, kept).exit_code == 0  # its other parts still are forecast
    # nor a passport: a regrouped pack of recycled modules got a Repurposed one listing them
    doc = tmp_path / "pack.passport.json"
    args = ["passport", "PACK-1", "--allow-incomplete", "--no-record", "-o", str(doc), "--db", db]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 8, refused.output
    assert "PACK-1 is no longer the assembly it was" in " ".join(refused.output.split())
    assert not doc.exists()


def test_forecast_history_table(tmp_path: Path) -> None:
    lives = [400.0, 450.0, 500.0, 560.0, 600.0]
    young = fleet([540.0], seed=5).filter(pl.col("cycle") <= 300)
    table = pl.concat([fleet(lives), young.with_columns(pl.lit("YOUNG").alias("battery_id"))])
    table.write_parquet(tmp_path / "h.parquet")
    out = tmp_path / "forecast.csv"
    result = runner.invoke(
        app, ["forecast", "--history", str(tmp_path / "h.parquet"), "--until-soh", "80",
              "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 forecast, 5 reached" in result.output
    frame = pl.read_csv(out)
    assert {"battery_id", "cycles_to_threshold", "cycles_to_threshold_lower",
            "cycles_to_threshold_upper"} <= set(frame.columns)  # fmt: skip


def test_forecast_history_bad_table_exit_3(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("battery_id,soh_percent\na,90\n")
    result = runner.invoke(app, ["forecast", "--history", str(tmp_path / "h.csv")])
    assert result.exit_code == 3
    assert "cycle" in result.output


def test_forecast_history_unknown_chemistry_exit_3(tmp_path: Path) -> None:
    young = fleet([540.0], seed=5).filter(pl.col("cycle") <= 300)
    table = pl.concat(
        [fleet([400.0, 450.0, 500.0]), young.with_columns(pl.lit("YOUNG").alias("battery_id"))]
    ).with_columns(pl.lit("Sodium-ion").alias("chemistry"))
    table.write_csv(tmp_path / "h.csv")
    result = runner.invoke(
        app, ["forecast", "--history", str(tmp_path / "h.csv"), "-o", str(tmp_path / "f.csv")]
    )
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())  # the console wraps long lines
    assert "h.csv" in text
    assert "row 1" in text
    assert "'Sodium-ion'" in text
    assert not (tmp_path / "f.csv").exists()


def test_forecast_history_with_sparse_check_ups(tmp_path: Path) -> None:
    """Every 50th cycle: a short-lived reference has only 8 check-ups (was an internal error)."""
    young = fleet([540.0], seed=5, step=50.0).filter(pl.col("cycle") <= 400)
    table = pl.concat(
        [
            fleet([350.0, 400.0, 450.0, 500.0, 560.0, 600.0, 650.0], step=50.0),
            young.with_columns(pl.lit("YOUNG").alias("battery_id")),
        ]
    )
    table.write_csv(tmp_path / "h.csv")
    out = tmp_path / "f.csv"
    result = runner.invoke(app, ["forecast", "--history", str(tmp_path / "h.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert pl.read_csv(out).filter(pl.col("battery_id") == "YOUNG")["status"][0] == "forecast"


def test_until_soh_sets_the_threshold_of_a_registered_unit(db: str, tmp_path: Path) -> None:
    out = tmp_path / "u"
    args = ["forecast", "CELL-1", "--application", "ess", "--until-soh", "70", "-o", str(out),
            "--db", db, "--date", "2026-11-22"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "reaches 70 %" in result.output
    assert json.loads((out / "forecast.json").read_text())["eol_soh_percent"] == 70.0


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["CELL-1", "--application", "ess", "--references", "r.csv"], "--references applies"),
        (["--history", "h.csv", "--application", "ess"], "--application applies to a battery"),
        (["--history", "h.csv", "--years", "3", "--date", "2026-01-01"], "--years, --date apply"),
        (["--history", "h.csv", "-o", "f.xlsx"], "give a .csv or .parquet file"),
    ],
)
def test_options_that_do_not_apply_are_refused(
    db: str, args: list[str], text: str, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["forecast", *args, "--db", db])
    assert result.exit_code == 2, result.output
    assert "".join(text.split()) in "".join(result.output.replace("│", "").split())


def test_an_output_folder_for_a_history_is_refused_before_computing(tmp_path: Path) -> None:
    table = fleet([400.0, 450.0, 500.0])
    table.write_csv(tmp_path / "h.csv")
    result = runner.invoke(
        app, ["forecast", "--history", str(tmp_path / "h.csv"), "-o", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert "givea.csvor.parquetfile" in "".join(result.output.replace("│", "").split())


def test_a_pack_names_its_blocks_without_soh(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    pack, modules = _pack("PACK-2")
    with open_registry(url, store_dir=tmp_path / "store") as reg:
        reg.record_units([_unit(pack, None), _unit(modules[0], 84.0), _unit(modules[1], None),
                          _unit(modules[2], 82.0)])  # fmt: skip
    out = tmp_path / "p"
    result = runner.invoke(app, ["forecast", "PACK-2", "--application", "ess", "-o", str(out),
                                 "--db", url, "--date", "2026-11-22"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "left out 1 blocks without an SOH: PACK-2-M1" in " ".join(result.output.split())
    summary = json.loads((out / "forecast.json").read_text())
    assert summary["blocks"] == ["PACK-2-M0", "PACK-2-M2"]
    assert summary["blocks_excluded"] == ["PACK-2-M1"]


def test_a_threshold_beyond_the_horizon_is_not_reached(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before 2026-12-07: "reaches 1 % in 40.0 years (90 %: 40.0–40.0)" — the horizon, not a
    year the unit reaches the threshold in; the chart marked it on the threshold line."""
    import echelon.cli.lifetime_cmds as cmds

    charted: dict[str, object] = {}
    chart = cmds.fade_trajectory_chart

    def spy(band: pl.DataFrame, **kwargs: Any) -> dict[str, Any]:
        charted.update(kwargs)
        return chart(band, **kwargs)

    monkeypatch.setattr(cmds, "fade_trajectory_chart", spy)
    out = tmp_path / "f"
    args = ["forecast", "CELL-1", "--application", "ess", "--until-soh", "1", "-o", str(out),
            "--db", db, "--date", "2026-11-22"]  # fmt: skip
    result = runner.invoke(app, args)
    assert charted["years_to_eol"] is None
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "does not reach 1 % within 40 years (the horizon); after 40 years SOH" in text
    assert "reaches 1 % in" not in text
    summary = json.loads((out / "forecast.json").read_text())
    assert summary["beyond_horizon"] is True
    assert summary["horizon_years"] == 40.0
    assert summary["capped"] == {
        "years_to_eol_lower": True, "years_to_eol": True, "years_to_eol_upper": True
    }  # fmt: skip


def test_a_partly_capped_interval_says_beyond() -> None:
    from echelon.cli.lifetime_cmds import _years_to_threshold
    from echelon.lifetime import UnitForecast

    base = UnitForecast(battery_id="X", application="ess", chemistry="LFP", soh_percent=90.0,
                        eol_soh_percent=60.0, years_to_eol=31.2, years_to_eol_lower=20.4,
                        years_to_eol_upper=40.0, soh_after_years=(50.0, 62.0, 70.0), years=40.0,
                        band=pl.DataFrame(), capped=(False, False, True))  # fmt: skip
    assert _years_to_threshold(base) == (
        "reaches 60 % in [bold]31.2[/] years (90 %: 20.4–beyond 40)"
    )
    median = replace(base, years_to_eol=40.0, capped=(False, True, True))
    assert _years_to_threshold(median) == (
        "does not reach 60 % within 40 years (the horizon; 90 %: 20.4–beyond 40 years)"
    )
    assert median.summary()["beyond_horizon"] is True
    assert base.summary()["beyond_horizon"] is False


def test_a_pack_takes_a_module_without_soh_from_its_weakest_cell(tmp_path: Path) -> None:
    """Before 2026-12-07: "none of its 3 blocks has an SOH measurement" although the modules'
    cells had one (``forecast`` of a module already used its cells)."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    pack, modules = _pack("PACK-3")
    cells = [
        Battery(battery_id=f"{m.battery_id}-C{j}", level="cell", parent_id=m.battery_id,
                chemistry="NMC622", nominal_capacity_ah=60, origin_application="automotive",
                manufacture_date=MADE)
        for m in modules[:2]
        for j in range(2)
    ]  # fmt: skip
    soh = {"PACK-3-M0-C0": 88.0, "PACK-3-M0-C1": 83.0, "PACK-3-M1-C0": 86.0, "PACK-3-M1-C1": None}
    with open_registry(url, store_dir=tmp_path / "store") as reg:
        reg.record_units([_unit(pack, None), *(_unit(m, None) for m in modules),
                          *(_unit(c, soh[c.battery_id]) for c in cells)])  # fmt: skip
    out = tmp_path / "p"
    result = runner.invoke(app, ["forecast", "PACK-3", "--application", "ess", "-o", str(out),
                                 "--db", url, "--date", "2026-11-22"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "forecast.json").read_text())
    assert summary["blocks"] == ["PACK-3-M0", "PACK-3-M1"]
    assert summary["blocks_excluded"] == ["PACK-3-M2"]  # no cells, no SOH
    assert summary["soh_percent"] == 83.0  # M0's weakest cell
    text = " ".join(result.output.split())
    assert (
        "take their weakest part's: PACK-3-M0 from PACK-3-M0-C1, PACK-3-M1 from PACK-3-M1-C0"
        in text
    )
