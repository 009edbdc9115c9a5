"""``echelon regroup`` on a grading export (``echelon batteries --format grading``): the measured
capacity, else SOH × rated capacity; rows without a capacity or a DCIR are left out with the
reason, not the whole table refused."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.regroup import load_inventory
from echelon.regroup.inventory import NO_CAPACITY, NO_DCIR

runner = CliRunner()


def export(tmp_path: Path) -> Path:
    """An export-like table: eight LFP cells measured or estimated, one with neither, one
    without a DCIR (the grading table's columns; no ``capacity_ah``, no grade)."""
    rows = [
        {"battery_id": f"M{i}", "measured_capacity_ah": 90.0 + i, "soh_percent": 90.0 + i}
        for i in range(4)
    ]
    rows += [
        {"battery_id": f"E{i}", "measured_capacity_ah": None, "soh_percent": 88.0 + i}
        for i in range(4)
    ]
    rows += [
        {"battery_id": "NONE", "measured_capacity_ah": None, "soh_percent": None},
        {"battery_id": "NODCIR", "measured_capacity_ah": 92.0, "soh_percent": 92.0},
    ]
    frame = pl.DataFrame(rows, schema_overrides={"measured_capacity_ah": pl.Float64}).with_columns(
        chemistry=pl.lit("LFP"),
        level=pl.lit("cell"),
        model=pl.lit("C100"),
        nominal_capacity_ah=pl.lit(100.0),
        nominal_voltage_v=pl.lit(3.2),
        soh_lower_percent=pl.col("soh_percent") - 2.0,
        ocv_v=pl.lit(3.3),
        dcir_ohm=pl.when(pl.col("battery_id") == "NODCIR").then(None).otherwise(pl.lit(0.0005)),
    )
    path = tmp_path / "routed.csv"
    frame.write_csv(path)
    return path


def test_an_export_gives_measured_else_estimated_capacity_and_leaves_out_the_rest(
    tmp_path: Path,
) -> None:
    selected = load_inventory(export(tmp_path))
    capacity = dict(selected.inventory.select("battery_id", "capacity_ah").iter_rows())
    assert capacity["M1"] == pytest.approx(91.0)  # measured
    assert capacity["E2"] == pytest.approx(90.0)  # 90 % of the rated 100 A·h
    lower = dict(selected.inventory.select("battery_id", "capacity_lower_ah").iter_rows())
    assert lower["E2"] == pytest.approx(88.0)  # from the SOH lower bound
    assert dict(selected.skipped.iter_rows()) == {"NONE": NO_CAPACITY, "NODCIR": NO_DCIR}


def test_regroup_on_an_export_builds_packs_and_lists_the_rows_left_out(tmp_path: Path) -> None:
    constraints = tmp_path / "c.toml"
    constraints.write_text('allowed_grades = "none"\n')
    out = tmp_path / "packs.csv"
    args = ["regroup", str(export(tmp_path)), "--series", "4", "--parallel", "2",
            "--constraints", str(constraints), "-o", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 row(s) without a capacity or a DCIR skipped" in result.output
    assert sorted(pl.read_csv(out)["battery_id"].to_list()) == sorted(
        [*(f"M{i}" for i in range(4)), *(f"E{i}" for i in range(4))]
    )
    excluded = dict(pl.read_csv(out.with_name("packs_excluded.csv")).iter_rows())
    assert excluded == {"NONE": NO_CAPACITY, "NODCIR": NO_DCIR}


def test_without_grades_the_refusal_points_to_the_registry(tmp_path: Path) -> None:
    args = ["regroup", str(export(tmp_path)), "--series", "4", "--parallel", "2",
            "-o", str(tmp_path / "p.csv")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 8, result.output
    assert "--from-registry takes the grades recorded" in " ".join(result.output.split())
    assert (tmp_path / "p_excluded.csv").exists()  # the rows left out, all the same


def test_a_table_without_battery_id_is_still_refused_naming_the_column(tmp_path: Path) -> None:
    path = tmp_path / "inv.csv"
    path.write_text("chemistry,capacity_ah,dcir_ohm\nLFP,,0.01\nLFP,90,0.01\n")
    result = runner.invoke(app, ["regroup", str(path), "-s", "1", "-p", "1",
                                 "-o", str(tmp_path / "p.csv")])  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "battery_id" in result.output
