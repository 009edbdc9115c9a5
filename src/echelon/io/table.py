"""User tables — manifests, measurement tables, inventories, histories, lot tables — read one way.

Every command that takes a table a person made (``intake``, ``grade``, ``regroup``,
``forecast --history``, ``recycle``) reads it with :func:`read_table`, so a spreadsheet export
that one command accepts the others accept too:

* CSV in UTF-8 (with or without the byte-order mark Excel writes), UTF-16 (Excel's "Unicode
  text"), GB18030/GBK or Windows-1252/Latin-1; CRLF or LF line ends;
* ``,``, ``;``, tab or ``|`` separators, detected from the header line;
* decimal commas (``3,7``) in the numeric columns of a file that does not separate fields with
  commas, and thousands separators where they cannot be misread (``1,200.5``, ``1.200,5``);
* a number followed by the unit the column's name says (``3.7 V`` or ``3.7V`` in ``ocv_v``,
  ``95 %`` in ``soh_percent``; the name endings and spellings are :data:`NAME_UNITS`), mixed with
  bare numbers or not;
* cells padded with blanks, and ``NA``, ``n/a``, ``-``, ``NaN``, ``null``, ``#N/A`` as missing
  numbers;
* trailing empty lines (``;;;;`` rows included) are not rows.

Everything else is refused with an :class:`~echelon.errors.InputError` naming the file, the row and
the column where there is one, and what to do: a folder, an empty file, a header without rows, a
workbook (``.xlsx``, even renamed ``.csv``), a truncated Parquet file, a row with more fields than
the header, a header naming a column twice, a number in another unit of the column's quantity
(``2500 mAh`` in ``capacity_ah``: never converted, the message says the number to write), any other
text after a number (``3.7 V`` in ``soh_percent``, ``3.7 V`` in a column whose name says no unit)
and a thousands separator that could be a decimal mark (``1,200``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import polars as pl

from echelon.errors import MAX_ROW_PROBLEMS, InputError, Problem, SchemaError, row_problems
from echelon.io.base import sniff
from echelon.io.text import HEAD_BYTES, decode_bytes, separators_of
from echelon.io.units import normal_spellings, spelled
from echelon.io.xlsx import OLE_MAGIC, ZIP_MAGIC

TEXT_SUFFIXES: Final = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES: Final = (".parquet", ".pq")
WORKBOOK_SUFFIXES: Final = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".numbers")
WORKBOOK_MAGIC: Final = (ZIP_MAGIC, OLE_MAGIC)
"""ZIP (xlsx, ods) and OLE (xls) signatures: a workbook saved with a ``.csv`` name."""
BOMS: Final = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
MISSING: Final = frozenset({"na", "n/a", "n.a.", "-", "--", "—", "nan", "null", "none", "#n/a"})
"""Cell texts that mean "no value" in a numeric column (compared lower-case)."""
SAVE_AS_CSV: Final = "save the sheet as CSV (Excel: File › Save As › CSV UTF-8) or Parquet"

_COMMA_DECIMAL = r"^[-+]?\d+,\d+(?:[eE][-+]?\d+)?$"
_POINT_DECIMAL = r"^[-+]?\d*\.\d+(?:[eE][-+]?\d+)?$"
_GROUPED_POINT = r"^[-+]?\d{1,3}(?:,\d{3})+\.\d+$"  # 1,200.5
_GROUPED_COMMA = r"^[-+]?\d{1,3}(?:\.\d{3})+,\d+$"  # 1.200,5
_AMBIGUOUS_COMMA = r"^[-+]?[1-9]\d{0,2}(?:,\d{3})+$"  # 1,200: thousands, or 1.2 (decimal comma)
_AMBIGUOUS_POINT = r"^[-+]?[1-9]\d{0,2}(?:\.\d{3})+$"  # 1.200: 1.2, or 1200 (thousands point)
_NUMBER_LIKE = r"^[-+]?[\d.,]*\d(?:[eE][-+]?\d+)?$"
_WITH_UNIT = r"^([-+]?[\d.,]*\d(?:[eE][-+]?\d+)?)\s*([^\d\s.,+\-].*)$"
"""A number (group 1) followed by a unit or a word (group 2): ``3.7 V``, ``90%``, ``3,7 V``,
``1.5e3 mAh``; ``1e-3`` matches too (1 and ``e-3``) but casts."""


@dataclass(frozen=True)
class CellUnit:
    """A unit a number in a cell may carry.

    Attributes
    ----------
    spellings : tuple of str
        How it is written; messages use the first. A cell's unit is compared with them exactly,
        then without regard to case where that names one unit only (``AH``, ``kwh``, ``MV`` for
        mV; not ``MOHM``, which could be mΩ or MΩ). Cells are NFKC-normalised first (``℃`` is
        ``°C``, ``％`` is ``%``, the ohm sign is Ω).
    quantity : str
        What it measures: a cell in another unit of the column's quantity is refused with the
        number to write.
    scale : float or None
        Its size in the quantity's reference unit (``None``: no fixed factor, as for currencies).
    offset : float
        Added after scaling (°F and K to °C).
    """

    spellings: tuple[str, ...]
    quantity: str
    scale: float | None = 1.0
    offset: float = 0.0

    @property
    def symbol(self) -> str:
        """How messages write the unit."""
        return self.spellings[0]


_SECOND: Final = CellUnit(("s", "sec"), "time")
_DAY: Final = CellUnit(("d", "day", "days"), "time", 86_400.0)
NAME_UNITS: Final[dict[str, CellUnit]] = {
    "_ah": CellUnit(("Ah", "A·h", "A.h"), "charge"),
    "_mah": CellUnit(("mAh", "mA·h"), "charge", 1e-3),
    "_wh": CellUnit(("Wh", "W·h"), "energy"),
    "_kwh": CellUnit(("kWh", "kW·h"), "energy", 1e3),
    "_v": CellUnit(("V", "volt", "volts"), "voltage"),
    "_mv": CellUnit(("mV",), "voltage", 1e-3),
    "_kv": CellUnit(("kV",), "voltage", 1e3),
    "_a": CellUnit(("A", "amp", "amps"), "current"),
    "_ma": CellUnit(("mA",), "current", 1e-3),
    "_ohm": CellUnit(("Ω", "Ohm", "ohms"), "resistance"),
    "_mohm": CellUnit(("mΩ", "mOhm"), "resistance", 1e-3),
    "_kohm": CellUnit(("kΩ", "kOhm"), "resistance", 1e3),
    "insulation_mohm": CellUnit(("MΩ", "MOhm", "Mohm"), "resistance", 1e6),
    "_percent": CellUnit(("%", "percent"), "percent"),
    "_kg": CellUnit(("kg",), "mass"),
    "_g": CellUnit(("g",), "mass", 1e-3),
    "_lb": CellUnit(("lb", "lbs"), "mass", 0.453_592_37),
    "_celsius": CellUnit(("°C", "C", "degC"), "temperature"),
    "_kelvin": CellUnit(("K",), "temperature", 1.0, -273.15),
    "_fahrenheit": CellUnit(("°F", "F", "degF"), "temperature", 5 / 9, -160 / 9),
    "_s": _SECOND,
    "_seconds": _SECOND,
    "_minutes": CellUnit(("min",), "time", 60.0),
    "_hours": CellUnit(("h", "hr", "hours"), "time", 3_600.0),
    "_day": _DAY,
    "_days": _DAY,
    "_years": CellUnit(("y", "yr", "years"), "time", 365.25 * 86_400.0),
    "_mv_per_day": CellUnit(("mV/d", "mV/day"), "self-discharge"),
    "_eur": CellUnit(("EUR", "€"), "money", None),
    "_usd": CellUnit(("USD", "$", "US$"), "money", None),
    "_cny": CellUnit(("CNY", "RMB", "¥", "元"), "money", None),
}
"""The unit a column's name declares, by how the name ends (the longest ending that fits:
``self_discharge_mv_per_day`` is in mV/d, not days; a name with ``_per_`` declares a unit only
through an ending that holds it, so ``price_usd_per_kg`` declares none). A number followed by
this unit is read as the number; by another unit of the same quantity, refused with the number
to write. ``_mohm`` is mΩ (``dcir_mohm``), but ``insulation_mohm`` is MΩ (an insulation
resistance); lowercase ``mohm`` in a cell is therefore no spelling of either. Scales are
definitions (a Julian year of 365.25 days, the international pound), not reference data."""


def read_table(
    path: Path | str,
    *,
    what: str = "table",
    numeric: Collection[str] | Literal["auto"] = (),
    error: type[InputError] = SchemaError,
) -> pl.DataFrame:
    """Read a user's CSV/TSV or Parquet table; text cells stripped, empty cells null.

    Parameters
    ----------
    path : path-like
        The file (``.csv``, ``.tsv``, ``.txt``, ``.parquet``, ``.pq``).
    what : str
        What the table is, for messages ("manifest", "inventory", …).
    numeric : collection of str
        Columns the caller reads as numbers: in these (when they hold text) missing-value words
        become null, decimal commas and unambiguous thousands separators are resolved, the unit
        the column's name declares is dropped (``3.7 V`` in ``ocv_v``), and another unit, other
        text after the number or an ambiguous separator is reported. ``"auto"``: the text columns
        whose every cell is a number (with a unit of the column's quantity or not) or a
        missing-value word (a table whose number columns are not known in advance; a column of
        codes or names stays text).
    error : type of InputError
        Exception raised (the caller's: :class:`~echelon.errors.ManifestError` for manifests).

    Returns
    -------
    pl.DataFrame
        CSV: every column a string. Parquet: the file's types; text columns normalised likewise.

    Raises
    ------
    InputError
        Of type ``error``, naming the file, the row and column where there is one, and what to do.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    magic = _check_file(path, what, error)
    if suffix in PARQUET_SUFFIXES:
        frame, separator = _read_parquet(path, magic, error), None
    elif suffix in TEXT_SUFFIXES:
        frame, separator = _read_text(path, error, tab=suffix == ".tsv")
    else:
        raise error(
            path, [f"unsupported {what} file type {suffix!r}: give a .csv or .parquet file"]
        )
    if frame.height == 0:
        raise error(path, [f"the {what} has a header but no rows: add one row per unit"])
    columns = (
        _number_like(frame) if numeric == "auto" else [c for c in numeric if c in frame.columns]
    )
    free = () if numeric == "auto" else set(numeric) - set(frame.columns)
    frame, problems = _numbers(frame, columns, separator, free=free)
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column or ""))
        raise error(path, problems)
    return frame


