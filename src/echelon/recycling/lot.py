"""A recycling lot: mass balance, value and compliance of many units at once.

Every rule is linear in the feed, so a lot is computed per distinct (chemistry, level) — at most
a few dozen feeds however many units — and scaled by their masses: 100,000 units take well under
a second (docs/performance.md). Per-unit values are the unit's mass × the per-kg values of its
feed.

:func:`recycle_lot` returns a :class:`LotResult` holding the tables written by ``echelon recycle``:
``mass_balance`` (one row per material and per element, conservation checked), ``value`` (revenue,
cost and summary lines per lot, per tonne and per kWh), ``compliance`` (EU 2023/1542 verdicts),
``inputs`` (reagents, energy, water, GHG), ``units`` (per-unit values) and ``flows`` (for the
mass-flow chart). :func:`unit_recycling_value` is the vectorised per-unit view for the router.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from echelon._version import __version__
from echelon.errors import RecyclingError, check_choice
from echelon.recycling.catalog import (
    LOCATIONS,
    REST,
    Location,
    composition_catalog,
    emission_factors,
    process_catalog,
)
from echelon.recycling.compliance import compliance_frame, reporting_year
from echelon.recycling.composition import family, unit_composition
from echelon.recycling.economics import (
    Line,
    cost_lines,
    feed_price_usd_per_kg,
    ghg_lines,
    revenue_lines,
)
from echelon.recycling.flows import (
    PROCESSES,
    PRODUCT,
    Dismantle,
    FeedBalance,
    Process,
    check_conservation,
    feed_balance,
    input_elements,
    untreatable_message,
)
from echelon.recycling.prices import PriceTable, load_prices
from echelon.recycling.units import prepare_units, read_units_table, warn_unknown

UNIT_VALUE_COLUMNS = (
    "battery_id",
    "mass_kg",
    "recovered_value_usd",
    "process_cost_usd",
    "net_value_usd",
)
"""The router's contract (:func:`unit_recycling_value`); ``feed_price_usd`` is added after them."""


@dataclass
class LotResult:
    """Everything computed for a recycling lot.

    Attributes
    ----------
    meta : dict
        Lot id, process, options, reporting year, totals, price origin, catalogue versions.
    units : pl.DataFrame
        One row per unit: chemistry used, mass (given or estimated), energy, per-unit values.
    mass_balance : pl.DataFrame
        ``material``, ``kind`` (material / element), ``input_kg``, ``recovered_kg``, ``loss_kg``,
        ``product``, ``recovery_percent``, ``loss_to``.
    value : pl.DataFrame
        ``category``, ``item``, ``stage``, ``quantity``, ``unit``, ``price_usd_per_unit``,
        ``value_usd``, ``usd_per_tonne``, ``usd_per_kwh``.
    compliance : pl.DataFrame
        EU 2023/1542 verdicts (see :data:`echelon.recycling.compliance.COMPLIANCE_SCHEMA`).
    inputs : pl.DataFrame
        Reagents [kg], energy [MJ], water [gal], labour [h] and GHG [kg CO2e] of the lot.
    flows : pl.DataFrame
        ``stage``, ``material``, ``group``, ``destination``, ``product``, ``kg`` (for the chart).
    warnings : list of str
    """

    meta: dict[str, Any]
    units: pl.DataFrame
    mass_balance: pl.DataFrame
    value: pl.DataFrame
    compliance: pl.DataFrame
    inputs: pl.DataFrame
    flows: pl.DataFrame
    warnings: list[str] = field(default_factory=list)

    FRAMES = ("units", "mass_balance", "value", "compliance", "inputs", "flows")

    def summary(self, item: str) -> float:
        """A summary line of ``value`` (``revenue``, ``cost``, ``net_value``, …) [USD]."""
        row = self.value.filter((pl.col("category") == "summary") & (pl.col("item") == item))
        return float(row.get_column("value_usd")[0])

    def to_json(self) -> str:
        """The whole result as JSON (each frame as its columns and dtypes)."""
        doc: dict[str, Any] = {"meta": self.meta, "warnings": self.warnings}
        for name in self.FRAMES:
            frame: pl.DataFrame = getattr(self, name)
            doc[name] = {
                "dtypes": {c: str(t) for c, t in frame.schema.items()},
                "columns": frame.to_dict(as_series=False),
            }
        return json.dumps(doc, default=str)

    @classmethod
    def from_json(cls, text: str) -> LotResult:
        """Inverse of :meth:`to_json`."""
        doc = json.loads(text)
        dtypes = {
            "String": pl.String,
            "Float64": pl.Float64,
            "Int64": pl.Int64,
            "Boolean": pl.Boolean,
        }
        frames = {
            name: pl.DataFrame(
                doc[name]["columns"],
                schema={c: dtypes.get(t, pl.String) for c, t in doc[name]["dtypes"].items()},
            )
            for name in cls.FRAMES
        }
        return cls(meta=doc["meta"], warnings=list(doc["warnings"]), **frames)


