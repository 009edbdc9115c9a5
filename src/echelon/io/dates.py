"""Numeric dates whose order (day or month first) the file must tell: ``12/03/2024 10:15:00``.

EC-Lab writes its ``Acquisition started on`` date in the order of the Windows locale it ran under:
``11/22/2026 08:00:00.000`` under an English (US) locale, ``12/03/2024 10:15:00.123`` under a
French one, ``12.03.2024 10:15:00`` under a German one. :func:`numeric_date` decides the order from
evidence in the file and says when there is none.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

_NUMERIC_DATE: Final = re.compile(
    r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4})[ T]+(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,6}))?$"
)


@dataclass(frozen=True)
class ReadDate:
    """A date read from a file, and how its order was decided.

    Attributes
    ----------
    value : datetime
        The date and time.
    day_first : bool
        Whether the day was read first.
    ambiguous : bool
        Whether nothing in the file decided the order (it was read month-first).
    """

    value: dt.datetime
    day_first: bool
    ambiguous: bool

    def note(self, written: str) -> str | None:
        """What to tell the user about ``written`` (``None`` when the order was decided)."""
        if not self.ambiguous:
            return None
        other = self.value.replace(month=self.value.day, day=self.value.month)
        return (
            f"start date {written!r} is ambiguous (day and month both 12 or less, decimal points "
            f"in the data): read month-first as {self.value:%Y-%m-%d}; if the export was made "
            f"under a day-first locale the test started on {other:%Y-%m-%d}"
        )


def numeric_date(text: str, *, decimal_comma: bool = False) -> ReadDate | None:
    """``dd/mm/yyyy`` or ``mm/dd/yyyy`` (``/``, ``.`` or ``-`` between, a time after) read in
    the order the file shows, or ``None`` when ``text`` is no such date.

    The order, first rule that applies: a ``.`` between the parts is day-first (no locale writes
    ``03.12.2024`` month-first); a first part above 12 is the day, a second part above 12 is the
    day; numbers with decimal commas in the same file (``decimal_comma``) mean a non-US locale,
    and those write day-first; otherwise month-first (the US order), marked ``ambiguous`` unless
    day and month are equal.

    Parameters
    ----------
    text : str
        The date as written, e.g. ``12/03/2024 10:15:00.123``.
    decimal_comma : bool
        Whether the file's numbers use decimal commas.
    """
    match = _NUMERIC_DATE.match(text.strip())
    if match is None:
        return None
    first, sep, second, year, hour, minute, second_s, fraction = match.groups()
    a, b = int(first), int(second)
    ambiguous = False
    if sep == "." or a > 12:
        day_first = True
    elif b > 12:
        day_first = False
    elif decimal_comma:
        day_first = True
    else:
        day_first, ambiguous = False, a != b
    day, month = (a, b) if day_first else (b, a)
    micro = int((fraction or "0").ljust(6, "0"))
    try:
        value = dt.datetime(int(year), month, day, int(hour), int(minute), int(second_s), micro)
    except ValueError:
        return None
    return ReadDate(value, day_first, ambiguous)
