"""Validation of passport sections against the Battery Pass JSON schemas, read in place.

The schemas are not shipped with Echelon (they are the Battery Pass Consortium's files, CC BY 4.0):
point ``ECHELON_BATTERYPASS_DIR`` (or ``--schemas``) at a copy of the v1.2.0 release folder — the
one holding ``GeneralProductInformation/``, ``Performance/``, … — to check an export with the
``jsonschema`` package's Draft 4 validator. Most files are UTF-16 with a byte-order mark.
"""

from __future__ import annotations

import codecs
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from echelon.errors import ConfigError
from echelon.passport.model import SectionName

SCHEMA_FILES: dict[SectionName, str] = {
    "GeneralProductInformation": "GeneralProductInformation/GeneralProductInformation-schema.json",
    "CarbonFootprint": "CarbonFootprint/CarbonFootprintForBatteries-schema.json",
    "Circularity": "Circularity/Circularity-schema.json",
    "MaterialComposition": "MaterialComposition/MaterialComposition-schema.json",
    "Performance": "Performance/PerformanceAndDurability-schema.json",
    "Labels": "Labels/Labeling-schema.json",
    "SupplyChainDueDiligence": "SupplyChainDueDiligence/SupplyChainDueDiligence-schema.json",
}
"""Section → schema file inside the Battery Pass v1.2.0 release folder."""

ENV_VAR = "ECHELON_BATTERYPASS_DIR"


def load_json(path: Path) -> Any:
    """Parse a JSON file in UTF-8 or UTF-16 (decoded by its byte-order mark)."""
    raw = path.read_bytes()
    encoding = "utf-16" if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    return json.loads(raw.decode(encoding))


def schema_dir(path: Path | str | None = None) -> Path:
    """The Battery Pass v1.2.0 folder: ``path``, else ``$ECHELON_BATTERYPASS_DIR``.

    Raises
    ------
    ConfigError
        When neither is given or the folder lacks a section's schema.
    """
    chosen = path if path is not None else os.environ.get(ENV_VAR)
    if not chosen:
        raise ConfigError(
            f"no Battery Pass schema folder: pass --schemas DIR or set {ENV_VAR} to the v1.2.0 "
            "release folder (https://github.com/batterypass/BatteryPassDataModel, "
            "BatteryPass/io.BatteryPass.<Section>/1.2.0/gen/)"
        )
    folder = Path(chosen)
    missing = [name for name in SCHEMA_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"{folder}: not a Battery Pass v1.2.0 folder; missing {missing[0]}")
    return folder


@lru_cache(maxsize=4)
def _validators(folder: Path) -> dict[SectionName, Any]:
    import jsonschema  # an altair dependency; imported only when validating

    out: dict[SectionName, Any] = {}
    for section, name in SCHEMA_FILES.items():
        schema = load_json(folder / name)
        jsonschema.Draft4Validator.check_schema(schema)
        out[section] = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    return out


def schema_problems(section: SectionName, document: dict[str, Any], folder: Path) -> list[str]:
    """Every Draft 4 error of one section's JSON, as ``path: message`` (empty: valid)."""
    validator = _validators(folder.resolve())[section]
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.path])
    return [f"{'.'.join(str(p) for p in e.path) or '(top)'}: {e.message}" for e in errors]
