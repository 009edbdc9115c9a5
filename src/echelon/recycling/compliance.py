"""EU Batteries Regulation (EU) 2023/1542: recycling efficiency, material recovery, recycled
content.

* **Recycling efficiency** (Art. 71, Annex XII Part B, lithium-based batteries): recycled mass ÷
  input mass of the lot — 65 % by 31 Dec 2025, 70 % by 31 Dec 2030.
* **Recovery of materials** (Annex XII Part C): recovered ÷ input of Co, Cu, Ni (90 % by 31 Dec
  2027, 95 % by 31 Dec 2031) and Li (50 % → 80 %).
* **Recycled content** (Art. 8(2)–(3)): minimum shares of recycled Co, Li, Ni (and Pb) in new
  industrial > 2 kWh, EV, SLI and LMT batteries from 18 Aug 2031 and 18 Aug 2036.

Recycled and recovered masses count what originates from the batteries (the lithium of Li2CO3, the
metal of a sulphate, a relithiated cathode as itself), and a target "by 31 Dec YYYY" is checked for
reporting years after YYYY (see the ``eu_battery_regulation`` table for both assumptions).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from echelon.catalog import resolve_chemistry
from echelon.errors import UsageError
from echelon.recycling.catalog import Regulation, Target, regulation
from echelon.recycling.composition import active_material_elements, element_table

COMPLIANCE_SCHEMA = {
    "metric": pl.String,
    "element": pl.String,
    "reporting_year": pl.Int64,
    "input_kg": pl.Float64,
    "recovered_kg": pl.Float64,
    "value_percent": pl.Float64,
    "target_percent": pl.Float64,
    "target_deadline": pl.String,
    "verdict": pl.String,
    "margin_points": pl.Float64,
    "next_target_percent": pl.Float64,
    "next_deadline": pl.String,
    "next_verdict": pl.String,
    "source": pl.String,
}
"""Columns of ``compliance.csv``."""
DECIMALS = 6
"""Percentages are compared after rounding to this many decimals (a 90.0 % yield meets 90 %)."""
REPORTING_YEARS = (2000, 2100)
"""First and last reporting year accepted (the Regulation's targets run 2025–2031, the packaged
prices are dated 2023; a year outside is a typo, and ``0`` is not "this year")."""


def reporting_year(year: int | None, *, name: str = "year", what: str = "reporting year") -> int:
    """The reporting year to use: ``year``, or this year when None.

    Parameters
    ----------
    year : int or None
        The year given.
    name, what : str
        The option's name and what the year is, for the message (``price_year``, ``price
        year``: the year a flow forecast's prices are dated by, in the same range).

    Raises
    ------
    UsageError
        For a year outside :data:`REPORTING_YEARS` (the option and the range named).
    """
    if year is None:
        return dt.date.today().year
    first, last = REPORTING_YEARS
    if isinstance(year, bool) or not isinstance(year, int) or not first <= year <= last:
        raise UsageError(f"{name}={year!r}: give a {what} from {first} to {last}")
    return year


def percent_text(value: float | None, *targets: float | None) -> str:
    """A percentage as shown beside its targets, never on the wrong side of one.

    One decimal; two within 0.1 points of a target; more while fewer would round the value onto
    or across a target it is on the other side of (64.97 % against 65 % is "64.97", not "65.0",
    which reads as a pass). Empty for None.
    """
    if value is None:
        return ""
    given = [t for t in targets if t is not None]
    meets = [round(value, DECIMALS) >= t for t in given]
    decimals = 2 if any(abs(value - t) < 0.1 for t in given) else 1
    while decimals < DECIMALS and any(
        (round(value, decimals) >= t) != m for t, m in zip(given, meets, strict=True)
    ):
        decimals += 1
    return f"{value:.{decimals}f}"


def result_text(row: Mapping[str, Any]) -> str:
    """A compliance row's result as shown (:func:`percent_text` against its two targets)."""
    return percent_text(row["value_percent"], row["target_percent"], row["next_target_percent"])


def margin_text(margin: float | None) -> str:
    """The margin to a target in points, signed: ``−0.03 points``, ``+28.10 points``."""
    if margin is None:
        return ""
    size = abs(round(margin, DECIMALS))  # as the verdict compares
    if size == 0:
        return "±0 points"
    decimals = 1 if size >= 0.1 else 2
    while round(size, decimals) == 0:
        decimals += 1
    return f"{'−' if margin < 0 else '+'}{size:.{decimals}f} points"


def binding_target(targets: tuple[Target, ...], year: int) -> tuple[Target | None, Target | None]:
    """(target binding in reporting ``year``, next target) — a deadline year Y binds from Y + 1."""
    binding = [t for t in targets if t.date.year < year]
    upcoming = [t for t in targets if t.date.year >= year]
    return (binding[-1] if binding else None), (upcoming[0] if upcoming else None)


