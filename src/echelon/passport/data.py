"""The facility's passport data file: what Echelon does not measure.

A battery passport holds much that no test can tell — the manufacturer, the carbon footprint, the
materials, the dismantling manuals, the BMS's counters of a unit's first life. The facility gets
those from the original manufacturer's passport or its documentation and gives them in one file
(JSON, YAML or TOML), in the Battery Pass's own member names::

    namespace: acme                      # of the passport identifiers Echelon mints (a–z, 0–9)
    operator:                            # the facility: operatorInformation of every passport
      contactName: ACME Second Life GmbH
      identifier: DE-ACME-0001
      postalAddress: {addressCountry: DE, postalCode: "10719", streetAddress: Hindenburgstr. 10}
    models:                              # per battery model (the manifest's `model` column)
      B-M12S1P-60:
        GeneralProductInformation: {batteryMass: 31.5, …}
        CarbonFootprint: {…}
    batteries:                           # per battery id: individual data (first-life BMS counters)
      EVB-P0001-M07:
        Performance: {batteryCondition: {numberOfFullCycles: {…}, …}}

Every member is checked when the passport is built, against Echelon's model of the standard.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from echelon.domain.plausible import PLAUSIBLE
from echelon.errors import InputError
from echelon.passport.catalog import passport_catalog
from echelon.passport.model import (
    PASSPORT_ID_PATTERN,
    SECTION_MODELS,
    TIMESTAMP_PATTERN,
    ContactInformation,
    Part,
    member_at,
)

NAMESPACE_PATTERN = re.compile(r"^[a-z0-9]+$")
_TOP = ("namespace", "operator", "models", "batteries")
_BATTERY_EXTRA = ("originalPassportIdentifier",)


@dataclass(frozen=True)
class PassportData:
    """What the facility knows of its batteries besides its own measurements.

    Attributes
    ----------
    namespace : str or None
        The facility's namespace of the passport identifiers Echelon mints
        (``urn:<namespace>:<hex>``); without it no new identifier is minted.
    operator : dict or None
        The facility's ``ContactInformationEntity`` (``operatorInformation``).
    models : dict
        Battery model → section → partial section object.
    batteries : dict
        Battery id → section → partial section object, and optionally
        ``originalPassportIdentifier`` (the first-life passport a new passport links to).
    source : str
        Where the data came from (for messages and provenance).
    """

    namespace: str | None = None
    operator: dict[str, Any] | None = None
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    batteries: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "no data file"


def _parse(path: Path) -> Any:
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return json.loads(text)
    if suffix == ".toml":
        return tomllib.loads(text)
    if suffix in (".yaml", ".yml"):
        return yaml.safe_load(text)
    raise InputError(path, ["unknown file type: give a .json, .yaml/.yml or .toml file"])


def _unknown(key: str, allowed: tuple[str, ...] | list[str], where: str) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f"; allowed: {', '.join(allowed)}"
    return f"{where}: unknown member {key!r}{hint}"


def _model_at(model: type[Part], loc: tuple[int | str, ...]) -> type[Part] | None:
    """The section object model at a validation error's location (list indices skipped)."""
    current: type[Part] | None = model
    for step in loc:
        if isinstance(step, int) or current is None:
            continue
        field = current.model_fields.get(step)
        if field is None:
            return None
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        nested = [a for c in candidates for a in (c, *typing.get_args(c))]
        current = next((a for a in nested if isinstance(a, type) and issubclass(a, Part)), None)
    return current


