"""Retired-battery flows from a sales table: volumes, second life, recycling feed, contents, value.

For each (region, segment, chemistry, lifetime) the cohort model (:mod:`echelon.flows.cohort`)
moves the energy (and unit count) put on the market through first use, the second-life branch and
recycling. The recycling feed is then turned into pack mass and contained elements with the
recycling module's EverBatt 2023 pack compositions (``recycling_composition``), and valued with a
one-kWh recycling lot of the chemistry (:func:`echelon.recycling.recycle_lot`) at the prices of
one year — today's prices, not a price forecast.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from echelon.catalog import load_table, resolve_table_path
from echelon.errors import RecyclingError, UsageError, check_choice
from echelon.flows.cohort import cohort_flows
from echelon.flows.lifetimes import Lifetime
from echelon.flows.sales import chemistry_rows, normalise_sales, read_sales_table, sum_or_null
from echelon.recycling import load_prices, recycle_lot
from echelon.recycling.catalog import LOCATIONS, Location
from echelon.recycling.compliance import reporting_year
from echelon.recycling.composition import composition_table, element_table, unit_composition
from echelon.recycling.flows import Process, untreatable_message
from echelon.recycling.units import prepare_units

ELEMENTS = ("Li", "Co", "Ni", "Mn", "Cu", "Al")
"""Elements reported in the recycling feed [t], with graphite."""
FLOWS = (
    "put_on_market",
    "retired",
    "available",
    "to_second_life",
    "retired_second_life",
    "to_recycling",
    "stock_first_life",
    "stock_second_life",
)


@dataclass(frozen=True)
class FlowForecast:
    """The forecast: one row per (year, region, segment, chemistry) and its settings.

    Attributes
    ----------
    frame : pl.DataFrame
        ``year``, ``region``, ``segment``, ``chemistry``; ``<flow>_kwh`` and ``<flow>_units``
        for every flow of :data:`FLOWS` (``available``: of ``retired``, with a healthy battery);
        ``to_recycling_t`` (pack mass), ``<element>_t`` and ``graphite_t`` in the recycling feed;
        ``feed_value_usd`` (what the feed fetches from a recycler, EverBatt 2023 feed-price rule)
        and ``recycling_net_value_usd`` (the recycler's revenue − processing cost by ``process``,
        before paying for the feed: the recycling module's ``net_value``).
    meta : dict
        Lifetimes used, second-life settings, process, price year, sources.
    """

    frame: pl.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def totals(self, by: str = "year") -> pl.DataFrame:
        """Flows summed over everything but ``by`` (default: per year)."""
        numbers = [c for c in self.frame.columns if c.endswith(("_kwh", "_units", "_t", "_usd"))]
        return (
            self.frame.group_by(by, maintain_order=True)
            .agg(pl.col(c).sum() for c in numbers)
            .sort(by)
        )


def _lifetimes(row: dict[str, Any], segments: dict[str, Any]) -> tuple[Lifetime, Lifetime | None]:
    """``(battery, vehicle)`` lifetimes of a sales row: its own battery lifetime or its segment's,
    and its segment's vehicle lifetime (none for ``custom`` rows or segments without one)."""
    seg = segments.get(row["segment"], {})
    vehicle = (
        Lifetime(seg["vehicle_distribution"], seg["vehicle_mean_years"], seg["vehicle_sd_years"])
        if "vehicle_mean_years" in seg
        else None
    )
    if row["lifetime_mean_years"] is not None:
        own = Lifetime(
            row["lifetime_distribution"], row["lifetime_mean_years"], row["lifetime_sd_years"]
        )
        return own, vehicle
    return Lifetime(seg["distribution"], seg["mean_years"], seg["sd_years"]), vehicle


def _describe(battery: Lifetime, vehicle: Lifetime | None) -> str:
    text = f"battery {battery.distribution} {battery.mean_years:g} ± {battery.sd_years:g} years"
    if vehicle is not None:
        text += f", vehicle {vehicle.distribution} {vehicle.mean_years:g} ± {vehicle.sd_years:g}"
    return text


UNDATED = re.compile(r"^(?P<item>\S+): (?P<rest>no price dated on or before .*)$")


def _summarise(notes: list[str]) -> list[str]:
    """Notes once each; the price table's "no price dated on or before …" notes as one line."""
    undated: dict[str, list[str]] = {}
    out = []
    for note in dict.fromkeys(notes):
        match = UNDATED.match(note)
        if match:
            undated.setdefault(match["rest"], []).append(match["item"])
        else:
            out.append(note)
    for rest, items in undated.items():
        out.append(
            f"{len(items)} prices ({', '.join(items[:4])}{', …' if len(items) > 4 else ''}): {rest}"
        )
    return out


def _chemistry_note(chemistry: str, note: str, file_notes: tuple[str, ...]) -> str:
    """A one-kWh lot's note, named with its chemistry — except the price table's own notes
    (about the price file, the same for every chemistry: noted once, without the file path its
    warning carries)."""
    for known in file_notes:
        if note == known or note.endswith(f": {known}"):
            return known
    return note if UNDATED.search(note) else f"{chemistry}: {note}"


RECYCLING_TABLES = (
    "recycling_composition",
    "recycling_processes",
    "recycling_prices",
    "recycling_emissions",
)


def _catalogue_stamp(prices: Path | None = None) -> tuple[tuple[str, int], ...]:
    """The recycling tables in use, and the price override file, with their modification times
    (the value cache's key)."""
    paths = [resolve_table_path(name) for name in RECYCLING_TABLES]
    paths += [] if prices is None else [prices]
    return tuple((str(p), p.stat().st_mtime_ns) for p in paths)


@lru_cache(maxsize=64)
def _per_kwh(
    chemistry: str,
    process: Process,
    price_year: int,
    stamp: tuple[tuple[str, int], ...],
    prices: Path | None = None,
    location: Location = "US",
) -> tuple[dict[str, float], str, tuple[str, ...]]:
    """Pack mass, contents and value per kWh of a chemistry's packs, the price origin and the
    recycling module's warnings (``stamp``: catalogue and price files, so an override is not
    missed)."""
    comp = unit_composition(chemistry, "pack")
    out = {"t": (comp.kg_per_kwh or 0.0) / 1000}
    elements = element_table(level="pack", chemistries=[chemistry])
    for element in ELEMENTS:
        kg = elements.filter(pl.col("element") == element)["kg_per_kwh"].sum()
        out[f"{element}_t"] = float(kg) / 1000
    materials = composition_table(level="pack", chemistries=[chemistry])
    graphite = materials.filter(pl.col("material") == "graphite")["kg_per_kwh"].sum()
    out["graphite_t"] = float(graphite) / 1000
    one_kwh = pl.DataFrame(
        {
            "battery_id": ["flows-1kWh"],
            "chemistry": [chemistry],
            "level": ["pack"],
            "nominal_energy_wh": [1000.0],
        }
    )
    # prepared here so the lot's notes about its one unit's composition (which name "rows 1"
    # of that lot) are left out: forecast_flows notes the sales rows instead
    prepared, _ = prepare_units(one_kwh)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lot = recycle_lot(
            prepared, process=process, year=price_year, prices=prices, location=location
        )
    out["feed_value_usd"] = lot.summary("feed_price")
    out["recycling_net_value_usd"] = lot.summary("net_value")
    notes = tuple(dict.fromkeys([*lot.warnings, *(str(w.message) for w in caught)]))
    return out, str(lot.meta["prices"]), notes


def _rows_text(rows: list[int]) -> str:
    """``sales row 3``; ``sales rows 2, 5, 9``; the first ten, then a count."""
    shown = ", ".join(map(str, rows[:10])) + (f" … (+{len(rows) - 10})" if len(rows) > 10 else "")
    return f"sales row{'s' if len(rows) > 1 else ''} {shown}"


def _chemistry_notes(rows: pl.DataFrame, process: Process) -> list[str]:
    """Notes on the compositions the sales rows are valued with, naming the rows.

    Raises
    ------
    RecyclingError
        When ``process`` cannot treat a chemistry of the table: every row named, with the reason.
    """
    by_key = {
        key: group["row"].to_list()
        for (key,), group in rows.group_by("chemistry", maintain_order=True)
    }
    message = untreatable_message(
        process, {k: [f"row {r}" for r in v] for k, v in by_key.items()}, what="sales row(s)"
    )
    if message is not None:
        raise RecyclingError(message)
    notes = []
    for (written, key), group in rows.filter("generic").group_by(
        "written", "chemistry", maintain_order=True
    ):
        notes.append(
            f"{_rows_text(group['row'].to_list())}: chemistry {written!r} names no composition: "
            f"valued as {key}, the catalogue's generic composition of the family (an "
            "assumption); give the exact chemistry (e.g. NMC811) for real tonnes and value"
        )
    for key, numbers in by_key.items():
        if key == "unknown":
            notes.append(
                f"{_rows_text(numbers)} (unknown): the conservative 'unknown' pack composition "
                "(no Ni/Co/Mn credit, least lithium); identify the chemistry for real tonnes "
                "and value"
            )
            continue
        comp = unit_composition(key, "pack")
        if comp.is_estimate:
            notes.append(f"{_rows_text(numbers)} ({key}): a flagged estimate composition — "
                         f"{comp.caveat}")  # fmt: skip
    return notes


def forecast_flows(
    sales: pl.DataFrame | Path | str,
    *,
    until: int | None = None,
    process: Process = "hydro",
    price_year: int | None = None,
    second_life_share: float | None = None,
    prices: Path | str | None = None,
    location: Location = "US",
) -> FlowForecast:
    """Forecast retired-battery flows from the batteries put on the market.

    Parameters
    ----------
    sales : pl.DataFrame or path
        The sales table (:mod:`echelon.flows.sales`).
    until : int, optional
        Last year reported (default: the last sales year + 30).
    process : {"hydro", "pyro", "direct", "mechanical"}
        Recycling process that values the feed.
    price_year : int, optional
        Year of the catalogue prices used, 2000–2100 (default: this year).
    second_life_share : float, optional
        Share of the healthy batteries leaving first use young enough that are repurposed
        (default: catalogue ``flows``, 0.5).
    prices : path, optional
        Price override file (.toml or .csv: item, value), as ``echelon recycle --prices``
        (default: the catalogue's ``recycling_prices``).
    location : {"US", "California", "China", "Korea"}
        Utility prices of the recycling process (EverBatt locations), as ``recycle_lot``.

    Returns
    -------
    FlowForecast
    """
    check_choice("process", process, Process)
    check_choice("location", location, LOCATIONS)
    price_year = reporting_year(price_year, name="price_year", what="price year")
    price_file = None if prices is None else Path(prices)
    file_notes: tuple[str, ...] = ()
    if price_file is not None:
        with warnings.catch_warnings():  # its warnings are noted once below, not raised
            warnings.simplefilter("ignore")
            # a bad file is refused before any work
            file_notes = load_prices(price_file, year=price_year).notes
    given = sales if isinstance(sales, pl.DataFrame) else read_sales_table(sales)
    table = normalise_sales(given, source="<table>" if isinstance(sales, pl.DataFrame) else sales)
    notes = _chemistry_notes(chemistry_rows(given), process)
    flows_table = load_table("flows")
    segments, second = flows_table["segment"], flows_table["second_life"]
    share = second["share"] if second_life_share is None else second_life_share
    second_life = Lifetime(
        second["distribution"], second["mean_total_age_years"], second["sd_years"]
    )
    sold_years = table["year"].to_numpy()
    first_year, latest = int(sold_years.min()), int(sold_years.max())
    last_year = until if until is not None else latest + 30
    if not first_year <= last_year <= 2200:
        raise UsageError(
            f"until={last_year}: give a year from the first sales year ({first_year}) to 2200"
        )
    years = np.arange(first_year, last_year + 1)
    stamp = _catalogue_stamp(price_file)
    origins: set[str] = set()
    keys = ["region", "segment", "chemistry", "lifetime_distribution", "lifetime_mean_years",
            "lifetime_sd_years"]  # fmt: skip
    parts: list[pl.DataFrame] = []
    lifetimes: list[str] = []
    for group in table.partition_by(keys, maintain_order=True):
        row = group.row(0, named=True)
        lifetime, vehicle = _lifetimes(row, segments)
        lifetimes.append(
            f"{row['region']}/{row['segment']}/{row['chemistry']}: {_describe(lifetime, vehicle)}"
        )
        if vehicle is None:
            notes.append(
                f"{row['region']}/{row['segment']}/{row['chemistry']}: no vehicle lifetime, so its "
                "batteries leave at the end of their life and go to recycling (no second life)"
            )
        columns: dict[str, Any] = {
            "year": years,
            "region": row["region"],
            "segment": row["segment"],
            "chemistry": row["chemistry"],
        }
        for quantity in ("kwh", "units"):
            inflow = np.zeros(years.size)
            given = group.filter(pl.col(quantity).is_not_null() & (pl.col("year") <= last_year))
            np.add.at(inflow, given["year"].to_numpy() - first_year, given[quantity].to_numpy())
            known = given.height > 0
            result = cohort_flows(
                inflow,
                lifetime,
                vehicle=vehicle,
                second_life=second_life,
                # without a vehicle a battery leaves at the end of its life: a failed battery,
                # recycled (Busch et al.); only healthy batteries of scrapped vehicles are reused
                second_life_share=share if vehicle is not None else 0.0,
                second_life_max_age_years=int(second["max_age_years"]),
            )
            values = {"put_on_market": inflow, **vars(result)}
            for name in FLOWS:
                columns[f"{name}_{quantity}"] = values[name] if known else None
        per, origin, warned = _per_kwh(
            row["chemistry"], process, price_year, stamp, price_file, location
        )
        origins.add(origin)
        notes += [_chemistry_note(row["chemistry"], w, file_notes) for w in warned]
        for name, factor in per.items():
            target = name if name.endswith(("_t", "_usd")) else f"to_recycling_{name}"
            energy = columns["to_recycling_kwh"]  # None: units without energy are not weighed
            columns[target] = None if energy is None else energy * factor
        parts.append(pl.DataFrame(columns))
    frame = pl.concat(parts, how="diagonal_relaxed")
    group_keys = ["year", "region", "segment", "chemistry"]
    numbers = [c for c in frame.columns if c not in group_keys]
    frame = (
        frame.group_by(group_keys, maintain_order=True)
        .agg(sum_or_null(c) for c in numbers)
        .sort(group_keys)
    )
    meta = {
        "years": [first_year, last_year],
        "lifetimes": lifetimes,
        "second_life": {
            "share": share,
            "max_age_years": second["max_age_years"],
            "lifetime": f"{second_life.distribution} total age {second_life.mean_years:g} ± "
            f"{second_life.sd_years:g} years",
        },
        "process": process,
        "location": location,
        "price_year": price_year,
        "prices": sorted(origins),
        "notes": _summarise(notes),
        "source": flows_table["meta"]["source"],
        "catalogue": f"flows@{flows_table['meta']['version']}",
    }
    return FlowForecast(frame, meta)
