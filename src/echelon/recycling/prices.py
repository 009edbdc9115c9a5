"""Dated, overridable prices: recovered products, metals, reagents, utilities, payables, feed price.

The default set is the ``recycling_prices`` catalogue table (EverBatt 2023 defaults, USD of 2020).
An override file replaces or adds items:

TOML
    ``[price.<item>]`` tables with ``value``, ``source``, ``as_of`` (and ``unit``), optionally
    several ``[[price.<item>.dated]]`` entries; ``[payable.<chemistry>]`` and ``[feed_price]``
    like the table.
CSV
    columns ``item``, ``value``, ``source``, ``as_of`` and optionally ``unit`` — repeat an item
    with different ``as_of`` dates for a price history.

Every price carries a source and a date; a price per another mass unit is converted exactly to
the catalogue's unit (anything else is refused); prices are ≥ 0, payables and shares fractions;
unknown keys and a repeated item + date are refused (docs/recycling.md, "Value").

For a reporting year, each item takes its latest entry dated on or before 31 December of that year
(the earliest entry, with a note, if all are later).
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from echelon.catalog import resolve_table_path
from echelon.catalog._loader import load_toml_file, packaged_table_path
from echelon.catalog.models import as_of_date
from echelon.domain.parse import suggest
from echelon.errors import EchelonWarning, PriceError, Problem, SchemaError
from echelon.io.table import read_table
from echelon.recycling.catalog import composition_catalog
from echelon.recycling.compliance import reporting_year

PAYABLE_KEYS = ("ni", "co", "li")
SHARE_KEYS = ("battery_share_of_co_ni_value", "black_mass_share_of_co_ni_value")
_PRICE_KEYS = ("value", "unit", "source", "as_of", "basis")


@dataclass(frozen=True)
class PriceEntry:
    """One dated price."""

    item: str
    value: float
    unit: str
    source: str
    as_of: str
    given_value: float | None = None
    """The value as an override file wrote it, in ``given_unit`` (None: a catalogue price)."""
    given_unit: str | None = None

    @property
    def date(self) -> dt.date:
        """``as_of`` as a date (a bare year means 1 January of that year)."""
        return as_of_date(self.as_of)

    @property
    def provenance(self) -> str:
        """``<source>, as of <as_of>`` (the source of a converted price says what was given)."""
        return f"{self.source}, as of {self.as_of}" if self.as_of else self.source


@dataclass(frozen=True)
class PriceTable:
    """Prices selected for one reporting year.

    Attributes
    ----------
    entries : dict of str to PriceEntry
    payables : dict
        ``{chemistry or "default": {"ni", "co", "li": fraction}}``.
    lce_kg_per_kg_li : float
        Li → Li2CO3 equivalent factor for lithium payables.
    battery_share, black_mass_share : float
        EverBatt feed-price rule: share of contained Co + Ni value paid for batteries / black mass.
    fixed_feed_usd_per_kg : dict
        Chemistries with a fixed feed price (EverBatt: LFP −2 USD/kg).
    origin : str
        Where the prices came from: the table's version, the catalogue folder's file when the
        table is not the packaged one, the override file.
    units : dict
        Conversions the prices need (``kg_per_short_ton``, ``mj_per_mmbtu``, ``mj_per_kwh``).
    notes : tuple of str
        Selection notes (e.g. a price dated after the reporting year, an implausible price).
    overrides : tuple of PriceEntry
        Every price the override file gave, in file order (each dated entry of a history).
    """

    entries: dict[str, PriceEntry]
    payables: dict[str, dict[str, float]]
    lce_kg_per_kg_li: float
    battery_share: float
    black_mass_share: float
    fixed_feed_usd_per_kg: dict[str, float]
    origin: str
    units: dict[str, float]
    notes: tuple[str, ...] = field(default_factory=tuple)
    overrides: tuple[PriceEntry, ...] = field(default_factory=tuple)

    def price(self, item: str) -> float:
        """Price of an item [USD per its unit].

        Raises
        ------
        PriceError
            If the table has no price for the item.
        """
        entry = self.entries.get(item)
        if entry is None:
            raise PriceError(
                f"no price for {item!r} in {self.origin}{suggest(item, self.entries)}; add it to "
                "your --prices file (item, value) or to the recycling_prices table"
            )
        return entry.value

    def payable(self, chemistry: str) -> dict[str, float]:
        """Black-mass payables (fractions of the metal value) for a chemistry."""
        return self.payables.get(chemistry, self.payables["default"])

    def override_records(self) -> list[dict[str, Any]]:
        """The override file's prices as records (for ``lot.json``).

        Returns
        -------
        list of dict
            ``item``; ``value`` and ``unit``: as used, in the catalogue's unit; ``value_given``
            and ``unit_given``: as the file wrote them; ``source``; ``as_of``; ``used``: the
            entry is the item's price for the reporting year.
        """
        return [
            {
                "item": e.item,
                "value": e.value,
                "unit": e.unit,
                "value_given": e.given_value,
                "unit_given": e.given_unit,
                "source": e.source,
                "as_of": e.as_of,
                "used": self.entries.get(e.item) is e,
            }
            for e in self.overrides
        ]

    def frame(self) -> pl.DataFrame:
        """The selected prices as a table (``item``, ``value``, ``unit``, ``as_of``, ``source``)."""
        return pl.DataFrame(
            [
                {
                    "item": e.item,
                    "value": e.value,
                    "unit": e.unit,
                    "as_of": e.as_of,
                    "source": e.source,
                }
                for e in sorted(self.entries.values(), key=lambda e: e.item)
            ],
            schema={
                "item": pl.String,
                "value": pl.Float64,
                "unit": pl.String,
                "as_of": pl.String,
                "source": pl.String,
            },
        )


def _entries_of(
    item: str, body: Mapping[str, Any], default_unit: str, origin: str
) -> list[PriceEntry]:
    """The catalogue's entries for an item (a value and/or ``dated`` entries)."""
    dated = list(body.get("dated", []))
    if "value" in body:
        dated.append(body)
    for d in dated:
        if not _finite(d.get("value")):
            raise PriceError(f"{origin}: price {item!r} has no finite value ({d.get('value')!r})")
    return [
        PriceEntry(
            item,
            float(d["value"]),
            str(d.get("unit", body.get("unit", default_unit))),
            str(d.get("source", body.get("source", origin))),
            str(d.get("as_of", body.get("as_of", ""))),
        )
        for d in dated
    ]


