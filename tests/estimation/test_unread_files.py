"""What `echelon soh` says of a file it cannot read: an empty file as empty, and only the formats
the command at hand reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.errors import SchemaError
from echelon.estimation.readers import read_samples

runner = CliRunner()


def test_soh_predict_says_an_empty_file_is_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["soh", "predict", "--model", "pulse-u21", str(empty)])
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "the file is empty (0 bytes)" in text
    assert "not a format" not in text


@pytest.mark.parametrize("method", [None, "pulse", "eis"])
def test_a_raw_partial_charge_is_offered_only_for_its_method(
    tmp_path: Path, method: str | None
) -> None:
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    with pytest.raises(SchemaError) as info:
        read_samples(junk, method=method)
    assert "not a format `echelon soh` reads" in str(info.value)
    assert "partial-charge" not in str(info.value)
    assert "--method" not in str(info.value)  # soh predict has no such option
    with pytest.raises(SchemaError) as info:
        read_samples(junk, method="partial_charge")
    assert "raw partial-charge test (for the partial_charge method)" in str(info.value)
