"""Shared error wording: a number written as text gets its likely fix."""

from __future__ import annotations

import polars as pl
import pytest

from echelon.errors import Problem, not_a_number, parse_numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("31,5", "'31,5' is not a number (a decimal comma? write 31.5)"),
        ("1.234,5", "'1.234,5' is not a number (a decimal comma? write 1234.5)"),
        (
            "1,234",
            "'1,234' is not a number (a decimal comma? write 1.234; "
            "a thousands separator? write 1234)",
        ),
        (
            "3.3 V",
            "'3.3 V' is not a number (a unit in the cell? write the number alone, "
            "in the column's unit)",
        ),
        (
            "12%",
            "'12%' is not a number (a unit in the cell? write the number alone, "
            "in the column's unit)",
        ),
        ("abc", "'abc' is not a number"),
        ("-", "'-' is not a number"),
        ("1,2,3", "'1,2,3' is not a number"),
    ],
)
def test_not_a_number_says_the_likely_fix(text: str, expected: str) -> None:
    assert not_a_number(text) == expected


def test_parse_numbers_blank_is_missing_and_text_is_a_problem_per_row() -> None:
    numbers, problems = parse_numbers(pl.Series("ocv_v", ["3.3", " 3.4 ", "", None, "x", "3,5"]))
    assert numbers.name == "ocv_v"
    assert numbers.to_list() == [3.3, 3.4, None, None, None, None]
    assert problems == [
        Problem("'x' is not a number", row=5, column="ocv_v"),
        Problem(not_a_number("3,5"), row=6, column="ocv_v"),
    ]
    assert parse_numbers(pl.Series("n", [1, 2]))[0].dtype == pl.Float64
