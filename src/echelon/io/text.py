"""Delimited-text layout detection: preamble, header line, separator, decimal comma, encoding.

Tester exports differ in small ways that break naive parsing: a metadata preamble before the
header (Maccor, BioLogic), a header-less file (one of the Bitrode exports), ``;`` separators with
decimal commas (European spreadsheet settings), duplicated column names (Bitrode's three ``Loop``
columns), Latin-1 or GBK instead of UTF-8. :func:`detect_layout` reads only the head of a file and
returns a :class:`TextLayout` that tells the CSV scanner exactly what to do, or raises a
:class:`ReaderError` that names the line and says what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import polars as pl

from echelon.errors import Problem, ReaderError
from echelon.io.base import sniff

HEAD_BYTES: Final = 65536
"""Bytes read to detect a layout (enough for BioLogic's long preambles)."""
TAIL_BYTES: Final = 65536
SEPARATORS: Final = ("\t", ";", ",", "|")
CHECK_LINES: Final = 50
"""Data lines after the header whose field counts are checked."""
HEADER_SEARCH_LINES: Final = 2000
"""Lines of a file's head (at most :data:`HEAD_BYTES`) searched for its header: preambles come
before it, and a Novonix protocol block runs to four lines a step (200 lines, the limit until
2026-12-07, is a 50-step protocol)."""
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+(?:[eE][-+]?\d+)?\s*$")
_DECIMAL_POINT = re.compile(r"^\s*[-+]?\d*\.\d+(?:[eE][-+]?\d+)?\s*$")
ENCODINGS: Final = ("utf-8-sig", "gb18030", "cp1252")
"""Tried in order — after UTF-8 and a text that reads as Windows-1252 (:func:`western_text`);
GBK/GB18030 covers Chinese testers' exports (Neware, NEBULA)."""
_DOUBLE_BYTE = re.compile(rb"[\x81-\xfe][\x40-\xfe]")
GB2312_COMMON_SHARE: Final = 0.5
"""Share of double-byte pairs that are common Chinese characters above which bytes are GB18030."""


def western_text(data: bytes) -> str | None:
    """``data`` as Windows-1252 when it reads as a European text, else ``None``.

    GB18030 decodes almost any bytes — ``°C`` as one Chinese character, ``Größe`` as two — so
    the choice is made on what the double-byte pairs would be in GB18030: in a Chinese text
    nearly all are GB2312 level-1 characters (lead byte B0–D7, trail A1–FE; 0.95 in Neware and
    NEBULA headers) or have a trail byte 80–A0 (GBK's traditional and extension characters), in
    a Windows-1252 text of accented letters (E0–FF, DF) and symbols (``°``, ``µ``) almost none.
    """
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    pairs = _DOUBLE_BYTE.findall(data)
    common = sum(
        1 for p in pairs if (0xB0 <= p[0] <= 0xD7 and p[1] >= 0xA1) or 0x80 <= p[1] <= 0xA0
    )
    return text if not pairs or common / len(pairs) < GB2312_COMMON_SHARE else None


@dataclass(frozen=True)
class TextLayout:
    """How to parse a delimited text export.

    Attributes
    ----------
    header_line : int or None
        0-based index of the header line, or ``None`` for a header-less file.
    data_line : int
        0-based index of the first data line.
    separator : str
        Field separator.
    decimal_comma : bool
        Whether numbers use a decimal comma (``3,6021``).
    columns : list of str
        Column names (from the header, or the reader's names for a header-less file), made
        unique by suffixing repeats (``Loop``, ``Loop_2``, ``Loop_3``).
    raw_columns : list of str
        Column names exactly as in the header (repeats kept).
    preamble : list of str
        Lines before the header (instrument metadata in some formats).
    encoding : str
        Python codec that decoded the head.
    thousands : str or None
        Thousands separator the numbers carry (``262,923.5000``: ``","``), or ``None``.
    clean_numbers : bool
        Whether number cells need cleaning before they parse (blanks around them, a
        :data:`PLACEHOLDERS` cell, thousands separators — seen in the head), so number columns
        are read as text, cleaned by :func:`number_text` and cast; otherwise the scanner parses
        them directly (about twice as fast).
    line_quoted : bool
        Whether every line is enclosed whole in double quotes (``"a,b,c"``: Novonix), which the
        scanner would take for one field; such lines are unquoted before scanning.
    """

    header_line: int | None
    data_line: int
    separator: str
    decimal_comma: bool
    columns: list[str]
    raw_columns: list[str]
    preamble: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    thousands: str | None = None
    clean_numbers: bool = False
    line_quoted: bool = False

    @property
    def utf8(self) -> bool:
        """Whether the body can be scanned as UTF-8 (otherwise it is transcoded first)."""
        return self.encoding in ("utf-8", "utf-8-sig")


def read_tail(path: Path, n_bytes: int = TAIL_BYTES) -> bytes:
    """The last ``n_bytes`` of a file."""
    with Path(path).open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - n_bytes))
        return fh.read()


