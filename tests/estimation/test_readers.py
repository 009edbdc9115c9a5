"""PulseBat-format workbooks: every bad cell named by sheet, spreadsheet row and workbook column."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from echelon.errors import EchelonWarning, Problem, SchemaError
from echelon.estimation.readers import read_pulsebat_workbook, read_samples
from tests.estimation.synthetic_pulse import Cell, pulse_samples, pulsebat_workbook

SOCS = (10.0, 20.0)


@pytest.fixture(scope="module")
def samples() -> pl.DataFrame:
    """4 NMC cells at 10 and 20 % SOC: sheet SOC10 holds spreadsheet rows 2–5, one per cell."""
    return pulse_samples(4, socs=SOCS, seed=3)


def _problems(path: Path) -> list[Problem]:
    with pytest.raises(SchemaError) as info:
        read_samples(path)
    assert info.value.path == path
    return info.value.problems


@pytest.mark.parametrize("column", ["U3", "Qn", "Q", "SOC", "Pt"])
def test_text_in_a_number_cell_names_sheet_spreadsheet_row_and_column(
    samples: pl.DataFrame, tmp_path: Path, column: str
) -> None:
    """Was an internal error (a strict cast) naming no row; the cell is reported once (not also
    as empty or as an SOH it makes undefined)."""
    path = pulsebat_workbook(tmp_path / "wb.xlsx", samples, cells={("SOC20", 4, column): "abc"})
    problems = _problems(path)
    assert problems == [Problem("'abc' is not a number", row=4, column=column, sheet="SOC20")]
    assert str(problems[0]) == (
        f"sheet 'SOC20', spreadsheet row 4, column '{column}': 'abc' is not a number"
    )


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("3,31", "(a decimal comma? write 3.31)"),
        ("3.31 V", "(a unit in the cell? write the number alone, in the column's unit)"),
    ],
)
def test_a_number_written_as_text_gets_its_likely_fix(
    samples: pl.DataFrame, tmp_path: Path, text: str, hint: str
) -> None:
    path = pulsebat_workbook(tmp_path / "wb.xlsx", samples, cells={("SOC20", 4, "U3"): text})
    assert _problems(path) == [
        Problem(f"{text!r} is not a number {hint}", row=4, column="U3", sheet="SOC20")
    ]


def test_an_empty_label_to_train_with_is_named_by_sheet_row_and_workbook_column(
    samples: pl.DataFrame, tmp_path: Path
) -> None:
    """Was reported at training as 'row <n of the joined table>, column soh_percent'; to
    predict, an empty Q is no problem (labels are optional)."""
    path = pulsebat_workbook(tmp_path / "wb.xlsx", samples, cells={("SOC20", 3, "Q"): None})
    with pytest.raises(SchemaError) as info:
        read_samples(path, labelled=True)
    assert info.value.problems == [
        Problem(
            "is empty: give the measured capacity [A·h] (labels are needed to train or evaluate)",
            row=3,
            column="Q",
            sheet="SOC20",
        )
    ]
    assert read_samples(path).get_column("soh_percent").null_count() == 1


def test_an_empty_label_in_the_second_table_is_named_by_its_own_row(
    samples: pl.DataFrame, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    samples.head(4).write_csv(first)
    blank = pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("soh_percent"))
    samples.tail(4).with_columns(blank.alias("soh_percent")).write_csv(second)
    with pytest.raises(SchemaError) as info:
        read_samples([first, second], labelled=True)
    assert info.value.path == second
    assert [(p.row, p.column) for p in info.value.problems] == [(2, "soh_percent")]
    assert read_samples([first, second]).height == 8


def test_the_random_soc_sheet_is_left_out_to_train_and_read_to_predict(
    samples: pl.DataFrame, tmp_path: Path
) -> None:
    """Its rows name no cell: read as cells of their own, they doubled the cell count and could
    sit across a split by cell from their own cells' grid rows."""
    path = pulsebat_workbook(tmp_path / "wb.xlsx", samples, random_sheet=True)
    assert read_samples(path).filter(pl.col("sheet") == "SOC TEST RANDOM").height == 4
    with pytest.warns(EchelonWarning, match="'SOC TEST RANDOM' left out"):
        labelled = read_samples(path, labelled=True)
    assert labelled.get_column("sheet").unique().sort().to_list() == ["SOC10", "SOC20"]
    assert labelled.get_column("cell_id").n_unique() == 4


def test_rows_are_the_spreadsheet_rows_below_an_empty_line(
    samples: pl.DataFrame, tmp_path: Path
) -> None:
    path = pulsebat_workbook(
        tmp_path / "wb.xlsx", samples, cells={("SOC10", 4, "U3"): "abc"}, blank_after=2
    )
    assert [(p.sheet, p.row) for p in _problems(path)] == [("SOC10", 5)]


