"""`to_grading_table`: units' records and latest measurements → the grading table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from echelon.domain.records import SOH_OUT_OF_DOMAIN_TAG
from echelon.grading import GRADING_SCHEMA, to_grading_table
from echelon.grading.reader import read_grading_table
from echelon.grading.table import MEASURED_FROM

UNITS = pl.DataFrame(
    {
        "battery_id": ["A", "B", "C"],
        "chemistry": ["NMC622", "LFP", "LMO"],
        "level": ["module", "cell", "pack"],
        "model": ["M", None, "P"],
        "series_count": [12, 1, 96],
        "nominal_capacity_ah": [60.0, 100.0, 50.0],
        "nominal_voltage_v": [43.2, None, 355.0],
        "visual_flags": ["", "swelling", ""],
        "has_traceability": [True, None, False],
        "calendar_expiry_date": [dt.date(2035, 1, 1), None, None],
        "status": ["routed", "quarantined", "tested"],  # listing columns: ignored
        "capacity_ah": [51.0, None, None],
        "measured_capacity_ah": [50.0, 80.0, None],
        "ocv_v": [None, 3.3, 370.0],
        "rest_voltage_v": [44.1, 3.2, None],
        "dcir_ohm": [0.012, 0.0004, None],
        "soh_percent": [85.0, 80.0, 91.0],
        "soh_lower_percent": [84.0, 79.0, 80.0],
        "soh_method": ["capacity_test", "capacity_test", f"pulse:pulse-u21{SOH_OUT_OF_DOMAIN_TAG}"],
    }
)


def test_columns_are_exactly_the_grading_schema_in_order() -> None:
    table = to_grading_table(UNITS)
    assert table.schema == pl.Schema(GRADING_SCHEMA)
    assert table["battery_id"].to_list() == ["A", "B", "C"]


def test_record_and_soh_columns_pass_through() -> None:
    table = to_grading_table(UNITS)
    derived = {*MEASURED_FROM, "visual_flags"}
    same = [c for c in GRADING_SCHEMA if c in UNITS.columns and c not in derived]
    assert len(same) == 11
    assert table.select(same).equals(UNITS.select(same))


def test_measured_quantities_fill_their_columns_first_present_first() -> None:
    rows = {r["battery_id"]: r for r in to_grading_table(UNITS).iter_rows(named=True)}
    # a capacity test's capacity before the manifest's; the manifest's when there is no test
    assert [rows[b]["measured_capacity_ah"] for b in "ABC"] == [51.0, 80.0, None]
    # an OCV measured on arrival before the rest voltage that opens a tester file
    assert [rows[b]["ocv_v"] for b in "ABC"] == [44.1, 3.3, 370.0]
    assert [rows[b]["soh_out_of_domain"] for b in "ABC"] == [False, False, True]
    assert [rows[b]["visual_flags"] for b in "ABC"] == [None, "swelling", None]  # "" = none
    assert rows["A"]["calendar_expiry_date"] == dt.date(2035, 1, 1)
    assert rows["C"]["has_traceability"] is False
    # what neither a record nor a measurement gives stays empty
    for column in ("reference_dcir_ohm", "plating_signature", "insulation_mohm", "region"):
        assert {rows[b][column] for b in "ABC"} == {None}


def test_the_table_reads_back_unchanged(tmp_path: Path) -> None:
    table = to_grading_table(UNITS)
    for suffix in (".csv", ".parquet"):
        path = tmp_path / f"units{suffix}"
        if suffix == ".csv":
            table.write_csv(path)
        else:
            table.write_parquet(path)
        assert read_grading_table(path).select(list(GRADING_SCHEMA)).equals(table), suffix


@pytest.mark.parametrize("units", [pl.DataFrame(), UNITS.clear()], ids=["no columns", "no rows"])
def test_no_units_give_an_empty_table_with_the_schema(units: pl.DataFrame) -> None:
    table = to_grading_table(units)
    assert table.height == 0
    assert table.schema == pl.Schema(GRADING_SCHEMA)
