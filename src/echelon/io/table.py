"""User tables — manifests, measurement tables, inventories, histories, lot tables — read one way.

Every command that takes a table a person made (``intake``, ``grade``, ``regroup``,
``forecast --history``, ``recycle``) reads it with :func:`read_table`, so a spreadsheet export
that one command accepts the others accept too:

* CSV in UTF-8 (with or without the byte-order mark Excel writes), UTF-16 (Excel's "Unicode
  text"), GB18030/GBK or Windows-1252/Latin-1; CRLF or LF line ends;
* ``,``, ``;``, tab or ``|`` separators, detected from the header line;
* decimal commas (``3,7``) in the numeric columns of a file that does not separate fields with
  commas, and thousands separators where they cannot be misread (``1,200.5``, ``1.200,5``);
* cells padded with blanks, and ``NA``, ``n/a``, ``-``, ``NaN``, ``null``, ``#N/A`` as missing
  numbers;
* trailing empty lines (``;;;;`` rows included) are not rows.

Everything else is refused with an :class:`~echelon.errors.InputError` naming the file, the row and
the column where there is one, and what to do: a folder, an empty file, a header without rows, a
workbook (``.xlsx``, even renamed ``.csv``), a truncated Parquet file, a row with more fields than
the header, a header naming a column twice, a number with a unit in the cell (``3.7 V``) and a
thousands separator that could be a decimal mark (``1,200``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection
from pathlib import Path
from typing import Final, Literal

import polars as pl

from echelon.errors import InputError, Problem, SchemaError, row_problems
from echelon.io.base import sniff
from echelon.io.text import HEAD_BYTES, decode_bytes, separators_of
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
_WITH_UNIT = r"^[-+]?[\d.,]*\d\s*[^\d\s.,+\-].*$"
"""A number followed by a unit or a word (``3.7 V``, ``90%``, ``3,7 V``); ``1e-3`` casts."""


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
        become null, decimal commas and unambiguous thousands separators are resolved, and a unit
        in the cell or an ambiguous separator is reported. ``"auto"``: the text columns whose
        every cell is a number or a missing-value word (a table whose number columns are not
        known in advance; a column of codes or names stays text).
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
    frame, problems = _numbers(frame, columns, separator)
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
    frame: pl.DataFrame, columns: list[str], separator: str | None
) -> tuple[pl.DataFrame, list[Problem]]:
    """Normalise the text cells of numeric ``columns`` to decimal-point numbers, or report them."""
    text = [c for c in columns if frame.schema[c] == pl.String]
    if not text:
        return frame, []
    frame = frame.with_columns(
        pl.when(pl.col(c).str.strip_chars().str.to_lowercase().is_in(MISSING))
        .then(None)
        .otherwise(pl.col(c).str.strip_chars())
        .alias(c)
        for c in text
    )
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
            problems += row_problems(frame.get_column(column), flagged, message)
            seen = seen | mask
        fixed.append(value.alias(column))
    return frame.with_columns(fixed), problems


def _number_like(frame: pl.DataFrame) -> list[str]:
    """Text columns whose every non-empty cell is a number (either decimal mark, grouped or
    scientific) or a missing-value word."""
    out = []
    for column in frame.columns:
        values = frame.get_column(column)
        if values.dtype != pl.String:
            continue
        given = values.drop_nulls().str.strip_chars()
        given = given.filter(~given.str.to_lowercase().is_in(MISSING))
        if given.len() and bool(given.str.contains(_NUMBER_LIKE).all()):
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