def _as_units(
    units: pl.DataFrame | Path | str, catalog_dir: Path | None
) -> tuple[pl.DataFrame, list[str], str]:
    if isinstance(units, pl.DataFrame):
        if "mass_estimated" in units.columns and "chemistry_used" in units.columns:
            return units, [], "<prepared units>"
        prepared, notes = prepare_units(units, catalog_dir=catalog_dir)
        return prepared, notes, "<table>"
    path = Path(units)
    prepared, notes = prepare_units(read_units_table(path), source=path, catalog_dir=catalog_dir)
    return prepared, notes, str(path)


def _check_treatable(units: pl.DataFrame, process: str, catalog_dir: Path | None) -> None:
    """Refuse a lot with units ``process`` cannot treat, naming every one by battery id.

    Raises
    ------
    RecyclingError
        Listing, per chemistry, its units and the stage's reason.
    """
    ids: dict[str, list[str]] = defaultdict(list)
    for chem, battery_id in units.select("chemistry_used", "battery_id").iter_rows():
        ids[chem].append(battery_id)
    message = untreatable_message(process, ids, catalog_dir=catalog_dir)
    if message is not None:
        raise RecyclingError(message)


def _balances(
    groups: pl.DataFrame, process: Process, dismantle: Dismantle, catalog_dir: Path | None
) -> dict[tuple[str, str], FeedBalance]:
    out = {}
    for chem, level, n_units in groups.select("chemistry_used", "level", "units").iter_rows():
        try:
            out[(chem, level)] = feed_balance(
                chem,
                level,
                process=process,
                dismantle=dismantle,
                catalog_dir=catalog_dir,
            )
        except RecyclingError as exc:
            raise RecyclingError(f"{n_units} {chem} {level}(s) in the lot: {exc}") from exc
    return out


def _lines(
    balances: dict[tuple[str, str], FeedBalance],
    prices: PriceTable,
    location: str,
    catalog_dir: Path | None = None,
) -> dict[tuple[str, str], dict[str, Any]]:
    factors = emission_factors(catalog_dir)
    out = {}
    for key, bal in balances.items():
        revenue = revenue_lines(bal, prices)
        costs = cost_lines(bal, prices, location=location)
        ghg = ghg_lines(bal, factors, location=location)
        elements = input_elements(bal)
        bm = feed_balance(
            key[0],
            key[1],
            process="mechanical",
            dismantle=bal.dismantle,  # type: ignore[arg-type]
            catalog_dir=catalog_dir,
        )
        payable = sum(line.value for line in revenue_lines(bm, prices) if line.item == "black_mass")
        out[key] = {
            "revenue": revenue,
            "cost": costs,
            "ghg": ghg,
            "revenue_usd": sum(line.value for line in revenue),
            "cost_usd": sum(line.value for line in costs),
            "feed_usd": feed_price_usd_per_kg(key[0], key[1], elements, prices),
            "black_mass_usd": payable,
        }
    return out