def table_columns(path: Path | str) -> list[str]:
    """Column names of a CSV/TSV or Parquet table from its header alone (``[]`` when the file is
    not such a table: missing, binary, a workbook, a tester export that starts otherwise).

    Decoded and split like :func:`read_table`, so a ``;``-separated or UTF-16 header is seen."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            return list(pl.read_parquet_schema(path))
        if suffix not in TEXT_SUFFIXES or not path.is_file():
            return []
        text = decode_table(sniff(path, HEAD_BYTES))
    except (pl.exceptions.PolarsError, OSError):
        return []
    header = next((line for line in (text or "").splitlines() if line.strip()), None)
    if header is None:
        return []
    separator = _separator(header, tab=suffix == ".tsv")
    return [n.strip() for n in next(csv.reader([header], delimiter=separator))]


def typed(frame: pl.DataFrame, columns: Collection[str]) -> pl.DataFrame:
    """``frame`` with each text column of ``columns`` cast to Float64 when every value is a
    number (as a CSV reader's type inference would; other columns are left as text)."""
    casts = []
    for column in columns:
        values = frame.get_column(column)
        if values.dtype != pl.String:
            continue
        numbers = values.cast(pl.Float64, strict=False)
        if numbers.null_count() == values.null_count():
            casts.append(numbers.alias(column))
    return frame.with_columns(casts) if casts else frame


_CELL_SPELLINGS: Final = normal_spellings(
    (s, unit) for unit in NAME_UNITS.values() for s in unit.spellings
)


def column_unit(name: str) -> CellUnit | None:
    """The unit a column's name declares (:data:`NAME_UNITS`: ``capacity_ah`` → Ah,
    ``self_discharge_mv_per_day`` → mV/d), or ``None`` (``series_count``, ``price_usd_per_kg``)."""
    ending = _unit_ending(name)
    return None if ending is None else NAME_UNITS[ending]


def cell_unit(text: str) -> CellUnit | None:
    """The unit ``text`` (what follows a number in a cell) names among :data:`NAME_UNITS`, or
    ``None``: an exact spelling, else one that differs in case only if no other unit's does."""
    return spelled(text, _CELL_SPELLINGS)


def _unit_ending(name: str) -> str | None:
    """The longest :data:`NAME_UNITS` ending of ``name``; none for a ``_per_`` name unless the
    ending holds the ``_per_``."""
    ending = max((e for e in NAME_UNITS if name.endswith(e)), key=len, default=None)
    if ending is None or ("_per_" in name and "_per_" not in ending):
        return None
    return ending


def _check_file(path: Path, what: str, error: type[InputError]) -> bytes:
    """Refuse what is not a readable file of a table (missing, a folder, empty, a workbook);
    return its first four bytes."""
    if path.is_dir():
        raise error(path, [f"is a folder: give the {what} file inside it"])
    if not path.is_file():
        raise error(path, [f"{what} file not found; check the path"])
    size = path.stat().st_size
    if size == 0:
        raise error(path, [f"the file is empty (0 bytes): export the {what} again"])
    magic = sniff(path, 4)
    if path.suffix.lower() in WORKBOOK_SUFFIXES or (
        path.suffix.lower() in TEXT_SUFFIXES and magic in WORKBOOK_MAGIC
    ):
        raise error(path, [f"is a spreadsheet workbook, not a CSV file: {SAVE_AS_CSV}"])
    return magic


def _read_parquet(path: Path, magic: bytes, error: type[InputError]) -> pl.DataFrame:
    if magic != b"PAR1":
        raise error(path, ["not a Parquet file (it does not start with PAR1): give a .parquet "
                           "file, or name a CSV file .csv"])  # fmt: skip
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise error(
            path,
            [f"the Parquet file cannot be read ({str(exc).splitlines()[0]}): it is truncated or "
             "corrupt; copy or export it again"],
        ) from exc  # fmt: skip


def decode_table(data: bytes) -> str | None:
    """Text of a table file's bytes, or ``None`` if it is not text in an encoding we know.

    A byte-order mark decides (UTF-8, UTF-16); otherwise the rule of tester files
    (:func:`echelon.io.text.decode_bytes`: UTF-8, a European Windows-1252 text, GB18030).
    """
    for bom, codec in BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                return None
    decoded = decode_bytes(data)
    return None if decoded is None else decoded[0]


def _separator(header: str, *, tab: bool) -> str:
    """The separator of a header line: the most frequent candidate outside quotes."""
    if tab:
        return "\t"
    present = separators_of(re.sub(r'"[^"]*"', "", header))
    return present[0] if present else ","


def _read_text(path: Path, error: type[InputError], *, tab: bool) -> tuple[pl.DataFrame, str]:
    text = decode_table(path.read_bytes())
    if text is None:
        raise error(path, ["not a text table (binary data, or an encoding other than UTF-8, "
                           f"UTF-16, GB18030 or Windows-1252): {SAVE_AS_CSV}"])  # fmt: skip
    lines = text.splitlines()
    header = next((line for line in lines if line.strip()), None)
    if header is None:
        raise error(path, ["the file holds only empty lines: export the table again"])
    excel = re.fullmatch(r'"?sep=(.)"?', header.strip())  # Excel's "sep=;" first line
    if excel:
        lines = lines[lines.index(header) + 1 :]
        header = next((line for line in lines if line.strip()), "")
    separator = excel.group(1) if excel else _separator(header, tab=tab)
    records = _records(lines[lines.index(header) :] if header else [], separator, path, error)
    names = [n.strip() for n in records[0]] if records else []
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        raise error(path, [Problem("named twice in the header: keep one column of each name",
                                   column=n) for n in repeated])  # fmt: skip
    columns = [n or f"column_{i}" for i, n in enumerate(names, start=1)]
    body = records[1:]
    width = len(columns)
    for row_number, fields in enumerate(body, start=1):
        while len(fields) > width and not fields[-1].strip():
            fields.pop()  # trailing empty fields (a separator at the end of the row)
        if len(fields) > width:
            raise error(path, [Problem(
                f"{len(fields)} fields where the header has {width} (separator {separator!r}): "
                "a value holding the separator must be in double quotes; fix the row or export "
                "the table again", row=row_number)])  # fmt: skip
        fields.extend([""] * (width - len(fields)))
    frame = pl.DataFrame(body, schema=dict.fromkeys(columns, pl.String), orient="row")
    frame = frame.with_columns(pl.col(pl.String).str.strip_chars().replace("", None))
    unnamed = [c for c, n in zip(columns, names, strict=True) if not n]
    frame = frame.drop(c for c in unnamed if frame.get_column(c).null_count() == frame.height)
    filled = frame.select(pl.any_horizontal(pl.all().is_not_null())).to_series().arg_true()
    rows = int(filled[-1]) + 1 if filled.len() else 0  # trailing empty lines are not rows
    return frame.head(rows), separator


def _records(
    lines: list[str], separator: str, path: Path, error: type[InputError]
) -> list[list[str]]:
    """The fields of every non-blank line (quoted fields may hold the separator or a line break);
    an opening quote never closed is an error naming the row it starts on."""
    records: list[list[str]] = []
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=separator, strict=True)
    try:
        for fields in reader:
            if fields:
                records.append(fields)
    except csv.Error as exc:
        why = (
            f"unreadable quoting ({exc}): a double quote that opens a value must close it; "
            "fix the row or export the table again"
        )
        raise error(path, [Problem(why, row=max(len(records), 1))]) from exc
    return records


