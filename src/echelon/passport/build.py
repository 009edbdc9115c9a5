"""Build a battery's passport from its registry record and the facility's passport data.

Echelon fills what it knows and nothing else:

* **identity and status** — ``productIdentifier`` (the battery id), ``batteryStatus`` from the
  route (a second life → ``Repurposed``, ``Reused`` or ``Remanufactured``; recycling or a failed
  safety gate → ``Waste``; no decision yet → ``Original``), ``batteryCategory`` of the new use, a
  new ``batteryPassportIdentifier`` for a battery placed on the market again (Art. 77(7); linked to
  the original passport), the facility as ``operatorInformation``;
* **the nameplate**, where the data file is silent — rated capacity, nominal voltage, rated energy,
  manufacturing date, chemistry;
* **its measurements**, dated by the event that recorded them — remaining capacity, capacity fade
  (100 − SOH), remaining energy and state of certified energy (capacity test), internal resistance
  increase (against the data file's initial resistance), negative events (safety-gate findings).

Everything else comes from the data file (:mod:`echelon.passport.data`). A section with a required
member that neither provides is **incomplete**: it is not exported, and each missing member is
named — the export never fills a placeholder.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from echelon.catalog import chemistry
from echelon.domain import Battery
from echelon.errors import PassportError, check_choice
from echelon.passport.access import ACCESS, Access, restrict, withheld
from echelon.passport.catalog import PassportCatalog, passport_catalog
from echelon.passport.data import PassportData
from echelon.passport.model import (
    BATTERYPASS_VERSION,
    SECTION_MODELS,
    SectionName,
    aspect_urn,
    member_at,
)
from echelon.passport.status import NEW_PASSPORT, passport_status
from echelon.registry import (
    BatteryRecord,
    Registry,
    VerifyReport,
    no_longer_whole,
    recycled_parts,
    refuse_unverified,
)


@dataclass(frozen=True)
class Passport:
    """A battery's passport as of one moment of its event chain.

    Attributes
    ----------
    battery_id : str
    status : str
        ``batteryStatus``.
    identifier : str or None
        ``batteryPassportIdentifier`` (``None`` when it could not be set).
    predecessor : str or None
        The original passport a new passport links to (from the data file).
    sections : dict
        Complete sections (valid against the model of the standard), by section name.
    missing : dict
        Incomplete sections → every missing or invalid member, ``path: reason``.
    provenance : dict
        Member path → where its value came from.
    chain_head : tuple of (int, str)
        ``(seq, hash)`` of the last event the passport reflects.
    issued_at : datetime
    """

    battery_id: str
    status: str
    identifier: str | None
    predecessor: str | None
    sections: dict[SectionName, dict[str, Any]]
    missing: dict[SectionName, list[str]]
    provenance: dict[str, str]
    chain_head: tuple[int, str]
    issued_at: dt.datetime
    notes: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every section is complete."""
        return not self.missing

    def document(self, *, access: Access = "full") -> dict[str, Any]:
        """The composite passport: one member per complete section, plus ``passportMetadata``.

        ``access`` filters the members by Annex XIII access group (catalogue ``passport``):
        ``public`` drops what only persons with a legitimate interest, the Commission or the
        authorities may read; ``legitimate-interest`` drops the authorities' part; ``full`` is the
        operator's whole record. A filtered view no longer validates against the schemas, whose
        members are all required: it is a view, not a passport to exchange.
        """
        check_choice("access", access, ACCESS)
        sections: dict[str, Any] = {
            name: copy.deepcopy(body) for name, body in self.sections.items()
        }
        catalog = passport_catalog()
        dropped = restrict(sections, access, catalog)
        full = access == "full"
        hidden = withheld(access, catalog)  # all of them: which ones a unit has is not public
        meta: dict[str, Any] = {
            "batteryId": self.battery_id,
            "batteryPassportIdentifier": self.identifier,
            "predecessorPassportIdentifier": self.predecessor,
            "batteryStatus": self.status,
            "batteryPassVersion": BATTERYPASS_VERSION,
            "aspectModels": {name: aspect_urn(name) for name in SECTION_MODELS},
            "issuedAt": self.issued_at.isoformat(timespec="seconds"),
            "chainHead": {"seq": self.chain_head[0], "hash": self.chain_head[1]},
            "access": access,
            "withheld": dropped if full else sorted(hidden),
            "incomplete": {
                name: [p for p in problems if not _under(p.split(": ", 1)[0], hidden)]
                for name, problems in self.missing.items()
            },
            # a view keeps the provenance of what it shows only, as the layer it came from (the
            # reasons can quote status, route or SOH), and no notes
            "provenance": {
                path: origin if full else _layer(origin)
                for path, origin in self.provenance.items()
                if full or member_at(sections, path) is not None
            },
            "notes": self.notes if full else [],
            "components": self.components,
        }
        if "GeneralProductInformation.batteryStatus" in hidden:
            del meta["batteryStatus"]  # withheld even where its section is incomplete
        document = dict(sections)
        document["passportMetadata"] = meta
        return document


