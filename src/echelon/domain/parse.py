"""Parsing of user spellings into the controlled vocabularies, with close-match suggestions.

Chemistry spellings are resolved by :func:`echelon.catalog.resolve_chemistry` (its aliases are
catalogue data); this module covers the other vocabularies.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TypeVar

from echelon.domain.enums import CellFormat, Level, OriginApplication, Region, VisualFlag
from echelon.errors import UsageError

E = TypeVar("E", bound=StrEnum)

_SEPARATORS = re.compile(r"[\s_\-–—/&]+")


def normalise_token(text: str) -> str:
    """Lower-case ``text`` and drop separators (space, ``_``, ``-``, en/em dash, ``/``, ``&``)."""
    return _SEPARATORS.sub("", text.strip().lower())


def _closest(text: str, options: list[str], cutoff: float = 0.6) -> list[str]:
    """The options most like ``text`` (every one of the best score, in ``options`` order), or
    none when the best scores below ``cutoff`` (as :func:`difflib.get_close_matches`)."""
    scores = [difflib.SequenceMatcher(None, text, o).ratio() for o in options]
    best = max(scores, default=0.0)
    return [o for o, score in zip(options, scores, strict=True) if score == best >= cutoff]


def suggest(text: str, choices: Iterable[str]) -> str:
    """A `` (did you mean 'x'?)`` hint for a misspelt ``text``, or an empty string; every option
    equally close is named (``LFO``: *did you mean 'LFP' or 'LMO'?*, not one of them)."""
    options = list(dict.fromkeys(choices))
    match = _closest(text, options)
    if not match:
        lowered = {c.lower(): c for c in options}
        match = [lowered[m] for m in _closest(text.lower(), list(lowered))]
    if not match:
        return ""
    named = [repr(m) for m in match]
    either = " or ".join([", ".join(named[:-1]), named[-1]] if named[1:] else named)
    return f" (did you mean {either}?)"


def _unknown(what: str, text: str, allowed: list[str]) -> str:
    """``unknown <what> '<text>' (did you mean …?); allowed: …``."""
    return f"unknown {what} {text!r}{suggest(text, allowed)}; allowed: {', '.join(allowed)}"


def parse_choice(enum: type[E], text: str, *, aliases: Mapping[str, E] | None = None) -> E:
    """Parse ``text`` into a member of ``enum``.

    Matching ignores case and separators; ``aliases`` maps extra spellings (normalised with
    :func:`normalise_token`) to members.

    Raises
    ------
    ValueError
        Naming the allowed values and the closest one.
    """
    key = normalise_token(text)
    for member in enum:
        if normalise_token(member.value) == key or normalise_token(member.name) == key:
            return member
    if aliases and key in aliases:
        return aliases[key]
    raise ValueError(_unknown(enum.__name__, text, [m.value for m in enum]))


def parse_filter(option: str, value: str | None, choices: Iterable[str]) -> str | None:
    """A filter value as ``choices`` spell it (any case or separators); ``None`` or ``""`` → no
    filter.

    Parameters
    ----------
    option : str
        The filter's name, as the message gives it (``status``, ``route``).
    value : str, optional
        The user's spelling.
    choices : iterable of str
        The values the filter can take, in the order the message lists them.

    Raises
    ------
    UsageError
        Naming the option, the closest value and every allowed one.
    """
    if not value:
        return None
    allowed = list(dict.fromkeys(choices))
    key = normalise_token(value)
    for choice in allowed:
        if normalise_token(choice) == key:
            return choice
    raise UsageError(f"{option}: {_unknown(option, value, allowed)}")


_ORIGIN_ALIASES: dict[str, OriginApplication] = {
    normalise_token(k): v
    for k, v in {
        "EV": OriginApplication.AUTOMOTIVE,
        "electric vehicle": OriginApplication.AUTOMOTIVE,
        "car": OriginApplication.AUTOMOTIVE,
        "HEV": OriginApplication.AUTOMOTIVE,
        "PHEV": OriginApplication.AUTOMOTIVE,
        "BEV": OriginApplication.AUTOMOTIVE,
        "e-bike": OriginApplication.EBIKE_LEV,
        "ebike": OriginApplication.EBIKE_LEV,
        "LEV": OriginApplication.EBIKE_LEV,
        "e-scooter": OriginApplication.EBIKE_LEV,
        "consumer": OriginApplication.CONSUMER_ELECTRONICS,
        "laptop": OriginApplication.CONSUMER_ELECTRONICS,
        "phone": OriginApplication.CONSUMER_ELECTRONICS,
        "aerospace": OriginApplication.AEROSPACE_DEFENCE,
        "defence": OriginApplication.AEROSPACE_DEFENCE,
        "defense": OriginApplication.AEROSPACE_DEFENCE,
        "ESS": OriginApplication.ENERGY_STORAGE,
        "stationary": OriginApplication.ENERGY_STORAGE,
        "BESS": OriginApplication.ENERGY_STORAGE,
    }.items()
}

_FLAG_ALIASES: dict[str, VisualFlag] = {
    normalise_token(k): v
    for k, v in {
        "swollen": VisualFlag.SWELLING,
        "bulging": VisualFlag.SWELLING,
        "leak": VisualFlag.LEAKAGE,
        "leaking": VisualFlag.LEAKAGE,
        "corroded": VisualFlag.CORROSION,
        "deformed": VisualFlag.DEFORMATION,
        "dent": VisualFlag.DEFORMATION,
        "thermal": VisualFlag.THERMAL_DAMAGE,
        "burnt": VisualFlag.THERMAL_DAMAGE,
        "water": VisualFlag.WATER_DAMAGE,
        "flooded": VisualFlag.WATER_DAMAGE,
    }.items()
}


def parse_level(text: str) -> Level:
    """Parse a level (``cell``, ``module``, ``pack``)."""
    return parse_choice(Level, text)


def parse_format(text: str) -> CellFormat:
    """Parse a cell format (``cylindrical``, ``prismatic``, ``pouch``)."""
    return parse_choice(CellFormat, text)


def parse_origin(text: str) -> OriginApplication:
    """Parse an origin application (e.g. ``automotive``, ``EV``, ``e-bike``)."""
    return parse_choice(OriginApplication, text, aliases=_ORIGIN_ALIASES)


def parse_region(text: str) -> Region:
    """Parse a regulatory region (``EU``, ``CN``, ``US``, ``other``)."""
    return parse_choice(Region, text)


def parse_visual_flags(text: str | Iterable[str] | None) -> frozenset[VisualFlag]:
    """Parse semicolon- (or comma-) separated visual flags; empty or ``none`` → no flags."""
    if text is None:
        return frozenset()
    items = re.split(r"[;,|]", text) if isinstance(text, str) else list(text)
    flags = set()
    for item in items:
        token = item.strip()
        if not token or normalise_token(token) in ("none", "ok", "nan"):
            continue
        flags.add(parse_choice(VisualFlag, token, aliases=_FLAG_ALIASES))
    return frozenset(flags)


def parse_date(text: str, *, option: str) -> dt.date:
    """A ``YYYY-MM-DD`` date given for ``option``; :class:`~echelon.errors.UsageError` naming
    the option otherwise."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}={text!r} is not a YYYY-MM-DD date") from None