def _numbers(
    frame: pl.DataFrame, columns: list[str], separator: str | None, *, free: Collection[str] = ()
) -> tuple[pl.DataFrame, list[Problem]]:
    """Normalise the text cells of numeric ``columns`` to decimal-point numbers without the unit
    their column's name declares, or report them. ``free``: number columns the command reads
    that the table lacks (a column in another unit may be renamed to one)."""
    text = [c for c in columns if frame.schema[c] == pl.String]
    if not text:
        return frame, []
    shown = frame.with_columns(  # the cells as written, for messages
        pl.when(pl.col(c).str.strip_chars().str.to_lowercase().is_in(MISSING))
        .then(None)
        .otherwise(pl.col(c).str.strip_chars())
        .alias(c)
        for c in text
    )
    units = {c: _unit_spellings(shown.get_column(c)) for c in text}
    frame = shown.with_columns(_without_unit(c, units[c]) for c in text)
    mark = "point" if separator == "," else _decimal_mark(frame, text)
    mixed = (
        "has a decimal comma in a comma-separated file: use a decimal point, or separate the "
        "fields with ';'"
        if separator == ","
        else "has a decimal comma where other numbers have a decimal point: use one decimal mark"
    )
    ambiguous = (
        "has an ambiguous separator ({} is 1.2 or 1200): write the number without thousands "
        "separators"
    )
    problems: list[Problem] = []
    fixed = []
    for column in text:
        raw = pl.col(column)
        checks = []
        if mark != "comma":  # 1,200: thousands, unless other cells show a decimal comma
            checks.append((raw.str.contains(_AMBIGUOUS_COMMA), ambiguous.format("1,200")))
        if mark != "point":  # 1.200: a decimal, unless other cells show a decimal comma
            checks.append((raw.str.contains(_AMBIGUOUS_POINT), ambiguous.format("1.200")))
        value: pl.Expr = raw
        if mark == "comma":  # 1.200,5 → 1200,5 → 1200.5
            grouped = raw.str.contains(_GROUPED_COMMA)
            value = pl.when(grouped).then(raw.str.replace_all(".", "", literal=True)).otherwise(raw)
            value = value.str.replace(",", ".", literal=True)
        elif mark == "point":  # 1,200.5 → 1200.5
            checks.append((raw.str.contains(_COMMA_DECIMAL), mixed))
            grouped = raw.str.contains(_GROUPED_POINT)
            value = pl.when(grouped).then(raw.str.replace_all(",", "", literal=True)).otherwise(raw)
        is_number = value.cast(pl.Float64, strict=False).is_not_null()  # after the decimal mark
        stripped = (shown.get_column(column) != frame.get_column(column)).fill_null(False)
        checks.append(  # '1.2.3 Ah': quote the cell as written, not what is left without 'Ah'
            (
                pl.lit(stripped) & ~is_number,
                "is not a number followed by its unit: write the number in digits with one "
                "decimal mark",
            )
        )
        checks.append(
            (
                raw.str.contains(_WITH_UNIT) & ~is_number,
                "has a unit or text after the number: write the number alone, in the unit the "
                "column's name says",
            )
        )
        seen = pl.lit(False)
        for mask, message in checks:
            flagged = frame.select((mask & ~seen).alias("m")).to_series()
            problems += row_problems(shown.get_column(column), flagged, message)
            seen = seen | mask
        numbers = frame.select(value.cast(pl.Float64, strict=False)).to_series()
        reported = frame.select(seen).to_series()
        problems += _other_units(shown.get_column(column), numbers, reported, units[column], free)
        fixed.append(value.alias(column))
    return frame.with_columns(fixed), problems


