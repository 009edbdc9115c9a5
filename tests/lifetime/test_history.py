"""The history-table contract (``echelon forecast --history``) as a library call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echelon.errors import EstimationError, SchemaError
from echelon.lifetime import FORECAST_SCHEMA, forecast_histories, read_history
from tests.lifetime.fleet import fleet

LIVES = [400.0, 450.0, 500.0, 560.0, 600.0]


def table() -> pl.DataFrame:
    """Five units that reached 80 % and one that has not (truncated at 300 of its 540 cycles)."""
    done = fleet(LIVES)
    young = (
        fleet([540.0], seed=5)
        .filter(pl.col("cycle") <= 300)
        .with_columns(pl.lit("YOUNG").alias("battery_id"))
    )
    return pl.concat([done, young]).with_columns((pl.col("cycle") / 2).alias("time_day"))


def test_forecast_table_contract() -> None:
    out = forecast_histories(table(), until_soh_percent=80)
    assert out.schema == pl.Schema(FORECAST_SCHEMA)
    young = out.filter(pl.col("battery_id") == "YOUNG").row(0, named=True)
    assert young["status"] == "forecast"
    assert young["references"] == 5
    # counted from cycle 0: the true crossing of 80 % is at 540 cycles
    assert young["cycles_to_threshold"] == pytest.approx(540.0, rel=0.1)
    assert young["cycles_to_threshold_lower"] < 540.0 < young["cycles_to_threshold_upper"]
    # two cycles a day → years = cycles / 2 / 365.25 from time 0
    assert young["years_to_threshold"] == pytest.approx(
        young["cycles_to_threshold"] / 2 / 365.25, rel=1e-6
    )
    reached = out.filter(pl.col("status") == "reached")
    assert reached.height == 5
    assert (reached["cycles_to_threshold"] == reached["cycles_to_threshold_upper"]).all()


def test_capacity_with_nominal_equals_soh_percent() -> None:
    soh = table()
    cap = soh.with_columns(
        (pl.col("soh_percent") / 100 * 2.5).alias("capacity_ah"),
        pl.lit(2.5).alias("nominal_capacity_ah"),
    ).drop("soh_percent")
    a = forecast_histories(soh, until_soh_percent=80)
    b = forecast_histories(cap, until_soh_percent=80)
    assert a["cycles_to_threshold"].to_list() == pytest.approx(b["cycles_to_threshold"].to_list())


def test_equivalent_full_cycles_and_no_nominal_capacity() -> None:
    t = (
        table()
        .rename({"cycle": "equivalent_full_cycles"})
        .with_columns((pl.col("soh_percent") / 100 * 3.0).alias("capacity_ah"))
        .drop("soh_percent")
    )
    out = forecast_histories(t, until_soh_percent=80)
    assert "relative to the first check-ups" in out["note"][0]


def test_a_unit_with_too_little_history_does_not_stop_the_batch() -> None:
    short = pl.DataFrame({"battery_id": ["S"] * 3, "cycle": [1.0, 2.0, 3.0],
                          "soh_percent": [99.0, 98.9, 98.8]})  # fmt: skip
    out = forecast_histories(pl.concat([table().drop("time_day"), short]), until_soh_percent=80)
    row = out.filter(pl.col("battery_id") == "S").row(0, named=True)
    assert row["status"] == "no_forecast"
    assert "at least 8" in row["note"]


def test_rising_capacity_is_not_forecast() -> None:
    rising = pl.DataFrame({"battery_id": ["R"] * 20, "cycle": [float(i) for i in range(20)],
                           "soh_percent": [80.0 + i for i in range(20)]})  # fmt: skip
    out = forecast_histories(pl.concat([table().drop("time_day"), rising]), until_soh_percent=70)
    row = out.filter(pl.col("battery_id") == "R").row(0, named=True)
    assert row["status"] == "no_forecast"
    assert "rises" in row["note"]


def test_single_unit_falls_back_with_a_reason() -> None:
    young = table().filter(pl.col("battery_id") == "YOUNG")
    row = forecast_histories(young, until_soh_percent=80).row(0, named=True)
    assert row["status"] == "fallback"
    assert "0 reference trajectories" in row["note"]
    assert row["cycles_to_threshold_upper"] / row["cycles_to_threshold_lower"] > 2


def test_schema_errors_name_columns_and_rows() -> None:
    with pytest.raises(SchemaError) as err:
        forecast_histories(pl.DataFrame({"battery_id": ["a"], "soh_percent": [90.0]}),
                           until_soh_percent=80)  # fmt: skip
    assert "'cycle'" in str(err.value)
    bad = pl.DataFrame({"battery_id": ["a", "a"], "cycle": ["1", "two"],
                        "soh_percent": [90.0, 89.0]})  # fmt: skip
    with pytest.raises(SchemaError) as err:
        forecast_histories(bad, until_soh_percent=80, source="t.csv")
    assert "row 2" in str(err.value)
    assert "'two' is not a number" in str(err.value)
    with pytest.raises(EstimationError, match="between 1 and 100"):
        forecast_histories(table(), until_soh_percent=180)


def test_nothing_forecastable_is_an_error() -> None:
    short = pl.DataFrame({"battery_id": ["S"] * 3, "cycle": [1.0, 2.0, 3.0],
                          "soh_percent": [99.0, 98.9, 98.8]})  # fmt: skip
    with pytest.raises(EstimationError, match="no unit could be forecast"):
        forecast_histories(short, until_soh_percent=80)


def test_read_history(tmp_path: Path) -> None:
    t = table()
    t.write_csv(tmp_path / "h.csv")
    t.write_parquet(tmp_path / "h.parquet")
    assert read_history(tmp_path / "h.csv").height == t.height
    assert read_history(tmp_path / "h.parquet").height == t.height
    (tmp_path / "h.xlsx").write_text("x")
    with pytest.raises(SchemaError, match="workbook, not a CSV file: save the sheet as CSV"):
        read_history(tmp_path / "h.xlsx")
    with pytest.raises(SchemaError, match="history table file not found"):
        read_history(tmp_path / "missing.csv")


def test_unknown_chemistry_is_refused_with_its_row_and_the_closest_name() -> None:
    """A misspelt chemistry on one unit is a schema error (as in every other table), not a
    forecast of that unit against references of another spelling."""
    t = table().with_columns(
        pl.when(pl.col("battery_id") == "YOUNG")
        .then(pl.lit("NMX811"))
        .otherwise(pl.lit("NMC811"))
        .alias("chemistry")
    )
    first = int(t["battery_id"].eq("YOUNG").arg_true()[0]) + 1
    with pytest.raises(SchemaError) as err:
        forecast_histories(t, until_soh_percent=80, source="h.csv")
    text = str(err.value)
    assert "h.csv" in text
    assert f"row {first}, column 'chemistry'" in text
    assert "'NMX811'" in text
    assert "did you mean 'NMC811'" in text
    assert "'NMC811' (" not in text  # the known spelling is not reported


def test_an_unknown_chemistry_in_the_references_is_refused() -> None:
    refs = fleet(LIVES).with_columns(pl.lit("Sodium-ion").alias("chemistry"))
    young = table().filter(pl.col("battery_id") == "YOUNG")
    with pytest.raises(SchemaError, match="row 1, column 'chemistry': unknown chemistry"):
        forecast_histories(young, until_soh_percent=80, references=refs)


def test_trailing_empty_lines_are_not_a_unit(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(table().write_csv() + "\n\n\n")
    history = read_history(path)
    assert history.height == table().height
    out = forecast_histories(history, until_soh_percent=80)
    assert out.height == table()["battery_id"].n_unique()  # no unit with an empty id


def test_a_european_history_reads_as_the_plain_one(tmp_path: Path) -> None:
    t = table()
    plain, excel = tmp_path / "h.csv", tmp_path / "excel.csv"
    t.write_csv(plain)
    text = t.write_csv(separator=";").replace(".", ",")
    excel.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert read_history(excel).equals(read_history(plain))


def test_padded_numbers_are_numbers(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("battery_id, cycle, soh_percent\nA, 0 , 100\nA, 100 , 95 \n")
    assert read_history(path)["cycle"].cast(pl.Float64).to_list() == [0.0, 100.0]


def test_soh_written_as_a_fraction_is_refused_with_the_fix() -> None:
    frame = table().with_columns(pl.col("soh_percent") / 100)
    with pytest.raises(SchemaError, match=r"row 1, column 'soh_percent': .*fraction: write 99"):
        forecast_histories(frame, until_soh_percent=80)


def test_negative_cycles_are_refused_by_row() -> None:
    frame = table().with_columns(
        pl.when(pl.col("battery_id") == "YOUNG").then(pl.col("cycle") - 200).otherwise("cycle")
    )
    with pytest.raises(SchemaError, match=r"row \d+, column 'cycle': -195.0 is negative"):
        forecast_histories(frame, until_soh_percent=80)


@pytest.mark.parametrize("kind", ["flat", "shuffled"])
def test_a_history_without_fade_is_not_forecast(kind: str) -> None:
    young = table().filter(pl.col("battery_id") == "YOUNG")
    rng = np.random.default_rng(3)
    soh = young["soh_percent"].to_numpy()
    soh = 100 + rng.normal(0, 0.3, soh.size) if kind == "flat" else rng.permutation(soh)
    frame = pl.concat([table().filter(pl.col("battery_id") != "YOUNG"),
                       young.with_columns(pl.Series("soh_percent", soh))])  # fmt: skip
    row = forecast_histories(frame, until_soh_percent=80).row(-1, named=True)
    assert (row["battery_id"], row["status"]) == ("YOUNG", "no_forecast")
    assert row["cycles_to_threshold"] is None
    assert "no significant capacity fade" in row["note"]


def test_chemistry_unknown_is_compatible_with_every_family() -> None:
    frame = table().with_columns(
        pl.when(pl.col("battery_id") == "YOUNG").then(pl.lit("unknown")).otherwise(pl.lit("LFP"))
        .alias("chemistry")
    )  # fmt: skip
    young = forecast_histories(frame, until_soh_percent=80).row(-1, named=True)
    assert (young["status"], young["references"]) == ("forecast", 5)


def test_messages_name_the_cycle_of_a_gap_or_a_repeated_check_up() -> None:
    frame = table().with_columns(
        pl.when((pl.col("battery_id") == "YOUNG") & (pl.col("cycle") == 100.0))
        .then(None).otherwise(pl.col("soh_percent")).alias("soh_percent")
    )  # fmt: skip
    note = forecast_histories(frame, until_soh_percent=80)["note"][-1]
    assert "missing or not a number at cycle 100;" in note
