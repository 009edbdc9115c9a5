"""Echelon's passport model against the Battery Pass v1.2.0 JSON schemas, object by object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from echelon.passport import SECTION_MODELS, SectionName, aspect_urn
from echelon.passport.model import DATE_TIME_PATTERN, URI_PATTERN, DateTime, Uri
from echelon.passport.schemas import SCHEMA_FILES, load_json


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (both ``#/components/schemas/`` and ``#/$defs/``) and merge ``allOf``."""
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in node:
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            sub = _resolve(part, defs)
            merged.setdefault("properties", {}).update(sub.get("properties", {}))
            merged["required"] = [*merged.get("required", []), *sub.get("required", [])]
            merged.setdefault("type", sub.get("type"))
        node = merged
    return node


def _non_null(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's ``X | None`` is ``anyOf [X, null]``: keep X."""
    node = _resolve(node, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        assert len(options) == 1, node
        node = {**_resolve(options[0], defs), **{k: v for k, v in node.items() if k != "anyOf"}}
    return node


def _compare(
    ours: dict[str, Any], theirs: dict[str, Any], defs_o: dict, defs_t: dict, path: str
) -> list[str]:
    """Differences between our JSON schema and the standard's at ``path`` (recursive)."""
    o, t = _non_null(ours, defs_o), _resolve(theirs, defs_t)
    problems = []
    if t.get("type") == "array":
        if o.get("type") != "array":
            return [f"{path}: standard has an array, ours {o.get('type')}"]
        return _compare(o["items"], t["items"], defs_o, defs_t, f"{path}[]")
    if t.get("type") == "object" or "properties" in t:
        if "properties" not in t:  # free-form object (MultiLanguageText)
            return [] if o.get("type") == "object" else [f"{path}: standard has an object"]
        t_props, o_props = t["properties"], o.get("properties", {})
        if set(t_props) != set(o_props):
            problems.append(f"{path}: members differ: {sorted(set(t_props) ^ set(o_props))}")
        if set(t.get("required", [])) != set(o.get("required", [])):
            diff = sorted(set(t.get("required", [])) ^ set(o.get("required", [])))
            problems.append(f"{path}: required members differ: {diff}")
        for name in set(t_props) & set(o_props):
            problems += _compare(o_props[name], t_props[name], defs_o, defs_t, f"{path}.{name}")
        return problems
    theirs_enum = t.get("enum")
    if theirs_enum is not None:
        ours_enum = o.get("enum", [o["const"]] if "const" in o else None)
        if set(theirs_enum) != set(ours_enum or []):
            problems.append(f"{path}: enumeration {ours_enum} ≠ {sorted(set(theirs_enum))}")
    for key in ("pattern", "minimum", "maximum"):
        if key in t and t[key] != o.get(key):
            problems.append(f"{path}: {key} {o.get(key)!r} ≠ {t[key]!r}")
    formats = {"uri": URI_PATTERN, "date-time": DATE_TIME_PATTERN}
    if "format" in t and o.get("pattern") != formats.get(t["format"], "?"):
        problems.append(f"{path}: format {t['format']!r} not enforced (pattern {o.get('pattern')})")
    kind = {"number": {"number", "integer"}, "string": {"string"}, "boolean": {"boolean"}}
    if t.get("type") in kind and o.get("type") not in kind[t["type"]]:
        problems.append(f"{path}: type {o.get('type')} ≠ {t['type']}")
    return problems


@pytest.mark.parametrize("section", list(SECTION_MODELS))
def test_model_matches_the_standard(section: SectionName, batterypass_dir: Path) -> None:
    theirs = load_json(batterypass_dir / SCHEMA_FILES[section])
    ours = SECTION_MODELS[section].model_json_schema()
    problems = _compare(
        ours, theirs, ours.get("$defs", {}), theirs.get("components", {}).get("schemas", {}), ""
    )
    assert problems == []
    assert aspect_urn(section) == theirs["x-samm-aspect-model-urn"]


def test_the_comparison_sees_a_difference(batterypass_dir: Path) -> None:
    """The structural check fails on a model that drops a required member (it can fail)."""
    from pydantic import create_model

    from echelon.passport.model import SupplyChainDueDiligence

    broken = create_model(
        "Broken",
        __base__=SupplyChainDueDiligence,
        thirdPartyAussurances=(str, ...),  # required here, optional in the standard
    )
    theirs = load_json(batterypass_dir / SCHEMA_FILES["SupplyChainDueDiligence"])
    ours = broken.model_json_schema()
    problems = _compare(ours, theirs, ours.get("$defs", {}), theirs["components"]["schemas"], "")
    assert problems == [
        ": required members differ: ['thirdPartyAussurances']",
        ".thirdPartyAussurances: format 'uri' not enforced (pattern None)",
    ]


def checker_conforms(value: str, fmt: str) -> bool:
    """jsonschema's own format check (rfc3986-validator, rfc3339-validator: dependencies)."""
    import jsonschema

    checker = jsonschema.FormatChecker()
    assert fmt in checker.checkers, "install rfc3986-validator, rfc3339-validator"
    return bool(checker.conforms(value, fmt))


def ours_accept(annotation: object, value: str) -> bool:
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2018-11-01T00:00:00Z", True),
        ("2025-06-17T11:14:27.698+02:00", True),
        ("2018-11-01T00:00:00", False),  # RFC 3339 needs the offset
        ("2018-11-01T24:00:00Z", False),
        ("xx 2018-11-01T00:00:00Z yy", False),
        ("2021-02-31T00:00:00Z", False),  # no such day
        ("2021-03-01T23:59:60Z", False),  # not a leap second
    ],
)
def test_date_times_are_rfc_3339_as_the_schema_format_requires(value: str, valid: bool) -> None:
    """Our model and the schema's format checker (rfc3339-validator) agree on date-times."""
    assert checker_conforms(value, "date-time") is valid
    assert ours_accept(DateTime, value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("https://cells.example/doc.pdf", True),
        ("urn:excells:4f2a9c0d", True),
        ("C:\\docs\\report.pdf", False),
        ("https://x/<a>{b}", False),
        ("not a uri", False),
        ("https://x/%zz", False),
        ("http://x/ä", False),
        ("http://[::1", False),
        ("a:b#c#d", False),
    ],
)
def test_uris_are_checked_as_the_schema_format_requires(value: str, valid: bool) -> None:
    assert checker_conforms(value, "uri") is valid
    assert ours_accept(Uri, value) is valid