def _unit_spellings(values: pl.Series) -> dict[str, CellUnit]:
    """The texts after the numbers of ``values`` that name a unit of the quantity the series'
    name declares, with the unit each names (``{}`` when the name declares none)."""
    declared = column_unit(values.name)
    if declared is None:
        return {}
    written = values.str.extract(_WITH_UNIT, 2).drop_nulls().unique().to_list()
    return {
        text: unit
        for text in written
        if (unit := cell_unit(text)) is not None and unit.quantity == declared.quantity
    }


def _without_unit(column: str, spellings: Collection[str]) -> pl.Expr:
    """``column``'s cells, the number alone where a cell holds a number and one of ``spellings``."""
    cell = pl.col(column)
    unit = cell.str.extract(_WITH_UNIT, 2)
    number = cell.str.extract(_WITH_UNIT, 1)
    return pl.when(unit.is_in(list(spellings))).then(number).otherwise(cell).alias(column)


def _other_units(
    cells: pl.Series,
    numbers: pl.Series,
    reported: pl.Series,
    spellings: dict[str, CellUnit],
    free: Collection[str],
) -> list[Problem]:
    """A problem for each cell (not already ``reported``) whose number is in another unit of its
    column's quantity, saying the number to write (``numbers``: the cells' numbers)."""
    declared = column_unit(cells.name)
    others = {text: unit for text, unit in spellings.items() if unit != declared}
    if declared is None or not others:
        return []
    stem = cells.name.removesuffix(_unit_ending(cells.name) or "")
    renamed = {  # the column the command reads in that unit, if the table lacks it
        unit: next((stem + e for e, u in NAME_UNITS.items() if u == unit and stem + e in free), "")
        for unit in others.values()
    }
    written = cells.str.extract(_WITH_UNIT, 2)
    flagged = written.is_in(list(others)) & ~reported
    problems = []
    for i in flagged.arg_true().head(MAX_ROW_PROBLEMS).to_list():
        unit = others[written[i]]
        if unit.scale is None or declared.scale is None:
            todo = f"convert it to {declared.symbol}"
        elif numbers[i] is None:
            todo = f"write the number in {declared.symbol}"
        else:
            to = (numbers[i] * unit.scale + unit.offset - declared.offset) / declared.scale
            todo = f"write {to:.12g}"
        if name := renamed[unit]:
            todo += f", or name the column {name!r} if all its numbers are in {unit.symbol}"
        problems.append(
            Problem(
                f"{cells[i]!r} is in {unit.symbol}, not in {declared.symbol} as the column's "
                f"name says: {todo}",
                row=i + 1,
                column=cells.name,
            )
        )
    return problems