def _finite(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _unknown_keys(keys: Iterable[str], allowed: Iterable[str], where: str) -> list[Problem]:
    allowed = list(allowed)
    return [
        Problem(
            f"unknown key {key!r}{suggest(key, allowed)}; use {', '.join(allowed)}",
            column=f"{where}.{key}" if where else key,
        )
        for key in keys
        if key not in allowed
    ]


def _provenance(
    source: Any, as_of: Any, *, row: int | None, where: str
) -> tuple[list[Problem], dt.date | None]:
    """Problems with a price's ``source`` and ``as_of``, and the date when it is valid."""
    problems = []
    if not str(source or "").strip():
        problems.append(
            Problem(
                "no source: every price names where it comes from (a contract, quote or index)",
                row=row,
                column=f"{where}source",
            )
        )
    text = str(as_of or "").strip()
    if not text:
        problems.append(
            Problem(
                "no as_of date: every price carries the date it holds for (YYYY, YYYY-MM or "
                "YYYY-MM-DD)",
                row=row,
                column=f"{where}as_of",
            )
        )
        return problems, None
    try:
        return problems, as_of_date(text)
    except ValueError as exc:
        problems.append(Problem(str(exc), row=row, column=f"{where}as_of"))
        return problems, None


MASS_UNITS_KG = {"kg": 1.0, "g": 1e-3, "t": 1000.0, "tonne": 1000.0, "lb": 0.45359237}
"""Mass units a price may be given per [kg]: exact by definition (lb: international pound);
``short ton`` is the catalogue's ``units.kg_per_short_ton``."""


def _split_unit(unit: str, masses: Mapping[str, float]) -> tuple[str, str | None, str]:
    """``"USD/t Co"`` → (``"USD"``, ``"t"``, ``"Co"``); a unit not per mass → (currency, None,
    the rest, e.g. ``"kWh"``)."""
    currency, _, per = (" ".join(unit.split())).partition("/")
    per = per.strip()
    for mass in sorted(masses, key=len, reverse=True):
        if per.lower() == mass or per.lower().startswith(mass + " "):
            return currency.strip().upper(), mass, per[len(mass) :].strip()
    return currency.strip().upper(), None, per


def _in_unit(
    value: float, unit: str, target: str, masses: Mapping[str, float]
) -> tuple[float, str | None]:
    """``value`` [``unit``] converted to ``target`` (mass units only), or a problem message."""
    currency, mass, basis = _split_unit(unit, masses)
    want_currency, want_mass, want_basis = _split_unit(target, masses)
    if currency != want_currency:
        return value, (
            f"unit {unit!r}: prices are in {want_currency} (the catalogue's currency); convert "
            f"to {target}"
        )
    if want_mass is None or mass is None:
        if (mass, basis.lower()) == (want_mass, want_basis.lower()):
            return value, None
        return value, (
            f"unit {unit!r} is not the catalogue's {target!r}; only mass units "
            f"({', '.join(masses)}) are converted"
        )
    if basis.lower() != want_basis.lower():
        per = f"kg of {want_basis}" if want_basis else "kg of the product itself"
        return value, (
            f"unit {unit!r}: this item is priced per {per} ({target}); write USD/<mass>"
            f"{' ' + want_basis if want_basis else ''}"
        )
    return value * masses[want_mass] / masses[mass], None


@dataclass(frozen=True)
class _Context:
    """What an override is checked against: the catalogue's items and units, chemistries."""

    units: Mapping[str, str]
    masses: Mapping[str, float]
    chemistries: frozenset[str]


def _price_entry(
    item: str, entry: Mapping[str, Any], ctx: _Context, *, row: int | None, where: str
) -> tuple[PriceEntry | None, dt.date | None, list[Problem]]:
    """One checked override price, in the catalogue's unit, with its date and problems."""
    value = entry.get("value")
    problems, date = _provenance(entry.get("source"), entry.get("as_of"), row=row, where=where)
    target = ctx.units.get(item, "USD/kg")
    if value is None or not _finite(value):  # (None: for the type checker)
        problems.append(Problem(_no_number(value, target), row=row, column=f"{where}value"))
        return None, date, problems
    if float(value) < 0:
        problems.append(
            Problem(
                f"negative price {float(value)}; prices are ≥ 0 (a feed the recycler is paid "
                "to take goes in [feed_price] fixed_usd_per_kg)",
                row=row,
                column=f"{where}value",
            )
        )
    unit = str(entry.get("unit") or target).strip()
    number, message = _in_unit(float(value), unit, target, ctx.masses)
    if message is not None:
        problems.append(Problem(message, row=row, column=f"{where}unit"))
    if problems:
        return None, date, problems
    source = str(entry["source"]).strip()
    if unit != target:
        source += f" (given as {float(value):g} {unit})"
    as_of = str(entry["as_of"]).strip()
    price = PriceEntry(item, number, target, source, as_of, float(value), unit)
    return price, date, []


def _no_number(value: Any, unit: str | None = None) -> str:
    """What is wrong with a price or fraction that is not a finite number."""
    if value is None or not str(value).strip():
        return f"no value: give a number{f' in {unit}' if unit else ''}"
    return f"{value!r} is not a finite number"


PLAUSIBLE_FACTOR = 100.0
"""An override more than this many times above or below every catalogue price of its item is
noted as implausible (a price per tonne written per kg is 1,000× too high)."""


def _implausible(
    given: Mapping[str, list[PriceEntry]], catalogue: Mapping[str, list[PriceEntry]]
) -> list[str]:
    """One note per override price more than :data:`PLAUSIBLE_FACTOR` × off every catalogue
    price of its item (both in the catalogue's unit), with the likely unit slip."""
    notes = []
    for item, entries in given.items():
        known = [e.value for e in catalogue.get(item, []) if e.value > 0]
        for entry in entries:
            if not known or entry.value <= 0:
                continue
            ratio = min((entry.value / k for k in known), key=lambda r: abs(math.log(r)))
            if 1 / PLAUSIBLE_FACTOR <= ratio <= PLAUSIBLE_FACTOR:
                continue
            near = min(known, key=lambda k: abs(math.log(entry.value / k)))
            slip = "per tonne written per kg" if ratio > 1 else "per kg written per tonne"
            as_given = f"{entry.given_value:g} {entry.given_unit}"
            notes.append(
                f"{item}: the price {as_given} (as of {entry.as_of}) is "
                f"{ratio if ratio > 1 else 1 / ratio:,.0f}× {'above' if ratio > 1 else 'below'} "
                f"the catalogue's {near:g} {entry.unit}: a price {slip}? Check its unit"
            )
    return notes


def _in_force(candidates: list[PriceEntry], end: dt.date) -> tuple[PriceEntry, bool]:
    """The entry in force on ``end`` (the latest dated on or before it) and True; the earliest
    entry and False when every entry is later."""
    ordered = sorted(candidates, key=lambda e: e.date if e.as_of else dt.date.min)
    eligible = [e for e in ordered if not e.as_of or e.date <= end]
    return (eligible[-1], True) if eligible else (ordered[0], False)


def _unlinked(
    linked: Mapping[str, Any],
    given: set[str],
    entries: Mapping[str, PriceEntry],
    catalogue: Mapping[str, PriceEntry],
) -> list[str]:
    """One note per linked pair (table ``[linked]``) of which the override file gives one side
    only and moves their ratio by more than the table's tolerance from the catalogue's."""
    if not linked:  # a catalogue folder's copy of an older table
        return []
    tolerance = float(linked["tolerance"]["value"])
    notes = []
    for pair in linked["pairs"]:
        moved = [item for item in pair if item in given]
        if len(moved) != 1 or any(item not in catalogue for item in pair):
            continue
        (kept,) = [item for item in pair if item not in given]
        a, b = pair
        if min(entries[b].value, catalogue[a].value, catalogue[b].value) <= 0:
            continue
        now = entries[a].value / entries[b].value
        before = catalogue[a].value / catalogue[b].value
        if abs(now / before - 1.0) <= tolerance:
            continue
        new, old = entries[moved[0]], entries[kept]
        notes.append(
            f"{moved[0]} is given ({new.value:g} {new.unit}, as of {new.as_of}) but {kept} is "
            f"not: {kept} keeps the catalogue's {old.value:g} {old.unit} (as of {old.as_of}), so "
            f"{a} / {b} is {now:.2f} against the catalogue's {before:.2f} — the lot would be "
            f"bought at one market (feed price and payables use metal:*) and its products sold "
            f"at another; give {kept} too if the market moved"
        )
    return notes


def _duplicates(
    dated: list[tuple[PriceEntry, dt.date, int | None, str]],
) -> list[Problem]:
    """One problem per price repeating an item and date (``(entry, date, row, where)``)."""
    first: dict[tuple[str, dt.date], int | str | None] = {}
    problems = []
    for entry, date, row, where in dated:
        key = (entry.item, date)
        if key in first:
            earlier = first[key]
            at = f"row {earlier}" if isinstance(earlier, int) else f"{earlier or 'above'}"
            problems.append(
                Problem(
                    f"{entry.item} dated {date} again (first at {at}); give one price per item "
                    "and date",
                    row=row,
                    column=f"{where}as_of",
                )
            )
        else:
            first[key] = row if row is not None else where.rstrip(".")
    return problems


def _sourced_number(
    body: Any, where: str, *, fraction: bool = True
) -> tuple[float | None, list[Problem]]:
    """A ``{value, source, as_of}`` number; a payable or share (``fraction``) is in [0, 1]."""
    if not isinstance(body, Mapping):
        return None, [
            Problem(
                f'write {{ value = {body!r}, source = "…", as_of = "YYYY-MM-DD" }}',
                column=where,
            )
        ]
    problems = _unknown_keys(body, ("value", "source", "as_of"), where)
    problems += _provenance(body.get("source"), body.get("as_of"), row=None, where=f"{where}.")[0]
    value: Any = body.get("value")
    if value is None or not _finite(value):  # (None: for the type checker)
        return None, [*problems, Problem(_no_number(value), column=f"{where}.value")]
    number = float(value)
    if fraction and not 0 <= number <= 1:
        hint = f" (a percentage? write {number / 100:g})" if 1 < number <= 100 else ""
        problems.append(Problem(f"{number:g} is not a fraction in [0, 1]{hint}", column=where))
    return (None if problems else number), problems


def _toml_prices(
    doc: Mapping[str, Any], ctx: _Context
) -> tuple[dict[str, list[PriceEntry]], list[Problem]]:
    problems: list[Problem] = []
    prices: dict[str, list[PriceEntry]] = {}
    dated: list[tuple[PriceEntry, dt.date, int | None, str]] = []
    for item, body in doc.get("price", {}).items():
        where = f"price.{item}"
        if not isinstance(body, Mapping):
            problems.append(Problem("write a [price.<item>] table with value, …", column=where))
            continue
        problems += _unknown_keys(body, (*_PRICE_KEYS, "dated"), where)
        entries = list(body.get("dated", []))
        if "value" in body:
            entries.append(body)
        if not entries:
            problems.append(Problem("no value (nor dated entries)", column=where))
        for i, entry in enumerate(entries):
            at = f"{where}.dated[{i}]" if entry is not body else where
            if entry is not body:
                problems += _unknown_keys(entry, _PRICE_KEYS, at)
            merged = {k: entry.get(k, body.get(k)) for k in _PRICE_KEYS if k != "value"}
            merged["value"] = entry.get("value")
            price, date, found = _price_entry(item, merged, ctx, row=None, where=f"{at}.")
            problems += found
            if price is not None and date is not None:
                prices.setdefault(item, []).append(price)
                dated.append((price, date, None, f"{at}."))
    return prices, problems + _duplicates(dated)


def _toml_payables(
    doc: Mapping[str, Any], ctx: _Context
) -> tuple[dict[str, dict[str, float]], list[Problem]]:
    problems: list[Problem] = []
    payables: dict[str, dict[str, float]] = {}
    for chem, body in doc.get("payable", {}).items():
        where = f"payable.{chem}"
        if chem != "default" and chem not in ctx.chemistries:
            problems.append(
                Problem(
                    f"unknown chemistry {chem!r}{suggest(chem, ctx.chemistries)}; use default or "
                    f"one of {', '.join(sorted(ctx.chemistries))}",
                    column=where,
                )
            )
            continue
        keys = (*PAYABLE_KEYS, "lce_kg_per_kg_li") if chem == "default" else PAYABLE_KEYS
        problems += _unknown_keys(body, keys, where)
        for key in keys:
            if key in body:
                number, found = _sourced_number(
                    body[key], f"{where}.{key}", fraction=key != "lce_kg_per_kg_li"
                )
                problems += found
                if number is not None:
                    payables.setdefault(chem, {})[key] = number
    return payables, problems


def _toml_feed(doc: Mapping[str, Any], ctx: _Context) -> tuple[dict[str, Any], list[Problem]]:
    body = doc.get("feed_price", {})
    problems = _unknown_keys(body, (*SHARE_KEYS, "fixed_usd_per_kg"), "feed_price")
    feed: dict[str, Any] = {}
    for key in SHARE_KEYS:
        if key in body:
            number, found = _sourced_number(body[key], f"feed_price.{key}")
            problems += found
            if number is not None:
                feed[key] = number
    fixed: dict[str, float] = {}
    for chem, value in body.get("fixed_usd_per_kg", {}).items():
        where = f"feed_price.fixed_usd_per_kg.{chem}"
        if chem not in ctx.chemistries:
            problems.append(
                Problem(f"unknown chemistry {chem!r}{suggest(chem, ctx.chemistries)}", column=where)
            )
            continue
        number, found = _sourced_number(value, where, fraction=False)  # < 0: paid to take
        problems += found
        if number is not None:
            fixed[chem] = number
    if fixed:
        feed["fixed_usd_per_kg"] = fixed
    return feed, problems


def _csv_prices(path: Path, ctx: _Context) -> tuple[dict[str, list[PriceEntry]], list[Problem]]:
    frame = read_table(path, what="price table", numeric=["value"])  # as every user table
    missing = [c for c in ("item", "value", "source", "as_of") if c not in frame.columns]
    if missing:
        return {}, [
            Problem(
                f"missing column(s) {missing}; need item, value, source, as_of (and optionally "
                "unit): every price carries its source and date"
            )
        ]
    problems = _unknown_keys(
        [c for c in frame.columns if c not in ("item", "basis")], _PRICE_KEYS, ""
    )
    prices: dict[str, list[PriceEntry]] = {}
    dated: list[tuple[PriceEntry, dt.date, int | None, str]] = []
    for row, rec in enumerate(frame.iter_rows(named=True), start=1):
        item = (rec["item"] or "").strip()
        if (problem := _check_item(item, ctx.units, row)) is not None:
            problems.append(problem)
            continue
        price, date, found = _price_entry(item, rec, ctx, row=row, where="")
        problems += found
        if price is not None and date is not None:
            prices.setdefault(item, []).append(price)
            dated.append((price, date, row, ""))
    return prices, problems + _duplicates(dated)


def _check_item(
    item: str, known: Mapping[str, Any], row: int | None, column: str = "item"
) -> Problem | None:
    if item in known or item.startswith("cathode_material:"):
        return None
    return Problem(
        f"unknown price item {item!r}{suggest(item, known)}; items are those of the "
        "recycling_prices table (e.g. cobalt_salt, metal:Ni, US:electricity, "
        "cathode_material:NMC811)",
        row=row,
        column=column,
    )


def _as_keys(problems: list[Problem]) -> list[Problem]:
    """A TOML file's problems located by key (``key 'price.cobalt_salt.value'``), not column."""
    return [
        Problem(f"key {p.column!r}: {p.message}") if p.column is not None else p for p in problems
    ]


@dataclass(frozen=True)
class _Override:
    """A checked override file: prices (in the catalogue's units), payables, feed-price rule."""

    prices: dict[str, list[PriceEntry]]
    payables: dict[str, dict[str, float]]
    feed: dict[str, Any]


def _read_override(path: Path, ctx: _Context) -> _Override:
    """Read and check an override file; every problem in one :class:`SchemaError`."""
    if not path.is_file():
        raise SchemaError(path, ["price file not found; give a .toml or .csv price table"])
    suffix = path.suffix.lower()
    if suffix == ".csv":
        prices, problems = _csv_prices(path, ctx)
        if problems:
            raise SchemaError(path, problems)
        return _Override(prices, {}, {})
    if suffix != ".toml":
        raise SchemaError(path, [f"unsupported price file type {suffix!r}; use .toml or .csv"])
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SchemaError(path, [f"not valid TOML: {exc}"]) from exc
    checked = {
        k: (v, _check_item(k, ctx.units, None, f"price.{k}"))
        for k, v in doc.get("price", {}).items()
    }
    problems = [p for _, p in checked.values() if p is not None]
    extra = set(doc) - {"meta", "price", "payable", "feed_price"}
    if extra:
        problems.append(
            Problem(f"unknown sections {sorted(extra)}; use price, payable, feed_price")
        )
    if not any(doc.get(section) for section in ("price", "payable", "feed_price")):
        problems.append(
            Problem(
                "the file sets no price: give [price.<item>] tables with value, unit, source "
                "and as_of (or [payable.<chemistry>], [feed_price]); without --prices the "
                "catalogue's prices are used"
            )
        )
    known = {k: v for k, (v, p) in checked.items() if p is None}
    prices, found = _toml_prices({"price": known}, ctx)
    payables, found_payables = _toml_payables(doc, ctx)
    feed, found_feed = _toml_feed(doc, ctx)
    problems += found + found_payables + found_feed
    if problems:
        raise SchemaError(path, _as_keys(problems))
    return _Override(prices, payables, feed)


def load_prices(
    path: Path | str | None = None,
    *,
    year: int | None = None,
    catalog_dir: Path | None = None,
) -> PriceTable:
    """The price table for a reporting year: the catalogue's prices, overridden by ``path``.

    Parameters
    ----------
    path : path-like, optional
        Override file (TOML or CSV, see the module docstring).
    year : int, optional
        Reporting year selecting dated entries, 2000–2100 (default: the current year).
    catalog_dir : Path, optional
        Folder of catalogue overrides.

    Raises
    ------
    UsageError
        For a year outside 2000–2100.
    SchemaError
        For an unreadable override file or unknown items (with row and column).
    PriceError
        For an item without a finite value.
    """
    table_path = resolve_table_path("recycling_prices", catalog_dir=catalog_dir)
    doc = load_toml_file(table_path)
    origin = f"recycling_prices@{doc['meta']['version']}"
    if table_path != packaged_table_path("recycling_prices"):  # a catalogue folder's own
        origin += f" from {table_path}"
    items: dict[str, list[PriceEntry]] = {
        k: _entries_of(k, v, "USD/kg", origin) for k, v in doc["price"].items()
    }
    payables = {
        k: {p: float(v[p]["value"]) for p in PAYABLE_KEYS} for k, v in doc["payable"].items()
    }
    lce = float(doc["payable"]["default"]["lce_kg_per_kg_li"]["value"])
    feed = doc["feed_price"]
    battery_share = float(feed["battery_share_of_co_ni_value"]["value"])
    bm_share = float(feed["black_mass_share_of_co_ni_value"]["value"])
    fixed = {k: float(v["value"]) for k, v in feed.get("fixed_usd_per_kg", {}).items()}
    notes: list[str] = []
    overrides: tuple[PriceEntry, ...] = ()
    if path is not None:
        path = Path(path)
        ctx = _Context(
            units={k: v[0].unit for k, v in items.items()},
            masses={**MASS_UNITS_KG, "short ton": float(doc["units"]["kg_per_short_ton"]["value"])},
            chemistries=frozenset(composition_catalog(catalog_dir).chemistries),
        )
        override = _read_override(path, ctx)
        catalogue_items = dict(items)
        origin += f" overridden by {path}"
        implausible = _implausible(override.prices, items)
        for note in implausible:
            warnings.warn(f"{path}: {note}", EchelonWarning, stacklevel=2)
        notes += implausible
        overrides = tuple(e for entries in override.prices.values() for e in entries)
        items.update(override.prices)
        for chem, body in override.payables.items():
            base = dict(payables.get(chem, payables["default"]))
            base.update({k: v for k, v in body.items() if k in PAYABLE_KEYS})
            payables[chem] = base
        lce = override.payables.get("default", {}).get("lce_kg_per_kg_li", lce)
        battery_share = override.feed.get(SHARE_KEYS[0], battery_share)
        bm_share = override.feed.get(SHARE_KEYS[1], bm_share)
        fixed = override.feed.get("fixed_usd_per_kg", fixed)
    end = dt.date(reporting_year(year), 12, 31)
    entries: dict[str, PriceEntry] = {}
    for item, candidates in items.items():
        entries[item], dated = _in_force(candidates, end)
        if not dated:
            notes.append(f"{item}: no price dated on or before {end}; used {entries[item].as_of}")
    if path is not None:
        catalogue = {k: _in_force(v, end)[0] for k, v in catalogue_items.items()}
        linked = _unlinked(doc.get("linked", {}), set(override.prices), entries, catalogue)
        for note in linked:
            warnings.warn(f"{path}: {note}", EchelonWarning, stacklevel=2)
        notes += linked
    return PriceTable(
        entries=entries,
        payables=payables,
        lce_kg_per_kg_li=lce,
        battery_share=battery_share,
        black_mass_share=bm_share,
        fixed_feed_usd_per_kg=fixed,
        origin=origin,
        units={k: float(v["value"]) for k, v in doc["units"].items()},
        notes=tuple(notes),
        overrides=overrides,
    )
