"""The sample table: what every SOH estimator is trained, evaluated and applied on.

One row per measurement of one unit (a pulse test at one SOC, one impedance spectrum, one partial
charge). Common columns (names are contracts; units in the names):

=======================  ======  ===========================================================
column                   type    meaning
=======================  ======  ===========================================================
``sample_id``            str     unique id of the row (required)
``cell_id``              str     the physical unit measured; splits never put one unit on both
                                 sides (default: ``sample_id``)
``chemistry``            str     catalogue chemistry (``LFP``, ``NMC622``, ``LMO`` …; required)
``nominal_capacity_ah``  f64     rated capacity [A·h] (required)
``soc_percent``          f64     SOC at the test [%], when known (``soc`` splits, domain check)
``soh_percent``          f64     label: measured ÷ rated capacity × 100 (training, evaluation)
``batch``                str     a delivery of one make/model (calibration, batch domain check)
``source``               str     file the row came from
=======================  ======  ===========================================================

Each method adds its own feature columns (``u1_v`` … for pulses, spectra for EIS, …; see
:mod:`echelon.estimation.methods`). :func:`validate_samples` checks a table once, at the boundary,
and reports every bad row and column together.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

import polars as pl

from echelon.catalog import chemistry as chemistry_record
from echelon.domain.plausible import PLAUSIBLE, implausible_cells
from echelon.errors import Problem, SchemaError, parse_numbers, problems_at, row_problems

SAMPLE_ID: Final = "sample_id"
CELL_ID: Final = "cell_id"
CHEMISTRY: Final = "chemistry"
NOMINAL: Final = "nominal_capacity_ah"
SOC: Final = "soc_percent"
SOC_GRID_PERCENT: Final = 5.0
"""SOC levels are compared on the 5 % grid of PulseBat-style protocols (Tao et al. 2024)."""
SOH: Final = "soh_percent"
BATCH: Final = "batch"
SOURCE: Final = "source"
TEMPERATURE: Final = "temperature_c"
"""Optional (required by the EIS method): cell temperature during the test [°C]."""
FORMAT: Final = "format_key"
"""Derived: ``<chemistry>-<nominal capacity>Ah``, one cell model/format (Mondrian intervals)."""
COMMON: Final = (SAMPLE_ID, CELL_ID, CHEMISTRY, NOMINAL, SOC, SOH, BATCH, SOURCE)
LABELS_NEEDED: Final = "labels are needed to train or evaluate"
EMPTY_LABEL: Final = f"is empty: give the measured SOH ({LABELS_NEEDED})"
"""What an empty ``soh_percent`` cell is told when labels are needed."""
SOH_BOUNDS: Final = (0.0, 150.0)
"""Every SOH estimate and interval bound is clipped to this range [%]."""
SOC_RANGE: Final = (0.0, 100.0)
"""Range of ``soc_percent`` [%]: SOC's definition, not a sanity bound, so not a column of
:data:`echelon.domain.plausible.PLAUSIBLE` (which holds ``nominal_capacity_ah`` and
``soh_percent``); no unit mistake shows in it, as a fraction (0.5) is also a valid SOC (0.5 %)."""


def format_key() -> pl.Expr:
    """``<chemistry>-<nominal capacity [A·h], 3 significant decimals>Ah`` of each row."""
    return pl.col(CHEMISTRY) + "-" + pl.col(NOMINAL).round(3).cast(pl.String) + "Ah"


def family_of(name: str) -> str:
    """Chemistry family of a catalogue chemistry spelling (``NMC622`` → ``NMC``).

    Raises
    ------
    ValueError
        For an unknown spelling (with the closest known name).
    """
    return chemistry_record(name).family


def _numbers(frame: pl.DataFrame, column: str) -> tuple[pl.Series | None, pl.Series, list[Problem]]:
    """A column as Float64 (text parsed; ``None`` for a non-numeric type), where a cell is given,
    and the problems of its cells that are not numbers."""
    values = frame.get_column(column)
    if values.dtype == pl.String:
        text = values.str.strip_chars()
        numbers, problems = parse_numbers(values)
        return numbers, text.is_not_null() & (text != ""), problems
    if not values.dtype.is_numeric():
        problem = Problem(f"has type {values.dtype}, expected numbers", column=column)
        return None, values.is_not_null(), [problem]
    return values.cast(pl.Float64), values.is_not_null(), []


def numeric_problems(
    frame: pl.DataFrame, columns: Iterable[str], lo: float, hi: float, *, required: bool
) -> list[Problem]:
    """Problems for cells of ``columns`` that are non-numeric, NaN, or outside ``[lo, hi]``.

    For a column of :data:`echelon.domain.plausible.PLAUSIBLE` use :func:`plausible_problems`
    (the same range and unit-mistake hint as every other reader).
    """
    out: list[Problem] = []
    for column in columns:
        if column not in frame.columns:
            continue
        values, _, problems = _numbers(frame, column)
        out += problems
        if values is None:
            continue
        invalid = values.is_nan() | (values < lo) | (values > hi)
        if required:
            invalid = invalid | values.is_null()
        span = f"outside [{lo:g}, {hi:g}]"
        out += row_problems(
            values, invalid, f"is missing, NaN or {span}" if required else f"is {span}"
        )
    return out


def plausible_problems(frame: pl.DataFrame, column: str, *, missing: str | None) -> list[Problem]:
    """Problems for a column of :data:`echelon.domain.plausible.PLAUSIBLE`.

    Parameters
    ----------
    frame : pl.DataFrame
        Sample table (a column it lacks has no problems).
    column : str
        E.g. ``nominal_capacity_ah``, ``soh_percent``, ``measured_capacity_ah``.
    missing : str or None
        What to say of an empty cell (e.g. ``"is empty: give the rated capacity [A·h]"``), or
        ``None`` when the column may be empty.

    Returns
    -------
    list of Problem
        Cells that are not numbers, empty (when required), or outside the plausible range with
        the likely unit mistake (``"0.9 outside the plausible range [1.5, 150] (wrong unit? SOH
        written as a fraction: write 90)"``, as the intake manifest and ``echelon grade`` say).
    """
    if column not in frame.columns:
        return []
    values, given, out = _numbers(frame, column)
    if values is None:
        return out
    out += implausible_cells(values, PLAUSIBLE[column])
    if missing is not None:
        out += row_problems(values, ~given, missing)
    return out


def validate_samples(
    frame: pl.DataFrame,
    *,
    feature_problems: list[Problem] | None = None,
    labelled: bool = False,
    source: Path | str = "<samples>",
) -> pl.DataFrame:
    """Check the common columns and return the table with normalised types.

    Parameters
    ----------
    frame : pl.DataFrame
        Sample table.
    feature_problems : list of Problem, optional
        Problems the method found in its own columns (reported together with these).
    labelled : bool
        Require ``soh_percent`` on every row (training, evaluation).
    source : path-like or str
        Named in the error.

    Returns
    -------
    pl.DataFrame
        ``cell_id`` filled from ``sample_id`` when absent, ``format_key`` added, ``batch``
        set to it when absent, numeric columns as Float64, ``chemistry`` in its catalogue
        spelling.

    Raises
    ------
    SchemaError
        Listing every problem (missing columns, duplicate ids, unknown chemistries with a
        suggestion, NaN or implausible values — rated capacity and SOH with the likely unit
        mistake, as in :mod:`echelon.domain.plausible` —, missing labels) at once.
    """
    problems: list[Problem] = list(feature_problems or [])
    required = [SAMPLE_ID, CHEMISTRY, NOMINAL] + ([SOH] if labelled else [])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        hint = f" ({LABELS_NEEDED})" if SOH in missing else ""
        problems.insert(0, Problem(f"missing required column(s) {missing}{hint}"))
        raise SchemaError(source, problems)
    if frame.height == 0:
        raise SchemaError(source, ["the table has no rows", *problems])
    found, canonical = _common_problems(frame, labelled=labelled)
    problems += found
    if problems:
        raise SchemaError(source, problems)
    ids = frame.get_column(SAMPLE_ID).cast(pl.String)
    names = frame.get_column(CHEMISTRY).cast(pl.String)
    out = frame.with_columns(
        ids.alias(SAMPLE_ID),
        names.replace_strict(canonical, default=None).alias(CHEMISTRY),
        *(
            pl.col(c).cast(pl.String).str.strip_chars().cast(pl.Float64)
            if frame.get_column(c).dtype == pl.String
            else pl.col(c).cast(pl.Float64)
            for c in (NOMINAL, SOC, SOH)
            if c in frame.columns
        ),
    )
    if CELL_ID not in out.columns:
        out = out.with_columns(pl.col(SAMPLE_ID).alias(CELL_ID))
    out = out.with_columns(format_key().alias(FORMAT))
    if BATCH not in out.columns:
        out = out.with_columns(pl.col(FORMAT).alias(BATCH))
    batch = pl.col(BATCH).cast(pl.String)  # an empty cell: the default too, not "None"
    batch = pl.when(batch.str.strip_chars() == "").then(None).otherwise(batch)
    return out.with_columns(
        pl.col(CELL_ID).cast(pl.String), batch.fill_null(pl.col(FORMAT)).alias(BATCH)
    )


def sample_problems(frame: pl.DataFrame, *, labelled: bool = False) -> list[Problem]:
    """What :func:`validate_samples` refuses in the common columns of a table with every
    required column (empty or repeated ids, unknown chemistries, rated capacity, SOC and SOH
    cells; empty SOH cells when ``labelled``), listed rather than raised, for readers that name
    the file's own rows."""
    return _common_problems(frame, labelled=labelled)[0]