def _mass_balance(
    groups: pl.DataFrame, balances: dict[tuple[str, str], FeedBalance], catalog_dir: Path | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    catalog = process_catalog(catalog_dir)
    materials = composition_catalog(catalog_dir).materials
    acc: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"input": 0.0, "recovered": 0.0, "loss": 0.0, "products": set(), "losses": set()}
    )
    flows: dict[tuple[str, str, str, str], float] = defaultdict(float)
    element_inputs: dict[str, float] = defaultdict(float)
    element_outputs: dict[str, float] = defaultdict(float)
    for chem, level, mass in groups.select("chemistry_used", "level", "mass_kg").iter_rows():
        bal = balances[(chem, level)]
        for material, kg in unit_composition(
            chem, level, catalog_dir=catalog_dir
        ).fractions.items():
            acc[("material", material)]["input"] += kg * mass
        for element, kg in input_elements(bal).items():
            element_inputs[element] += kg * mass
            if element != REST:
                acc[("element", element)]["input"] += kg * mass
        for f in bal.flows:
            kg = f.kg * mass
            recovered = f.destination == PRODUCT
            name = catalog.flow_label(f.product.split(":", 1)[0]) if f.product else ""
            keys = [("material", f.material)]
            if f.component != REST:
                keys.append(("element", f.component))
            for acc_key in keys:
                entry = acc[acc_key]
                entry["recovered" if recovered else "loss"] += kg
                if recovered:
                    entry["products"].add(name)
                else:
                    entry["losses"].add(f.destination)
            element_outputs[f.component] += kg
            flows[(f.stage, f.material, f.destination, f.product or "")] += kg
    check_conservation(element_inputs, element_outputs, what="lot mass balance (per element)")
    rows = []
    for (kind, key), e in acc.items():
        check_conservation(
            {key: e["input"]}, {key: e["recovered"] + e["loss"]}, what=f"lot mass balance ({kind})"
        )
        rows.append(
            {
                "material": key,
                "kind": kind,
                "input_kg": e["input"],
                "recovered_kg": e["recovered"],
                "loss_kg": e["loss"],
                "product": "; ".join(sorted(e["products"])),
                "recovery_percent": 100.0 * e["recovered"] / e["input"] if e["input"] else None,
                "loss_to": "; ".join(sorted(e["losses"])),
            }
        )
    balance = pl.DataFrame(rows, infer_schema_length=None).sort(
        pl.col("kind").replace_strict({"material": 0, "element": 1}), "material"
    )
    flow_frame = pl.DataFrame(
        [
            {
                "stage": stage,
                "material": material,
                "group": materials[family(material)].group,
                "destination": dest,
                "product": product,
                "kg": kg,
            }
            for (stage, material, dest, product), kg in flows.items()
        ],
        schema={
            "stage": pl.String,
            "material": pl.String,
            "group": pl.String,
            "destination": pl.String,
            "product": pl.String,
            "kg": pl.Float64,
        },
    )
    return balance, flow_frame


def _scaled_lines(
    groups: pl.DataFrame,
    lines: dict[tuple[str, str], dict[str, Any]],
    category: str,
    prices: PriceTable,
) -> list[dict[str, Any]]:
    acc: dict[tuple[str, str, str], dict[str, Any]] = {}
    for chem, level, mass in groups.select("chemistry_used", "level", "mass_kg").iter_rows():
        for line in lines[(chem, level)][category]:
            line = line if isinstance(line, Line) else Line(**line)
            key = (line.item, line.stage, line.unit)
            entry = acc.setdefault(key, {"quantity": 0.0, "value": 0.0, "price": line.price_item})
            entry["quantity"] += line.quantity * mass
            entry["value"] += line.value * mass
    return [
        {
            "category": category,
            "item": item,
            "stage": stage,
            "quantity": e["quantity"],
            "unit": unit,
            "price_usd_per_unit": e["value"] / e["quantity"] if e["quantity"] else None,
            "value_usd": e["value"],
            "price_source": prices.entries[e["price"]].provenance if e["price"] else None,
        }
        for (item, stage, unit), e in sorted(acc.items())
    ]