def _number_like(frame: pl.DataFrame) -> list[str]:
    """Text columns whose every non-empty cell is a number (either decimal mark, grouped or
    scientific; followed by a unit of the quantity the column's name declares or not) or a
    missing-value word."""
    out = []
    for column in frame.columns:
        values = frame.get_column(column)
        if values.dtype != pl.String:
            continue
        given = values.drop_nulls().str.strip_chars()
        given = given.filter(~given.str.to_lowercase().is_in(MISSING))
        bare = given.to_frame().select(_without_unit(column, _unit_spellings(given))).to_series()
        if bare.len() and bool(bare.str.contains(_NUMBER_LIKE).all()):
            out.append(column)
    return out


def _decimal_mark(frame: pl.DataFrame, columns: list[str]) -> str | None:
    """The decimal mark the numbers show — ``"comma"`` (``3,7``, ``1.200,5``), ``"point"``
    (``3.7``, ``1,200.5``) or ``None`` — counting only cells that cannot be read both ways:
    ``1,200`` and ``1.200`` (three digits after one mark) say nothing. Both marks: ``"point"``
    (the comma cells are then reported)."""
    commas = points = 0
    for column in columns:
        values = frame.get_column(column).drop_nulls()
        comma = values.str.contains(_COMMA_DECIMAL) | values.str.contains(_GROUPED_COMMA)
        point = values.str.contains(_POINT_DECIMAL) | values.str.contains(_GROUPED_POINT)
        commas += int((comma & ~values.str.contains(_AMBIGUOUS_COMMA)).sum())
        points += int((point & ~values.str.contains(_AMBIGUOUS_POINT)).sum())
    if points:
        return "point"
    return "comma" if commas else None