def _under(path: str, paths: set[str]) -> bool:
    """``path`` (``a.b.0.c``, as validation locates it) is one of ``paths`` (``a.b[].c``, as the
    catalogue names members) or inside one."""
    parts: list[str] = []
    for part in path.split("."):
        if part.isdigit() and parts:
            parts[-1] += "[]"
        else:
            parts.append(part)
    dotted = ".".join(parts)
    return any(dotted == p or dotted.startswith((p + ".", p + "[]")) for p in paths)


def incomplete_message(passport: Passport, *, data: str, in_service: str, outcome: str) -> str:
    """Why ``passport`` is not exported: which sections lack required or valid members, what was
    not done (``outcome``), and where to give them — ``data`` (the facility's data file) and,
    when the date put into service is missing, ``in_service`` (as the caller's option says it)."""
    problems = [p for section in passport.missing.values() for p in section]
    where = [f"{data} (docs/passport.md)"]
    if any("puttingIntoService" in p for p in problems):
        if passport.status in NEW_PASSPORT:
            where.append(in_service)
        else:  # its first putting into service: only the data file can give it
            where[0] += (
                " — its GeneralProductInformation.puttingIntoService, a timestamp such as "
                "2013-04-01T00:00:00Z, since a battery whose status is "
                f"{passport.status} keeps its first putting into service"
            )
    sections = ", ".join(passport.missing)
    head = (
        f"{passport.battery_id}: no section is complete ({sections} lack required or valid members)"
        if not passport.sections
        else f"{passport.battery_id}: {len(passport.missing)} of {len(SECTION_MODELS)} sections "
        f"lack required or valid members ({sections})"
    )
    unlisted = [n for n in passport.notes if " has no entry for " in n]  # the usual cause
    because = f" ({unlisted[0]})" if unlisted else ""
    return f"{head}; {outcome}. Give them with {' and '.join(where)}{because}"


def _layer(origin: str) -> str:
    """The layer a value came from, without its reasons (for views of a passport)."""
    for layer in ("data file", "registry", "minted", "manifest", "catalogue", "given at export"):
        if origin.startswith(layer):
            return layer
    return "echelon measurement" if origin.startswith("echelon") else "echelon"


def canonical_json(document: dict[str, Any]) -> str:
    """The document as sorted, indented JSON (what is written and hashed)."""
    return (
        json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    )


def sha256_of(document: dict[str, Any]) -> str:
    """SHA-256 of :func:`canonical_json` encoded as UTF-8."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def _timestamp(recorded_at: str | dt.datetime) -> str:
    """A registry time as the schemas' ``Timestamp`` (UTC, seconds, ``Z``)."""
    when = (
        recorded_at
        if isinstance(recorded_at, dt.datetime)
        else dt.datetime.fromisoformat(recorded_at)
    )
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merged member by member, anything else replaced by ``over``."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class _Sheet:
    """Values Echelon sets, with where each came from."""

    def __init__(self) -> None:
        self.defaults: dict[str, Any] = {}  # used where the data file is silent
        self.overrides: dict[str, Any] = {}  # Echelon's own record wins
        self.provenance: dict[str, str] = {}
        self.notes: list[str] = []

    def put(self, path: str, value: Any, source: str, *, override: bool) -> None:
        target = self.overrides if override else self.defaults
        *parents, leaf = path.split(".")
        node = target
        for member in parents:
            node = node.setdefault(member, {})
        node[leaf] = value
        self.provenance[path] = source


