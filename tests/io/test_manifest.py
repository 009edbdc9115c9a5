"""Manifests: every problem reported at once (row, column, suggestion); CSV, Parquet and JSON."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

import polars as pl
import pytest

from echelon.domain import Chemistry, TestKind
from echelon.errors import ManifestError
from echelon.io import read_manifest

GOOD = [
    {
        "battery_id": "P1",
        "level": "pack",
        "chemistry": "NMC622",
        "nominal_capacity_ah": "60",
        "series_count": "96",
        "nominal_voltage_v": "350",
    },
    {
        "battery_id": "P1-M1",
        "parent_id": "P1",
        "level": "module",
        "chemistry": "NCM622",
        "nominal_capacity_ah": "60",
        "series_count": "12",
        "ocv_v": "44.1",
        "test_files": "capacity:tests/m1_cap.csv;tests/m1_pulse.csv",
        "x_bay": "3",
    },
]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    pl.DataFrame(rows).write_csv(path)
    return path


@pytest.mark.parametrize("kind", ["csv", "json", "parquet"])
def test_good_manifest_in_every_format(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"m.{kind}"
    if kind == "csv":
        write_csv(path, GOOD)
    elif kind == "json":
        path.write_text(json.dumps({"units": GOOD}))
    else:
        pl.DataFrame(GOOD).write_parquet(path)
    manifest = read_manifest(path)
    assert len(manifest) == 2
    assert len(manifest.sha256) == 64
    module = manifest.units[1]
    assert module.battery.chemistry is Chemistry.NMC622
    assert module.measurements == {"ocv_v": 44.1}
    assert module.attributes == {"x_bay": "3"}
    assert [r.kind for r in module.test_files] == [TestKind.CAPACITY, None]
    assert module.test_files[0].path == (tmp_path / "tests" / "m1_cap.csv").resolve()


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    rows = [
        {
            "battery_id": "A",
            "level": "cell",
            "chemistry": "NMC81",
            "nominal_capacity_ah": "-2",
            "ocv_v": "abc",
            "nominal_capacty_ah": "",
        },
        {
            "battery_id": "A",
            "level": "cell",
            "chemistry": "LFP",
            "nominal_capacity_ah": "3",
            "ocv_v": "3300",
        },
        {
            "battery_id": "C",
            "level": "cell",
            "chemistry": "LFP",
            "nominal_capacity_ah": "3",
            "has_traceability": "maybe",
            "calendar_expiry_date": "2030-13-01",
        },
    ]
    with pytest.raises(ManifestError) as info:
        read_manifest(write_csv(tmp_path / "bad.csv", rows))
    text = str(info.value)
    for expected in [
        "column 'nominal_capacty_ah': unknown column (did you mean 'nominal_capacity_ah'?)",
        "row 1, column 'chemistry'",
        "did you mean 'NMC811'",
        "row 1, column 'nominal_capacity_ah'",
        "row 1, column 'ocv_v': 'abc' is not a number",
        "row 2, column 'ocv_v': 3300 outside the plausible range [0, 2000] "
        "(wrong unit? mV written as V: write 3.3)",
        "row 2, column 'battery_id': duplicate battery_id 'A'",
        "row 3, column 'has_traceability'",
        "row 3, column 'calendar_expiry_date'",
    ]:
        assert expected in text, expected


def test_missing_required_columns(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="column 'chemistry': required column missing"):
        read_manifest(
            write_csv(
                tmp_path / "m.csv",
                [{"battery_id": "A", "level": "cell", "nominal_capacity_ah": "1"}],
            )
        )


def test_parent_level_checked(tmp_path: Path) -> None:
    rows = [
        {"battery_id": "C1", "level": "cell", "chemistry": "LFP", "nominal_capacity_ah": "3"},
        {
            "battery_id": "M1",
            "parent_id": "C1",
            "level": "module",
            "chemistry": "LFP",
            "nominal_capacity_ah": "3",
            "series_count": "4",
        },
    ]
    with pytest.raises(ManifestError, match="row 2, column 'parent_id': parent is a cell"):
        read_manifest(write_csv(tmp_path / "m.csv", rows))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("m.xlsx", "x", "workbook, not a CSV file: save the sheet as CSV"),
        ("m.json", "[1, 2]", "list of objects"),
        ("m.json", "{not json", "cannot parse"),
        ("m.csv", "battery_id,level,chemistry,nominal_capacity_ah\n", "no rows"),
    ],
)
def test_unreadable_manifests(tmp_path: Path, name: str, content: str, message: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(tmp_path / name)


def test_implausible_values_for_the_level_name_the_unit_mistake(tmp_path: Path) -> None:
    rows = [
        {
            "battery_id": bid,
            "level": level,
            "chemistry": "LFP",
            "nominal_capacity_ah": capacity,
            "dcir_ohm": "12",
        }
        for bid, level, capacity in (("C1", "cell", "100"), ("M1", "module", "60000"))
    ]
    with pytest.raises(ManifestError) as info:
        read_manifest(write_csv(tmp_path / "units.csv", rows))
    text = str(info.value)
    assert "row 1, column 'dcir_ohm': 12 outside the plausible range [0, 5] for a cell " in text
    assert "mΩ written as Ω: write 0.012" in text
    assert "row 2, column 'nominal_capacity_ah': 60000 outside the plausible range" in text
    assert "mAh written as Ah: write 60" in text
    assert "row 2, column 'dcir_ohm'" not in text  # 12 Ω is plausible for a module


@pytest.mark.parametrize("encoding", ["utf-16", "gbk"])
def test_excel_exports_read_as_the_plain_csv(tmp_path: Path, encoding: str) -> None:
    plain = write_csv(tmp_path / "m.csv", GOOD)
    text = pl.DataFrame(GOOD).write_csv(separator=";").replace("44.1", "44,1")  # quotes test_files
    exported = tmp_path / "excel.csv"
    exported.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    assert read_manifest(exported).units == read_manifest(plain).units


def test_missing_value_words_in_a_measurement_are_empty(tmp_path: Path) -> None:
    rows = [dict(GOOD[0], ocv_v="n/a"), dict(GOOD[1], ocv_v="NA", x_bay="-")]
    units = read_manifest(write_csv(tmp_path / "m.csv", rows)).units
    assert [u.measurements for u in units] == [{}, {}]
    assert units[1].attributes == {"x_bay": "-"}  # a custom column keeps what it says


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("battery_id", "is empty: give the unit's id"),
        ("chemistry", "is empty: give the chemistry from the label or datasheet (LFP, NMC111"),
        ("level", "is empty: give the level (cell, module or pack)"),
        ("nominal_capacity_ah", "is empty: give the rated capacity of the whole unit in A·h"),
    ],
)
def test_an_empty_required_cell_says_what_to_give(
    tmp_path: Path, column: str, expected: str
) -> None:
    row = {"battery_id": "C1", "level": "cell", "chemistry": "LFP", "nominal_capacity_ah": "3"}
    with pytest.raises(ManifestError) as info:
        read_manifest(write_csv(tmp_path / "m.csv", [row, {**row, "battery_id": "C2", column: ""}]))
    assert info.value.problems[0].row == 2
    assert info.value.problems[0].column == column
    assert expected in info.value.problems[0].message
    assert "Field required" not in str(info.value)
    assert "(got {" not in str(info.value)


def test_a_json_row_without_a_required_key_says_what_to_give(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    row = {"battery_id": "C1", "level": "cell", "chemistry": "LFP", "nominal_capacity_ah": 3}
    without = {k: v for k, v in row.items() if k != "chemistry"}
    path.write_text(json.dumps([row, {**without, "battery_id": "C2"}]))
    with pytest.raises(ManifestError, match="row 2, column 'chemistry': is empty: give"):
        read_manifest(path)


def _unit(bid: str, parent: str, level: str, **extra: str) -> dict[str, str]:
    base = {"battery_id": bid, "parent_id": parent, "level": level, "chemistry": "NMC622"}
    return (
        base
        | {"nominal_capacity_ah": "20", "series_count": "1" if level == "cell" else "4"}
        | extra
    )


def test_genealogy_problems_come_with_the_row_problems(tmp_path: Path) -> None:
    rows = [
        _unit("C1", "", "cell", test_files="capacty:c1.csv"),  # row problem
        _unit("C2", "NOPARENT", "cell"),  # unknown parent
        _unit("M1", "M2", "module", chemistry="NMX811"),  # cycle through an invalid row
        _unit("M2", "M1", "module"),
        _unit("C3", "C1", "cell", ocv_v="abc"),  # parent a cell, row otherwise invalid
        _unit("C4", "OLDPACK", "cell"),  # registered parent
        _unit("C5", "OLDCELL", "cell"),  # registered parent of the wrong level
    ]
    registered = {"OLDPACK": "pack", "OLDCELL": "cell"}
    asked: list[set[str]] = []

    def lookup(ids: Collection[str]) -> dict[str, str]:
        asked.append(set(ids))
        return {i: registered[i] for i in ids if i in registered}

    with pytest.raises(ManifestError) as info:
        read_manifest(write_csv(tmp_path / "m.csv", rows), registered=lookup)
    found = {(p.row, p.column): p.message for p in info.value.problems}
    assert "unknown TestKind 'capacty'" in found[(1, "test_files")]
    assert "parent 'NOPARENT' is neither in this manifest nor registered" in found[(2, "parent_id")]
    assert "unknown chemistry 'NMX811'" in found[(3, "chemistry")]
    assert "M1 → M2 → M1 is a cycle" in found[(3, "parent_id")]
    assert "M2 → M1 → M2 is a cycle" in found[(4, "parent_id")]
    assert found[(5, "parent_id")].startswith("parent is a cell but C3 is a cell")
    assert (5, "ocv_v") in found
    assert (6, "parent_id") not in found
    assert found[(7, "parent_id")].startswith("parent is a cell but C5 is a cell")
    assert asked == [{"NOPARENT", "OLDPACK", "OLDCELL"}]


def test_a_cycle_with_an_unreadable_level_is_named(tmp_path: Path) -> None:
    rows = [_unit("M1", "P1", "modul"), _unit("P1", "M1", "pack")]
    with pytest.raises(ManifestError) as info:
        read_manifest(write_csv(tmp_path / "m.csv", rows))
    found = {(p.row, p.column): p.message for p in info.value.problems}
    assert "M1 → P1 → M1 is a cycle: a unit cannot contain itself" in found[(1, "parent_id")]
    assert "P1 → M1 → P1 is a cycle: a unit cannot contain itself" in found[(2, "parent_id")]
    assert (1, "level") in found


def test_without_a_registry_parents_outside_the_manifest_are_not_checked(tmp_path: Path) -> None:
    manifest = read_manifest(write_csv(tmp_path / "m.csv", [_unit("C1", "ELSEWHERE", "cell")]))
    assert manifest.units[0].battery.parent_id == "ELSEWHERE"


def test_checks_across_columns_name_their_column_and_values_are_not_repeated(
    tmp_path: Path,
) -> None:
    base = {"level": "cell", "chemistry": "LFP", "nominal_capacity_ah": "2.5"}
    rows = [
        {**base, "battery_id": "A1", "chemistry": "NMX811"},
        {**base, "battery_id": "A2", "parent_id": "A2"},
        {**base, "battery_id": "A3", "series_count": "3"},
        {
            **base,
            "battery_id": "A4",
            "manufacture_date": "2020-01-01",
            "calendar_expiry_date": "2019-01-01",
        },
    ]
    with pytest.raises(ManifestError) as info:
        read_manifest(write_csv(tmp_path / "bad.csv", rows))
    problems = {(p.row, p.column): p.message for p in info.value.problems}
    assert problems[(1, "chemistry")].count("NMX811") == 1
    assert "own parent" in problems[(2, "parent_id")]
    assert "series_count" in problems[(3, "series_count")]
    assert "before manufacture_date" in problems[(4, "calendar_expiry_date")]


@pytest.mark.parametrize(
    ("writer", "suffix"), [("bitrode_csv", ".csv"), ("nebula_steps_xlsx", ".xlsx")]
)
def test_a_tester_file_given_as_the_manifest_is_named_as_one(
    tmp_path: Path, writer: str, suffix: str
) -> None:
    """A tester export read as a manifest said ``column '0.00': named twice in the header`` (or
    ``save the sheet as CSV``): it now says which reader recognises it and what a manifest is."""
    from tests.io import formats
    from tests.io.test_readers import sample_frame

    path = tmp_path / f"cell1{suffix}"
    getattr(formats, writer)(sample_frame(), path)
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    message = str(info.value)
    assert f"looks like a tester file ({writer}), not a manifest" in message
    assert "battery_id, chemistry, level, nominal_capacity_ah" in message
    assert "named twice" not in message
    assert "save the sheet" not in message


def test_a_manifest_missing_columns_is_not_called_a_tester_file(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("id,chem\nA,LFP\n")
    with pytest.raises(ManifestError, match="required column missing") as info:
        read_manifest(path)
    assert "tester file" not in str(info.value)