def _verdict(value: float | None, target: Target | None) -> str:
    if value is None:
        return "not_applicable"
    if target is None:
        return "no_target"
    return "pass" if round(value, DECIMALS) >= target.percent else "fail"


def _row(
    metric: str,
    element: str,
    year: int,
    input_kg: float,
    recovered_kg: float,
    targets: tuple[Target, ...],
    *,
    applicable: bool,
) -> dict[str, object]:
    value = 100.0 * recovered_kg / input_kg if input_kg > 0 and applicable else None
    target, upcoming = binding_target(targets, year)
    verdict = _verdict(value, target)
    if value is not None and target is None:
        verdict = "not_yet_binding"
    source = (target or upcoming or targets[-1]).source
    return {
        "metric": metric,
        "element": element,
        "reporting_year": year,
        "input_kg": input_kg,
        "recovered_kg": recovered_kg,
        "value_percent": value,
        "target_percent": target.percent if target else None,
        "target_deadline": target.date.isoformat() if target else None,
        "verdict": verdict,
        "margin_points": None if value is None or target is None else value - target.percent,
        "next_target_percent": upcoming.percent if upcoming else None,
        "next_deadline": upcoming.date.isoformat() if upcoming else None,
        "next_verdict": _verdict(value, upcoming) if upcoming else None,
        "source": source,
    }


def compliance_frame(
    mass_balance: pl.DataFrame,
    *,
    year: int,
    applicable: bool = True,
    catalog_dir: Path | None = None,
) -> pl.DataFrame:
    """Verdicts of a lot (or of all lots of a reporting year) against Annex XII.

    Parameters
    ----------
    mass_balance : pl.DataFrame
        ``kind``, ``material``, ``input_kg``, ``recovered_kg`` rows (materials and elements).
    year : int
        Reporting year.
    applicable : bool
        ``False`` when the lot's product is an intermediate (black mass sold on): verdicts are
        ``not_applicable`` because recycling finishes elsewhere.
    catalog_dir : Path, optional

    Returns
    -------
    pl.DataFrame
        One row per metric (columns :data:`COMPLIANCE_SCHEMA`).
    """
    reg = regulation(catalog_dir)
    materials = mass_balance.filter(pl.col("kind") == "material")
    rows = [
        _row(
            "recycling_efficiency",
            "",
            year,
            float(materials.get_column("input_kg").sum()),
            float(materials.get_column("recovered_kg").sum()),
            reg.recycling_efficiency,
            applicable=applicable,
        )
    ]
    elements = mass_balance.filter(pl.col("kind") == "element")
    for element, targets in reg.material_recovery.items():
        row = elements.filter(pl.col("material") == element)
        input_kg = float(row.get_column("input_kg").sum())
        recovered = float(row.get_column("recovered_kg").sum())
        rows.append(
            _row(
                "material_recovery",
                element,
                year,
                input_kg,
                recovered,
                targets,
                applicable=applicable,
            )
        )
    return pl.DataFrame(rows, schema=COMPLIANCE_SCHEMA)


def recycled_content_minimums(on: dt.date, *, catalog_dir: Path | None = None) -> dict[str, float]:
    """Minimum recycled-content shares [%] for lithium-based batteries placed on the market on a
    date (empty before 18 Aug 2031). The lead minimum is for lead-based batteries: not here."""
    reg = regulation(catalog_dir)
    out = {}
    for element in _lithium_based(reg):
        in_force = [t for t in reg.recycled_content[element] if t.date <= on]
        if in_force:
            out[element] = in_force[-1].percent
    return out


def _lithium_based(reg: Regulation) -> list[str]:
    """Elements whose recycled-content minimum is for lithium-based batteries (not Pb), in the
    table's order."""
    return [
        e for e in reg.recycled_content if reg.recycled_content_batteries.get(e) != "lead-based"
    ]


def _checked_shares(shares: Mapping[str, float], elements: Iterable[str]) -> dict[str, float]:
    """``shares`` as floats, refusing unknown elements and shares that are not in 0–100 %."""
    known = sorted(elements)
    unknown = [e for e in shares if e not in known]
    bad = []
    for element, share in shares.items():
        try:
            number = float(share)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(share, bool) or not 0.0 <= number <= 100.0:  # NaN fails too
            bad.append(f"{element} {share!r}")
    problems = []
    if unknown:
        problems.append(
            f"no Art. 8 recycled-content minimum for {', '.join(map(repr, unknown))}; give "
            f"shares of {', '.join(known)}"
        )
    if bad:
        problems.append(f"shares are percentages from 0 to 100: {', '.join(bad)}")
    if problems:
        raise UsageError("recycled_content_check: " + "; ".join(problems))
    return {e: float(v) for e, v in shares.items()}