def _measured_at(record: BatteryRecord) -> dict[str, str]:
    """Quantity → time of the latest event that recorded it."""
    out: dict[str, str] = {}
    for event in record.events:
        rows = (event.payload.get("rows") or {}).get("measurements") or []
        for row in rows:
            out[row["quantity"]] = _timestamp(event.recorded_at)
    return out


def _identity(
    sheet: _Sheet,
    record: BatteryRecord,
    data: PassportData,
    supplied: dict[str, Any],
    catalog: PassportCatalog,
) -> tuple[str, str | None, str | None, list[str]]:
    battery = record.battery
    gpi = "GeneralProductInformation"
    original = member_at(supplied, f"{gpi}.batteryPassportIdentifier") or data.batteries.get(
        battery.battery_id, {}
    ).get("originalPassportIdentifier")
    decided = passport_status(record, catalog, namespace=data.namespace, original=original)
    sheet.put(f"{gpi}.productIdentifier", battery.battery_id, "registry: battery id", override=True)
    sheet.put(f"{gpi}.batteryStatus", decided.status, f"registry: {decided.why}", override=True)
    if decided.category is not None:
        sheet.put(
            f"{gpi}.batteryCategory",
            decided.category,
            f"catalogue passport: {decided.why}",
            override=False,
        )
    if data.operator is not None:
        sheet.put(
            f"{gpi}.operatorInformation",
            data.operator,
            f"data file {data.source}: operator",
            override=True,
        )
    if decided.identifier is not None:
        minted = decided.identifier != original
        state = decided.status.lower()
        sheet.put(
            f"{gpi}.batteryPassportIdentifier",
            decided.identifier,
            f"minted: a new passport for a battery {state} (Art. 77(7))"
            if minted
            else f"data file: the original passport, kept while the battery is {state}",
            override=minted,
        )
    if battery.manufacture_date is not None:
        sheet.put(
            f"{gpi}.manufacturingDate",
            _timestamp(dt.datetime.combine(battery.manufacture_date, dt.time())),
            "manifest: manufacture_date",
            override=False,
        )
    return decided.status, decided.identifier, decided.predecessor, decided.notes


def _nameplate(sheet: _Sheet, record: BatteryRecord) -> None:
    battery = record.battery
    tech = "Performance.batteryTechicalProperties"
    sheet.put(f"{tech}.ratedCapacity", battery.nominal_capacity_ah, "manifest", override=False)
    if battery.nominal_voltage_v is not None:
        sheet.put(f"{tech}.nominalVoltage", battery.nominal_voltage_v, "manifest", override=False)
    if battery.nominal_energy_wh is not None:
        sheet.put(
            f"{tech}.ratedEnergy", battery.nominal_energy_wh / 1000, "manifest", override=False
        )
    sheet.put(
        "MaterialComposition.batteryChemistry",
        {
            "shortName": battery.chemistry.value,
            "clearName": chemistry(battery.chemistry).description,
        },
        "manifest chemistry; clear name from catalogue chemistries",
        override=False,
    )


def _kind(method: str) -> str:
    """``measured`` for a test's value, ``estimated`` for a model's (``estimator:…``)."""
    return "estimated" if method.startswith("estimator") else "measured"


def _rated(sheet: _Sheet, supplied: dict[str, Any], member: str) -> Any:
    """A rated value as the passport will state it: the data file's, else the nameplate's."""
    path = f"Performance.batteryTechicalProperties.{member}"
    value = member_at(supplied, path)
    return value if value is not None else member_at(sheet.defaults, path)