def _inputs_frame(
    groups: pl.DataFrame,
    balances: dict[tuple[str, str], FeedBalance],
    lines: dict[tuple[str, str], dict[str, Any]],
) -> pl.DataFrame:
    acc: dict[tuple[str, str, str, str], float] = defaultdict(float)
    for chem, level, mass in groups.select("chemistry_used", "level", "mass_kg").iter_rows():
        bal = balances[(chem, level)]
        for (stage, reagent), kg in bal.reagents_kg.items():
            acc[("reagent", reagent, stage, "kg")] += kg * mass
        for (stage, carrier), mj in bal.energy_mj.items():
            acc[("energy", carrier, stage, "MJ")] += mj * mass
        for stage, gal in bal.water_gal.items():
            acc[("water", "process_water", stage, "gal")] += gal * mass
        if bal.labour_hours:
            acc[("labour", "dismantling", "dismantling", "h")] += bal.labour_hours * mass
        for line in lines[(chem, level)]["ghg"]:
            acc[("ghg", line.item, line.stage, "kg CO2e")] += line.value * mass
    total = float(groups.get_column("mass_kg").sum())
    rows = [
        {
            "category": c,
            "item": i,
            "stage": s,
            "quantity": q,
            "unit": u,
            "per_kg_feed": q / total if total else None,
        }
        for (c, i, s, u), q in sorted(acc.items())
    ]
    ghg = sum(q for (c, *_), q in acc.items() if c == "ghg")
    rows.append(
        {
            "category": "ghg",
            "item": "total",
            "stage": "lot",
            "quantity": ghg,
            "unit": "kg CO2e",
            "per_kg_feed": ghg / total if total else None,
        }
    )
    return pl.DataFrame(rows, infer_schema_length=None)


def _value_frame(
    groups: pl.DataFrame,
    lines: dict[tuple[str, str], dict[str, Any]],
    prices: PriceTable,
    mass_kg: float,
    kwh: float | None,
) -> pl.DataFrame:
    rows = [
        *_scaled_lines(groups, lines, "revenue", prices),
        *_scaled_lines(groups, lines, "cost", prices),
    ]
    totals = dict.fromkeys(("revenue_usd", "cost_usd", "feed_usd", "black_mass_usd"), 0.0)
    for chem, level, mass in groups.select("chemistry_used", "level", "mass_kg").iter_rows():
        for k in totals:
            totals[k] += lines[(chem, level)][k] * mass
    net = totals["revenue_usd"] - totals["cost_usd"]
    summary = [
        ("revenue", totals["revenue_usd"], "sum of recovered products × prices"),
        (
            "cost",
            totals["cost_usd"],
            "reagents, utilities, water, landfill, fixed operating, labour",
        ),
        ("net_value", net, "revenue − cost (negative: recycling the lot costs more than it earns)"),
        (
            "feed_price",
            totals["feed_usd"],
            "EverBatt default gate price: what a recycler pays for the feed (negative: is paid)",
        ),
        ("margin_after_feed", net - totals["feed_usd"], "net value − feed price"),
        (
            "black_mass_payable_value",
            totals["black_mass_usd"],
            "the lot's black mass at the payables of its chemistries",
        ),
    ]
    for item, value, note in summary:
        rows.append(
            {
                "category": "summary",
                "item": item,
                "stage": "lot",
                "quantity": None,
                "unit": note,
                "price_usd_per_unit": None,
                "value_usd": value,
                "price_source": None,
            }
        )
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.select(
        pl.exclude("price_source"),
        (pl.col("value_usd") / (mass_kg / 1000.0)).alias("usd_per_tonne"),
        (pl.col("value_usd") / kwh if kwh else pl.lit(None, dtype=pl.Float64)).alias("usd_per_kwh"),
        pl.col("price_source").cast(pl.String),  # last: where each line's price comes from
    )