def decode_bytes(data: bytes, *, cut_ok: bool = False) -> tuple[str, str] | None:
    """``(text, encoding)`` of a file's bytes, or ``None`` if they are binary (NUL bytes) or
    undecodable: UTF-8, else Windows-1252 when they read as a European text
    (:func:`western_text`), else GB18030, else Windows-1252.

    With ``cut_ok`` (a file's head), a multi-byte character cut at the end is tolerated.
    """
    if b"\x00" in data:
        return None
    for encoding in ENCODINGS:
        if encoding == "gb18030":
            western = western_text(data)
            if western is not None:
                return western, "cp1252"
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            if cut_ok and exc.start >= len(data) - 4:  # a character cut by the head's end
                return data[: exc.start].decode(encoding), encoding
    return None


def decode_head(head: bytes) -> tuple[str, str] | None:
    """:func:`decode_bytes` of a file head (a character cut at its end is tolerated)."""
    return decode_bytes(head, cut_ok=True)


def head_lines(path: Path, n_bytes: int = HEAD_BYTES) -> tuple[list[str], str] | None:
    """Complete lines of a text file's head and the encoding, or ``None`` if not text."""
    head = sniff(path, n_bytes)
    decoded = decode_head(head)
    if decoded is None:
        return None
    text, encoding = decoded
    lines = text.splitlines()
    if len(head) == n_bytes and lines and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line may be cut by the head's end
    return lines, ("utf-8" if encoding == "utf-8-sig" else encoding)


def split_fields(line: str, separator: str) -> list[str]:
    """Fields of one line, stripped of blanks and double quotes."""
    return [f.strip().strip('"').strip() for f in line.split(separator)]


def unique_names(names: Sequence[str]) -> list[str]:
    """Names made unique in order: repeats get ``_2``, ``_3`` (empty names become ``column_N``)."""
    seen: dict[str, int] = {}
    out = []
    for index, raw in enumerate(names, start=1):
        name = raw or f"column_{index}"
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _trimmed_count(fields: list[str]) -> int:
    """Field count without trailing empty fields (``a,b, ,`` has 2)."""
    n = len(fields)
    while n > 0 and not fields[n - 1]:
        n -= 1
    return n


def detect_decimal_comma(rows: list[list[str]]) -> bool:
    """Whether numeric fields use decimal commas (some ``1,5``-style fields and no ``1.5``)."""
    commas = points = 0
    for row in rows:
        for value in row:
            if _DECIMAL_COMMA.match(value):
                commas += 1
            elif _DECIMAL_POINT.match(value):
                points += 1
    return commas > 0 and points == 0


def detect_thousands(rows: list[list[str]], separator: str, decimal_comma: bool) -> str | None:
    """The thousands separator of the numbers, or ``None``: ``,`` when some field is a number
    grouped by commas with a decimal point (``262,923.5000``, ``1,233`` — Maccor exports under
    an English Windows locale, cellpy's ``maccor_txt_three`` configuration), ``.`` when grouped
    by points with a decimal comma (``1.001,5``); never the field separator itself."""
    mark, decimal = (".", ",") if decimal_comma else (",", ".")
    if mark == separator:
        return None
    grouped = re.compile(
        rf"^\s*[-+]?\d{{1,3}}(?:{re.escape(mark)}\d{{3}})+(?:{re.escape(decimal)}\d+)?\s*$"
    )
    return mark if any(grouped.match(value) for row in rows for value in row) else None


def scan_source(path: Path, layout: TextLayout) -> Path | bytes:
    """What the CSV scanner reads for ``path``: the file itself, or its text as UTF-8 bytes in
    memory when it is in another encoding (polars scans UTF-8 only) or its lines are quoted whole
    (``"a,b,c"`` would scan as one field)."""
    source: Path | bytes = path
    if not layout.utf8:
        source = path.read_bytes().decode(layout.encoding, errors="replace").encode("utf-8")
    if layout.line_quoted:
        source = unquoted_lines(source if isinstance(source, bytes) else path.read_bytes())
    return source


def text_scan(path: Path, layout: TextLayout) -> pl.LazyFrame:
    """The data lines of ``path`` as text columns (nothing parsed), to find and quote the
    values a typed scan failed on; read as the typed scan reads it (:func:`scan_source`), so a
    value is located in a file whose lines are quoted whole too."""
    return pl.scan_csv(
        scan_source(path, layout),
        has_header=False,
        separator=layout.separator,
        skip_lines=layout.data_line,
        schema=dict.fromkeys(layout.columns, pl.String),
        extra_columns="ignore",
        missing_columns="insert",
        encoding="utf8-lossy",
    )