def _condition(
    sheet: _Sheet, record: BatteryRecord, supplied: dict[str, Any], catalog: PassportCatalog
) -> None:
    """Measured state → ``batteryCondition`` (Echelon's measurements override the data file)."""
    when = _measured_at(record)
    latest = {m.quantity: m for m in record.measurements}
    cond = "Performance.batteryCondition"
    soh = latest.get("soh_percent")
    if soh is not None:
        interval = (
            f" [{soh.lower:.1f}, {soh.upper:.1f}]"
            if soh.lower is not None and soh.upper is not None
            else ""
        )
        sheet.put(
            f"{cond}.capacityFade",
            {"capacityFadeValue": round(100 - soh.value, 3), "lastUpdate": when["soh_percent"]},
            f"echelon: 100 − SOH {soh.value:.1f} %{interval} ({soh.method})",
            override=True,
        )
    capacity = latest.get("capacity_ah")
    rated_ah = _rated(sheet, supplied, "ratedCapacity")
    if capacity is not None:
        sheet.put(
            f"{cond}.remainingCapacity",
            {"remainingCapacityValue": round(capacity.value, 4), "lastUpdate": when["capacity_ah"]},
            f"echelon: {_kind(capacity.method)} ({capacity.method})",
            override=True,
        )
    elif soh is not None and isinstance(rated_ah, int | float):
        sheet.put(
            f"{cond}.remainingCapacity",
            {
                "remainingCapacityValue": round(soh.value / 100 * rated_ah, 4),
                "lastUpdate": when["soh_percent"],
            },
            f"echelon: SOH ({soh.method}) × the stated rated capacity {rated_ah:g} A·h",
            override=True,
        )
    energy = latest.get("energy_wh")
    if energy is not None and _kind(energy.method) == "measured":
        kwh, at = energy.value / 1000, when["energy_wh"]
        sheet.put(
            f"{cond}.remainingEnergy",
            {"remainingEnergyalue": round(kwh, 6), "lastUpdate": at},
            f"echelon: measured discharge energy ({energy.method})",
            override=True,
        )
        rated = _rated(sheet, supplied, "ratedEnergy")
        if isinstance(rated, int | float) and rated > 0:
            sheet.put(
                f"{cond}.stateOfCertifiedEnergy",
                {"stateOfCertifiedEnergyValue": round(100 * kwh / rated, 3), "lastUpdate": at},
                f"echelon: measured discharge energy ÷ the stated rated energy {rated:g} kWh",
                override=True,
            )
    _resistance(sheet, record, supplied, latest, when)
    _negative_events(sheet, record, supplied, catalog)


def _resistance(
    sheet: _Sheet,
    record: BatteryRecord,
    supplied: dict[str, Any],
    latest: dict[str, Any],
    when: dict[str, str],
) -> None:
    """Resistance increase from the shortest (100 ms) pulse resistance, the closest Echelon has to
    the initial *ohmic* resistance the data file states; without it, nothing."""
    level = record.battery.level.value
    dcir = latest.get("dcir_100ms_ohm")
    initial = member_at(supplied, "Performance.batteryTechicalProperties.initialInternalResistance")
    r0 = [
        r.get("ohmicResistance")
        for r in (initial if isinstance(initial, list) else [])
        if isinstance(r, dict) and r.get("batteryComponent") == level
    ]
    if dcir is None or not r0 or not isinstance(r0[0], int | float) or r0[0] <= 0:
        return
    if dcir.value < r0[0]:
        sheet.notes.append(
            f"internalResistanceIncrease: the 100 ms pulse resistance {dcir.value:.4g} Ω is below "
            f"the stated initial {r0[0]:.4g} Ω; check that both are the same kind of resistance "
            "(pulse length, temperature, SOC) before publishing a negative increase"
        )
    sheet.put(
        "Performance.batteryCondition.internalResistanceIncrease",
        [
            {
                "internalResistanceIncreaseValue": round(100 * (dcir.value - r0[0]) / r0[0], 2),
                "lastUpdate": when["dcir_100ms_ohm"],
                "batteryComponent": level,
            }
        ],
        f"echelon: 100 ms pulse resistance {dcir.value:.4g} Ω ({dcir.method}) vs the stated "
        f"initial ohmic resistance {r0[0]:.4g} Ω",
        override=True,
    )