def _per_unit(units: pl.DataFrame, lines: dict[tuple[str, str], dict[str, Any]]) -> pl.DataFrame:
    per_kg = pl.DataFrame(
        [
            {
                "chemistry_used": chem,
                "level": level,
                "revenue_per_kg": v["revenue_usd"],
                "cost_per_kg": v["cost_usd"],
                "feed_per_kg": v["feed_usd"],
            }
            for (chem, level), v in lines.items()
        ],
        schema={
            "chemistry_used": pl.String,
            "level": pl.String,
            "revenue_per_kg": pl.Float64,
            "cost_per_kg": pl.Float64,
            "feed_per_kg": pl.Float64,
        },
    )
    joined = units.join(per_kg, on=["chemistry_used", "level"], how="left", maintain_order="left")
    return joined.with_columns(
        (pl.col("mass_kg") * pl.col("revenue_per_kg")).alias("recovered_value_usd"),
        (pl.col("mass_kg") * pl.col("cost_per_kg")).alias("process_cost_usd"),
        (pl.col("mass_kg") * (pl.col("revenue_per_kg") - pl.col("cost_per_kg"))).alias(
            "net_value_usd"
        ),
        (pl.col("mass_kg") * pl.col("feed_per_kg")).alias("feed_price_usd"),
    ).drop("revenue_per_kg", "cost_per_kg", "feed_per_kg")


def _lot_id(units: pl.DataFrame, process: str) -> str:
    digest = hashlib.sha256()
    for bid in units.get_column("battery_id").sort().to_list():
        digest.update(bid.encode() + b"\n")
    digest.update(process.encode())
    return f"LOT-{dt.date.today():%Y%m%d}-{digest.hexdigest()[:8]}"


def recycle_lot(
    units: pl.DataFrame | Path | str,
    *,
    process: Process = "hydro",
    year: int | None = None,
    prices: PriceTable | Path | str | None = None,
    location: Location = "US",
    dismantle: Dismantle = "none",
    lot_id: str | None = None,
    source: str | None = None,
    catalog_dir: Path | None = None,
) -> LotResult:
    """Mass balance, value and EU compliance of a lot of units.

    Parameters
    ----------
    units : pl.DataFrame or path
        The lot table (one row per unit; see :mod:`echelon.recycling.units`) or its file.
    process : {"hydro", "pyro", "direct", "mechanical"}
        Recycling route (``mechanical``: pre-treatment only, black mass sold).
    year : int, optional
        Reporting year for the EU targets and dated prices, 2000–2100 (default: this year).
    prices : PriceTable or path, optional
        A loaded price table or an override file (default: the catalogue's prices).
    location : {"US", "California", "China", "Korea"}
        Selects utility prices and the electricity GHG factor (EverBatt 'Geographic Par.').
    dismantle : {"none", "modules", "cells"}
        Hardware of packs and modules removed by hand before shredding.
    lot_id : str, optional
        Default: ``LOT-<date>-<hash of the battery ids and process>``.
    source : str, optional
        Where the units came from, for the report (default: the file, or ``<table>``).
    catalog_dir : Path, optional

    Returns
    -------
    LotResult

    Raises
    ------
    UsageError
        For a year outside 2000–2100, an unknown process, dismantling level or location.
    SchemaError
        For a bad lot table (every bad row and column named).
    RecyclingError
        When the process cannot treat a chemistry in the lot, or mass is not conserved.
    PriceError
        When a product or input of the lot has no price.
    """
    check_choice("process", process, Process)
    check_choice("dismantle", dismantle, Dismantle)
    check_choice("location", location, LOCATIONS)
    year = reporting_year(year)
    prepared, notes, found = _as_units(units, catalog_dir)
    source = source or found
    _check_treatable(prepared, process, catalog_dir)
    table = (
        prices
        if isinstance(prices, PriceTable)
        else load_prices(prices, year=year, catalog_dir=catalog_dir)
    )
    groups = (
        prepared.group_by("chemistry_used", "level")
        .agg(pl.len().alias("units"), pl.col("mass_kg").sum(), pl.col("energy_kwh").sum())
        .sort("chemistry_used", "level")
    )
    balances = _balances(groups, process, dismantle, catalog_dir)
    lines = _lines(balances, table, location, catalog_dir)
    mass_balance, flows = _mass_balance(groups, balances, catalog_dir)
    mass_kg = float(groups.get_column("mass_kg").sum())
    no_energy = prepared.filter(pl.col("energy_kwh").is_null())
    kwh = float(groups.get_column("energy_kwh").sum()) or None
    if no_energy.height:  # black mass has a mass but no energy: a USD/kWh would leave it out
        kwh = None
        levels = ", ".join(sorted(no_energy.get_column("level").cast(pl.String).unique()))
        notes.append(
            f"no USD/kWh: {no_energy.height} unit(s) ({levels}) have a mass but no energy, and "
            "value per kWh of the rest would credit their value to the others' energy"
        )
    if len({c for c, _ in balances}) > 1 and process == "direct":
        notes.append(
            "direct recycling of several chemistries assumes they are processed in separate "
            "single-chemistry batches (EverBatt: results not valid for mixed chemistries)"
        )
    notes.extend(table.notes)
    meta = {
        "lot_id": lot_id or _lot_id(prepared, process),
        "process": process,
        "dismantle": dismantle,
        "location": location,
        "reporting_year": year,
        "source": source,
        "units": prepared.height,
        "mass_kg": mass_kg,
        "energy_kwh": kwh,
        "prices": table.origin,
        "price_overrides": table.override_records(),
        "catalogue": {
            "recycling_composition": composition_catalog(catalog_dir).version,
            "recycling_processes": process_catalog(catalog_dir).version,
            "recycling_emissions": emission_factors(catalog_dir).version,
        },
        "echelon": __version__,
        "computed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return LotResult(
        meta=meta,
        units=_per_unit(prepared, lines),
        mass_balance=mass_balance,
        value=_value_frame(groups, lines, table, mass_kg, kwh),
        compliance=compliance_frame(
            mass_balance, year=year, applicable=process != "mechanical", catalog_dir=catalog_dir
        ),
        inputs=_inputs_frame(groups, balances, lines),
        flows=flows,
        warnings=notes,
    )