def _common_problems(
    frame: pl.DataFrame, *, labelled: bool
) -> tuple[list[Problem], dict[str, str]]:
    """Problems of the common columns, and each chemistry spelling's catalogue name."""
    problems: list[Problem] = []
    ids = frame.get_column(SAMPLE_ID).cast(pl.String)
    problems += row_problems(ids, ids.is_null() | ids.is_duplicated(), "is empty or repeated")
    names = frame.get_column(CHEMISTRY).cast(pl.String)
    canonical: dict[str, str] = {}
    for name in names.unique().drop_nulls().to_list():
        try:
            canonical[name] = chemistry_record(name).name.value
        except ValueError as exc:
            first = problems_at(names, name)
            problems.append(Problem(str(exc), row=first, column=CHEMISTRY))
    problems += row_problems(names, names.is_null(), "is empty: give the chemistry")
    problems += plausible_problems(
        frame, NOMINAL, missing="is empty: give the rated capacity [A·h]"
    )
    problems += numeric_problems(frame, [SOC], *SOC_RANGE, required=False)
    problems += plausible_problems(frame, SOH, missing=EMPTY_LABEL if labelled else None)
    return problems, canonical


def text_problems(frame: pl.DataFrame, columns: Iterable[str]) -> list[Problem]:
    """Cells of ``columns`` (those ``frame`` has) that hold text other than a number."""
    return [p for c in columns if c in frame.columns for p in _numbers(frame, c)[2]]