def _negative_events(
    sheet: _Sheet, record: BatteryRecord, supplied: dict[str, Any], catalog: PassportCatalog
) -> None:
    """Safety-gate findings on the unit are negative events; first-life ones come from the data
    file."""
    path = "Performance.batteryCondition.negativeEvents"
    rules = set(catalog.negative_events.gate_rules)
    gate_event = record.last_event("gated")
    gate = record.latest_decisions().get("gate")
    found = [
        {
            "negativeEvent": f"{r.rule}: {r.message}",
            "lastUpdate": _timestamp(gate_event.recorded_at),
        }
        for r in (gate.reasons if gate is not None else ())
        if not r.passed and r.rule in rules and gate_event is not None
    ]
    earlier = member_at(supplied, path)
    if found or earlier is not None:
        sources = [
            *(["data file (first life)"] if earlier is not None else []),
            *(["echelon: safety-gate findings at intake"] if found else []),
        ]
        listed = earlier if isinstance(earlier, list) else []
        sheet.put(path, [*listed, *found], " + ".join(sources), override=True)


def _data_file_notes(battery: Battery, data: PassportData) -> list[str]:
    """A data file with no entry for this battery's model or id: say so, with the closest key."""
    if data.source == PassportData().source:
        return []
    if (battery.model or "") in data.models or battery.battery_id in data.batteries:
        return []
    hints = [
        f"{what} {key!r} (closest: {close[0]!r})" if close else f"{what} {key!r}"
        for what, key, keys in (
            ("model", battery.model or "", data.models),
            ("battery", battery.battery_id, data.batteries),
        )
        for close in [difflib.get_close_matches(key, list(keys), n=1)]
    ]
    return [f"{data.source} has no entry for {' nor '.join(hints)}"]


def _section_problems(exc: ValidationError, section: str) -> list[str]:
    out = []
    for error in exc.errors():
        where = ".".join(str(p) for p in (section, *error["loc"]))
        reason = "missing" if error["type"] == "missing" else f"invalid: {error['msg']}"
        out.append(f"{where}: {reason}")
    return out


def _provenance(sheet: _Sheet, supplied: dict[str, Any], source: str) -> dict[str, str]:
    """Member → where its value came from, after the merge: a nameplate default the data file
    overrides is credited to the data file."""
    out = dict.fromkeys(supplied, f"data file {source}")
    for path, origin in sheet.provenance.items():
        from_file = (
            member_at(supplied, path) is not None and member_at(sheet.overrides, path) is None
        )
        out[path] = f"data file {source}" if from_file else origin
    return dict(sorted(out.items()))


def refuse_recycled_parts(battery_id: str, parts: list[str]) -> None:
    """Refuse a passport for an assembly some of whose parts were recycled (``PassportError``):
    it is no longer the battery the passport would describe (until 2026-12-07 a regrouped pack
    of recycled modules got a Repurposed passport listing them as components)."""
    if parts:
        raise PassportError(
            no_longer_whole(
                battery_id,
                parts,
                "issue the passports of its remaining parts, or rebuild it "
                "(`echelon regroup --record`) and issue the new pack's",
            )
        )


def refuse_ended(record: BatteryRecord) -> None:
    """Refuse a passport (``PassportError``) for a battery that has none of its own: recycled
    (its passport ceased to exist, Art. 77(8)) or dismantled (its parts carry on, each with its
    own passport)."""
    battery = record.battery
    if record.status == "recycled" or record.last_event("recycled") is not None:
        # the event, not only the status: a registry from before 2026-12-07 could take a
        # recycled unit in again (status back to routed); recycled is final
        raise PassportError(
            f"{battery.battery_id} was recycled: its passport ceased to exist (EU 2023/1542 "
            "Art. 77(8)); its history stays in the registry (`echelon show`)"
        )
    if record.status == "dismantled":
        raise PassportError(
            f"{battery.battery_id} was dismantled into {', '.join(record.children) or 'its parts'}:"
            " issue their passports; the pack's history stays in the registry (`echelon show`)"
        )