def late_thousands(path: Path, layout: TextLayout, numeric: Sequence[str]) -> str | None:
    """The thousands separator of number cells that fail to parse anywhere in the file
    (:func:`detect_thousands` on up to 20 of them per column), for a file whose head showed
    none: a Maccor test's ``Test (Sec)`` reaches ``1,000.0000`` long after the head."""
    text = text_scan(path, layout)
    failing = [
        text.select(pl.col(c).str.strip_chars().alias("v"))
        .filter(
            pl.col("v").str.replace(",", ".", literal=True).cast(pl.Float64, strict=False).is_null()
        )
        .filter(pl.col("v").is_not_null() & ~pl.col("v").is_in(list(PLACEHOLDERS)))
        .head(20)
        for c in numeric
    ]
    if not failing:
        return None
    values = pl.concat(pl.collect_all(failing))["v"].to_list()
    return detect_thousands([values], layout.separator, layout.decimal_comma)


PLACEHOLDERS: Final = ("", "-", "--", "N/A", "n/a", "NA")
"""Cells a tester writes where it has no number (Neware BTS 7 writes a tab and ``-`` for a
missing DCIR, as BEEP's Neware reader notes; Maccor ``N/A``): missing values, not errors."""


def needs_cleaning(lines: list[str], separator: str) -> bool:
    """Whether some cell of ``lines`` has blanks around it or is a non-empty placeholder."""
    for line in lines:
        for cell in line.rstrip("\r\n").split(separator):
            bare = cell.strip().strip('"')
            if bare and (bare in PLACEHOLDERS or cell.strip('"') != bare):
                return True
    return False


def number_text(column: str, layout: TextLayout) -> pl.Expr:
    """The text of a number column ready to cast: blanks around it removed (``3.5 `` — which the
    CSV scanner refuses as a float), thousands separators dropped, a decimal comma made a point,
    :data:`PLACEHOLDERS` null."""
    text = pl.col(column).str.strip_chars()
    if layout.thousands:
        text = text.str.replace_all(layout.thousands, "", literal=True)
    if layout.decimal_comma:
        text = text.str.replace(",", ".", literal=True)
    return text.replace(list(PLACEHOLDERS), None) if layout.clean_numbers else text


def is_line_quoted(line: str, separator: str) -> bool:
    """Whether ``line`` is one quoted string holding separators (``"a,b,c"``), not fields."""
    text = line.strip()
    inner = text[1:-1]
    return len(text) > 1 and text[0] == text[-1] == '"' and '"' not in inner and separator in inner


def unquoted_lines(data: bytes) -> bytes:
    """``data`` with the double quotes around each whole line removed (UTF-8 bytes)."""
    return re.sub(rb'(?m)^"([^"\r\n]*)"(\r?)$', rb"\1\2", data)


def check_field_counts(
    path: Path, lines: list[str], layout: TextLayout, *, n_lines: int = CHECK_LINES
) -> None:
    """Raise if data lines do not split into the header's fields (wrong delimiter, decimal comma).

    Trailing empty fields are ignored (many testers end rows with a separator).
    """
    expected = len(layout.columns)
    body = [ln for ln in lines[layout.data_line : layout.data_line + n_lines] if ln.strip()]
    for offset, line in enumerate(body, start=1):
        fields = split_fields(line, layout.separator)
        count = _trimmed_count(fields)
        if count == 1 and expected > 2:
            raise ReaderError(
                path,
                [
                    Problem(
                        f"1 field where the header has {expected}: the data lines do not use "
                        f"the header's separator {layout.separator!r}; re-export the file with "
                        "one separator",
                        row=offset,
                    )
                ],
            )
        if count > expected:
            hint = (
                "numbers with decimal commas in a comma-separated file"
                if layout.separator == "," and not any("." in f for f in fields)
                else "a wrong separator or an unquoted separator inside a value"
            )
            raise ReaderError(
                path,
                [
                    Problem(
                        f"{count} fields where the header has {expected} (separator "
                        f"{layout.separator!r}): {hint}; re-export with another separator "
                        "or describe the file with a column map",
                        row=offset,
                    )
                ],
            )


