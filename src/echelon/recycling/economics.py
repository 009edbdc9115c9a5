"""Revenue, costs, GHG and the feed price of one kg of feed through a process.

Revenue = Σ recovered product × its price (EverBatt sells salts by their metal content, crude
Li2CO3, scrap, graphite, relithiated cathode at the virgin price); black mass, when it is the
product, is valued with the payables of its chemistry: Σ contained Ni, Co × payable × metal
price + Li × 5.323 × payable × Li2CO3 price (recycling-passport-flows.md §5.2).

Costs = reagents × prices + natural gas and electricity × location prices + process water and
wastewater + landfill of residues (tip fee per short ton) + fixed operating cost per stage +
manual dismantling labour. EverBatt's plant-cost model (equipment correlations of its ``Unit
Ops`` sheet) is not in the references; the fixed operating costs are the catalogue's per-kg
values instead. Diesel is counted for energy and GHG but has no price in the references, so it
is not costed.

GHG (kg CO2e) = CO2 of the carbon in materials burned or volatilised + CO2 of decomposed carbonate
reagents + cradle-to-gate GHGs of reagents + fuels (upstream + combustion) + electricity of the
location, all with EverBatt 2023's factors (GREET 2022, AR6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from echelon.recycling.catalog import EmissionFactors, composition_catalog, process_catalog
from echelon.recycling.composition import family
from echelon.recycling.flows import PRODUCT, FeedBalance
from echelon.recycling.prices import PriceTable

LANDFILLED = ("solid_waste", "slag", "flue_dust")
BURNED = ("flue_dust", "off_gas")


@dataclass(frozen=True)
class Line:
    """One line of a valuation or emission account, per kg of feed.

    Attributes
    ----------
    category : str
        ``revenue``, ``cost`` or ``ghg``.
    item : str
        Product, reagent, energy carrier or cost item.
    stage : str
        Stage it belongs to (``lot`` for lot-wide items).
    quantity : float
        Amount per kg of feed in ``unit``.
    unit : str
    price : float or None
        USD per unit (revenue, cost) or kg CO2e per unit (ghg).
    value : float
        USD (revenue, cost) or kg CO2e (ghg) per kg of feed.
    price_item : str or None
        The price table's item the price is (``US:electricity`` for ``electricity``); None when
        the price is not one of the table's (black-mass payables, fixed costs, labour, GHG).
    """

    category: str
    item: str
    stage: str
    quantity: float
    unit: str
    price: float | None
    value: float
    price_item: str | None = None


def black_mass_value_usd(
    elements_kg: Mapping[str, float], chemistry: str, prices: PriceTable
) -> float:
    """Payable value [USD] of black mass holding ``elements_kg`` of a chemistry's elements."""
    pay = prices.payable(chemistry)
    value = 0.0
    if pay["ni"]:
        value += elements_kg.get("Ni", 0.0) * pay["ni"] * prices.price("metal:Ni")
    if pay["co"]:
        value += elements_kg.get("Co", 0.0) * pay["co"] * prices.price("metal:Co")
    if pay["li"]:
        lce = elements_kg.get("Li", 0.0) * prices.lce_kg_per_kg_li
        value += lce * pay["li"] * prices.price("metal:Li2CO3")
    return value


def feed_price_usd_per_kg(
    chemistry: str, level: str, elements_kg: Mapping[str, float], prices: PriceTable
) -> float:
    """EverBatt's default feed (gate) price [USD per kg of feed]; negative: the recycler is paid.

    ``'Preproc. Par.'!C95``: a fixed price for LFP (−2 USD/kg), otherwise the contained Co and Ni
    metal value × 0.3 for batteries and scrap, × 0.7 for black mass.
    """
    if chemistry in prices.fixed_feed_usd_per_kg:
        return prices.fixed_feed_usd_per_kg[chemistry]
    share = prices.black_mass_share if level == "black_mass" else prices.battery_share
    metal = elements_kg.get("Co", 0.0) * prices.price("metal:Co")
    metal += elements_kg.get("Ni", 0.0) * prices.price("metal:Ni")
    return metal * share


def revenue_lines(balance: FeedBalance, prices: PriceTable) -> list[Line]:
    """Products sold, per kg of feed."""
    catalog = process_catalog(balance.catalog_dir)
    recovered: dict[tuple[str, str], float] = {}
    bm_elements: dict[str, float] = {}
    for f in balance.flows:
        if f.destination != PRODUCT or f.product is None:
            continue
        key = (f.stage, f.product)
        recovered[key] = recovered.get(key, 0.0) + f.kg
        if f.product == "black_mass":
            bm_elements[f.component] = bm_elements.get(f.component, 0.0) + f.kg
    lines = []
    for (stage, product), kg in sorted(recovered.items()):
        if product == "black_mass":
            value = black_mass_value_usd(bm_elements, balance.chemistry, prices)
            lines.append(
                Line("revenue", product, stage, kg, "kg", value / kg if kg else 0.0, value)
            )
            continue
        spec = catalog.products[product.split(":", 1)[0]]
        sold = kg if spec.priced_per == "basis" else kg * spec.product_kg_per_kg.value
        price = prices.price(product)
        unit = prices.entries[product].unit.removeprefix("USD/")  # of the quantity: "kg Co"
        lines.append(Line("revenue", product, stage, sold, unit, price, sold * price, product))
    return lines


