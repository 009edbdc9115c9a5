"""Generic CSV/XLSX exports described by a user column map in YAML or TOML.

For a tester Echelon has no reader for, write down which column is which and in what unit::

    name: acme_9000               # recorded as the reader in the run metadata
    instrument: Acme 9000
    separator: ";"                # optional: detected (tab, ";", ",", "|")
    sheet: "^Data"                # workbooks: regular expression of the data sheet(s)
    state:                        # optional: for exports that log the current unsigned
      column: Mode
      charge: [CHG]
      discharge: [DCH]
    columns:
      "Elapsed [h]": {bdf: test_time_second, unit: h}
      "U [mV]":      {bdf: voltage_volt, unit: mV}
      "I [mA]":      {bdf: current_ampere, unit: mA, invert: true}   # discharge positive
      "T [°F]":      {bdf: surface_temperature_celsius, unit: °F, optional: true}
      "Timestamp":   {bdf: unix_time_second, parse: datetime, format: "%d.%m.%Y %H:%M:%S"}
    ignore: [Index, Comment]      # deliberately not stored (not warned about)

Units are converted (:mod:`echelon.io.units`: s/min/h/d, V/mV, A/mA, Ah/mAh, Wh/mWh/J,
°C/°F/K, Ω/mΩ, Hz/kHz …); a unit written in the header (``U [mV]``) that contradicts the map is
an error ("mixed units"), and so is a unit of the wrong dimension (``mAh`` for a voltage). An
entry without ``unit:`` takes the unit its header states, when that is a unit of the column's
dimension (``"I [mA]": {bdf: current_ampere}`` reads milliamperes).
Every column not mapped or ignored is named in the warning that :func:`echelon.io.read` logs.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from echelon.errors import ColumnMapError, Problem
from echelon.io.bdf import COLUMN_DTYPES
from echelon.io.columnmap import ColumnMapReader, ColumnSpec
from echelon.io.units import DIMENSION_OF, unit_in_header
from echelon.io.xlsx import XLSX_SUFFIXES


class ColumnEntry(BaseModel):
    """One mapped column of a user column map."""

    model_config = ConfigDict(extra="forbid")

    bdf: str
    unit: str | None = None
    parse: Literal["number", "duration", "datetime"] = "number"
    format: str | None = None
    invert: bool = False
    optional: bool = False

    @model_validator(mode="after")
    def _known_target(self) -> ColumnEntry:
        if self.bdf not in COLUMN_DTYPES:
            raise ValueError(
                f"unknown BDF column {self.bdf!r}; known: {', '.join(sorted(COLUMN_DTYPES))}"
            )
        return self


class StateEntry(BaseModel):
    """A state column that gives the sign of an unsigned current."""

    model_config = ConfigDict(extra="forbid")

    column: str
    charge: list[str] = Field(default_factory=list)
    discharge: list[str] = Field(default_factory=list)


class ColumnMapFile(BaseModel):
    """The schema of a YAML/TOML column map."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    instrument: str | None = None
    format: Literal["text", "xlsx"] | None = None
    separator: str | None = None
    sheet: str = ".*"
    state: StateEntry | None = None
    columns: dict[str, ColumnEntry]
    ignore: list[str] = Field(default_factory=list)


def _load_document(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ColumnMapError(path, [f"not valid {path.suffix.lstrip('.').upper()}: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ColumnMapError(path, ["a column map is a mapping with a 'columns' table"])
    return data


def header_unit(column: str, target: str) -> str | None:
    """The unit a column's header states (``I [mA]``: ``mA``) when it is one of ``target``'s
    dimension, else ``None`` (``Temperature (C)`` reads as coulombs: not a unit for a
    temperature, so the header's annotation is not taken as one)."""
    stated = unit_in_header(column)
    if stated is None or stated.dimension != DIMENSION_OF.get(target):
        return None
    return stated.symbol


def _spec(path: Path, column: str, entry: ColumnEntry) -> ColumnSpec:
    # a number column without ``unit:`` is in the unit its header states, if any (I [mA]: mA)
    unit = entry.unit
    if unit is None and entry.parse == "number":
        unit = header_unit(column, entry.bdf)
    try:
        spec = (
            ColumnSpec.with_unit(entry.bdf, unit, parse=entry.parse, format=entry.format)
            if unit is not None
            else ColumnSpec(entry.bdf, parse=entry.parse, format=entry.format)
        )
    except ValueError as exc:
        raise ColumnMapError(path, [Problem(str(exc), column=column)]) from exc
    if entry.invert:
        spec = ColumnSpec(
            spec.target, -spec.scale, -spec.offset, spec.parse, spec.format, spec.unit
        )
    return spec


def load_column_map(path: Path | str, *, data_path: Path | str | None = None) -> ColumnMapReader:
    """A reader built from a YAML (``.yaml``/``.yml``) or TOML (``.toml``) column map.

    Parameters
    ----------
    path : path-like
        The column map.
    data_path : path-like, optional
        The file it will read: when the map does not say ``format``, a workbook suffix
        (``.xlsx``, ``.xls``, ``.ods``) selects the workbook reader, anything else text.

    Returns
    -------
    ColumnMapReader
        Named after the map's ``name`` (default ``column_map:<file stem>``).

    Raises
    ------
    ColumnMapError
        Naming the map file and the offending entry.
    """
    path = Path(path)
    if not path.is_file():
        raise ColumnMapError(path, ["column map not found"])
    try:
        spec = ColumnMapFile.model_validate(_load_document(path))
    except ValidationError as exc:
        problems = [
            Problem(
                err["msg"],
                column=".".join(str(p) for p in err["loc"]),
            )
            for err in exc.errors()
        ]
        raise ColumnMapError(path, problems) from exc
    columns = {name: _spec(path, name, entry) for name, entry in spec.columns.items()}
    required = frozenset(name for name, entry in spec.columns.items() if not entry.optional)
    fmt = spec.format
    if fmt is None:
        is_book = data_path is not None and Path(data_path).suffix.lower() in XLSX_SUFFIXES
        fmt = "xlsx" if is_book else "text"
    return ColumnMapReader(
        name=spec.name or f"column_map:{path.stem}",
        columns=columns,
        signature=required,
        suffixes=XLSX_SUFFIXES if fmt == "xlsx" else (".csv", ".txt", ".tsv", ".dat"),
        format=fmt,
        separator=spec.separator,
        ignored=frozenset(spec.ignore),
        instrument=spec.instrument,
        sheets=spec.sheet,
        state_column=spec.state.column if spec.state else None,
        charge_states=frozenset(spec.state.charge) if spec.state else frozenset(),
        discharge_states=frozenset(spec.state.discharge) if spec.state else frozenset(),
    )
