"""Units of tester columns: parsing unit strings and converting to BDF's SI-based units.

Every BDF column has one unit (``voltage_volt`` is in volts, ``test_time_second`` in seconds, …).
A tester column in another unit of the same dimension converts linearly, ``bdf = raw × scale +
offset`` (°F → °C is the only conversion with an offset). Unit strings are matched without regard
to case for the unambiguous ones (``mah``, ``min``), exactly for the ones where case matters
(``mA`` vs ``MA`` does not occur, but ``mOhm`` vs ``MOhm`` does).

The factors are definitions of the SI and of the units themselves (BIPM, *The International
System of Units*, 9th ed., 2019, tables 4 and 8), not reference data, so they live here rather
than in a catalogue table.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from echelon.io import bdf

T = TypeVar("T")

Dimension = Literal[
    "time",
    "voltage",
    "current",
    "charge",
    "energy",
    "power",
    "temperature",
    "resistance",
    "frequency",
    "count",
]


@dataclass(frozen=True)
class Unit:
    """A unit and its conversion to its dimension's BDF unit: ``bdf = raw × scale + offset``."""

    symbol: str
    dimension: Dimension
    scale: float
    offset: float = 0.0


_UNITS: Final[tuple[Unit, ...]] = (
    Unit("s", "time", 1.0),
    Unit("ms", "time", 1e-3),
    Unit("us", "time", 1e-6),
    Unit("min", "time", 60.0),
    Unit("h", "time", 3600.0),
    Unit("d", "time", 86400.0),
    Unit("V", "voltage", 1.0),
    Unit("mV", "voltage", 1e-3),
    Unit("uV", "voltage", 1e-6),
    Unit("kV", "voltage", 1e3),
    Unit("A", "current", 1.0),
    Unit("mA", "current", 1e-3),
    Unit("uA", "current", 1e-6),
    Unit("nA", "current", 1e-9),
    Unit("kA", "current", 1e3),
    Unit("Ah", "charge", 1.0),
    Unit("mAh", "charge", 1e-3),
    Unit("uAh", "charge", 1e-6),
    Unit("kAh", "charge", 1e3),
    Unit("C", "charge", 1.0 / 3600.0),  # coulomb; "C" as a temperature is spelled °C/degC
    Unit("mC", "charge", 1e-3 / 3600.0),
    Unit("Wh", "energy", 1.0),
    Unit("mWh", "energy", 1e-3),
    Unit("kWh", "energy", 1e3),
    Unit("J", "energy", 1.0 / 3600.0),
    Unit("kJ", "energy", 1e3 / 3600.0),
    Unit("W", "power", 1.0),
    Unit("mW", "power", 1e-3),
    Unit("kW", "power", 1e3),
    Unit("degC", "temperature", 1.0),
    Unit("K", "temperature", 1.0, -273.15),
    Unit("degF", "temperature", 5.0 / 9.0, -160.0 / 9.0),
    Unit("Ohm", "resistance", 1.0),
    Unit("mOhm", "resistance", 1e-3),
    Unit("uOhm", "resistance", 1e-6),
    Unit("kOhm", "resistance", 1e3),
    Unit("MOhm", "resistance", 1e6),
    Unit("Hz", "frequency", 1.0),
    Unit("mHz", "frequency", 1e-3),
    Unit("kHz", "frequency", 1e3),
    Unit("MHz", "frequency", 1e6),
    Unit("1", "count", 1.0),
)
UNITS: Final[dict[str, Unit]] = {u.symbol: u for u in _UNITS}

_ALIASES: Final[dict[str, str]] = {
    "sec": "s",
    "second": "s",
    "seconds": "s",
    "msec": "ms",
    "µs": "us",
    "mins": "min",
    "minute": "min",
    "minutes": "min",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "day": "d",
    "days": "d",
    "volt": "V",
    "volts": "V",
    "µV": "uV",
    "amp": "A",
    "amps": "A",
    "ampere": "A",
    "µA": "uA",
    "A.h": "Ah",
    "A·h": "Ah",
    "A-h": "Ah",
    "Amp-hr": "Ah",
    "mA.h": "mAh",
    "mA·h": "mAh",
    "µAh": "uAh",
    "µA.h": "uAh",
    "W.h": "Wh",
    "W·h": "Wh",
    "mW.h": "mWh",
    "kW.h": "kWh",
    "°C": "degC",
    "℃": "degC",
    "celsius": "degC",
    "°F": "degF",
    "℉": "degF",
    "F": "degF",
    "fahrenheit": "degF",
    "kelvin": "K",
    "Ω": "Ohm",
    "ohm": "Ohm",
    "ohms": "Ohm",
    "O": "Ohm",
    "mΩ": "mOhm",
    "mohm": "mOhm",
    "mO": "mOhm",
    "µΩ": "uOhm",
    "kΩ": "kOhm",
    "MΩ": "MOhm",
    "hz": "Hz",
    "-": "1",
}

