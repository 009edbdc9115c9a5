"""Passports built from real registry records: what Echelon fills, what it refuses to invent."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from echelon.domain import Decision, Measurement, OriginApplication, Reason
from echelon.errors import InputError, PassportError, UsageError
from echelon.passport import (
    SECTION_MODELS,
    PassportData,
    build_passport,
    canonical_json,
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
        100 * (_measured(record, "dcir_100ms_ohm") - 0.01) / 0.01, abs=0.01
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


def _with_route(
    record: BatteryRecord, outcome: str, *, gate: str = "pass", soh: float = 80.0
) -> BatteryRecord:
    def decision(kind: str, value: str) -> Decision:
        return Decision(
            battery_id=record.battery.battery_id,
            kind=kind,  # type: ignore[arg-type]
            outcome=value,
            profile="test",
            profile_version="1",
        )

    measured = Measurement(
        battery_id=record.battery.battery_id, quantity="soh_percent", value=soh, method="test"
    )
    return dataclasses.replace(
        record,
        decisions=[decision("gate", gate), decision("route", outcome)],
        measurements=[*record.measurements, measured],
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
        namespace="acme",
        batteries={record.battery.battery_id: {"originalPassportIdentifier": "urn:x:1"}},
    )

    def status(outcome: str, gate: str = "pass", soh: float = 80.0) -> tuple[str, str | None]:
        p = build_passport(_with_route(origin, outcome, gate=gate, soh=soh), data, issued_at=ISSUED)
        return p.status, p.identifier

    assert status("ess")[0] == "Reused"  # stationary → stationary
    assert status("ups")[0] == "Repurposed"  # stationary → industrial
    assert status("ess")[1] != status("ups")[1]  # another status, another passport
    assert status("recycle") == ("Waste", "urn:x:1")  # no new passport (Art. 77(7))
    assert status("ess", gate="quarantine") == ("Waste", "urn:x:1")
    assert status("retest") == ("Original", "urn:x:1")
    # remanufactured only when the capacity is restored to ≥ 90 % (Art. 3(1))
    reman = build_passport(_with_route(origin, "ev_reman", soh=93.0), data, issued_at=ISSUED)
    assert reman.status == "Remanufactured"
    assert any("within 3 %" in n for n in reman.notes)
    worn = build_passport(_with_route(origin, "ev_reman", soh=83.0), data, issued_at=ISSUED)
    assert worn.status == "Repurposed"  # stationary origin, EV use
    assert any("below the 90 %" in n for n in worn.notes)
    starter = build_passport(_with_route(origin, "auto12v"), data, issued_at=ISSUED)
    assert any("outside the passport's categories" in n for n in starter.notes)
    assert starter.status == "Repurposed"
    assert (
        "GeneralProductInformation.batteryCategory: missing"
        in starter.missing["GeneralProductInformation"]
    )
    # a pack built from second-life units by `echelon regroup --record` is a repurposed battery
    assembled = record.events[-1].model_copy(update={"kind": "assembled"})
    pack = build_passport(
        dataclasses.replace(record, events=[*record.events, assembled], decisions=[]),
        data,
        issued_at=ISSUED,
    )
    assert pack.status == "Repurposed"
    assert any("assembled from second-life units" in n for n in pack.notes)


def test_a_new_decision_gets_a_new_identifier_and_each_facility_its_own(
    registry: Registry,
) -> None:
    record = _with_route(_second_life(registry), "ups")
    data = PassportData(namespace="acme")
    first = build_passport(record, data, issued_at=ISSUED)
    again = build_passport(record, data, issued_at=ISSUED)
    assert first.identifier == again.identifier  # the same decision: the same passport
    routed = next(e for e in reversed(record.events) if e.kind == "routed")
    rerouted = routed.model_copy(update={"seq": record.events[-1].seq + 1, "hash": "f" * 64})
    later = build_passport(
        dataclasses.replace(record, events=[*record.events, rerouted]), data, issued_at=ISSUED
    )
    assert later.identifier != first.identifier
    other = build_passport(record, PassportData(namespace="other"), issued_at=ISSUED)
    assert other.identifier is not None
    assert other.identifier.startswith("urn:other:")
    assert other.identifier.split(":")[2] != first.identifier.split(":")[2]
    # no namespace: no identifier is minted, and the note says what to give
    anonymous = build_passport(record, PassportData(), issued_at=ISSUED)
    assert anonymous.identifier is None
    assert any("namespace" in n for n in anonymous.notes)
    assert any("cannot be linked" in n for n in anonymous.notes)


def test_only_findings_on_the_unit_are_negative_events(registry: Registry) -> None:
    record = _second_life(registry)
    gate = Decision(
        battery_id=record.battery.battery_id,
        kind="gate",
        outcome="quarantine",
        reasons=(
            Reason(rule="gate.visual_damage", passed=False, message="swelling found"),
            Reason(rule="gate.traceability", passed=False, message="no traceability data"),
            Reason(rule="gate.insulation", passed=True, message="insulation fine"),
        ),
        profile="test",
        profile_version="1",
    )
    passport = build_passport(dataclasses.replace(record, decisions=[gate]), issued_at=ISSUED)
    assert passport.status == "Waste"
    events = passport.provenance["Performance.batteryCondition.negativeEvents"]
    assert "safety-gate findings" in events
    # the incomplete Performance section does not hide the value: rebuild the merged member
    data = _facility_data(record)
    full = build_passport(dataclasses.replace(record, decisions=[gate]), data, issued_at=ISSUED)
    listed = full.sections["Performance"]["batteryCondition"]["negativeEvents"]
    assert [e["negativeEvent"] for e in listed] == ["gate.visual_damage: swelling found"]


def test_provenance_names_the_layer_that_won(registry: Registry) -> None:
    record = _second_life(registry)
    data = _facility_data(record)
    model = record.battery.model or ""
    tech = data.models[model]["Performance"]["batteryTechicalProperties"]
    stated = dataclasses.replace(
        data,
        models={
            model: {
                **data.models[model],
                "Performance": {
                    **data.models[model]["Performance"],
                    "batteryTechicalProperties": {**tech, "ratedCapacity": 50.0},
                },
            }
        },
    )
    no_capacity = dataclasses.replace(
        record, measurements=[m for m in record.measurements if m.quantity != "capacity_ah"]
    )
    passport = build_passport(no_capacity, stated, in_service=dt.date(2027, 3, 1), issued_at=ISSUED)
    tech_out = passport.sections["Performance"]["batteryTechicalProperties"]
    assert tech_out["ratedCapacity"] == 50.0
    source = passport.provenance["Performance.batteryTechicalProperties.ratedCapacity"]
    assert source.startswith("data file")
    remaining = passport.sections["Performance"]["batteryCondition"]["remainingCapacity"]
    soh = _measured(record, "soh_percent")
    assert remaining["remainingCapacityValue"] == pytest.approx(soh / 100 * 50.0, abs=1e-3)


def test_a_recycled_or_dismantled_battery_has_no_passport(registry: Registry) -> None:
    record = dataclasses.replace(_second_life(registry), status="recycled")
    with pytest.raises(PassportError, match=r"Art\. 77\(8\)"):
        build_passport(record)
    pack = dataclasses.replace(record, status="dismantled", children=["M1", "M2"])
    with pytest.raises(PassportError, match="dismantled into M1, M2"):
        build_passport(pack)
    # a unit taken in again after its recycling (possible before 2026-12-07): status routed,
    # but a recycled event in its chain — still no passport
    live = _second_life(registry)
    last = live.events[-1]
    recycled = last.model_copy(update={"seq": last.seq + 1, "kind": "recycled", "payload": {}})
    again = dataclasses.replace(live, events=[*live.events[:-1], recycled, last])
    assert again.status != "recycled"
    with pytest.raises(PassportError, match=r"Art\. 77\(8\)"):
        build_passport(again)


def test_access_groups_withhold_what_annex_xiii_restricts(registry: Registry) -> None:
    record = _second_life(registry)
    passport = build_passport(
        record, _facility_data(record), in_service=dt.date(2027, 3, 1), issued_at=ISSUED
    )
    full = passport.document(access="full")
    public = passport.document(access="public")
    interest = passport.document(access="legitimate-interest")
    condition = public["Performance"]["batteryCondition"]
    assert list(condition) == ["roundTripEfficiencyat50PerCentCycleLife"]  # public (#68)
    assert "remainingCapacity" in full["Performance"]["batteryCondition"]
    assert "batteryStatus" not in public["GeneralProductInformation"]
    # critical raw materials are public (#32); where and how much is not (#33)
    materials = public["MaterialComposition"]["batteryMaterials"]
    assert all(set(m) == {"batteryMaterialName", "batteryMaterialIdentifier",
                          "isCriticalRawMaterial"} for m in materials)  # fmt: skip
    assert "batteryMaterialMass" in full["MaterialComposition"]["batteryMaterials"][0]
    # the extinguishing agent is public (#15), the safety instructions are not (#39)
    assert public["Circularity"]["safetyMeasures"] == {"extinguishingAgent": ["water"]}
    assert "resultOfTestReport" in full["Labels"]  # notified bodies and authorities only
    assert "resultOfTestReport" not in interest["Labels"]
    assert "resultOfTestReport" not in public["Labels"]
    assert "remainingCapacity" in interest["Performance"]["batteryCondition"]
    assert full["passportMetadata"]["withheld"] == []
    assert "Performance.batteryCondition.capacityFade" in public["passportMetadata"]["withheld"]
    assert interest["passportMetadata"]["withheld"] == ["Labels.resultOfTestReport"]
    # the metadata of a view tells no more than its sections: no status, no SOH in notes
    meta = public["passportMetadata"]
    assert "batteryStatus" not in meta
    assert meta["notes"] == []
    assert not any("capacityFade" in path for path in meta["provenance"])
    assert "SOH" not in json.dumps(meta)
    assert interest["passportMetadata"]["batteryStatus"] == passport.status
    # the view is a copy: the passport itself keeps every member
    assert "remainingCapacity" in passport.sections["Performance"]["batteryCondition"]
    with pytest.raises(UsageError, match="access='everyone'"):
        passport.document(access="everyone")  # type: ignore[arg-type]


def test_a_view_withholds_the_status_even_when_its_section_is_incomplete(
    registry: Registry,
) -> None:
    passport = build_passport(_second_life(registry), issued_at=ISSUED)  # no data file
    assert "GeneralProductInformation" in passport.missing  # the status has no section to leave
    assert "batteryStatus" not in passport.document(access="public")["passportMetadata"]
    interest = passport.document(access="legitimate-interest")["passportMetadata"]
    assert interest["batteryStatus"] == passport.status


def test_every_status_validates_against_the_schemas(
    registry: Registry, batterypass_dir: Path
) -> None:
    record = _second_life(registry)
    data = dataclasses.replace(
        _facility_data(record),
        batteries={
            record.battery.battery_id: {
                **next(iter(_facility_data(record).batteries.values())),
                # the first life's putting into service: kept by Original and Waste batteries
                "GeneralProductInformation": {"puttingIntoService": "2019-05-01T00:00:00Z"},
            }
        },
    )
    for outcome, gate, soh in [("ess", "pass", 80.0), ("ups", "pass", 80.0),
                               ("ev_reman", "pass", 95.0), ("recycle", "pass", 60.0),
                               ("ess", "quarantine", 80.0)]:  # fmt: skip
        built = build_passport(
            _with_route(record, outcome, gate=gate, soh=soh),
            data,
            in_service=dt.date(2027, 3, 1),
            issued_at=ISSUED,
        )
        assert built.missing == {}, (outcome, built.missing)
        check_against_schemas(built, batterypass_dir)
    assert canonical_json(built.document())  # finite numbers only
    with pytest.raises(ValueError, match="Out of range float values"):
        canonical_json({"x": float("nan")})


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
        (
            "models: {X: {GeneralProductInformation: {batteryMas: 3}}}\n",
            "models.X.GeneralProductInformation.batteryMas: unknown member (did you mean "
            "'batteryMass'?)",
        ),
        (
            "models: {X: {GeneralProductInformation: {batteryMass: .nan}}}\n",
            "batteryMass: Input should be a finite number",
        ),
        (
            "models: {X: {GeneralProductInformation: {batteryMass: true}}}\n",
            "batteryMass: Input should be a valid number",
        ),
        (
            "batteries: {B: {Performance: {batteryCondition: {stateOfCharge: "
            "{stateOfChargeValue: 40, lastUpdate: 2026-11-02T08:00:00Z}}}}}\n",
            "quote the timestamp",
        ),
        (
            "operator: {contactName: A, identifier: B, emailAddress: a@b.de, postalAddress: "
            "{addressCountry: DE, postalCode: '1', streetAddress: x}}\n",
            "leave emailAddress out, give webAddress",
        ),
        (
            "batteries: {B: {originalPassportIdentifier: 'ABC-1'}}\n",
            "is not a Battery Pass passport",
        ),
        (  # said in words since 2026-12-07 (was the pattern's regular expression)
            "batteries: {B: {Performance: {batteryCondition: {stateOfCharge: "
            "{stateOfChargeValue: 40, lastUpdate: 'yesterday'}}}}}\n",
            "lastUpdate: 'yesterday' is not a timestamp: write it as in \"2026-11-02T08:00:00Z\"",
        ),
        # values the schemas accept but no battery has (2026-12-07: they were published)
        (
            "models: {X: {GeneralProductInformation: {batteryMass: -18400}}}\n",
            "models.X.GeneralProductInformation.batteryMass: -18400 kg is outside the plausible "
            "range [0.001, 100000] kg",
        ),
        (
            "batteries: {B: {Performance: {batteryCondition: {stateOfCharge: "
            "{stateOfChargeValue: 4200}}}}}\n",
            "stateOfChargeValue: 4200 % is outside the plausible range [0, 100] %",
        ),
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
    example = load_passport_data(EXAMPLE)
    as_toml = tmp_path / "facility.toml"
    as_toml.write_text(
        'namespace = "acme"\n[operator]\ncontactName = "ACME"\nidentifier = "DE-1"\n'
        '[operator.postalAddress]\naddressCountry = "DE"\npostalCode = "10719"\n'
        'streetAddress = "Hindenburgstr. 10"\n'
        '[models.M1.GeneralProductInformation]\nbatteryMass = 18.4\nwarrentyPeriod = "--12"\n'
    )
    toml = load_passport_data(as_toml)
    assert toml.namespace == "acme"
    assert toml.models["M1"]["GeneralProductInformation"]["batteryMass"] == 18.4
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


@pytest.mark.parametrize(
    ("packaged", "override", "message"),
    [
        (
            '"Performance.batteryCondition.capacityFade"',
            '"Performance.batteryConditon"',
            "has no member 'batteryConditon'",
        ),
        ('ess = "stationary"', 'ess = "bus"', "by_application"),
        (
            '"Circularity.safetyMeasures.safetyInstructions"',
            '"Circularity.safetyMeasures[].safetyInstructions"',
            "'safetyMeasures' is not a list",
        ),
        (
            '"MaterialComposition.batteryMaterials[].batteryMaterialMass"',
            '"MaterialComposition.batteryMaterials.batteryMaterialMass"',
            "'batteryMaterials' is a list",
        ),
        ('"gate.insulation"', '"gate.insulaton"', "unknown gate rules"),
    ],
)
def test_a_misspelt_override_of_the_passport_table_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, packaged: str, override: str, message: str
) -> None:
    """A typo must not silently publish a restricted member or drop an event."""
    from echelon.catalog import resolve_table_path
    from echelon.errors import ConfigError
    from echelon.passport.catalog import passport_catalog

    text = resolve_table_path("passport").read_text()
    assert packaged in text
    (tmp_path / "passport.toml").write_text(text.replace(packaged, override))
    monkeypatch.setenv("ECHELON_CATALOG_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=re.escape(message)):
        passport_catalog()


def test_a_unit_quarantined_for_missing_input_is_not_waste(registry: Registry) -> None:
    record = _second_life(registry)
    missing = Decision(
        battery_id=record.battery.battery_id,
        kind="gate",
        outcome="quarantine",
        reasons=(Reason(rule="gate.ocv_measured", passed=False, message="no OCV"),),
        profile="test",
        profile_version="1",
    )
    route = Decision(
        battery_id=record.battery.battery_id,
        kind="route",
        outcome="recycle",
        profile="test",
        profile_version="1",
    )
    passport = build_passport(
        dataclasses.replace(record, decisions=[missing, route]), issued_at=ISSUED
    )
    assert passport.status == "Original"
    assert any("missing or invalid input (gate.ocv_measured)" in n for n in passport.notes)


def test_estimates_are_not_called_measurements(registry: Registry) -> None:
    record = _second_life(registry)
    estimated = [
        m.model_copy(update={"method": "estimator:regroup_physics"})
        if m.quantity in ("capacity_ah", "energy_wh")
        else m
        for m in record.measurements
    ]
    passport = build_passport(
        dataclasses.replace(record, measurements=estimated),
        _facility_data(record),
        issued_at=ISSUED,
    )
    source = passport.provenance["Performance.batteryCondition.remainingCapacity"]
    assert source == "echelon: estimated (estimator:regroup_physics)"
    # an estimated energy is neither a remaining energy nor a state of certified energy
    assert "Performance.batteryCondition.stateOfCertifiedEnergy" not in passport.provenance
    assert "Performance.batteryCondition.remainingEnergy" not in passport.provenance


def test_notes_for_a_data_file_without_this_unit_and_a_misplaced_in_service(
    registry: Registry,
) -> None:
    record = _second_life(registry)
    model = record.battery.model or ""
    data = PassportData(namespace="acme", models={model + "X": {}}, source="facility.yaml")
    passport = build_passport(record, data, issued_at=ISSUED)
    assert any(f"closest: {model + 'X'!r}" in n for n in passport.notes)
    waste = build_passport(
        _with_route(record, "recycle"), data, in_service=dt.date(2027, 3, 1), issued_at=ISSUED
    )
    assert any("--in-service ignored" in n for n in waste.notes)
    assert "GeneralProductInformation.puttingIntoService" not in waste.provenance
    # its refusal does not then ask for --in-service: only the data file can date it
    from echelon.passport.build import incomplete_message

    message = incomplete_message(waste, data="--data FILE", in_service="--in-service DATE",
                                 outcome="nothing written")  # fmt: skip
    assert "puttingIntoService" in " ".join(p for ps in waste.missing.values() for p in ps)
    assert "--in-service DATE" not in message
    assert "GeneralProductInformation.puttingIntoService, a timestamp" in message


def test_a_view_names_layers_not_reasons(registry: Registry) -> None:
    record = _second_life(registry)
    passport = build_passport(
        record, _facility_data(record), in_service=dt.date(2027, 3, 1), issued_at=ISSUED
    )
    layers = set(passport.document(access="public")["passportMetadata"]["provenance"].values())
    assert layers <= {"data file", "registry", "minted", "manifest", "catalogue",
                      "given at export", "echelon measurement"}  # fmt: skip
    text = json.dumps(passport.document(access="public")["passportMetadata"])
    assert "routed to" not in text
    assert str(EXAMPLE) not in text


def test_a_view_says_nothing_about_the_restricted_members_a_unit_lacks() -> None:
    """Whether a unit's negative events are missing is legitimate-interest information: before
    2026-12-07 a public view's ``incomplete`` named the missing ``negativeEvents`` (units with a
    gate finding have them), and ``withheld`` listed only the restricted members the unit has."""
    from echelon.passport.build import Passport

    def passport(missing: list[str]) -> Passport:
        return Passport(
            battery_id="X-1", status="Repurposed", identifier=None, predecessor=None,
            sections={}, missing={"Performance": missing} if missing else {}, provenance={},
            chain_head=(0, "0" * 64), issued_at=ISSUED,
        )  # fmt: skip

    lacking = passport([
        "Performance.batteryCondition.negativeEvents: missing",
        "Performance.batteryCondition.roundTripEfficiencyat50PerCentCycleLife: missing",
        "Performance.batteryCondition.remainingCapacity.0.value: invalid: not a number",
    ])  # fmt: skip
    having = passport(
        ["Performance.batteryCondition.roundTripEfficiencyat50PerCentCycleLife: missing"]
    )
    for access in ("public", "legitimate-interest"):
        views = [p.document(access=access)["passportMetadata"] for p in (lacking, having)]  # type: ignore[arg-type]
        assert views[0]["withheld"] == views[1]["withheld"]
        if access == "public":
            assert views[0]["incomplete"] == views[1]["incomplete"] == {"Performance": [
                "Performance.batteryCondition.roundTripEfficiencyat50PerCentCycleLife: missing"
            ]}  # fmt: skip
            assert "Performance.batteryCondition.negativeEvents" in views[0]["withheld"]
    full = lacking.document(access="full")["passportMetadata"]
    assert len(full["incomplete"]["Performance"]) == 3  # the operator sees everything


def test_the_incomplete_message_says_when_the_data_file_has_no_entry_for_the_unit() -> None:
    """The usual cause of a passport with nothing complete, said where the refusal is."""
    from echelon.passport.build import Passport, incomplete_message

    passport = Passport(
        battery_id="ESS-3", status="Original", identifier=None, predecessor=None, sections={},
        missing={"Labels": ["Labels.x: missing"]}, provenance={}, chain_head=(0, "0" * 64),
        issued_at=ISSUED, notes=["f.yaml has no entry for model 'F-48' nor battery 'ESS-3'"],
    )  # fmt: skip
    message = incomplete_message(passport, data="--data FILE", in_service="-", outcome="no view")
    assert message.endswith("(docs/passport.md) (f.yaml has no entry for model 'F-48' nor "
                            "battery 'ESS-3')")  # fmt: skip
