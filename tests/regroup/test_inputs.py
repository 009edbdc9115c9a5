"""Inventory and constraints files: the contract, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from echelon.errors import ConfigError, SchemaError
from echelon.regroup import (
    RegroupConstraints,
    load_constraints,
    read_inventory,
    validate_inventory,
)

GOOD = """battery_id,chemistry,model,capacity_ah,dcir_ohm,self_discharge_mv_per_day,grade
A1,LiFePO4,M1,28.1,0.0031,1.2,b
A2,lfp,M1,27.5,0.0033,,A
"""


def test_csv_inventory_is_normalised(tmp_path: Path) -> None:
    path = tmp_path / "inv.csv"
    path.write_text(GOOD)
    inv = read_inventory(path)
    assert inv["chemistry"].to_list() == ["LFP", "LFP"]
    assert inv["grade"].to_list() == ["B", "A"]
    assert inv["self_discharge_mv_per_day"].to_list() == [1.2, None]
    pq = tmp_path / "inv.parquet"
    inv.write_parquet(pq)
    assert read_inventory(pq).equals(inv)


def test_every_bad_row_is_reported_with_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "battery_id,chemistry,capacity_ah,dcir_ohm,grade\n"
        "A1,LFP,28,0.003,A\n"
        "A1,LFX,abc,0.003,E\n"
        ",LFP,-3,250,\n"
    )
    with pytest.raises(SchemaError) as info:
        read_inventory(path)
    text = str(info.value)
    assert str(path) in text
    assert "row 2, column 'battery_id'" in text
    assert "more than once" in text
    assert "row 2, column 'chemistry'" in text
    assert "did you mean 'LFP'" in text
    assert "row 2, column 'capacity_ah'" in text
    assert "'abc' is not a number" in text
    assert "row 2, column 'grade'" in text
    assert "row 3, column 'battery_id'" in text
    assert "empty battery_id" in text
    assert "row 3, column 'dcir_ohm': 250 outside the plausible range [0, 100] (wrong unit?" in text
    assert "row 3, column 'capacity_ah': -3 outside the plausible range" in text


def test_implausible_values_name_the_unit_mistake_as_the_grade_table_does(tmp_path: Path) -> None:
    # the ranges and messages of echelon.domain.plausible (intake manifest, `echelon grade`)
    path = tmp_path / "inv.csv"
    path.write_text(
        "battery_id,chemistry,level,capacity_ah,dcir_ohm,soh_percent,soh_lower_percent\n"
        "C1,LFP,cell,2.5,0.02,0.9,0.85\n"  # SOH as a fraction (the lower bound may be below 1.5)
        "C2,LFP,cell,2.5,12,90,88\n"  # mΩ written as Ω
        "M1,NMC622,module,60000,0.012,90,88\n"  # mAh written as Ah
        "M2,NMC622,module,60,12,90,0\n"  # 12 Ω is plausible for a module; a clipped lower bound
    )
    with pytest.raises(SchemaError) as info:
        read_inventory(path)
    assert str(path) in str(info.value)
    assert {(p.row, p.column): p.message for p in info.value.problems} == {
        (1, "soh_percent"): "0.9 outside the plausible range [1.5, 150] "
        "(wrong unit? SOH written as a fraction: write 90)",
        (2, "dcir_ohm"): "12 outside the plausible range [0, 5] for a cell "
        "(wrong unit? mΩ written as Ω: write 0.012)",
        (3, "capacity_ah"): "60000 outside the plausible range [0, 5000] for a module "
        "(wrong unit? mAh written as Ah: write 60)",
    }


def test_a_zero_capacity_or_resistance_cannot_be_regrouped() -> None:
    frame = pl.DataFrame(
        {
            "battery_id": ["a", "b"],
            "chemistry": ["LFP", "LFP"],
            "capacity_ah": [0.0, 2.5],
            "dcir_ohm": [0.02, 0.0],
        }
    )
    with pytest.raises(SchemaError) as info:
        validate_inventory(frame, source="inv.csv")
    problems = {(p.row, p.column): p.message for p in info.value.problems}
    assert set(problems) == {(1, "capacity_ah"), (2, "dcir_ohm")}
    assert problems[1, "capacity_ah"].startswith("0 cannot be regrouped: a unit without capacity")
    assert problems[2, "dcir_ohm"].startswith("0 cannot be regrouped: a parallel block's")


def test_missing_column_and_unsupported_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"'dcir_ohm'.*did you mean 'dcir_mohm'"):
        validate_inventory(
            pl.DataFrame(
                {"battery_id": ["a"], "chemistry": ["LFP"], "capacity_ah": [1.0], "dcir_mohm": [3]}
            ),
            source="x.csv",
        )
    other = tmp_path / "inv.xlsx"
    other.write_text("x")
    with pytest.raises(SchemaError, match=r"workbook, not a CSV file: save the sheet as CSV"):
        read_inventory(other)
    with pytest.raises(SchemaError, match="not found"):
        read_inventory(tmp_path / "missing.csv")


def test_soh_interval_becomes_capacity_interval() -> None:
    inv = validate_inventory(
        pl.DataFrame(
            {
                "battery_id": ["a"],
                "chemistry": ["NMC622"],
                "capacity_ah": [40.0],
                "dcir_ohm": [0.002],
                "soh_percent": [80.0],
                "soh_lower_percent": [78.0],
                "soh_upper_percent": [82.0],
            }
        )
    )
    assert inv.row(0, named=True)["capacity_lower_ah"] == pytest.approx(39.0)
    assert inv.row(0, named=True)["capacity_upper_ah"] == pytest.approx(41.0)


def test_constraints_defaults_come_from_the_catalogue() -> None:
    c = RegroupConstraints.defaults()
    assert c.same_model is True
    assert c.max_resistance_ratio == 1.5
    assert c.capacity_tolerance_fraction == 0.15
    assert [g.value for g in c.allowed_grades or ()] == ["A", "B", "C"]
    assert c.max_self_discharge_spread_mv_per_day is None


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
def test_constraints_file_overrides_and_lifts_limits(tmp_path: Path, suffix: str) -> None:
    body = {
        "max_resistance_ratio": 1.3,
        "capacity_tolerance_fraction": "none",
        "allowed_grades": ["A"],
        "model_families": {"LEAF-G1": ["AESC-33", "AESC-33B"]},
    }
    path = tmp_path / f"c{suffix}"
    if suffix == ".toml":
        path.write_text(
            'max_resistance_ratio = 1.3\ncapacity_tolerance_fraction = "none"\n'
            'allowed_grades = ["A"]\n[model_families]\n"LEAF-G1" = ["AESC-33", "AESC-33B"]\n'
        )
    elif suffix == ".json":
        path.write_text(json.dumps(body))
    else:
        path.write_text(
            "max_resistance_ratio: 1.3\ncapacity_tolerance_fraction: none\nallowed_grades: [A]\n"
            "model_families:\n  LEAF-G1: [AESC-33, AESC-33B]\n"
        )
    c = load_constraints(path)
    assert c.max_resistance_ratio == 1.3
    assert c.capacity_tolerance_fraction is None
    assert c.family_of("aesc 33b") == "LEAF-G1"
    assert c.family_of("Other-1") == c.family_of("other1")


def test_bad_constraints_files_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("max_resistence_ratio = 1.2\n")
    with pytest.raises(ConfigError, match="did you mean 'max_resistance_ratio'"):
        load_constraints(path)
    path.write_text("max_resistance_ratio = 0.5\n")
    with pytest.raises(ConfigError, match=r"c.toml: invalid constraints: max_resistance_ratio"):
        load_constraints(path)
    path.write_text("max_resistance_ratio = \n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_constraints(path)
    with pytest.raises(ConfigError, match="not found"):
        load_constraints(tmp_path / "none.toml")


def test_ungraded_inventory_says_how_to_build_anyway(tmp_path: Path) -> None:
    from echelon.errors import InfeasibleError
    from echelon.regroup import PackSpec, regroup

    rows = [f"c{i},LFP,{90 + i % 7}.0,0.00{10 + i % 5}" for i in range(20)]
    path = tmp_path / "ungraded.csv"
    path.write_text("battery_id,chemistry,capacity_ah,dcir_ohm\n" + "\n".join(rows) + "\n")
    inventory = read_inventory(path)
    with pytest.raises(InfeasibleError, match='allowed_grades = "none"') as info:
        regroup(inventory, PackSpec(series=4, parallel=2))
    assert info.value.binding_constraint == "allowed_grades"
    lifted = tmp_path / "no_grades.toml"
    lifted.write_text('allowed_grades = "none"\n')
    result = regroup(
        inventory, PackSpec(series=4, parallel=2), constraints=load_constraints(lifted)
    )
    assert result.packs.height == 2


def test_a_chinese_excel_export_reads_as_the_plain_inventory(tmp_path: Path) -> None:
    plain = tmp_path / "inv.csv"
    plain.write_text(GOOD)
    exported = tmp_path / "库存.csv"
    text = GOOD.replace(",", "\t").replace("M1", "模组1").replace("\n", "\r\n") + "\t\t\t\r\n"
    exported.write_bytes(text.encode("gbk"))
    inv = read_inventory(exported)
    assert inv["model"].to_list() == ["模组1", "模组1"]
    assert inv.drop("model").equals(read_inventory(plain).drop("model"))


def test_an_inventory_with_a_header_only_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "inv.csv"
    path.write_text(GOOD.splitlines()[0] + "\n")
    with pytest.raises(SchemaError, match="the inventory has a header but no rows"):
        read_inventory(path)


def test_an_unknown_level_is_named_not_ignored(tmp_path: Path) -> None:
    # a typo would silently drop the cell's tighter plausible ranges (12 Ω passes as a module's)
    path = tmp_path / "inv.csv"
    path.write_text(
        "battery_id,chemistry,level,capacity_ah,dcir_ohm\nC1,LFP,celll,2.5,0.02\nC2,LFP,Cell,2.5,0.02\n"
    )
    with pytest.raises(SchemaError) as info:
        read_inventory(path)
    assert [(p.row, p.column) for p in info.value.problems] == [(1, "level")]
    assert "unknown level 'celll' (did you mean 'cell'?); allowed: cell, module, pack or empty" in (
        str(info.value)
    )


def test_missing_capacity_points_to_the_measured_capacity_not_the_nameplate() -> None:
    base = {"battery_id": ["U1"], "chemistry": ["LFP"], "dcir_ohm": [0.01]}
    with pytest.raises(SchemaError) as info:
        validate_inventory(pl.DataFrame({**base, "nominal_capacity_ah": [100.0]}))
    message = str(info.value)
    assert "did you mean 'nominal_capacity_ah'" not in message
    assert "'measured_capacity_ah' is accepted" in message
    assert "--from-registry" in message
    graded = validate_inventory(pl.DataFrame({**base, "measured_capacity_ah": [91.5]}))
    assert graded["capacity_ah"].to_list() == [91.5]
