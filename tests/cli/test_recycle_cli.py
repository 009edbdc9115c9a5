"""``echelon recycle`` and ``echelon recycle-lots`` as users run them."""

from __future__ import annotations

import hashlib
import json
import os
import stat
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
            "cannot treat 1 unit(s) of the lot:\n  - unknown (1): A — direct: ",
        ),
        (
            "battery_id,chemistry,level,mass_kg\nA,LFP,cell,1\n",
            ["--prices", "PRICES"],
            3,
            "row 1, column 'value': no value: give a number in USD/kg",
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


def test_outputs_get_the_usual_permissions(table: Path, tmp_path: Path) -> None:
    # the atomic writes used to leave every output 0600 (tempfile.mkstemp) whatever the umask
    sales = tmp_path / "sales.csv"
    sales.write_text("year,chemistry,gwh\n2020,NMC811,1\n")
    old = os.umask(0o022)
    try:
        recycled = runner.invoke(app, ["recycle", str(table), "-o", str(tmp_path / "out")])
        flows = runner.invoke(
            app, ["flows", str(sales), "--until", "2030", "-o", str(tmp_path / "flows.csv")]
        )
    finally:
        os.umask(old)
    assert recycled.exit_code == 0, recycled.output
    assert flows.exit_code == 0, flows.output
    written = [*(tmp_path / "out").iterdir(), tmp_path / "flows.csv"]
    assert len(written) == 9
    modes = {p.name: oct(stat.S_IMODE(os.stat(p).st_mode)) for p in written}
    assert set(modes.values()) == {"0o644"}, modes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "/proc/nope"], "cannot write in /proc"),
        (["-o", "/sys/kernel/nope"], "cannot write in /sys/kernel"),
        (["--year=-5"], "-5: give a year from 2000 to 2100"),
        (["--year", "99999"], "99999: give a year from 2000 to 2100"),
        (["--year", "0"], "0: give a year from 2000 to 2100"),  # was taken as this year
    ],
)
def test_bad_output_folders_and_years_are_usage_errors_before_any_work(
    table: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    # they used to crash after the lot was computed: "internal error … This is a bug" (exit 1)
    if args[0] == "-o" and not Path(args[1]).parent.is_dir():
        pytest.skip(f"no {Path(args[1]).parent} here")
    if "-o" not in args:
        args = [*args, "-o", str(tmp_path / "out")]
    result = runner.invoke(app, ["recycle", str(table), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split())
    assert "lot LOT-" not in result.output  # refused before the lot is computed
    assert not (tmp_path / "out").exists()
    if args[0].startswith("--year"):
        db = f"sqlite:///{tmp_path}/r.db"
        lots = runner.invoke(app, ["recycle-lots", *args[:-2], "--db", db])
        assert lots.exit_code == 2, lots.output
        assert "give a year from 2000 to 2100" in lots.output


def test_the_library_refuses_a_year_outside_the_range() -> None:
    from echelon.errors import UsageError
    from echelon.recycling import load_prices, recycle_lot

    lot = pl.DataFrame(
        {"battery_id": ["A"], "chemistry": ["LFP"], "level": ["cell"], "mass_kg": [1.0]}
    )
    for year in (0, -5, 99_999):
        with pytest.raises(UsageError, match=f"year={year}: give a reporting year from 2000"):
            recycle_lot(lot, year=year)
    with pytest.raises(UsageError, match="year=1999"):
        load_prices(year=1999)
    assert recycle_lot(lot, year=2100).meta["reporting_year"] == 2100


def test_a_price_per_tonne_written_per_kg_is_one_warning_line(table: Path, tmp_path: Path) -> None:
    # 30000 USD/kg Co was taken silently (net 729,665 USD/t)
    prices = tmp_path / "prices.csv"
    prices.write_text("item,value,unit,source,as_of\ncobalt_salt,30000,USD/kg Co,x,2026-01-15\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["recycle", str(table), "--prices", str(prices), "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "cobalt_salt: the price" in line]
    assert len(lines) == 1, result.output  # one line, not wrapped
    assert "warning: cobalt_salt is given (30000 USD/kg Co" in result.output  # metal:Co is not
    assert (
        lines[0]
        .strip()
        .startswith("warning: cobalt_salt: the price 30000 USD/kg Co (as of 2026-01-15) is")
    )
    assert (
        "596× above the catalogue's 50.3535 USD/kg Co: a price per tonne written per kg?"
        in lines[0]
    )
    assert any(
        "per tonne written per kg" in w
        for w in json.loads((out / "lot.json").read_text())["warnings"]
    )


def test_a_result_just_below_its_target_is_not_shown_as_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 64.97 % was shown as "65.0 | 65 | fail" and "65.0 % recycling efficiency (fail vs 65 %)"
    from echelon.cli._console import console
    from echelon.recycling import recycle_lot

    monkeypatch.setattr(console, "width", 200)  # one line per table row, whatever the terminal

    def efficiency(level: str) -> float:
        one = pl.DataFrame(
            {"battery_id": ["a"], "chemistry": ["NMC811"], "level": [level], "mass_kg": [1.0]}
        )
        return float(recycle_lot(one, year=2029).compliance["value_percent"][0])

    cells, black_mass = efficiency("cell"), efficiency("black_mass")  # ≈ 63.1 %, 73.0 %
    share = (64.97 - cells) / (black_mass - cells)  # efficiency is linear in the mass shares
    lot = tmp_path / "lot.csv"
    lot.write_text(
        "battery_id,chemistry,level,mass_kg\n"
        f"C,NMC811,cell,{1000 * (1 - share)!r}\nB,NMC811,black_mass,{1000 * share!r}\n"
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["recycle", str(lot), "--year", "2029", "-o", str(out)])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "recycling efficiency" in line)
    cells_shown = [c.strip() for c in row.split("│")[1:-1]]
    assert cells_shown[2:5] == ["64.97", "65", "fail (−0.03 points)"], row
    html = (out / "report.html").read_text()
    assert (
        '<b class="fail">64.97 %</b>recycling efficiency (fail vs 65 % in 2029: −0.03 points)'
        in html
    )
    assert '<td class="num">64.97</td><td class="num">65</td>' in html


def test_route_recycle_leaves_out_units_no_longer_whole(
    small_batch: SynthBatch, tmp_path: Path
) -> None:
    from echelon.recycling import record_lot, recycle_lot
    from echelon.registry import open_registry
    from tests.recycling.test_records import _assemble, _rows

    db = f"sqlite:///{tmp_path / 'r.db'}"
    taken = runner.invoke(app, ["intake", str(small_batch.manifest), "--db", db, "--workers", "0"])
    assert taken.exit_code in (0, 10), taken.output
    with open_registry(db) as registry:  # a pack rebuilt from M01 and M02, recycled
        _assemble(registry, "REG-A", ["EVB-P0001-M01", "EVB-P0001-M02"])
        record_lot(registry, recycle_lot(_rows(registry, ["REG-A"]), process="hydro"))
    out = tmp_path / "lot"
    result = runner.invoke(app, ["recycle", "route:recycle", "--db", db, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        "note: left out 1 unit(s) no longer whole (a lot holding them would be refused): "
        "EVB-P0001-M02: its pack REG-A was recycled in lot"
    ) in result.output
    assert "recorded lot" in result.output
    assert "EVB-P0001-M02" not in pl.read_csv(out / "units.csv")["battery_id"].to_list()


def test_a_pack_selected_with_its_own_module_is_recycled_once(tmp_path: Path) -> None:
    """Before 2026-12-07 ``status:received`` chose the pack and its module, and the lot was
    refused ("P and its part(s) P-M1 are all in the lot")."""
    from echelon.registry import open_registry
    from tests.recycling.test_record_checks import _unit

    db = f"sqlite:///{tmp_path / 'r.db'}"
    with open_registry(db) as registry:
        registry.record_units([_unit("P", None, "pack"), _unit("P-M1", "P", "module")])
    out = tmp_path / "lot"
    result = runner.invoke(app, ["recycle", "status:received", "--db", db, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        "note: left out 1 part(s) of assemblies in the lot (their assembly's recycling covers "
        "them): P-M1 is part of pack P, which is in the lot: counted once, with it"
    ) in result.output
    assert "recorded lot" in result.output
    assert pl.read_csv(out / "units.csv")["battery_id"].to_list() == ["P"]


def test_output_closed_early_stops_quietly(table: Path, tmp_path: Path) -> None:
    # `echelon recycle … | head -1` exited 1 (Echelon's internal-error code) without a word, and
    # a command writing with print() reported "internal error: BrokenPipeError"
    import subprocess
    import sys

    from echelon.registry import open_registry

    db = f"sqlite:///{tmp_path / 'empty.db'}"
    open_registry(db, create=True).close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    for args in (
        ["recycle", str(table), "--year", "2027", "-o", str(tmp_path / "out")],  # rich console
        ["batteries", "--db", db, "--format", "json"],  # print()
    ):
        read, write = os.pipe()
        os.close(read)  # the reader has gone before the command writes anything
        try:
            done = subprocess.run(
                [sys.executable, "-m", "echelon", *args],
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                timeout=300,
            )
        finally:
            os.close(write)
        assert done.returncode == 141, (args, done.stderr)
        assert "error" not in done.stderr, args  # batteries says "no batteries match" there
        assert "Traceback" not in done.stderr, args