DIMENSION_OF: Final[dict[str, Dimension]] = {
    bdf.TIME: "time",
    bdf.UNIX_TIME: "time",
    bdf.VOLTAGE: "voltage",
    bdf.CURRENT: "current",
    bdf.CHARGE_AH: "charge",
    bdf.DISCHARGE_AH: "charge",
    bdf.CHARGE_WH: "energy",
    bdf.DISCHARGE_WH: "energy",
    bdf.POWER: "power",
    bdf.SURFACE_T: "temperature",
    bdf.AMBIENT_T: "temperature",
    bdf.RESISTANCE: "resistance",
    bdf.Z_REAL: "resistance",
    bdf.Z_IMAG: "resistance",
    bdf.FREQUENCY: "frequency",
    bdf.STEP: "count",
    bdf.CYCLE: "count",
}
"""The physical dimension of every BDF column (what a source unit must match)."""


def spelled(text: str, spellings: Mapping[str, T]) -> T | None:
    """What ``text`` names in ``spellings`` (keys NFKC-normalised, see :func:`normal_spellings`).

    Compared after NFKC normalisation (``mΩ`` with the ohm sign or Omega, ``µA`` or ``μA``),
    exactly first, then without case where that names one thing only (``MAH``; not ``MOHM``,
    which could be mΩ or MΩ). Tester units and the units of user-table cells
    (:mod:`echelon.io.table`) are matched by this one rule.
    """
    key = unicodedata.normalize("NFKC", text.strip())
    if key in spellings:
        return spellings[key]
    folded = key.casefold()
    matches = {value for s, value in spellings.items() if s.casefold() == folded}
    return matches.pop() if len(matches) == 1 else None


def normal_spellings(pairs: Iterable[tuple[str, T]]) -> dict[str, T]:
    """``{spelling: value}`` with NFKC-normalised keys, for :func:`spelled`."""
    return {unicodedata.normalize("NFKC", s): value for s, value in pairs}


_SPELLINGS: Final = normal_spellings((s, UNITS[_ALIASES.get(s, s)]) for s in (*UNITS, *_ALIASES))
"""Every spelling of a tester unit, NFKC-normalised (the ohm sign U+2126 is Ω, the micro sign
µ is Greek μ), and the unit it names."""


def parse_unit(text: str) -> Unit | None:
    """The unit a string names (``"mA"``, ``"mA.h"``, ``"°F"``, ``"hours"``), or ``None``
    (matched by :func:`spelled`)."""
    return spelled(text, _SPELLINGS)


_HEADER_UNIT = re.compile(r"(?:\(([^()]*)\)|\[([^\[\]]*)\]|/\s*([^/()\[\]]+))\s*$")


def unit_in_header(header: str) -> Unit | None:
    """The unit a column header states at its end: ``Current(mA)``, ``I [mA]``, ``I/mA``.

    Returns ``None`` when the header states no unit Echelon knows (then nothing can be checked).
    """
    match = _HEADER_UNIT.search(header.strip())
    if match is None:
        return None
    return parse_unit(next(g for g in match.groups() if g is not None))


def conversion(unit: str, target: str) -> Unit:
    """The conversion of ``unit`` into BDF column ``target``'s unit.

    Raises
    ------
    ValueError
        If the unit is unknown or of another dimension than the target column (the message says
        which units would fit).
    """
    parsed = parse_unit(unit)
    dimension = DIMENSION_OF.get(target)
    if parsed is None:
        raise ValueError(f"unknown unit {unit!r}; known: {', '.join(UNITS)}")
    if dimension is not None and parsed.dimension != dimension:
        fitting = ", ".join(u.symbol for u in _UNITS if u.dimension == dimension)
        raise ValueError(
            f"unit {unit!r} is a {parsed.dimension}, but {target} is a {dimension} "
            f"(use one of: {fitting})"
        )
    return parsed