def _hint(error: Any, model: type[Part]) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "missing" and any(isinstance(step, int) for step in loc):
        return "missing in a list item (a list is taken whole: give every required member)"
    if error["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = list(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        return f"unknown member (did you mean {close[0]!r}?)" if close else "unknown member"
    if isinstance(error.get("input"), dt.date):
        return (
            f'{error["msg"]}: quote the timestamp ("2026-11-02T08:00:00Z"); YAML and TOML read '
            "an unquoted one as a date"
        )
    if str(loc[-1]) == "emailAddress" and error["type"] == "string_pattern_mismatch":
        return (
            "does not match the standard's pattern, which lost its backslashes upstream and "
            "accepts only 'w', '.' and '-' around the '@': leave emailAddress out, give webAddress"
        )
    if (error.get("ctx") or {}).get("pattern") == TIMESTAMP_PATTERN:
        return (
            f'{error.get("input")!r} is not a timestamp: write it as in "2026-11-02T08:00:00Z" '
            "(date, T, time, and Z or an offset such as +01:00)"
        )
    return str(error["msg"])


def _section_problems(sections: dict[str, Any], where: str) -> list[str]:
    """What is wrong in partial section objects (missing members are fine in the file)."""
    problems = []
    for name, body in sections.items():
        model = SECTION_MODELS.get(name)  # type: ignore[call-overload]
        if model is None or not isinstance(body, dict):
            continue
        try:
            model.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors():
                in_list = any(isinstance(step, int) for step in error["loc"])
                if error["type"] != "missing" or in_list:  # a list is replaced whole on merge
                    path = ".".join(str(p) for p in (where, name, *error["loc"]))
                    problems.append(f"{path}: {_hint(error, model)}")
    return problems


_CAPACITY = (PLAUSIBLE["nominal_capacity_ah"].low, PLAUSIBLE["nominal_capacity_ah"].high, "A·h")
_VOLTAGE = (PLAUSIBLE["nominal_voltage_v"].low, PLAUSIBLE["nominal_voltage_v"].high, "V")
PLAUSIBLE_MEMBERS: dict[str, tuple[float, float, str]] = {
    "GeneralProductInformation.batteryMass": (1e-3, 1e5, "kg"),
    "Performance.batteryTechicalProperties.ratedCapacity": _CAPACITY,
    "Performance.batteryTechicalProperties.nominalVoltage": _VOLTAGE,
    "Performance.batteryTechicalProperties.minimumVoltage": _VOLTAGE,
    "Performance.batteryTechicalProperties.maximumVoltage": _VOLTAGE,
    "Performance.batteryCondition.stateOfCharge.stateOfChargeValue": (0.0, 100.0, "%"),
    "Performance.batteryCondition.capacityFade.capacityFadeValue": (0.0, 100.0, "%"),
    "Performance.batteryCondition.stateOfCertifiedEnergy.stateOfCertifiedEnergyValue": (
        0.0,
        PLAUSIBLE["soh_percent"].high,
        "%",
    ),
}
"""Sanity bounds of a few physical members *[assumption]*: capacity, voltage and the SOCE's top
from :data:`echelon.domain.plausible.PLAUSIBLE` (the manifest's general bounds), a mass from a
phone cell to a container of ESS racks. The schemas bound none of them, so a negative mass or a
4,200 % state of charge would pass them and be published."""


def _implausible(sections: dict[str, Any], where: str) -> list[str]:
    """Members of :data:`PLAUSIBLE_MEMBERS` outside their bounds."""
    problems = []
    for path, (low, high, unit) in PLAUSIBLE_MEMBERS.items():
        value = member_at(sections, path)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and not low <= value <= high:
            problems.append(
                f"{where}.{path}: {value:g} {unit} is outside the plausible range "
                f"[{low:g}, {high:g}] {unit} (wrong unit?)"
            )
    return problems


def _individual_problems(sections: dict[str, Any], where: str) -> list[str]:
    """Members of one battery given for a whole model (catalogue ``passport``, ``[levels]``)."""
    problems = []
    for path in passport_catalog().levels.individual:
        if member_at(sections, path) is not None:
            problems.append(
                f"{where}.{path}: belongs to one battery, not to a model: give it under "
                "batteries.<id> (under models every unit would share it)"
            )
    return problems


def _entries(doc: dict[str, Any], group: str, extra: tuple[str, ...]) -> list[str]:
    problems = []
    entries = doc.get(group) or {}
    if not isinstance(entries, dict):
        return [f"{group}: expected a mapping of names to sections"]
    for name, sections in entries.items():
        if not isinstance(sections, dict):
            problems.append(f"{group}.{name}: expected a mapping of sections")
            continue
        allowed = [*SECTION_MODELS, *extra]
        for key, value in sections.items():
            if key not in allowed:
                problems.append(_unknown(key, allowed, f"{group}.{name}"))
            elif key in SECTION_MODELS and not isinstance(value, dict):
                problems.append(f"{group}.{name}.{key}: expected an object")
            elif key == "originalPassportIdentifier" and not (
                isinstance(value, str) and re.match(PASSPORT_ID_PATTERN, value)
            ):
                problems.append(
                    f"{group}.{name}.{key}: {value!r} is not a Battery Pass passport identifier "
                    "(urn:<letters and digits>:<letters and digits>)"
                )
        problems += _section_problems(sections, f"{group}.{name}")
        problems += _implausible(sections, f"{group}.{name}")
        if group == "models":
            problems += _individual_problems(sections, f"{group}.{name}")
    return problems


def load_passport_data(path: Path | str) -> PassportData:
    """Read and check a passport data file (JSON, YAML or TOML).

    Raises
    ------
    InputError
        Naming the file and every unknown or malformed member (with the closest known name).
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(file, ["file not found"])
    try:
        doc = _parse(file)
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(file, [f"not valid {file.suffix.lstrip('.')}: {exc}"]) from exc
    if not isinstance(doc, dict):
        raise InputError(file, ["expected a mapping with namespace, operator, models, batteries"])
    problems = [_unknown(k, _TOP, "top level") for k in doc if k not in _TOP]
    namespace = None if doc.get("namespace") is None else str(doc["namespace"])
    if namespace is not None and not NAMESPACE_PATTERN.match(namespace):
        problems.append(
            f"namespace: {namespace!r} must be lower-case letters and digits only (the Battery "
            "Pass identifier pattern ^urn:[a-z0-9]+:[a-z0-9]+$)"
        )
    operator = doc.get("operator")
    if operator is not None:
        try:
            ContactInformation.model_validate(operator)
        except ValidationError as exc:
            problems += [
                f"operator.{'.'.join(str(p) for p in e['loc'])}: {_hint(e, ContactInformation)}"
                for e in exc.errors()
            ]
    problems += _entries(doc, "models", ())
    problems += _entries(doc, "batteries", _BATTERY_EXTRA)
    if problems:
        raise InputError(file, problems)
    return PassportData(
        namespace=namespace,
        operator=operator,
        models={str(k): v for k, v in (doc.get("models") or {}).items()},
        batteries={str(k): v for k, v in (doc.get("batteries") or {}).items()},
        source=str(file),
    )
