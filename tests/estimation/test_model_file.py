"""A file given as a model that is not one: said so, with where models come from."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from echelon.errors import SchemaError
from echelon.estimation.zoo import load_model


def _csv(path: Path) -> None:
    path.write_text("sample_id,soh_percent\nA,90\n")


def _arrays(path: Path) -> None:
    np.savez(path, a=np.arange(3))


def _objects(path: Path) -> None:
    np.savez(path, header=np.array([{"format_version": 1}], dtype=object))


def _workbook(path: Path) -> None:
    import xlsxwriter

    with xlsxwriter.Workbook(path) as book:
        book.add_worksheet("SOC5").write_row(0, 0, ["Qn", "SOC", "U1"])


def _header(value: object) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        np.savez(path, header=np.array(json.dumps(value)))

    return write


@pytest.mark.parametrize(
    ("name", "write", "why"),
    [
        ("predictions.csv", _csv, "the file is not an .npz archive"),
        ("random.npz", _arrays, "an .npz archive without a model header"),
        ("objects.npz", _objects, "its arrays or header cannot be read"),  # would need pickle
        ("batch.xlsx", _workbook, "a ZIP file such as a workbook"),
        ("list.npz", _header([1]), "its model header is not a JSON object"),
        ("other.npz", _header({"a": 1}), "its header is not a model's"),
        ("damaged.npz", _header({"format_version": 1}), "its model header is damaged"),
    ],
)
def test_a_file_that_is_not_a_model_says_so_and_how_to_get_one(
    tmp_path: Path, name: str, write: Callable[[Path], None], why: str
) -> None:
    """Was numpy's advice to load the file "unsafely using allow_pickle", or just 'header'."""
    path = tmp_path / name
    write(path)
    with pytest.raises(SchemaError) as info:
        load_model(path)
    (problem,) = info.value.problems
    assert problem.message.startswith(f"not an Echelon SOH model file ({why}")
    assert "echelon soh train" in problem.message
    assert "pulse-u21" in problem.message  # the shipped models, by name
    assert "pickle" not in problem.message
