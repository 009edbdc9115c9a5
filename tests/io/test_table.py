"""User tables as spreadsheets in Europe, China and the US export them: read the same, or refused
with the file, row and column named and what to do."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from echelon.errors import ManifestError, SchemaError
from echelon.io.table import NAME_UNITS, cell_unit, column_unit, read_table

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
    pytest.param("B1,3.7 Vdc\n", "row 1, column 'ocv_v': '3.7 Vdc' has a unit", id="word"),
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


def one_column(tmp_path: Path, column: str, cells: list[str], sep: str = ",") -> Path:
    path = tmp_path / "t.csv"
    rows = [f"B{i}{sep}{cell}" for i, cell in enumerate(cells, start=1)]
    path.write_text("\n".join([f"battery_id{sep}{column}", *rows]) + "\n", encoding="utf-8")
    return path


THE_COLUMNS_UNIT = [
    ("capacity_ah", ["2.5 Ah", "2.5Ah", "2.5 AH", "2.5 A·h"], "2.5"),
    ("nominal_energy_wh", ["100 Wh", "100Wh", "100 wh"], "100"),
    ("energy_kwh", ["1.5 kWh", "1.5 kwh", "1.5 KWH"], "1.5"),
    ("ocv_v", ["3.7 V", "3.7V", "3.7 v", "3.7 volts"], "3.7"),
    ("current_a", ["2 A", "2A"], "2"),
    ("soh_percent", ["95%", "95 %", "95 ％", "95\u202f%", "95\u00a0%"], "95"),
    ("dcir_ohm", ["0.012 Ω", "0.012Ω", "0.012 \u2126", "0.012 Ohm", "0.012 ohm"], "0.012"),
    ("dcir_mohm", ["12 mΩ", "12 mOhm"], "12"),
    ("insulation_mohm", ["500 MΩ", "500 MOhm", "500 Mohm"], "500"),
    ("mass_kg", ["12 kg", "12kg", "12 KG"], "12"),
    ("mass_g", ["350 g"], "350"),
    ("temperature_celsius", ["25 °C", "25°C", "25 C", "25 ℃", "-5 °C"], None),
    ("time_day", ["30 d", "30 days", "30d"], "30"),
    ("expected_years", ["2 y", "2 years", "2 yr"], "2"),
    ("pulse_width_s", ["0.5 s"], "0.5"),
    ("self_discharge_mv_per_day", ["3 mV/d", "3 mV/day"], "3"),
    ("price_eur", ["12 €", "12 EUR", "12 eur"], "12"),
    ("value_usd", ["12 USD", "12 $"], "12"),
    ("value_cny", ["12 元", "12 RMB", "12 ¥"], "12"),
]


@pytest.mark.parametrize(("column", "cells", "number"), THE_COLUMNS_UNIT)
def test_the_unit_the_columns_name_says_is_dropped(
    tmp_path: Path, column: str, cells: list[str], number: str | None
) -> None:
    """Written with or without a space, in any case where case does not change the unit."""
    frame = read_table(one_column(tmp_path, column, cells), numeric=[column])
    expected = [number or cell.split()[0].rstrip("°C℃") for cell in cells]
    assert frame[column].to_list() == expected


def test_cells_with_and_without_the_unit_mix(tmp_path: Path) -> None:
    path = one_column(tmp_path, "capacity_ah", ["2.5 Ah", "3", "NA", "4.5Ah", ""])
    cells = read_table(path, numeric=NUMERIC)["capacity_ah"].to_list()
    assert cells == ["2.5", "3", None, "4.5", None]


OTHER_UNITS = [
    ("capacity_ah", "2500 mAh", "is in mAh, not in Ah as the column's name says: write 2.5"),
    ("capacity_ah", "2500 MAH", "is in mAh, not in Ah as the column's name says: write 2.5"),
    ("ocv_v", "3700 mV", "is in mV, not in V as the column's name says: write 3.7"),
    ("dcir_ohm", "25 mΩ", "is in mΩ, not in Ω as the column's name says: write 0.025"),
    ("dcir_ohm", "25mOhm", "is in mΩ, not in Ω as the column's name says: write 0.025"),
    ("insulation_mohm", "500 kΩ", "is in kΩ, not in MΩ as the column's name says: write 0.5"),
    ("insulation_mohm", "1 mΩ", "is in mΩ, not in MΩ as the column's name says: write 1e-09"),
    ("nominal_energy_wh", "2.5 kWh", "is in kWh, not in Wh as the column's name says: write 2500"),
    ("mass_kg", "350 g", "is in g, not in kg as the column's name says: write 0.35"),
    ("mass_kg", "10 lb", "is in lb, not in kg as the column's name says: write 4.5359237"),
    ("temperature_celsius", "77 °F", "is in °F, not in °C as the column's name says: write 25"),
    ("temperature_celsius", "298.15 K", "is in K, not in °C as the column's name says: write 25"),
    ("time_day", "2 y", "is in y, not in d as the column's name says: write 730.5"),
    ("value_usd", "12 €", "is in EUR, not in USD as the column's name says: convert it to USD"),
]


@pytest.mark.parametrize(("column", "cell", "message"), OTHER_UNITS)
def test_another_unit_of_the_quantity_is_refused_with_the_number_to_write(
    tmp_path: Path, column: str, cell: str, message: str
) -> None:
    """Never converted silently (a 1000x mistake is one unread prefix away): the message says
    the number to write, at the file, row and column."""
    path = one_column(tmp_path, column, ["1", cell])
    with pytest.raises(SchemaError) as info:
        read_table(path, numeric=[column])
    text = str(info.value)
    assert f"{path}: 1 problem(s)" in text
    assert f"row 2, column {column!r}: {cell!r} {message}" in text
    assert "name the column" not in text  # the command reads no such column


def test_renaming_is_suggested_only_to_a_column_the_command_reads(tmp_path: Path) -> None:
    path = one_column(tmp_path, "capacity_ah", ["2500 mAh"])
    with pytest.raises(SchemaError, match=r"write 2\.5, or name the column 'capacity_mah' if all"):
        read_table(path, numeric=["capacity_ah", "capacity_mah"])


OTHER_TEXT = [
    ("ocv_v", "3.7 Vdc"),  # a word Echelon does not know
    ("ocv_v", "3.7 V approx"),
    ("ocv_v", "95 %"),  # a unit of another quantity
    ("soh_percent", "3.7 V"),
    ("series_count", "14 s"),  # a name declaring no unit
    ("price_usd_per_kg", "12 kg"),  # "_kg" inside a "_per_" name declares nothing
    ("insulation_mohm", "500 mohm"),  # mΩ or MΩ? (insulation_mohm is in MΩ)
    ("dcir_ohm", "25 MOHM"),
    ("capacity_ah", "2.5 Ah Ah"),
]


@pytest.mark.parametrize(("column", "cell"), OTHER_TEXT)
def test_other_text_after_a_number_is_refused(tmp_path: Path, column: str, cell: str) -> None:
    """As before units were read, and alone: the voltage beside it, in V, is not."""
    path = tmp_path / "t.csv"
    path.write_text(f"battery_id;voltage_v;{column}\nB1;3,7 V;{cell}\n", encoding="utf-8")
    match = f"row 1, column {column!r}: {cell!r} has a unit or text after the number: write"
    with pytest.raises(SchemaError, match=re.escape(match)) as info:
        read_table(path, numeric=["voltage_v", column])
    assert f"{path}: 1 problem(s)" in str(info.value)


def test_decimal_commas_with_units(tmp_path: Path) -> None:
    """As without units: 3,7 V reads 3.7 where the fields are not separated by commas, and
    1,200 Ah is as ambiguous as 1,200."""
    path = one_column(tmp_path, "ocv_v", ["3,7 V", "3,65V", "1.200,5 V", "4"], sep=";")
    assert read_table(path, numeric=NUMERIC)["ocv_v"].to_list() == ["3.7", "3.65", "1200.5", "4"]
    kwh = one_column(tmp_path, "nominal_energy_wh", ["2,5 kWh", "900,5"], sep=";")
    with pytest.raises(SchemaError, match=r"row 1, .*'2,5 kWh' is in kWh, .* write 2500$"):
        read_table(kwh, numeric=["nominal_energy_wh"])
    alone = one_column(tmp_path, "capacity_ah", ["1,200 Ah"], sep=";")
    with pytest.raises(SchemaError, match=r"'1,200 Ah' has an ambiguous separator"):
        read_table(alone, numeric=NUMERIC)
    comma = tmp_path / "comma.csv"
    comma.write_text('battery_id,ocv_v\nB1,"3,7 V"\n')
    with pytest.raises(SchemaError, match=r"'3,7 V' has a decimal comma in a comma-separated"):
        read_table(comma, numeric=NUMERIC)


def test_auto_number_columns_may_carry_their_unit(tmp_path: Path) -> None:
    """A sample table's number columns are found by their cells: '82 %' in soh_percent is a
    number, '12 V' in a column whose name says no unit is text."""
    path = tmp_path / "t.csv"
    path.write_text("sample_id;soh_percent;model\nS1;82 %;12 V\nS2;90,5;24 V\n")
    frame = read_table(path, numeric="auto")
    assert frame.rows() == [("S1", "82", "12 V"), ("S2", "90.5", "24 V")]


def test_the_unit_table() -> None:
    """Each spelling names one unit; names declare the unit of their longest ending."""
    spellings = [s for u in set(NAME_UNITS.values()) for s in u.spellings]
    assert len(spellings) == len(set(spellings))
    assert all(cell_unit(s) == u for u in NAME_UNITS.values() for s in u.spellings)
    assert cell_unit("mohm") is None  # mΩ in dcir_mohm, MΩ in insulation_mohm
    assert cell_unit("mAh") != cell_unit("Ah")
    units = {
        "self_discharge_mv_per_day": "mV/d",
        "max_self_discharge_spread_mv_per_day": "mV/d",
        "insulation_mohm": "MΩ",
        "dcir_mohm": "mΩ",
        "usable_kwh": "kWh",
        "soh_lower_percent": "%",
    }
    for name, symbol in units.items():
        unit = column_unit(name)
        assert unit is not None
        assert unit.symbol == symbol
    for name in ("series_count", "price_usd_per_kg", "kg_per_kwh", "cycle", "model"):
        assert column_unit(name) is None


@pytest.mark.parametrize("cell", ["1.2.3 V", "3..7 V"])
def test_a_malformed_number_before_the_unit_is_quoted_as_written(tmp_path: Path, cell: str) -> None:
    path = one_column(tmp_path, "ocv_v", [cell, "3.7 V"])
    with pytest.raises(SchemaError) as info:
        read_table(path, numeric=["ocv_v"])
    assert [(p.row, p.column) for p in info.value.problems] == [(1, "ocv_v")]
    assert f"{cell!r} is not a number followed by its unit" in str(info.value)
