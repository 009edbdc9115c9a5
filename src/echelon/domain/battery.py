"""The battery record: identity, genealogy, nameplate, origin and intake inspection."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from echelon.domain.enums import (
    LEVEL_RANK,
    CapacityClass,
    CellFormat,
    Chemistry,
    Level,
    OriginApplication,
    Region,
    VisualFlag,
)
from echelon.domain.parse import (
    parse_format,
    parse_level,
    parse_origin,
    parse_region,
    parse_visual_flags,
)

BATTERY_ID_MAX_LENGTH = 128
"""Characters a battery id has at most."""
BATTERY_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._:/#+-]{{0,{BATTERY_ID_MAX_LENGTH - 1}}}$"


class Battery(BaseModel):
    """A retired battery unit (cell, module or pack) as registered at intake.

    Attributes
    ----------
    battery_id : str
        Unique identifier (GB/T 34014 code, EU passport id, serial, or facility label); 1–128
        characters from ``A–Z a–z 0–9 . _ : / # + -``, starting with a letter or digit.
    level : Level
        ``cell``, ``module`` or ``pack``.
    parent_id : str or None
        The assembly this unit came out of (pack → module → cell genealogy).
    chemistry : Chemistry
        Cell chemistry; ``unknown`` is allowed (and routes to recycling).
    manufacturer, model : str or None
        Maker and model designation, as on the label.
    format : CellFormat or None
        Cylindrical, prismatic or pouch.
    nominal_capacity_ah : float
        Rated capacity [A·h] of the unit (for packs and modules: of the whole assembly).
    nominal_voltage_v : float or None
        Rated voltage [V] of the unit.
    nominal_energy_wh : float or None
        Rated energy [W·h]; derived as capacity × voltage when not given.
    series_count, parallel_count : int
        Cells in series and in parallel inside the unit (1 and 1 for a cell).
    origin_application : OriginApplication
        First-life application.
    region : Region
        Regulatory region of the facility (selects the grading profile).
    country : str or None
        ISO 3166-1 alpha-2 country code of origin.
    manufacture_date, calendar_expiry_date : date or None
        From the label or OEM data; past the calendar expiry a unit is not repurposed
        (UL 1974 ed. 2).
    has_traceability : bool or None
        Whether lifetime traceability data exist (IEC 63338); ``None`` = unknown, treated as absent.
    visual_flags : frozenset of VisualFlag
        Damage found at visual inspection.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    battery_id: str = Field(pattern=BATTERY_ID_PATTERN)
    level: Level
    parent_id: str | None = Field(default=None, pattern=BATTERY_ID_PATTERN)
    chemistry: Chemistry
    manufacturer: str | None = None
    model: str | None = None
    format: CellFormat | None = None
    nominal_capacity_ah: float = Field(gt=0, le=1e6)
    nominal_voltage_v: float | None = Field(default=None, gt=0, le=2000)
    nominal_energy_wh: float | None = Field(default=None, gt=0)
    series_count: int = Field(default=1, ge=1, le=1000)
    parallel_count: int = Field(default=1, ge=1, le=1000)
    origin_application: OriginApplication = OriginApplication.OTHER
    region: Region = Region.OTHER
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    manufacture_date: dt.date | None = None
    calendar_expiry_date: dt.date | None = None
    has_traceability: bool | None = None
    visual_flags: frozenset[VisualFlag] = frozenset()

    @field_validator("chemistry", mode="before")
    @classmethod
    def _chemistry(cls, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, Chemistry):
            from echelon.catalog import resolve_chemistry

            return resolve_chemistry(value)
        return value

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return parse_level(value) if isinstance(value, str) else value

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        return parse_format(value) if isinstance(value, str) and value else value or None

    @field_validator("origin_application", mode="before")
    @classmethod
    def _origin(cls, value: Any) -> Any:
        return parse_origin(value) if isinstance(value, str) else value

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: Any) -> Any:
        return parse_region(value) if isinstance(value, str) else value

    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, value: Any) -> Any:
        return value.strip().upper() or None if isinstance(value, str) else value

    @field_validator("visual_flags", mode="before")
    @classmethod
    def _flags(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return parse_visual_flags(value)
        return parse_visual_flags(list(value))

    @model_validator(mode="after")
    def _consistent(self) -> Battery:
        if self.parent_id is not None and self.parent_id == self.battery_id:
            raise ValueError("parent_id equals battery_id: a unit cannot be its own parent")
        if self.level is Level.CELL and (self.series_count, self.parallel_count) != (1, 1):
            raise ValueError("series_count and parallel_count of a cell are 1")
        if (
            self.manufacture_date
            and self.calendar_expiry_date
            and self.calendar_expiry_date < self.manufacture_date
        ):
            raise ValueError("calendar_expiry_date is before manufacture_date")
        return self

    @property
    def capacity_class(self) -> CapacityClass:
        """Nominal-capacity class of the unit."""
        return CapacityClass.of(self.nominal_capacity_ah)

    @property
    def cell_count(self) -> int:
        """Number of cells in the unit (series × parallel)."""
        return self.series_count * self.parallel_count

    def energy_wh(self, default_cell_voltage_v: float | None = None) -> float | None:
        """Nominal energy [W·h]: given, else capacity × voltage.

        Parameters
        ----------
        default_cell_voltage_v : float, optional
            Chemistry nominal cell voltage [V], used (× ``series_count``) when the unit's voltage
            is unknown.
        """
        if self.nominal_energy_wh is not None:
            return self.nominal_energy_wh
        voltage_v = self.nominal_voltage_v
        if voltage_v is None and default_cell_voltage_v is not None:
            voltage_v = default_cell_voltage_v * self.series_count
        return None if voltage_v is None else self.nominal_capacity_ah * voltage_v


def check_parent_level(child: Battery, parent_level: Level) -> str | None:
    """A message if ``parent_level`` cannot contain ``child`` (parents are larger assemblies)."""
    return parent_level_message(child.battery_id, child.level, parent_level)


def parent_level_message(child_id: str, child_level: Level, parent_level: Level) -> str | None:
    """A message if a ``parent_level`` unit cannot contain unit ``child_id`` of ``child_level``.

    The same check as :func:`check_parent_level` for a unit not (yet) validated as a whole.
    """
    if LEVEL_RANK[parent_level] <= LEVEL_RANK[child_level]:
        return (
            f"parent is a {parent_level.value} but {child_id} is a {child_level.value}: "
            "a parent must be a larger assembly (pack → module → cell)"
        )
    return None
