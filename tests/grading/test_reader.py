"""Reading measurement tables for `echelon grade`: every bad cell reported at once."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from echelon.errors import SchemaError
from echelon.grading.reader import absent_columns, read_grading_table

HEADER = "battery_id,chemistry,level,nominal_capacity_ah,soh_percent,soh_lower_percent,dcir_ohm,"
HEADER += "visual_flags,has_traceability,calendar_expiry_date,region\n"


def write(tmp_path: Path, body: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def test_a_good_table_is_typed_and_normalised(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "U1,NMC622,Module,60,90,88,0.01,swollen; leak,yes,2030-01-01,eu\nU2,LFP,cell,,,,,,,,\n",
    )
    frame = read_grading_table(path)
    assert frame.schema["soh_percent"] == pl.Float64
    assert frame.schema["has_traceability"] == pl.Boolean
    assert frame.schema["calendar_expiry_date"] == pl.Date
    first = frame.row(0, named=True)
    assert (first["level"], first["region"]) == ("module", "EU")
    assert first["visual_flags"] == "leakage;swelling"
    assert frame.row(1, named=True)["soh_percent"] is None  # empty is fine: graded conservatively
    parquet = tmp_path / "t.parquet"
    frame.write_parquet(parquet)
    assert read_grading_table(parquet).equals(frame)


def test_every_bad_cell_is_reported_with_row_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "U1,NMC622,modul,sixty,190,,0.01,,maybe,2030-13-01,EU\n"
        "U1,LFP,cell,3,80,85,,cracked,,,\n"
        ",LFP,cell,3,80,,,,,,\n",
    )
    with pytest.raises(SchemaError) as info:
        read_grading_table(path)
    text = str(info.value)
    for fragment in (
        "row 1, column 'nominal_capacity_ah': 'sixty' is not a number",
        "row 1, column 'soh_percent': 190 outside the plausible range [1.5, 150] (wrong unit?)",
        "row 1, column 'has_traceability': 'maybe'",
        "row 1, column 'calendar_expiry_date': '2030-13-01' is not a YYYY-MM-DD date",
        "row 1, column 'level'",
        "did you mean 'module'",
        "row 2, column 'soh_lower_percent': 85.0 is above soh_percent",
        "row 2, column 'visual_flags'",
        "column 'battery_id': 'U1' appears more than once",
        "row 3, column 'battery_id': (empty) — every unit needs a battery_id",
    ):
        assert fragment in text, fragment
    assert str(path) in text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.xlsx", "x", "workbook, not a CSV file: save the sheet as CSV"),
        ("t.csv", "chemistry\nLFP\n", "column 'battery_id': required column missing"),
        ("missing.csv", None, "measurements table file not found"),
        ("empty.csv", "battery_id,soh_percent\n", "no rows"),
    ],
)
def test_unreadable_tables_say_why(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SchemaError, match=message):
        read_grading_table(path)


def test_absent_columns_name_the_whole_table_fallback(tmp_path: Path) -> None:
    # ocv_v is absent, insulation_mohm empty in every row, soh_percent present
    path = tmp_path / "t.csv"
    path.write_text("battery_id,level,soh_percent,insulation_mohm\nU1,pack,90,\nU2,pack,,\n")
    notes = absent_columns(read_grading_table(path))
    assert any(n.startswith("column ocv_v absent: every unit fails the safety gate") for n in notes)
    assert any(n.startswith("column insulation_mohm empty: every pack fails") for n in notes)
    assert not any("measured_capacity_ah" in n for n in notes)  # soh_percent is given
    assert len(notes) == len(set(notes))  # one line per column, not per row


def test_implausible_values_name_the_likely_unit_mistake(tmp_path: Path) -> None:
    # the same ranges and messages as the intake manifest (echelon.domain.plausible)
    path = write(
        tmp_path,
        "M1,NMC622,module,60,0.9,0.88,0.012,,yes,,EU\n"  # SOH as a fraction
        "C1,LFP,cell,100,90,,12,,yes,,EU\n"  # mΩ written as Ω
        "M2,NMC622,module,60000,90,,0.012,,yes,,EU\n"  # mAh written as Ah
        "P1,NMC622,pack,60,90,,12,,yes,,EU\n",  # 12 Ω is plausible for a pack
    )
    with pytest.raises(SchemaError) as info:
        read_grading_table(path)
    problems = {(p.row, p.column): p.message for p in info.value.problems}
    assert problems == {
        (1, "soh_percent"): "0.9 outside the plausible range [1.5, 150] "
        "(wrong unit? SOH written as a fraction: write 90)",
        (2, "dcir_ohm"): "12 outside the plausible range [0, 5] for a cell "
        "(wrong unit? mΩ written as Ω: write 0.012)",
        (3, "nominal_capacity_ah"): "60000 outside the plausible range [0.001, 5000] for a module "
        "(wrong unit? mAh written as Ah: write 60)",
    }


def test_a_measured_capacity_far_above_the_rated_one_is_refused(tmp_path: Path) -> None:
    """1,400 A·h of a 2 A·h cell is each plausible alone but an SOH of 70,000 % (graded A before
    2026-12-07); 3 A·h of 2 A·h (150 %) is still read."""
    path = tmp_path / "m.csv"
    path.write_text(
        "battery_id,chemistry,level,nominal_capacity_ah,measured_capacity_ah,has_traceability\n"
        "G1,NMC622,cell,2,1400,yes\nG2,NMC622,cell,2,3,yes\n"
    )
    with pytest.raises(SchemaError) as info:
        read_grading_table(path)
    [problem] = info.value.problems
    assert (problem.row, problem.column) == (1, "measured_capacity_ah")
    assert problem.message.startswith("1400 A·h is 70000 % of the rated capacity, above the")


def test_a_dead_unit_and_a_clipped_lower_bound_are_plausible(tmp_path: Path) -> None:
    """SOH 0 (nothing left reads 0 in any unit) and a lower bound clipped at 0 % (as the SOH
    models and `soh predict` write it) are read; 0.4 is still taken for a fraction."""
    path = write(
        tmp_path,
        "D1,LFP,cell,100,0,0,0.002,,yes,,EU\nW1,LFP,cell,100,62,0,0.002,,yes,,EU\n",
    )
    table = read_grading_table(path)
    assert table.get_column("soh_percent").to_list() == [0.0, 62.0]
    assert table.get_column("soh_lower_percent").to_list() == [0.0, 0.0]
    bad = write(tmp_path, "F1,LFP,cell,100,0.4,0,0.002,,yes,,EU\n")
    with pytest.raises(SchemaError) as info:
        read_grading_table(bad)
    assert [(p.column, p.message) for p in info.value.problems] == [
        (
            "soh_percent",
            "0.4 outside the plausible range [1.5, 150] "
            "(wrong unit? SOH written as a fraction: write 40)",
        )
    ]


def test_a_european_excel_export_reads_as_the_comma_table(tmp_path: Path) -> None:
    comma = write(tmp_path, "U1,NMC622,module,60,90.5,88,0.0105,,yes,2030-01-01,eu\n")
    excel = tmp_path / "excel.csv"
    rows = comma.read_text().replace(",", ";").replace("90.5", "90,5").replace("0.0105", "0,0105")
    excel.write_bytes(b"\xef\xbb\xbf" + rows.replace("\n", "\r\n").encode() + b";;;;;;;;;;\r\n")
    assert read_grading_table(excel).equals(read_grading_table(comma))


def test_missing_value_words_are_empty_cells(tmp_path: Path) -> None:
    path = write(tmp_path, "U1,LFP,cell,100,NA,n/a,-,,,,\n")
    row = read_grading_table(path).row(0, named=True)
    assert (row["soh_percent"], row["soh_lower_percent"], row["dcir_ohm"]) == (None, None, None)


@pytest.mark.parametrize(
    ("writer", "suffix"), [("bitrode_csv", ".csv"), ("nebula_steps_xlsx", ".xlsx")]
)
def test_a_tester_file_given_to_grade_is_named_as_one(
    tmp_path: Path, writer: str, suffix: str
) -> None:
    """`echelon grade tester.csv` said ``column '0.00': named twice in the header`` (walkthrough
    item 6): it now says a tester reader recognises it and what grade reads."""
    from echelon.errors import SchemaError
    from echelon.grading.reader import read_grading_table
    from tests.io import formats
    from tests.io.test_readers import sample_frame

    path = tmp_path / f"cell1{suffix}"
    getattr(formats, writer)(sample_frame(), path)
    with pytest.raises(SchemaError) as info:
        read_grading_table(path)
    message = str(info.value)
    assert f"looks like a tester file ({writer}), not a table of units" in message
    assert "named twice" not in message