def detect_layout(
    path: Path,
    *,
    is_header: Callable[[list[str]], bool],
    separator: str | None = None,
    headerless_names: Sequence[str] | None = None,
    is_headerless_row: Callable[[list[str]], bool] | None = None,
    header_line: int | None = None,
) -> TextLayout | None:
    """The layout of a delimited text file, or ``None`` if it is not one this reader knows.

    Parameters
    ----------
    path : Path
        The file.
    is_header : callable
        Recognises the header from its fields (e.g. "contains the signature columns").
    separator : str, optional
        Fixed separator; detected among tab, ``;``, ``,`` and ``|`` when not given.
    headerless_names : sequence of str, optional
        Column names to use when the file has no header row.
    is_headerless_row : callable, optional
        Recognises a data row of a header-less file (checked on the first line).
    header_line : int, optional
        Known header line (e.g. from BioLogic's "Nb header lines"); searched for otherwise.

    Returns
    -------
    TextLayout or None
    """
    found = head_lines(path)
    if found is None:
        return None
    lines, encoding = found
    if not lines:
        return None
    candidates = (
        [header_line] if header_line is not None else range(min(len(lines), HEADER_SEARCH_LINES))
    )
    for index in candidates:
        if index is None or index >= len(lines):
            continue
        seps = [separator] if separator else separators_of(lines[index])
        for sep in seps:
            fields = split_fields(lines[index], sep)
            if is_header(fields):
                raw = fields[: _trimmed_count(fields)]
                data = lines[index + 1 : index + 1 + CHECK_LINES]
                rows = [split_fields(d, sep) for d in data]
                comma = detect_decimal_comma(rows) if sep != "," else False
                thousands = detect_thousands(rows, sep, comma)
                return TextLayout(
                    header_line=index,
                    data_line=index + 1,
                    separator=sep,
                    decimal_comma=comma,
                    thousands=thousands,
                    clean_numbers=thousands is not None or needs_cleaning(data, sep),
                    line_quoted=is_line_quoted(lines[index], sep),
                    columns=unique_names(raw),
                    raw_columns=raw,
                    preamble=lines[:index],
                    encoding=encoding,
                )
    if headerless_names is not None and is_headerless_row is not None:
        for sep in [separator] if separator else separators_of(lines[0]):
            fields = split_fields(lines[0], sep)
            if is_headerless_row(fields):
                names = list(headerless_names)
                return TextLayout(
                    header_line=None,
                    data_line=0,
                    separator=sep,
                    decimal_comma=False,
                    columns=unique_names(names),
                    raw_columns=names,
                    encoding=encoding,
                )
    return None


def separators_of(line: str) -> list[str]:
    """Separators present in a line, most frequent first."""
    present = [s for s in SEPARATORS if s in line]
    return sorted(present, key=line.count, reverse=True)


def check_last_line(path: Path, layout: TextLayout) -> None:
    """Raise if the file ends in an incomplete line (a cut-off copy or export).

    Compares the field count of the last line with the header's; reads only the last 64 KiB.
    A file that ends with a line break is complete as far as this check can tell.

    Raises
    ------
    ReaderError
        When the last line has fewer fields than the header, or the tail holds NUL bytes.
    """
    tail = read_tail(path)
    if b"\x00" in tail:
        offset = path.stat().st_size - len(tail) + tail.index(b"\x00")
        raise ReaderError(
            path,
            [
                f"binary data (NUL bytes) at byte {offset:,} of a text file: the file is "
                "corrupt or was cut during a copy; copy or export it again"
            ],
        )
    text = tail.decode(layout.encoding if not layout.utf8 else "utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or text.endswith(("\n", "\r")):
        return
    expected = len(layout.columns)
    found = len(split_fields(lines[-1], layout.separator))  # an empty last field counts
    if found < expected:
        raise ReaderError(
            path,
            [
                Problem(
                    f"last line has {found} of {expected} fields and no line end: the file "
                    "looks truncated; copy or export it again"
                )
            ],
        )


def locate_bad_numbers(path: Path, layout: TextLayout, numeric: Sequence[str]) -> list[Problem]:
    """The first value of each numeric column that does not parse as a number, located.

    Called after a typed scan failed, to turn the parser's message into row and column.
    """
    text = text_scan(path, layout)
    problems = []
    for column in numeric:
        bad = (
            text.select(
                number_text(column, layout).alias("v"),
                pl.col(column).str.strip_chars().alias("written"),
            )
            .with_row_index("row", offset=1)
            .filter(pl.col("v").is_not_null())
            .filter(pl.col("v").cast(pl.Float64, strict=False).is_null())
            .head(1)
            .collect()
        )
        if bad.height:
            row, _, value = bad.row(0)  # the value as the file writes it
            problems.append(
                Problem(
                    f"{value!r} is not a number (line {row + layout.data_line} of the file); "
                    "fix or remove the line, or check the separator and decimal mark",
                    row=int(row),
                    column=layout.raw_columns[layout.columns.index(column)],
                )
            )
    return problems
