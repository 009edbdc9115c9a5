"""`echelon passport` as a compliance officer runs it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from echelon.cli import app
from echelon.passport import load_passport_data
from echelon.registry import battery_record, open_registry, verify
from echelon.synth import SynthBatch

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "passport-data.yaml"


@pytest.fixture
def intaken(small_batch: SynthBatch, tmp_path: Path) -> tuple[str, str, Path]:
    """(db url, a unit routed to a second life, a data file complete for it)."""
    db = f"sqlite:///{tmp_path / 'p.db'}"
    result = runner.invoke(app, ["intake", str(small_batch.manifest), "--db", db, "-j", "0"])
    assert result.exit_code == 0, result.output
    listed = pl.read_csv(
        runner.invoke(app, ["batteries", "--db", db, "--format", "csv"]).output.encode()
    )
    unit = listed.filter(pl.col("route").is_in(["ess", "ups", "telecom", "ev_reman"]))
    battery_id = unit["battery_id"][0]
    with open_registry(db) as registry:
        record = battery_record(registry, battery_id)
    example = load_passport_data(EXAMPLE)
    data = tmp_path / "facility.yaml"
    data.write_text(
        yaml.safe_dump(
            {
                "namespace": example.namespace,
                "operator": example.operator,
                "models": {record.battery.model: next(iter(example.models.values()))},
                "batteries": {battery_id: next(iter(example.batteries.values()))},
            }
        )
    )
    return db, battery_id, data


def test_passport_is_written_validated_and_recorded(
    intaken: tuple[str, str, Path], tmp_path: Path, batterypass_dir: Path
) -> None:
    db, battery_id, data = intaken
    out = tmp_path / "out" / "passport.json"
    args = ["passport", battery_id, "--db", db, "--data", str(data), "-o", str(out)]
    result = runner.invoke(
        app, [*args, "--in-service", "2027-03-01", "--schemas", str(batterypass_dir)]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert set(document) == {
        "GeneralProductInformation",
        "CarbonFootprint",
        "Circularity",
        "MaterialComposition",
        "Performance",
        "Labels",
        "SupplyChainDueDiligence",
        "passportMetadata",
    }
    meta = document["passportMetadata"]
    assert meta["incomplete"] == {}
    assert meta["aspectModels"]["Performance"].endswith(
        "Performance:1.2.0#PerformanceAndDurability"
    )
    with open_registry(db) as registry:
        record = battery_record(registry, battery_id)
        event = record.events[-1]
        assert event.kind == "passport_issued"
        assert event.payload["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
        assert event.payload["battery_passport_identifier"] == meta["batteryPassportIdentifier"]
        assert event.payload["reflects_seq"] == meta["chainHead"]["seq"] == event.seq - 1
        assert verify(registry).ok
    shown = runner.invoke(app, ["show", battery_id, "--db", db]).output
    assert "passport_issued" in shown

    public = tmp_path / "public.json"
    result = runner.invoke(
        app,
        [
            *args[:-1],
            str(public),
            "--in-service",
            "2027-03-01",
            "--access",
            "public",
            "--no-record",
        ],
    )
    assert result.exit_code == 0, result.output
    view = json.loads(public.read_text())
    assert list(view["Performance"]["batteryCondition"]) == [
        "roundTripEfficiencyat50PerCentCycleLife"  # the one public member of the condition
    ]
    assert "Performance.batteryCondition.capacityFade" in view["passportMetadata"]["withheld"]


def test_missing_data_writes_nothing_and_says_what_is_missing(
    intaken: tuple[str, str, Path], tmp_path: Path
) -> None:
    db, battery_id, data = intaken
    out = tmp_path / "p.json"
    result = runner.invoke(app, ["passport", battery_id, "--db", db, "-o", str(out)])
    assert result.exit_code == 8, result.output
    assert "no section is complete" in result.output
    assert not out.exists()
    # no battery-level data: Performance (first-life counters) stays incomplete
    partial = tmp_path / "partial.yaml"
    document = yaml.safe_load(data.read_text())
    document.pop("batteries")
    partial.write_text(yaml.safe_dump(document))
    args = ["passport", battery_id, "--db", db, "--data", str(partial), "-o", str(out)]
    result = runner.invoke(app, [*args, "--in-service", "2027-03-01"])
    assert result.exit_code == 8, result.output
    assert "1 of 7 sections lack required or valid members (Performance)" in result.output
    assert "--allow-incomplete" in result.output
    assert not out.exists()
    with open_registry(db) as registry:
        assert battery_record(registry, battery_id).events[-1].kind != "passport_issued"
    result = runner.invoke(app, [*args, "--allow-incomplete"])
    assert result.exit_code == 0, result.output
    meta = json.loads(out.read_text())["passportMetadata"]
    incomplete = meta["incomplete"]
    assert set(incomplete) == {"GeneralProductInformation", "Performance"}
    assert (
        "GeneralProductInformation.puttingIntoService: missing"
        in incomplete["GeneralProductInformation"]
    )
    assert "Performance.batteryCondition.energyThroughput: missing" in incomplete["Performance"]


def test_bad_arguments(intaken: tuple[str, str, Path], tmp_path: Path) -> None:
    db, battery_id, data = intaken
    unknown = runner.invoke(app, ["passport", "NOPE-1", "--db", db, "--data", str(data)])
    assert unknown.exit_code == 4
    date = runner.invoke(app, ["passport", battery_id, "--db", db, "--in-service", "1/3/2027"])
    assert date.exit_code == 2
    assert "--in-service" in date.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("operater: {}\n")
    refused = runner.invoke(app, ["passport", battery_id, "--db", db, "--data", str(bad)])
    assert refused.exit_code == 3
    assert "did you mean 'operator'" in refused.output
    yaml_out = tmp_path / "x.yaml"
    wrong = runner.invoke(app, ["passport", battery_id, "--db", db, "-o", str(yaml_out)])
    assert wrong.exit_code == 2  # a usage error, before anything is built
    assert not yaml_out.exists()
    no_schemas = runner.invoke(
        app, ["passport", battery_id, "--db", db, "--schemas", str(tmp_path / "nowhere")]
    )
    assert no_schemas.exit_code == 7  # refused before anything is built
    assert "not a Battery Pass v1.2.0 folder" in no_schemas.output
