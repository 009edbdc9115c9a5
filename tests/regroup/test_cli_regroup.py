"""``echelon regroup`` as users run it: files, exit codes, messages, the registry flow."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from echelon.cli import app
from echelon.pipeline import intake
from echelon.registry import battery_record, open_registry, verify
from echelon.synth import SynthBatch
from tests.conftest import ARRIVAL
from tests.regroup.conftest import synthetic_inventory

runner = CliRunner()


def test_regroup_writes_the_contract_files(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.csv"
    synthetic_inventory(300, seed=4, chemistries=("LFP", "NMC622")).write_csv(inventory)
    out = tmp_path / "out" / "packs.csv"
    args = ["regroup", str(inventory), "--series", "6", "--parallel", "2", "-o", str(out),
            "--compare", "--plot", str(tmp_path / "blocks.svg")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    packs = pl.read_csv(out)
    assert packs.columns[:3] == ["battery_id", "pack_id", "block"]
    assert packs["block"].min() == 1
    assert packs["block"].max() == 6
    assert packs.group_by("pack_id").len()["len"].unique().to_list() == [12]
    summary = pl.read_csv(out.with_name("packs_summary.csv"))
    for column in ("usable_capacity_ah", "energy_wh", "block_capacity_spread_percent",
                   "resistance_ratio", "capacity_bound_ah"):  # fmt: skip
        assert column in summary.columns
    run = json.loads(out.with_name("packs_run.json").read_text())
    assert run["usable_capacity_ah"] <= run["capacity_upper_bound_ah"]
    assert run["usable_capacity_ah"] == summary["usable_capacity_ah"].sum()
    assert out.with_name("packs_compare.csv").exists()
    assert "packs_compare.csv" in "".join(result.output.split())  # listed with what was written
    assert (tmp_path / "blocks.svg").read_text().startswith("<svg")
    assert "Comparison with the baselines" in result.output


def test_infeasible_request_exits_8_naming_the_constraint(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.csv"
    synthetic_inventory(30).write_csv(inventory)
    args = ["regroup", str(inventory), "--series", "8", "--parallel", "2", "--packs", "3",
            "-o", str(tmp_path / "p.csv")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 8
    assert "Binding constraint: inventory_size" in result.output
    assert "Traceback" not in result.output


def test_bad_inventory_exits_3_with_row_and_column(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.csv"
    inventory.write_text("battery_id,chemistry,capacity_ah,dcir_ohm\nA,LFP,x,0.002\n")
    result = runner.invoke(app, ["regroup", str(inventory), "-s", "2", "-p", "1"])
    assert result.exit_code == 3
    assert "row 1, column 'capacity_ah'" in result.output


def test_usage_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["regroup", "-s", "2", "-p", "1"])
    assert result.exit_code == 2
    assert "--from-registry" in result.output
    inventory = tmp_path / "i.csv"
    synthetic_inventory(10).write_csv(inventory)
    result = runner.invoke(app, ["regroup", str(inventory), "-s", "2", "-p", "1", "--record"])
    assert result.exit_code == 2


def test_from_registry_builds_and_records_packs(small_batch: SynthBatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    with open_registry(url) as registry:
        intake(small_batch.manifest, registry=registry, workers=0, as_of=ARRIVAL)
    out = tmp_path / "packs.csv"
    args = ["regroup", "--from-registry", "--series", "3", "--parallel", "1", "--record",
            "--db", url, "-o", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "recorded" in result.output
    packs = pl.read_csv(out)
    excluded = pl.read_csv(out.with_name("packs_excluded.csv"))
    # the batch's packs are routed to recycling: not selected (nor listed) without --route recycle
    assert not excluded["reason"].str.starts_with("a pack cannot be a unit of a new pack").any()
    with open_registry(url) as registry:
        first = packs.row(0, named=True)
        pack = battery_record(registry, first["pack_id"])
        assert sorted(pack.children) == sorted(
            packs.filter(pl.col("pack_id") == first["pack_id"])["battery_id"].to_list()
        )
        child = battery_record(registry, first["battery_id"])
        assert child.status == "regrouped"
        assert child.battery.parent_id == first["pack_id"]
        assert verify(registry).ok
    # the same plan again: nothing new (its units are regrouped now, so the plan is empty)
    again = runner.invoke(app, args)
    assert again.exit_code in (0, 8), again.output


def test_from_registry_refuses_a_filter_typo_as_batteries_does(
    served_registry: str, tmp_path: Path
) -> None:
    """``--status routd`` is a usage error (exit 2) naming ``routed``, worded as `batteries`
    words it — not "inventory_size — add units" (exit 8); nothing is written."""
    out = tmp_path / "packs.csv"
    for option, value, hint in (
        ("--status", "routd", "did you mean 'routed'?"),
        ("--route", "stationary_storage", "allowed: ess, ups"),
        ("--grade", "A,E", "unknown grade 'E'"),
        ("--level", "rack", "did you mean 'pack'?"),
        ("--chemistry", "LFPP", "did you mean 'LFP'?"),
    ):
        args = ["regroup", "--from-registry", option, value, "-s", "2", "-p", "1",
                "--db", served_registry, "-o", str(out)]  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (option, result.output)
        assert hint in result.output
        assert "inventory_size" not in result.output
        assert not out.exists()
    listed = runner.invoke(app, ["batteries", "--status", "routd", "--db", served_registry])
    args = ["regroup", "--from-registry", "--status", "routd", "-s", "2", "-p", "1",
            "--db", served_registry, "-o", str(out)]  # fmt: skip
    regrouped = runner.invoke(app, args)
    assert listed.exit_code == regrouped.exit_code == 2
    assert listed.output == regrouped.output


def test_a_second_run_leaves_only_its_own_files(tmp_path: Path) -> None:
    """Run 1 (--compare) excludes units; run 2 to the same -o uses them all: its
    packs_excluded.csv is a header, the first run's packs_compare.csv is gone, and a file
    regroup does not write is left alone."""
    inventory = tmp_path / "inventory.csv"
    synthetic_inventory(30, seed=2).write_csv(inventory)
    out = tmp_path / "out" / "packs.csv"
    first = ["regroup", str(inventory), "-s", "4", "-p", "3", "-o", str(out), "--compare"]
    assert runner.invoke(app, first).exit_code == 0
    excluded = out.with_name("packs_excluded.csv")
    assert pl.read_csv(excluded).height > 0
    assert out.with_name("packs_compare.csv").exists()
    mine = out.with_name("packs_notes.txt")
    mine.write_text("the operator's own file\n")
    second = runner.invoke(app, ["regroup", str(inventory), "-s", "1", "-p", "1", "-o", str(out)])
    assert second.exit_code == 0, second.output
    assert json.loads(out.with_name("packs_run.json").read_text())["units_excluded"] == 0
    assert excluded.read_text().splitlines() == ["battery_id,reason"]
    assert not out.with_name("packs_compare.csv").exists()
    assert mine.read_text() == "the operator's own file\n"
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "packs.csv", "packs_excluded.csv", "packs_notes.txt", "packs_run.json", "packs_summary.csv"
    ]  # fmt: skip


def test_a_failed_run_writes_the_skipped_units_it_names(
    served_registry: str, tmp_path: Path
) -> None:
    """Every selected unit skipped (packs cannot be units of a new pack): the run is infeasible
    (exit 8), yet the excluded file it names holds the reasons and the error counts them.
    (Packs routed to recycling are selected only when that route is named.)"""
    out = tmp_path / "packs.csv"
    args = ["regroup", "--from-registry", "--route", "recycle", "--level", "pack",
            "-s", "2", "-p", "1", "--db", served_registry, "-o", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 8, result.output
    excluded = out.with_name("packs_excluded.csv")
    assert f"see {excluded}" in result.output.replace("\n", "")
    skipped = pl.read_csv(excluded)
    assert skipped.height > 0
    assert set(skipped["reason"]) == {
        "a pack cannot be a unit of a new pack: regroup its modules instead"
    }
    message = " ".join(result.output.split())
    assert f"{skipped.height} selected unit(s) were skipped before regrouping" in message
    assert not out.exists()


def test_packs_outside_the_application_window_are_refused_with_the_series_that_fit(
    tmp_path: Path,
) -> None:
    """10S LFP (32 V) is below the UPS window (40–600 V): the run exits 8 naming the series that
    fit and writes no packs (before 2026-12-07 it built them and flagged application_voltage);
    14S (44.8 V) fits, with no warning and no violation; an unknown application exits 2 listing
    the valid ones."""
    inventory = tmp_path / "inventory.csv"
    synthetic_inventory(60, seed=2).write_csv(inventory)
    low, fits = tmp_path / "low.csv", tmp_path / "fits.csv"
    base = ["regroup", str(inventory), "-p", "1", "--application", "ups"]
    result = runner.invoke(app, [*base, "-s", "10", "-o", str(low)])
    assert result.exit_code == 8, result.output
    message = " ".join(result.output.split())
    assert "outside the voltage window (ups: 40–600 V)" in message
    assert "10S pack of 32 V nominal; --series 13–181 would fit" in message
    assert not low.exists()
    result = runner.invoke(app, [*base, "-s", "14", "-o", str(fits)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert pl.read_csv(fits.with_name("fits_summary.csv"))["violations"].fill_null("").eq("").all()
    run = json.loads(fits.with_name("fits_run.json").read_text())
    assert run["packs_outside_application_window"] == 0
    assert run["application"]["voltage_max_v"] == 600.0
    result = runner.invoke(app, [*base[:-1], "upz", "-s", "14", "-o", str(fits)])
    assert result.exit_code == 2
    assert "'ess', 'ev_reman', 'lsv', 'telecom', 'ups'" in " ".join(result.output.split())
