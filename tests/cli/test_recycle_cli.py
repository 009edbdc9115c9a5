"""``echelon recycle`` and ``echelon recycle-lots`` as users run them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.synth import SynthBatch

runner = CliRunner()
LOT = """battery_id,chemistry,level,mass_kg,nominal_capacity_ah,nominal_voltage_v
A1,NMC811,cell,1000,,
B1,LFP,pack,,100,355
C1,NCM622,module,,50,48
D1,sodium-ion,cell,2,,
"""


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "lot.csv"
    path.write_text(LOT)
    return path


def test_recycle_a_table_writes_the_contract_files(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["recycle", str(table), "--process", "hydro", "--year", "2027", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "sodium-ion" in result.output  # the unknown chemistry is reported, not hidden
    for name in ("mass_balance.csv", "value.csv", "compliance.csv", "report.html"):
        assert (out / name).is_file(), name
    balance = pl.read_csv(out / "mass_balance.csv")
    assert {"material", "input_kg", "recovered_kg", "loss_kg", "product"} <= set(balance.columns)
    assert (balance["input_kg"] - balance["recovered_kg"] - balance["loss_kg"]).abs().max() < 1e-6
    compliance = pl.read_csv(out / "compliance.csv")
    assert (
        compliance.filter(pl.col("metric") == "recycling_efficiency")["reporting_year"][0] == 2027
    )
    html = (out / "report.html").read_text()
    assert "chart-sankey" in html
    assert "vegaEmbed" in html
    assert "https://" not in html.split("<script>")[0]


@pytest.mark.parametrize(
    ("content", "args", "code", "message"),
    [
        ("battery_id,chemistry,level,mass_kg\nA,LFP,cell,-1\n", [], 3, "negative mass"),
        (
            "battery_id,chemistry,level,mass_kg\nA,unknown,cell,1\n",
            ["--process", "direct"],
            8,
            "cannot treat unknown",
        ),
        (
            "battery_id,chemistry,level,mass_kg\nA,LFP,cell,1\n",
            ["--prices", "PRICES"],
            3,
            "missing or non-numeric",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(
    tmp_path: Path, content: str, args: list[str], code: int, message: str
) -> None:
    table = tmp_path / "bad.csv"
    table.write_text(content)
    prices = tmp_path / "prices.csv"
    prices.write_text("item,value,source,as_of\nsteel_scrap,,a quote,2026\n")
    args = [a.replace("PRICES", str(prices)) for a in args]
    result = runner.invoke(app, ["recycle", str(table), *args, "-o", str(tmp_path / "o")])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_registry_lot_round_trip(small_batch: SynthBatch, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    taken = runner.invoke(app, ["intake", str(small_batch.manifest), "--db", db, "--workers", "0"])
    assert taken.exit_code in (0, 10), taken.output
    out = tmp_path / "lot"
    result = runner.invoke(
        app,
        [
            "recycle",
            "route:recycle",
            "--process",
            "hydro",
            "--year",
            "2028",
            "--lot-id",
            "LOT-CLI",
            "--db",
            db,
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "recorded lot LOT-CLI" in result.output
    assert json.loads((out / "lot.json").read_text())["meta"]["source"] == "registry: route:recycle"
    listed = runner.invoke(
        app, ["batteries", "--db", db, "--status", "recycled", "--format", "csv"]
    )
    recycled = pl.read_csv(listed.output.encode())
    assert recycled.height == pl.read_csv(out / "units.csv").height
    again = runner.invoke(
        app, ["recycle", "lot:LOT-CLI", "--db", db, "-o", str(tmp_path / "again")]
    )
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again" / "value.csv").read_text() == (out / "value.csv").read_text()
    # a recorded lot is reported as recorded: another process is refused, not silently ignored
    other = tmp_path / "pyro"
    refused = runner.invoke(
        app, ["recycle", "lot:LOT-CLI", "--process", "pyro", "--db", db, "-o", str(other)]
    )
    assert refused.exit_code == 2, refused.output
    text = " ".join(refused.output.split())
    assert "--process pyro (recorded: hydro)" in text
    assert "--no-record" in text  # says how to value the same units under pyro
    assert not other.exists()
    same = runner.invoke(
        app,
        [
            "recycle",
            "lot:LOT-CLI",
            "--process",
            "hydro",
            "--year",
            "2028",
            "--db",
            db,
            "-o",
            str(tmp_path / "same"),
        ],
    )
    assert same.exit_code == 0, same.output
    what_if = runner.invoke(
        app,
        [
            "recycle",
            str(out / "units.csv"),
            "--process",
            "mechanical",
            "--no-record",
            "-o",
            str(other),
        ],
    )
    assert what_if.exit_code == 0, what_if.output  # the lot's units.csv is a lot table
    assert "process mechanical" in " ".join(what_if.output.split())
    lots = runner.invoke(app, ["recycle-lots", "--db", db])
    assert "LOT-CLI" in lots.output
    year = runner.invoke(
        app, ["recycle-lots", "--db", db, "--year", "2028", "-o", str(tmp_path / "y.csv")]
    )
    assert year.exit_code == 0, year.output
    assert pl.read_csv(tmp_path / "y.csv").height == 5
    missing = runner.invoke(app, ["recycle", "lot:NOPE", "--db", db, "-o", str(tmp_path / "x")])
    assert missing.exit_code == 4
    assert verify_ok(db)


def verify_ok(db: str) -> bool:
    result = runner.invoke(app, ["verify", "--db", db])
    return result.exit_code == 0


def test_a_recording_is_checked_before_anything_is_written(
    small_batch: SynthBatch, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    taken = runner.invoke(app, ["intake", str(small_batch.manifest), "--db", db, "--workers", "0"])
    assert taken.exit_code in (0, 10), taken.output

    def recycle(source: Path | str, out: str, *args: str) -> tuple[int, str]:
        result = runner.invoke(
            app, ["recycle", str(source), *args, "--db", db, "-o", str(tmp_path / out)]
        )
        return result.exit_code, " ".join(result.output.split())

    code, text = recycle("route:recycle", "rec1", "--year", "2027", "--lot-id", "LOT-C1")
    assert code == 0, text
    units = tmp_path / "rec1" / "units.csv"
    recorded = hashlib.sha256((tmp_path / "rec1" / "lot.json").read_bytes()).hexdigest()
    assert f"lot record sha256 {recorded[:12]}" in text

    # the reviewer's cases, each refused with nothing written: a table the registry contradicts
    mismatch = tmp_path / "mism.csv"
    mismatch.write_text("battery_id,chemistry,level,mass_kg\nEB-00002,LFP,cell,500\n")
    code, text = recycle(mismatch, "mism", "--record", "--year", "2028")
    assert code == 3, text
    assert "row 1, column 'chemistry': 'LFP' but EB-00002 is registered as NMC811" in text
    # the recorded lot under another year and prices
    prices = tmp_path / "prices.csv"
    prices.write_text("item,value,unit,source,as_of\ncobalt_salt,30.0,USD/kg Co,a quote,2026-01\n")
    args = ["--year", "2028", "--prices", str(prices), "--lot-id", "LOT-C1", "--record"]
    code, text = recycle(units, "y28", *args)
    assert code == 2, text
    assert "reporting_year 2028 (recorded: 2027)" in text
    # its units under another process (another lot), units not registered
    code, text = recycle(units, "mech", "--process", "mechanical", "--record")
    assert code == 8, text
    assert "already recycled in another lot" in text
    ghost = tmp_path / "ghost.csv"
    ghost.write_text("battery_id,chemistry,level,mass_kg\nGHOST-1,LFP,cell,1\n")
    code, text = recycle(ghost, "ghost", "--record")
    assert code == 4, text
    for refused in ("mism", "y28", "mech", "ghost"):
        assert not (tmp_path / refused).exists(), refused

    # the same lot again: "already recorded", the recorded lot's hash and report
    code, text = recycle(units, "same", "--year", "2027", "--lot-id", "LOT-C1", "--record")
    assert code == 0, text
    assert "lot LOT-C1 is already recorded" in text
    assert f"lot record sha256 {recorded[:12]}" in text
    written = hashlib.sha256((tmp_path / "same" / "lot.json").read_bytes()).hexdigest()
    assert written == recorded
    assert verify_ok(db)
