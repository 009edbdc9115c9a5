"""Dated, overridable prices: recovered products, metals, reagents, utilities, payables, feed price.

The default set is the ``recycling_prices`` catalogue table (EverBatt 2023 defaults, USD of 2020).
An override file replaces or adds items:

TOML
    ``[price.<item>]`` tables with ``value`` (and ``unit``, ``source``, ``as_of``), optionally
    several ``[[price.<item>.dated]]`` entries; ``[payable.<chemistry>]`` and ``[feed_price]``
    like the table.
CSV
    columns ``item``, ``value`` and optionally ``unit``, ``source``, ``as_of`` — repeat an item
    with different ``as_of`` dates for a price history.

For a reporting year, each item takes its latest entry dated on or before 31 December of that year
(the earliest entry, with a note, if all are later).
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from echelon.catalog import load_table
from echelon.domain.parse import suggest
from echelon.errors import PriceError, Problem, SchemaError
from echelon.io.table import read_table

PAYABLE_KEYS = ("ni", "co", "li")


@dataclass(frozen=True)
class PriceEntry:
    """One dated price."""

    item: str
    value: float
    unit: str
    source: str
    as_of: str

    @property
    def date(self) -> dt.date:
        """``as_of`` as a date (a bare year means 1 January of that year)."""
        return _as_date(self.as_of)


def _as_date(text: str) -> dt.date:
    text = str(text).strip()
    if len(text) == 4 and text.isdigit():
        return dt.date(int(text), 1, 1)
    if len(text) == 7:
        return dt.date.fromisoformat(text + "-01")
    return dt.date.fromisoformat(text)


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
        Where the prices came from (catalogue version, override file).
    units : dict
        Conversions the prices need (``kg_per_short_ton``, ``mj_per_mmbtu``, ``mj_per_kwh``).
    notes : tuple of str
        Selection notes (e.g. a price dated after the reporting year).
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
    dated = list(body.get("dated", []))
    if "value" in body:
        dated.append(body)
    entries = []
    for d in dated:
        value = d.get("value")
        if value is None or value == "" or not _finite(value):
            raise PriceError(f"{origin}: price {item!r} has no finite value ({value!r})")
        entries.append(
            PriceEntry(
                item,
                float(value),
                str(d.get("unit", body.get("unit", default_unit))),
                str(d.get("source", body.get("source", origin))),
                str(d.get("as_of", body.get("as_of", ""))),
            )
        )
    return entries


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _check_item(item: str, known: Mapping[str, Any], path: Path, row: int | None) -> Problem | None:
    if item in known or item.startswith("cathode_material:"):
        return None
    return Problem(
        f"unknown price item {item!r}{suggest(item, known)}; items are those of the "
        "recycling_prices table (e.g. cobalt_salt, metal:Ni, US:electricity, "
        "cathode_material:NMC811)",
        row=row,
        column="item",
    )


def _read_override(path: Path, known: Mapping[str, Any]) -> dict[str, Any]:
    """Parse an override file into the table's layout (``price``, ``payable``, ``feed_price``)."""
    if not path.is_file():
        raise SchemaError(path, ["price file not found; give a .toml or .csv price table"])
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SchemaError(path, [f"not valid TOML: {exc}"]) from exc
        toml_problems = [
            p for item in doc.get("price", {}) if (p := _check_item(item, known, path, None))
        ]
        extra = set(doc) - {"meta", "price", "payable", "feed_price"}
        if extra:
            toml_problems.append(
                Problem(f"unknown sections {sorted(extra)}; use price, payable, feed_price")
            )
        if toml_problems:
            raise SchemaError(path, toml_problems)
        return doc
    if suffix == ".csv":
        frame = read_table(path, what="price table", numeric=["value"])  # as every user table
        missing = [c for c in ("item", "value") if c not in frame.columns]
        if missing:
            raise SchemaError(path, [Problem(f"missing column(s) {missing}; need item, value")])
        problems: list[Problem] = []
        prices: dict[str, dict[str, Any]] = {}
        for row, rec in enumerate(frame.iter_rows(named=True), start=1):
            item = (rec["item"] or "").strip()
            if (problem := _check_item(item, known, path, row)) is not None:
                problems.append(problem)
                continue
            if not _finite(rec["value"]):
                problems.append(
                    Problem(
                        f"missing or non-numeric price {rec['value']!r}", row=row, column="value"
                    )
                )
                continue
            entry = {k: rec[k] for k in ("unit", "source", "as_of") if rec.get(k)}
            entry["value"] = float(rec["value"])
            entry.setdefault("source", f"{path.name} row {row}")
            prices.setdefault(item, {"dated": []})["dated"].append(entry)
        if problems:
            raise SchemaError(path, problems)
        return {"price": prices}
    raise SchemaError(path, [f"unsupported price file type {suffix!r}; use .toml or .csv"])


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
        Reporting year selecting dated entries (default: the current year).
    catalog_dir : Path, optional
        Folder of catalogue overrides.

    Raises
    ------
    SchemaError
        For an unreadable override file or unknown items (with row and column).
    PriceError
        For an item without a finite value.
    """
    doc = load_table("recycling_prices", catalog_dir=catalog_dir)
    origin = f"recycling_prices@{doc['meta']['version']}"
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
    if path is not None:
        path = Path(path)
        override = _read_override(path, items)
        origin += f" overridden by {path}"
        for item, body in override.get("price", {}).items():
            items[item] = _entries_of(
                item, body, items[item][0].unit if item in items else "USD/kg", str(path)
            )
        for chem, body in override.get("payable", {}).items():
            base = dict(payables.get(chem, payables["default"]))
            for key, value in body.items():
                if key in PAYABLE_KEYS:
                    base[key] = float(value["value"] if isinstance(value, dict) else value)
            payables[chem] = base
        for key, value in override.get("feed_price", {}).items():
            number = value["value"] if isinstance(value, dict) and "value" in value else value
            if key == "battery_share_of_co_ni_value":
                battery_share = float(number)
            elif key == "black_mass_share_of_co_ni_value":
                bm_share = float(number)
            elif key == "fixed_usd_per_kg":
                fixed = {
                    k: float(v["value"] if isinstance(v, dict) else v) for k, v in value.items()
                }
    end = dt.date(year or dt.date.today().year, 12, 31)
    entries: dict[str, PriceEntry] = {}
    notes: list[str] = []
    for item, candidates in items.items():
        ordered = sorted(candidates, key=lambda e: e.date if e.as_of else dt.date.min)
        eligible = [e for e in ordered if not e.as_of or e.date <= end]
        if eligible:
            entries[item] = eligible[-1]
        else:
            entries[item] = ordered[0]
            notes.append(f"{item}: no price dated on or before {end}; used {ordered[0].as_of}")
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
    )