def test_implausible_values_name_the_workbook_column_not_the_derived_one(
    samples: pl.DataFrame, tmp_path: Path
) -> None:
    """Were reported as soh_percent / nominal_capacity_ah / u5_v at rows of the joined table."""
    cells: dict[tuple[str, int, str], Cell] = {
        ("SOC20", 2, "Q"): 3500.0,  # SOH 100 × Q ÷ Qn far above 150 %
        ("SOC20", 3, "Qn"): 0.0,  # also makes SOH infinite: one problem, on Qn
        ("SOC20", 5, "U5"): 3650.0,  # mV
        ("SOC10", 3, "SOC"): 150.0,
        ("SOC10", 4, "Mat"): "NaIon",
    }
    path = pulsebat_workbook(tmp_path / "wb.xlsx", samples, cells=cells)
    located = {(p.sheet, p.row, p.column): p.message for p in _problems(path)}
    assert located.pop(("SOC20", 2, "Q")).startswith("SOH = 100 × Q ÷ Qn: ")
    assert located.pop(("SOC20", 3, "Qn")).startswith("0 outside the plausible range")
    assert located.pop(("SOC20", 5, "U5")).startswith("3650.0 is missing, NaN or outside")
    assert located.pop(("SOC10", 3, "SOC")) == "150.0 is outside [0, 100]"
    assert located.pop(("SOC10", 4, "Mat")).startswith("unknown chemistry 'NaIon'")
    hint = located.pop(("SOC20", None, None))
    assert hint.startswith("voltages must be per cell")
    assert located == {}


def test_a_workbook_of_one_soc_all_sheet_reads_like_its_soc_sheets(
    samples: pl.DataFrame, tmp_path: Path
) -> None:
    """The published workbooks hold SOC ALL (every level, with the SOC column) and the SOC<n>
    sheets it repeats; one with SOC ALL alone was refused."""
    grid = read_samples(pulsebat_workbook(tmp_path / "grid.xlsx", samples))
    alone = read_samples(pulsebat_workbook(tmp_path / "all.xlsx", samples, layout="all"))
    both = read_samples(pulsebat_workbook(tmp_path / "both.xlsx", samples, layout="both"))
    assert alone.get_column("sheet").unique().to_list() == ["SOC ALL"]
    assert both.get_column("sheet").unique().sort().to_list() == ["SOC10", "SOC20"]
    columns = ["cell_id", "soc_percent", "soh_percent", "u1_v", "u21_v"]
    key = ["cell_id", "soc_percent"]
    ours = alone.select(columns).with_columns(pl.col("cell_id").str.replace("^all:", ""))
    theirs = grid.select(columns).with_columns(pl.col("cell_id").str.replace("^grid:", ""))
    assert ours.sort(key).equals(theirs.sort(key))
    assert both.height == grid.height


def test_a_workbook_without_soc_sheets_says_what_was_expected_and_found(tmp_path: Path) -> None:
    """Was refused as "not a format `echelon soh` reads" without a word on the sheets."""
    import xlsxwriter

    path = tmp_path / "features.xlsx"
    with xlsxwriter.Workbook(path) as book:
        book.add_worksheet("Features").write_row(0, 0, ["Qn", "SOC", "U1"])
    (problem,) = _problems(path)
    assert "sheets named SOC<n>" in problem.message
    assert "this workbook has sheet(s) ['Features']" in problem.message


def test_a_sheet_without_the_21_voltages_names_the_missing_columns(
    samples: pl.DataFrame, tmp_path: Path
) -> None:
    path = pulsebat_workbook(tmp_path / "wb.xlsx", samples, layout="all", points=14)
    (problem,) = _problems(path)
    assert problem.sheet == "SOC ALL"
    assert "lacks PulseBat column(s) ['U15', 'U16', 'U17', 'U18', 'U19', 'U20', 'U21']" in (
        problem.message
    )


def test_the_relaxation_method_checks_only_its_voltages(
    samples: pl.DataFrame, tmp_path: Path
) -> None:
    """A cut +1 C pulse (U10 empty) is no problem for the rests the relaxation method uses."""
    path = pulsebat_workbook(tmp_path / "wb.xlsx", samples, cells={("SOC10", 2, "U10"): None})
    assert read_pulsebat_workbook(path, method="relaxation").height == samples.height
    with pytest.raises(SchemaError, match="spreadsheet row 2, column 'U10'"):
        read_pulsebat_workbook(path)
