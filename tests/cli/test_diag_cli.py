"""``echelon summarize`` and ``echelon plot`` on simulated files; errors map to exit codes."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.cli._console import PIPED_WIDTH, SafeConsole
from echelon.io.bdf import write_bdf_csv
from tests.diagnostics.protocols import cell, cycling, hppc
from tests.io import formats

runner = CliRunner()
FILES = (("cycling", "csv"), ("hppc", "csv"), ("eis", "mpt"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("diag-cli")
    paths = {name: folder / f"{name}.{suffix}" for name, suffix in FILES}
    write_bdf_csv(cycling(cell(), cycles=2), paths["cycling"])
    write_bdf_csv(hppc(cell(), levels=3), paths["hppc"])
    formats.biologic_eis_mpt(paths["eis"])
    return paths


def test_summarize_prints_and_writes_cycles(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cycles.csv"
    result = runner.invoke(app, ["summarize", str(files["cycling"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 cycles" in result.output
    table = pl.read_csv(out)
    assert table["cycle_count"].to_list() == [1, 2]
    assert {"discharge_ah", "coulombic_efficiency", "midpoint_voltage_v"} <= set(table.columns)


@pytest.mark.parametrize(
    ("name", "kind", "suffix", "extra"),
    [
        ("cycling", "capacity", ".svg", []),
        ("cycling", "dqdv", ".png", []),
        ("hppc", "hppc", ".html", ["--temperature-c", "25", "--capacity-ah", "2.0"]),
        ("eis", "nyquist", ".svg", []),
    ],
)
def test_plot_every_kind(
    files: dict[str, Path], tmp_path: Path, name: str, kind: str, suffix: str, extra: list[str]
) -> None:
    out = tmp_path / f"{kind}{suffix}"
    result = runner.invoke(app, ["plot", str(files[name]), "--kind", kind, "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert len(data) > 1000
    if suffix == ".png":
        assert data[:4] == b"\x89PNG"
    elif suffix == ".svg":
        assert b"<svg" in data[:500]


def test_plot_errors_have_exit_codes(files: dict[str, Path], tmp_path: Path) -> None:
    bad_kind = runner.invoke(app, ["plot", str(files["cycling"]), "--kind", "pie", "-o", "x.png"])
    assert bad_kind.exit_code == 2  # usage: a choice not offered
    no_pulses = runner.invoke(
        app, ["plot", str(files["cycling"]), "--kind", "hppc", "-o", str(tmp_path / "h.png")]
    )
    assert no_pulses.exit_code == 8  # analysis impossible
    assert "no pulse" in no_pulses.output
    bad_suffix = runner.invoke(
        app, ["plot", str(files["cycling"]), "--kind", "capacity", "-o", str(tmp_path / "c.pdf")]
    )
    assert bad_suffix.exit_code == 2
    assert "give a .png, .svg or .html file" in " ".join(bad_suffix.output.split())
    bad_reader = runner.invoke(app, ["read", str(files["cycling"]), "--reader", "nasa"])
    assert bad_reader.exit_code == 2
    assert "no reader named 'nasa'; available:" in bad_reader.output
    assert "nasa_pcoe_csv" in bad_reader.output


def test_brackets_in_messages_and_headers_are_printed(
    files: dict[str, Path], tmp_path: Path
) -> None:
    """Units in brackets survive the console: a table header ``duration [h]`` and an error that
    names the column ``U [mV]`` (rich would take ``[h]`` and ``[mV]`` for style tags)."""
    result = runner.invoke(app, ["summarize", str(files["cycling"])])
    assert result.exit_code == 0, result.output
    assert "[h]" in result.output  # the header may wrap before it on a narrow console
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        formats.GENERIC_MAP_YAML.replace(
            "{bdf: voltage_volt, unit: mV}", "{bdf: voltage_volt, unit: V}"
        )
    )
    path = tmp_path / "acme.csv"
    formats.generic_csv(pl.read_csv(files["cycling"]).head(50), path)
    result = runner.invoke(app, ["read", str(path), "--map", str(mapping)])
    assert result.exit_code == 3, result.output
    assert "column 'U [mV]': mixed units" in result.output


def test_piped_output_is_not_cut_to_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert SafeConsole(file=io.StringIO()).width == PIPED_WIDTH
    monkeypatch.setenv("COLUMNS", "100")
    assert SafeConsole(file=io.StringIO()).width == 100


@pytest.mark.parametrize("command", [["summarize"], ["plot", "--kind", "capacity"]])
def test_a_refused_diagnostic_names_its_file(tmp_path: Path, command: list[str]) -> None:
    """A flipped current sign: summarize printed CE 1.004 and energy efficiency 1.04; the
    refusal now comes with the file's name. Only the discharge is flipped: a file flipped
    throughout is negated at read time (echelon.io.sign), one flipped in part is not."""
    flipped = tmp_path / "flipped.csv"
    current = pl.col("current_ampere")
    write_bdf_csv(cycling(cell(), cycles=1).with_columns(current.abs()), flipped)
    args = [*command, str(flipped)]
    if command[0] == "plot":
        args += ["-o", str(tmp_path / "c.svg")]
    result = runner.invoke(app, args)
    assert result.exit_code == 8, result.output
    text = " ".join(result.output.split())
    assert f"{flipped}: the current sign looks inverted" in text.replace("\n", "")


def test_summarize_an_impedance_only_file_gives_its_spectra(tmp_path: Path) -> None:
    """A Warwick-layout spectrum (frequency and impedance, no time series) was refused with
    "the frame has no test_time_second, voltage_volt, current_ampere column"; each spectrum's
    Nyquist features are printed (and written with -o) instead."""
    from tests.io.test_eis_formats import wett_txt

    path = tmp_path / "cell.txt"
    wett_txt(path)
    out = tmp_path / "spectra.csv"
    result = runner.invoke(app, ["summarize", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 impedance spectra, 13 rows" in result.output
    features = pl.read_csv(out)
    assert features["n_points"].to_list() == [13]
    # the inductive start crosses the real axis near R0 = 25 mΩ (test_eis_formats.randles_ohm)
    assert features["r_ohmic_ohm"][0] == pytest.approx(0.025, abs=1e-3)


def test_a_chart_not_written_names_it_and_leaves_nothing(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills while ``plot -o`` writes: exit 2 naming the file, no partial chart
    (before 2026-12-07: an internal error, exit 1). ``forecast ID -o``, ``flows --plot``, ``soh
    evaluate/predict/train -o`` write through the same ``io.atomic.write_atomic``."""

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    out = tmp_path / "charts" / "capacity.png"
    result = runner.invoke(
        app, ["plot", str(files["cycling"]), "--kind", "capacity", "-o", str(out)]
    )
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"could not write {out}: No space left on device" in text
    assert "internal error" not in text
    assert not any(out.parent.iterdir())