def unit_recycling_value(
    units: pl.DataFrame,
    *,
    process: Process | str = "hydro",
    year: int | None = None,
    prices: Path | PriceTable | None = None,
    location: Location = "US",
    untreatable: Literal["raise", "null"] = "raise",
) -> pl.DataFrame:
    """Recycling value of each unit (vectorised; the router's interface).

    Parameters
    ----------
    units : pl.DataFrame
        One row per unit with ``battery_id``, ``chemistry``, ``level`` and ``mass_kg`` or
        ``nominal_capacity_ah`` × ``nominal_voltage_v`` (the lot TABLE contract).
    process : {"hydro", "pyro", "direct", "mechanical"}
    year : int, optional
        Selects dated prices, 2000–2100 (default: this year).
    prices : Path or PriceTable, optional
        Price override file (TOML or CSV), or the prices themselves (``year`` is then unused).
    location : {"US", "California", "China", "Korea"}
    untreatable : {"raise", "null"}
        What to do with units whose chemistry the process cannot treat: raise
        :class:`~echelon.errors.RecyclingError` (default) or return nulls for them.

    Returns
    -------
    pl.DataFrame
        ``battery_id``, ``mass_kg`` [kg], ``recovered_value_usd``, ``process_cost_usd``,
        ``net_value_usd`` (= recovered − cost, negative when recycling costs more than it earns),
        then ``feed_price_usd`` (EverBatt's gate price for the unit). Row order follows ``units``.

    Warns
    -----
    EchelonWarning
        For units booked with the conservative ``unknown`` composition.
    """
    year = reporting_year(year)
    prepared, _ = prepare_units(units)
    warn_unknown(prepared)
    table = prices if isinstance(prices, PriceTable) else load_prices(prices, year=year)
    groups = prepared.group_by("chemistry_used", "level").agg(
        pl.len().alias("units"), pl.col("mass_kg").sum(), pl.col("energy_kwh").sum()
    )
    if untreatable == "null":
        from echelon.recycling.flows import cannot_treat

        ok = [cannot_treat(process, c) is None for c in groups.get_column("chemistry_used")]
        groups = groups.filter(pl.Series(ok))
    if process not in PROCESSES:
        raise RecyclingError(f"unknown process {process!r}; use one of {', '.join(PROCESSES)}")
    if untreatable == "raise":
        _check_treatable(prepared, process, None)
    balances = _balances(groups, process, "none", None)  # type: ignore[arg-type]
    valued = _per_unit(prepared, _lines(balances, table, location))
    return valued.select(*UNIT_VALUE_COLUMNS, "feed_price_usd")