def cost_lines(balance: FeedBalance, prices: PriceTable, *, location: str) -> list[Line]:
    """Operating costs per kg of feed."""
    units = prices.units
    lines = [
        Line("cost", r, stage, kg, "kg", prices.price(r), kg * prices.price(r), r)
        for (stage, r), kg in balance.reagents_kg.items()
        if kg
    ]
    for (stage, carrier), mj in balance.energy_mj.items():
        item = f"{location}:{carrier}"
        if carrier == "natural_gas" and mj:
            price = prices.price(item)
            mmbtu = mj / units["mj_per_mmbtu"]
            lines.append(Line("cost", carrier, stage, mmbtu, "MMBtu", price, mmbtu * price, item))
        elif carrier == "electricity" and mj:
            price = prices.price(item)
            kwh = mj / units["mj_per_kwh"]
            lines.append(Line("cost", carrier, stage, kwh, "kWh", price, kwh * price, item))
    for stage, gal in balance.water_gal.items():
        for name in ("water", "wastewater"):
            item = f"{location}:{name}"
            price = prices.price(item)
            lines.append(Line("cost", name, stage, gal, "gal", price, gal * price, item))
    landfill: dict[str, float] = {}
    for f in balance.flows:
        if f.destination in LANDFILLED:
            landfill[f.stage] = landfill.get(f.stage, 0.0) + f.kg
    tip = prices.price(f"{location}:landfill")
    for stage, kg in landfill.items():
        tons = kg / units["kg_per_short_ton"]
        lines.append(
            Line(
                "cost",
                "landfill",
                stage,
                tons,
                "short ton",
                tip,
                tons * tip,
                f"{location}:landfill",
            )
        )
    for stage, usd in balance.fixed_cost_usd.items():
        lines.append(Line("cost", "fixed_operating", stage, 1.0, "kg feed", usd, usd))
    if balance.labour_hours:
        rate = process_catalog(balance.catalog_dir).dismantling.labour_usd_per_hour.value
        hours = balance.labour_hours
        lines.append(
            Line("cost", "dismantling_labour", "dismantling", hours, "h", rate, hours * rate)
        )
    return lines


def ghg_lines(balance: FeedBalance, factors: EmissionFactors, *, location: str) -> list[Line]:
    """GHG emissions [kg CO2e] per kg of feed, by source."""
    materials = composition_catalog(balance.catalog_dir).materials
    combustion: dict[str, float] = {}
    for f in balance.flows:
        if f.destination in BURNED:
            carbon = materials[family(f.material)].carbon_fraction
            combustion[f.stage] = combustion.get(f.stage, 0.0) + f.kg * carbon
    lines = [
        Line(
            "ghg",
            "process: combustion CO2",
            stage,
            c,
            "kg C",
            factors.co2_kg_per_kg_carbon,
            c * factors.co2_kg_per_kg_carbon,
        )
        for stage, c in combustion.items()
        if c
    ]
    per_kg = factors.short_ton_per_kg / 1000.0  # g/short ton → kg CO2e per kg
    for (stage, reagent), kg in balance.reagents_kg.items():
        if not kg:
            continue
        if reagent in factors.decomposition_co2_kg_per_kg:
            co2 = factors.decomposition_co2_kg_per_kg[reagent]
            lines.append(
                Line("ghg", f"process: {reagent} decomposition", stage, kg, "kg", co2, kg * co2)
            )
        factor = factors.reagent_g_per_short_ton.get(reagent, 0.0) * per_kg
        lines.append(Line("ghg", f"reagent: {reagent}", stage, kg, "kg", factor, kg * factor))
    for (stage, carrier), mj in balance.energy_mj.items():
        if not mj:
            continue
        if carrier == "electricity":
            g_per_mmbtu = factors.electricity_g_per_mmbtu[location]
        else:
            g_per_mmbtu = factors.fuel_g_per_mmbtu[carrier]
        factor = g_per_mmbtu / factors.mj_per_mmbtu / 1000.0
        lines.append(Line("ghg", f"energy: {carrier}", stage, mj, "MJ", factor, mj * factor))
    return lines