def refuse_passport_of(
    registry: Registry, record: BatteryRecord, chain: VerifyReport, *, refused: str
) -> None:
    """Nothing when the battery of ``record`` can have a passport, whatever the data given: the
    checks the CLI, the API and the dashboard make before building one.

    Parameters
    ----------
    registry : Registry
        Where its parts are looked up.
    record : BatteryRecord
        The battery's record.
    chain : VerifyReport
        Its chain's report (:func:`echelon.registry.verify_battery`).
    refused : str
        What is not done when the chain does not verify (``"no passport is written or
        recorded"``).

    Raises
    ------
    ChainError
        When its event chain does not verify.
    PassportError
        For an assembly with a recycled part (:func:`refuse_recycled_parts`), or a recycled or
        dismantled battery (:func:`refuse_ended`).
    """
    battery_id = record.battery.battery_id
    refuse_unverified(chain, [battery_id], refused=refused)
    refuse_recycled_parts(battery_id, recycled_parts(registry, record))
    refuse_ended(record)


def build_passport(
    record: BatteryRecord,
    data: PassportData | None = None,
    *,
    in_service: dt.date | None = None,
    issued_at: dt.datetime | None = None,
) -> Passport:
    """Build the passport of one battery.

    Parameters
    ----------
    record : BatteryRecord
        From :func:`echelon.registry.battery_record`.
    data : PassportData, optional
        The facility's data file (:func:`echelon.passport.load_passport_data`).
    in_service : date, optional
        Date the battery is put into service in its new use (``puttingIntoService``).
    issued_at : datetime, optional
        Time of issue (default now, UTC).

    Returns
    -------
    Passport
        Complete sections and, for the others, every missing or invalid member.

    Raises
    ------
    PassportError
        When the battery has been recycled (its passport ceased to exist, Art. 77(8)) or
        dismantled (its modules carry on, each with its own passport).
    """
    data = data or PassportData()
    battery = record.battery
    refuse_ended(record)
    catalog = passport_catalog()
    supplied = _merge(
        data.models.get(battery.model or "", {}),
        {
            k: v
            for k, v in data.batteries.get(battery.battery_id, {}).items()
            if k in SECTION_MODELS
        },
    )
    sheet = _Sheet()
    status, identifier, predecessor, notes = _identity(sheet, record, data, supplied, catalog)
    _nameplate(sheet, record)
    _condition(sheet, record, supplied, catalog)
    if in_service is not None and status in NEW_PASSPORT:
        sheet.put(
            "GeneralProductInformation.puttingIntoService",
            _timestamp(dt.datetime.combine(in_service, dt.time())),
            "given at export (--in-service)",
            override=True,
        )
    elif in_service is not None:
        notes.append(
            f"--in-service ignored: it dates the new use of a battery placed on the market again; "
            f"a battery whose status is {status} keeps its first putting into service"
        )
    notes += sheet.notes + _data_file_notes(battery, data)
    merged = _merge(_merge(sheet.defaults, supplied), sheet.overrides)
    sections: dict[SectionName, dict[str, Any]] = {}
    missing: dict[SectionName, list[str]] = {}
    for name, model in SECTION_MODELS.items():
        try:
            body = model.model_validate(merged.get(name, {}))
        except ValidationError as exc:
            missing[name] = _section_problems(exc, name)
            continue
        sections[name] = body.model_dump(mode="json", exclude_none=True)
    head = record.events[-1]
    return Passport(
        battery_id=battery.battery_id,
        status=status,
        identifier=identifier,
        predecessor=predecessor,
        sections=sections,
        missing=missing,
        provenance=_provenance(sheet, supplied, data.source),
        chain_head=(head.seq, head.hash),
        issued_at=issued_at or dt.datetime.now(dt.UTC),
        notes=notes,
        components=list(record.children),
    )
