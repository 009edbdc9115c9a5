"""Passports built from real registry records: what Echelon fills, what it refuses to invent."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from echelon.domain import Decision, OriginApplication
from echelon.errors import InputError, PassportError
from echelon.passport import (
    SECTION_MODELS,
    PassportData,
    build_passport,
    load_passport_data,
    schema_problems,
)
from echelon.passport.export import check_against_schemas
from echelon.pipeline import intake
from echelon.registry import BatteryRecord, Registry, battery_record, open_registry
from echelon.synth import SynthBatch

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "passport-data.yaml"
ISSUED = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def registry(
    small_batch: SynthBatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    folder = tmp_path_factory.mktemp("passport")
    reg = open_registry(f"sqlite:///{folder / 'p.db'}", store_dir=folder / "store")
    intake(small_batch.manifest, registry=reg, workers=0)
    yield reg
    reg.close()


def _records(registry: Registry) -> list[BatteryRecord]:
    with registry.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("select battery_id from batteries order by 1")]
    return [battery_record(registry, i) for i in ids]


def _route(record: BatteryRecord) -> str | None:
    routes = [d.outcome for d in record.decisions if d.kind == "route"]
    return routes[-1] if routes else None


def _measured(record: BatteryRecord, quantity: str) -> float:
    return [m.value for m in record.measurements if m.quantity == quantity][-1]


def _second_life(registry: Registry) -> BatteryRecord:
    """A unit routed to a second life whose capacity and DCIR were measured by the tester."""
    for record in _records(registry):
        quantities = {m.quantity for m in record.measurements}
        if (
            _route(record) in ("ess", "ups", "telecom", "ev_reman")
            and {
                "capacity_ah",
                "energy_wh",
                "dcir_ohm",
            }
            <= quantities
        ):
            return record
    pytest.fail("the synthetic batch has no tested unit routed to a second life")


def _facility_data(record: BatteryRecord) -> PassportData:
    """The example data file, keyed to this unit's model and id, with its level's resistance."""
    example = load_passport_data(EXAMPLE)
    model = dict(next(iter(example.models.values())))
    tech = model["Performance"]["batteryTechicalProperties"]
    tech = {
        **tech,
        "initialInternalResistance": [
            {"batteryComponent": record.battery.level.value, "ohmicResistance": 0.5 * 0.02}
        ],
    }
    model["Performance"] = {**model["Performance"], "batteryTechicalProperties": tech}
    return dataclasses.replace(
        example,
        models={record.battery.model or "": model},
        batteries={record.battery.battery_id: next(iter(example.batteries.values()))},
    )


def test_a_complete_passport_validates_against_every_schema(
    registry: Registry, batterypass_dir: Path
) -> None:
    record = _second_life(registry)
    data = _facility_data(record)
    passport = build_passport(record, data, in_service=dt.date(2027, 3, 1), issued_at=ISSUED)
    assert passport.missing == {}
    assert set(passport.sections) == set(SECTION_MODELS)
    for name, body in passport.sections.items():
        assert schema_problems(name, body, batterypass_dir) == [], name
    check_against_schemas(passport, batterypass_dir)

    gpi = passport.sections["GeneralProductInformation"]
    assert gpi["productIdentifier"] == record.battery.battery_id
    assert gpi["batteryStatus"] in ("Repurposed", "Reused", "Remanufactured")
    assert gpi["operatorInformation"] == data.operator
    assert gpi["puttingIntoService"] == "2027-03-01T00:00:00Z"
    # a new passport, linked to the first-life one (Art. 77(7))
    assert re.fullmatch(r"urn:acme:[0-9a-f]{24}", gpi["batteryPassportIdentifier"])
    assert passport.predecessor == "urn:excells:4f2a9c0d"
    assert passport.identifier != passport.predecessor

    condition = passport.sections["Performance"]["batteryCondition"]
    soh = _measured(record, "soh_percent")
    assert condition["capacityFade"]["capacityFadeValue"] == pytest.approx(100 - soh, abs=1e-3)
    assert condition["remainingCapacity"]["remainingCapacityValue"] == pytest.approx(
        _measured(record, "capacity_ah"), abs=1e-4
    )
    kwh = _measured(record, "energy_wh") / 1000
    assert condition["remainingEnergy"]["remainingEnergyalue"] == pytest.approx(kwh, abs=1e-6)
    rated = data.models[record.battery.model or ""]["Performance"]["batteryTechicalProperties"][
        "ratedEnergy"
    ]
    assert condition["stateOfCertifiedEnergy"]["stateOfCertifiedEnergyValue"] == pytest.approx(
        100 * kwh / rated, abs=1e-3
    )
    increase = condition["internalResistanceIncrease"][0]
    assert increase["internalResistanceIncreaseValue"] == pytest.approx(
        100 * (_measured(record, "dcir_ohm") - 0.01) / 0.01, abs=0.01
    )
    assert increase["batteryComponent"] == record.battery.level.value
    # first-life BMS counters come from the data file, untouched
    assert condition["numberOfFullCycles"]["numberOfFullCyclesValue"] == 1950
    assert (
        "echelon: measured (capacity_test)"
        in passport.provenance["Performance.batteryCondition.remainingCapacity"]
    )
    # the same battery and status always get the same identifier
    again = build_passport(record, data, in_service=dt.date(2027, 3, 1), issued_at=ISSUED)
    assert again.identifier == passport.identifier


def test_missing_data_is_named_never_filled(registry: Registry) -> None:
    record = _second_life(registry)
    passport = build_passport(record, None, issued_at=ISSUED)
    assert passport.sections == {}  # no section is complete without the facility's data
    assert set(passport.missing) == set(SECTION_MODELS)
    assert "CarbonFootprint.batteryCarbonFootprint: missing" in passport.missing["CarbonFootprint"]
    performance = passport.missing["Performance"]
    assert "Performance.batteryCondition.energyThroughput: missing" in performance
    # what Echelon measured is not reported missing
    assert not any("remainingCapacity" in p or "capacityFade" in p for p in performance)
    gpi = passport.missing["GeneralProductInformation"]
    assert "GeneralProductInformation.manufacturerInformation: missing" in gpi
    assert not any("batteryStatus" in p or "productIdentifier" in p for p in gpi)


def _with_route(record: BatteryRecord, outcome: str, *, gate: str = "pass") -> BatteryRecord:
    def decision(kind: str, value: str) -> Decision:
        return Decision(
            battery_id=record.battery.battery_id,
            kind=kind,  # type: ignore[arg-type]
            outcome=value,
            profile="test",
            profile_version="1",
        )

    return dataclasses.replace(
        record, decisions=[decision("gate", gate), decision("route", outcome)]
    )


def test_status_and_category_follow_the_route(registry: Registry) -> None:
    record = _second_life(registry)
    origin = dataclasses.replace(
        record,
        battery=record.battery.model_copy(
            update={"origin_application": OriginApplication.ENERGY_STORAGE}
        ),
    )
    data = PassportData(
        batteries={record.battery.battery_id: {"originalPassportIdentifier": "urn:x:1"}}
    )

    def status(outcome: str, gate: str = "pass") -> tuple[str, str | None, str | None]:
        p = build_passport(_with_route(origin, outcome, gate=gate), data, issued_at=ISSUED)
        category = p.provenance.get("GeneralProductInformation.batteryCategory")
        return p.status, p.identifier, category

    assert status("ess")[0] == "Reused"  # stationary → stationary
    assert status("ups")[0] == "Repurposed"  # stationary → industrial
    assert status("ev_reman")[0] == "Remanufactured"
    assert status("ess")[1] != status("ups")[1]  # a new life, a new identifier
    assert status("recycle")[:2] == ("Waste", "urn:x:1")  # no new passport (Art. 77(7))
    assert status("ess", gate="quarantine")[:2] == ("Waste", "urn:x:1")
    assert status("retest")[:2] == ("Original", "urn:x:1")
    starter = build_passport(_with_route(origin, "auto12v"), data, issued_at=ISSUED)
    assert any("outside the passport's categories" in n for n in starter.notes)
    assert starter.status == "Repurposed"
    # a pack built from second-life units by `echelon regroup --record` is a repurposed battery
    assembled = record.events[-1].model_copy(update={"kind": "assembled"})
    pack = build_passport(
        dataclasses.replace(record, events=[*record.events, assembled], decisions=[]),
        data,
        issued_at=ISSUED,
    )
    assert pack.status == "Repurposed"
    assert any("assembled from second-life units" in n for n in pack.notes)
    assert (
        "GeneralProductInformation.batteryCategory: missing"
        in starter.missing["GeneralProductInformation"]
    )


def test_a_recycled_battery_has_no_passport(registry: Registry) -> None:
    record = dataclasses.replace(_second_life(registry), status="recycled")
    with pytest.raises(PassportError, match=r"Art\. 77\(8\)"):
        build_passport(record)


def test_access_groups_withhold_what_annex_xiii_restricts(registry: Registry) -> None:
    record = _second_life(registry)
    passport = build_passport(
        record, _facility_data(record), in_service=dt.date(2027, 3, 1), issued_at=ISSUED
    )
    full = passport.document(access="full")
    public = passport.document(access="public")
    interest = passport.document(access="legitimate-interest")
    assert "batteryCondition" in full["Performance"]
    assert "batteryCondition" not in public["Performance"]
    assert "batteryStatus" not in public["GeneralProductInformation"]
    assert "batteryMaterials" not in public["MaterialComposition"]
    assert "resultOfTestReport" in full["Labels"]  # notified bodies and authorities only
    assert "resultOfTestReport" not in interest["Labels"]
    assert "resultOfTestReport" not in public["Labels"]
    assert "batteryCondition" in interest["Performance"]
    assert full["passportMetadata"]["withheld"] == []
    assert "Performance.batteryCondition" in public["passportMetadata"]["withheld"]
    assert interest["passportMetadata"]["withheld"] == ["Labels.resultOfTestReport"]
    # the view is a copy: the passport itself keeps every member
    assert "batteryCondition" in passport.sections["Performance"]


def test_the_schema_check_fails_on_a_wrong_value(registry: Registry, batterypass_dir: Path) -> None:
    record = _second_life(registry)
    passport = build_passport(
        record, _facility_data(record), in_service=dt.date(2027, 3, 1), issued_at=ISSUED
    )
    broken = dataclasses.replace(
        passport,
        sections={
            **passport.sections,
            "GeneralProductInformation": {
                **passport.sections["GeneralProductInformation"],
                "batteryCategory": "bus",
            },
        },
    )
    with pytest.raises(PassportError, match="batteryCategory"):
        check_against_schemas(broken, batterypass_dir)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("operater: {}\n", "unknown member 'operater' (did you mean 'operator'?)"),
        ("namespace: ACME-1\n", "must be lower-case letters and digits only"),
        ("models: {X: {CarbonFootprints: {}}}\n", "did you mean 'CarbonFootprint'?"),
        ("operator: {contactName: A}\n", "operator.identifier: Field required"),
        ("models: [1, 2\n", "not valid yaml"),
    ],
)
def test_a_bad_data_file_is_refused_with_its_name(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "facility.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_passport_data(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_the_example_data_file_loads_in_every_format(tmp_path: Path) -> None:
    import json
    import tomllib  # noqa: F401  (TOML is read by the loader; JSON written here)

    example = load_passport_data(EXAMPLE)
    as_json = tmp_path / "facility.json"
    as_json.write_text(
        json.dumps(
            {
                "namespace": example.namespace,
                "operator": example.operator,
                "models": example.models,
                "batteries": example.batteries,
            }
        )
    )
    again = load_passport_data(as_json)
    assert again.models == example.models
    assert again.operator == example.operator