def recycled_content_check(
    shares_percent: Mapping[str, float],
    *,
    placed_on_market: dt.date,
    chemistry: str | None = None,
    catalog_dir: Path | None = None,
) -> pl.DataFrame:
    """Compare a lithium-based battery model's recycled-content shares with the Art. 8 minimums.

    Parameters
    ----------
    shares_percent : mapping
        Recycled share per element [%] (``{"Co": 18.0, "Li": 7.5, "Ni": 6.2}``), each from 0 to
        100, for elements with an Art. 8 minimum (Co, Li, Ni; Pb).
    placed_on_market : date
        Date the battery is placed on the market.
    chemistry : str, optional
        The model's chemistry (any accepted spelling: ``LFP``, ``LiFePO4``, ``NCM811``):
        an element its active materials do not hold (Co and Ni of LFP or LMO) is
        ``not_applicable`` rather than ``missing``. Without it (or for ``unknown``), every
        lithium-battery minimum applies.

    Returns
    -------
    pl.DataFrame
        ``element``, ``share_percent``, ``minimum_percent``, ``verdict`` (``pass``, ``fail``,
        ``no_minimum`` before the dates, ``missing`` when a required share is not given,
        ``not_applicable`` for an element the battery's active materials hold none of — a Pb
        share: the lead minimum is for lead-based batteries, whose active materials hold lead;
        the Co and Ni of an LFP battery — ``eu_battery_regulation``, an assumption noted there),
        ``reason`` (why a row is ``not_applicable``, e.g. ``no Co in the active material``).

    Raises
    ------
    UsageError
        Naming every element without an Art. 8 minimum and every share outside 0–100 (or not a
        number), or a chemistry that is not known.
    """
    reg = regulation(catalog_dir)
    shares = _checked_shares(shares_percent, reg.recycled_content)
    minimums = recycled_content_minimums(placed_on_market, catalog_dir=catalog_dir)
    lithium = set(_lithium_based(reg))
    held = _active_elements(chemistry, catalog_dir)
    rows = []
    for element in sorted(lithium | set(shares)):
        share = shares.get(element)
        minimum = minimums.get(element)
        reason = None
        if element not in lithium:
            verdict, reason = "not_applicable", "the lead minimum is for lead-based batteries"
        elif held is not None and element not in held:
            verdict, reason, minimum = (
                "not_applicable",
                f"no {element} in the active material",
                None,
            )
        elif minimum is None:
            verdict = "no_minimum"
        elif share is None:
            verdict = "missing"
        else:
            verdict = "pass" if round(share, DECIMALS) >= minimum else "fail"
        rows.append(
            {
                "element": element,
                "share_percent": share,
                "minimum_percent": minimum,
                "verdict": verdict,
                "reason": reason,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "element": pl.String,
            "share_percent": pl.Float64,
            "minimum_percent": pl.Float64,
            "verdict": pl.String,
            "reason": pl.String,
        },
    )


def _active_elements(chemistry: str | None, catalog_dir: Path | None) -> frozenset[str] | None:
    """The elements ``chemistry``'s active materials hold (None: not given, or not known)."""
    if chemistry is None:
        return None
    try:
        key = resolve_chemistry(chemistry, catalog_dir=catalog_dir).value
    except ValueError as exc:
        raise UsageError(f"recycled_content_check: chemistry={chemistry!r}: {exc}") from None
    return active_material_elements(key, catalog_dir=catalog_dir)


def recycled_content_supply(
    recovered_kg: Mapping[str, float],
    *,
    chemistry: str,
    on: dt.date,
    level: str = "pack",
    catalog_dir: Path | None = None,
) -> pl.DataFrame:
    """kWh of new batteries the recovered metals could bring to the recycled-content minimum.

    For each element with a minimum in force on ``on``: kWh = recovered kg ÷ (kg of the element per
    kWh of a new ``chemistry`` battery at ``level`` × minimum share).

    Returns
    -------
    pl.DataFrame
        ``element``, ``recovered_kg``, ``kg_per_kwh``, ``minimum_percent``, ``kwh_supplied``.
    """
    minimums = recycled_content_minimums(on, catalog_dir=catalog_dir)
    contents = element_table(level=level, chemistries=[chemistry], catalog_dir=catalog_dir)
    per_kwh = dict(zip(contents["element"], contents["kg_per_kwh"], strict=True))
    rows = []
    for element, minimum in sorted(minimums.items()):
        need = per_kwh.get(element, 0.0) * minimum / 100.0
        got = recovered_kg.get(element, 0.0)
        rows.append(
            {
                "element": element,
                "recovered_kg": got,
                "kg_per_kwh": per_kwh.get(element, 0.0),
                "minimum_percent": minimum,
                "kwh_supplied": got / need if need > 0 else None,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "element": pl.String,
            "recovered_kg": pl.Float64,
            "kg_per_kwh": pl.Float64,
            "minimum_percent": pl.Float64,
            "kwh_supplied": pl.Float64,
        },
    )
