"""User tables as spreadsheets in Europe, China and the US export them: read the same, or refused
with the file, row and column named and what to do."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from echelon.errors import ManifestError, SchemaError
from echelon.io.table import read_table

HEADER = ["battery_id", "model", "capacity_ah", "ocv_v"]
ROWS = [["B1", "Müller", "100", "3.31"], ["B2", "宁德时代", "60.5", "3.65"]]
NUMERIC = ("capacity_ah", "ocv_v")
EXPECTED = [
    {"battery_id": "B1", "model": "Müller", "capacity_ah": "100", "ocv_v": "3.31"},
    {"battery_id": "B2", "model": "宁德时代", "capacity_ah": "60.5", "ocv_v": "3.65"},
]


def text(
    sep: str = ",", decimal: str = ".", newline: str = "\n", rows: list[list[str]] = ROWS
) -> str:
    body = [[v.replace(".", decimal) if v[0].isdigit() else v for v in row] for row in rows]
    return newline.join(sep.join(row) for row in [HEADER, *body]) + newline


def rows_of(path: Path) -> list[dict[str, str | None]]:
    return read_table(path, numeric=NUMERIC).to_dicts()


VARIANTS = {
    "utf8.csv": text().encode(),
    "excel-eu.csv": b"\xef\xbb\xbf" + text(";", ",", "\r\n").encode(),
    "semicolon.csv": text(";", ",").encode(),
    "utf16-tab.csv": text("\t").encode("utf-16"),
    "utf16-comma.csv": text().encode("utf-16"),
    "gbk.csv": text().replace("Müller", "M").encode("gbk"),
    "tab.tsv": text("\t").encode(),
    "pipes.txt": text("|").encode(),
    "trailing-lines.csv": (text(";", ",") + "\n;;;\n;;;\n\n").encode(),
    "padded.csv": text(", ").replace("\n", " \n").encode(),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_spreadsheet_exports_read_the_same(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(VARIANTS[name])
    expected = [dict(r) for r in EXPECTED]
    if name == "gbk.csv":
        expected[0]["model"] = "M"
    assert rows_of(path) == expected


def test_latin1_is_not_read_as_chinese(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(text().replace("宁德时代", "Köln").encode("cp1252"))
    assert [r["model"] for r in rows_of(path)] == ["Müller", "Köln"]


def test_missing_words_and_unambiguous_thousands(tmp_path: Path) -> None:
    us = tmp_path / "us.csv"
    us.write_text('battery_id,capacity_ah,ocv_v\nB1,"1,200.5",NA\nB2,7,n/a\nB3,8,-\nB4,9,#N/A\n')
    assert read_table(us, numeric=NUMERIC)["capacity_ah"].to_list() == ["1200.5", "7", "8", "9"]
    assert read_table(us, numeric=NUMERIC)["ocv_v"].null_count() == 4
    eu = tmp_path / "eu.csv"
    eu.write_text("battery_id;capacity_ah;ocv_v\nB1;1.200,5;3,7\n")
    assert read_table(eu, numeric=NUMERIC).row(0) == ("B1", "1200.5", "3.7")


def test_missing_words_stay_in_text_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("battery_id,region,capacity_ah\nB1,NA,NA\n")
    assert read_table(path, numeric=NUMERIC).row(0) == ("B1", "NA", None)


BAD_CELLS = [
    pytest.param("B1,3.7 V\n", "row 1, column 'ocv_v': '3.7 V' has a unit", id="unit"),
    pytest.param("B1,90%\n", "row 1, column 'ocv_v': '90%' has a unit", id="percent"),
    pytest.param('B1,"1,200"\n', r"'1,200' has an ambiguous separator", id="thousands"),
    pytest.param('B1,"3,7"\n', "decimal comma in a comma-separated file", id="decimal-comma"),
]


@pytest.mark.parametrize(("body", "match"), BAD_CELLS)
def test_bad_numbers_are_located(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text("battery_id,ocv_v\n" + body)
    with pytest.raises(SchemaError, match=match) as info:
        read_table(path, numeric=NUMERIC)
    assert str(path) in str(info.value)


def test_ambiguous_thousands_in_a_decimal_comma_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("battery_id;capacity_ah;ocv_v\nB1;1.200;3,7\n")
    with pytest.raises(SchemaError, match=r"row 1, column 'capacity_ah': '1\.200' has an ambig"):
        read_table(path, numeric=NUMERIC)


def parquet(path: Path) -> None:
    pl.DataFrame(EXPECTED).write_parquet(path)


def truncated_parquet(path: Path) -> None:
    parquet(path)
    path.write_bytes(path.read_bytes()[:200])


UNREADABLE = [
    pytest.param("t.csv", b"", r"empty \(0 bytes\)", id="empty"),
    pytest.param("t.csv", b"battery_id,ocv_v\r\n\r\n", "header but no rows", id="header-only"),
    pytest.param("t.csv", b"\n \n", "only empty lines", id="blank-lines"),
    pytest.param("t.xlsx", b"PK\x03\x04rest", "workbook, not a CSV file: save", id="xlsx"),
    pytest.param("t.csv", b"PK\x03\x04rest", "workbook, not a CSV file: save", id="xlsx-as-csv"),
    pytest.param("t.parquet", truncated_parquet, "truncated or corrupt", id="truncated-parquet"),
    pytest.param("t.parquet", b"battery_id\nB1\n", "not a Parquet file", id="csv-as-parquet"),
    pytest.param("t.json", b"[]", "unsupported table file type '.json'", id="suffix"),
    pytest.param(
        "t.csv", b"a,b\n1,2\n1,2,3\n", "row 2: 3 fields where the header has 2", id="ragged"
    ),
    pytest.param("t.csv", b"a,b,a\n1,2,3\n", "column 'a': named twice", id="repeated-column"),
    pytest.param("t.csv", b"\x00\x01\x02binary", "not a text table", id="binary"),
]


@pytest.mark.parametrize(("name", "content", "match"), UNREADABLE)
def test_unreadable_tables_say_what_to_do(
    tmp_path: Path, name: str, content: bytes | object, match: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        content(path)  # type: ignore[operator]
    with pytest.raises(SchemaError, match=match) as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_a_folder_or_missing_file_is_named_with_the_callers_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="is a folder: give the manifest file inside it"):
        read_table(tmp_path, what="manifest", error=ManifestError)
    with pytest.raises(ManifestError, match="manifest file not found"):
        read_table(tmp_path / "m.csv", what="manifest", error=ManifestError)


def test_unnamed_empty_columns_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("battery_id;ocv_v;;\nB1;3,7;;\nB2;3,6;;x\n")
    frame = read_table(path, numeric=NUMERIC)
    assert frame.columns == ["battery_id", "ocv_v", "column_4"]
    assert frame["ocv_v"].to_list() == ["3.7", "3.6"]


@pytest.mark.parametrize(
    ("body", "cell"),
    [
        pytest.param("B1\t1,200\nB2\t15,000\n", "1,200", id="tab-thousands-commas"),
        pytest.param("B1;1.200\nB2;350\n", "1.200", id="semicolon-thousands-points"),
    ],
)
def test_thousands_alone_are_ambiguous_not_decimals(tmp_path: Path, body: str, cell: str) -> None:
    """With no cell that shows the decimal mark, 1,200 and 1.200 are refused, never read as 1.2
    (a US tab export of whole masses was read 1000× too small)."""
    path = tmp_path / "t.csv"
    sep = "\t" if "\t" in body else ";"
    path.write_text(f"battery_id{sep}capacity_ah\n" + body)
    with pytest.raises(SchemaError, match=rf"row 1, column 'capacity_ah': '{cell}' has an ambig"):
        read_table(path, numeric=NUMERIC)


def test_other_cells_decide_what_1_200_means(tmp_path: Path) -> None:
    comma = tmp_path / "comma.csv"
    comma.write_text("battery_id;capacity_ah;ocv_v\nB1;1,200;3,7\n")  # 3,7: decimal commas
    assert read_table(comma, numeric=NUMERIC).row(0) == ("B1", "1.200", "3.7")
    point = tmp_path / "point.csv"
    point.write_text("battery_id;capacity_ah;ocv_v\nB1;1.200;3.7\n")  # 3.7: decimal points
    assert read_table(point, numeric=NUMERIC).row(0) == ("B1", "1.200", "3.7")


def test_scientific_numbers_with_a_decimal_comma(tmp_path: Path) -> None:
    """European Excel's scientific format (2,5E-1) is a number, not 'a unit after the number'."""
    path = tmp_path / "t.csv"
    path.write_text("battery_id;capacity_ah;ocv_v\nB1;9,0E+01;3,0E-02\n")
    assert read_table(path, numeric=NUMERIC).row(0) == ("B1", "9.0E+01", "3.0E-02")


def test_rows_polars_would_refuse_are_read_or_located(tmp_path: Path) -> None:
    """A separator ending one data row, an inch mark inside a value and Excel's 'sep=;' line are
    read; a quote never closed is an error at the row it opens (not the CSV library's text)."""
    trail = tmp_path / "trail.csv"
    trail.write_text("battery_id;capacity_ah\nB1;2,5\nB2;3,5;\n")
    assert read_table(trail, numeric=NUMERIC)["capacity_ah"].to_list() == ["2.5", "3.5"]
    inch = tmp_path / "inch.csv"
    inch.write_text('battery_id,model\nB1,12" module\n')
    assert read_table(inch).row(0) == ("B1", '12" module')
    excel = tmp_path / "excel.csv"
    excel.write_text("sep=;\nbattery_id;capacity_ah\nB1;2,5\n")
    assert read_table(excel, numeric=NUMERIC).row(0) == ("B1", "2.5")
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('battery_id,model\nB1,"x, y"\nB2,"never closed\nB3,z\n')
    with pytest.raises(SchemaError, match=r"row 2: unreadable quoting .* must close it"):
        read_table(quoted)
