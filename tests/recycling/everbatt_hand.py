"""Independent hand calculation of EverBatt 2023's default rules for 1 t of cells.

This module does NOT import Echelon. Its numbers come from the reference file itself
(``shared/reference/everbatt-2023-reference-outputs.md``, parsed by ``everbatt_reference``) or are
typed below from that file with their workbook cells; its formulas are the workbook formulas quoted
in the reference (§6–§9), written out literally, in EverBatt's own order of computation:

* generic pre-processing per kg of feedstock ('Preproc. Par.'!AD68:AD112), then the black-mass
  composition ('Preproc. Par.'!AD117:AD130), then critical-material recovery per kg of black mass
  ('CM Rec Par.' CB:CE for hydro, DB:DE for direct), scaled back by the black-mass yield as the
  Output sheet does (``Output!J37`` pattern);
* pyro per kg of feedstock without pre-processing ('CM Rec Par.' BB:BE).

Echelon instead routes every (material, element) mass through the stages in one pass; the two must
agree (docs/validation.md). Run ``python -m tests.recycling.everbatt_hand`` to print the tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.recycling import everbatt_reference as ref

# Typed from the reference (cells quoted there); used only by this hand calculation.
SHORT_TON_PER_KG = 0.0011  # 'CM Rec Par.'!BI156
MJ_PER_MMBTU = 1055.0  # 'CM Rec Par.'!BI157
GWP_CH4, GWP_N2O = 29.8, 273.0  # 'GREET IO'!B114:B115
NG_G_PER_MMBTU = 13740.3 + 59366.9 + 1.06 * GWP_CH4 + 0.75 * GWP_N2O  # B40 + B12:B14
DIESEL_G_PER_MMBTU = (
    13186.7
    + 111.772 * GWP_CH4
    + 0.244016 * GWP_N2O  # 'GREET IO'!B161:B163 (upstream)
    + 77704.7
    + 2.35277 * GWP_CH4
    + 2.02 * GWP_N2O  # 'GREET IO'!T12:T14 (wheel loader)
)
ELECTRICITY_US_G_PER_MMBTU = 136717.0  # 'Geographic Par.'!E88
CARBON = {  # 'CM Rec Par.'!BH139:BP139
    "graphite": 1.0,
    "carbon_black": 1.0,
    "pet": 0.63,
    "pp": 0.86,
    "pe": 0.92,
    "ec": 0.41,
    "dmc": 0.40,
    "pvdf": 24 / 64,
    "anode_binder": 24 / 59,
}
F_IN_PVDF = 37.996 / 64.034  # 'CM Rec Par.'!L85/M85
REAGENT_GREET = {  # 'GREET IO' row 98 names
    "limestone": "Limestone",
    "sand": "Sand",
    "sulfuric_acid": "Sulfuric Acid",
    "lime": "Lime",
    "hydrogen_peroxide": "Hydrogen Peroxide",
    "sodium_hydroxide": "Sodium Hydroxide",
    "soda_ash": "Soda Ash",
    "lithium_hydroxide": "Lithium Hydroxide",
}
REAGENT_PRICE = {  # Materials!A10:B31 names
    "nitrogen": "Nitrogen",
    "lime": "Lime",
    "limestone": "Limestone",
    "sand": "Sand",
    "sulfuric_acid": "Sulfuric Acid",
    "hydrogen_peroxide": "Hydrogen Peroxide",
    "sodium_hydroxide": "Sodium Hydroxide",
    "soda_ash": "Soda Ash",
    "lithium_hydroxide": "Lithium Hydroxide",
}
CAM_PRICE_NAME = {
    "NMC111": "NMC(111)",
    "NMC532": "NMC(532)",
    "NMC622": "NMC(622)",
    "NMC811": "NMC(811)",
    "NCA": "NCA",
    "LFP": "LFP",
    "LMO": "LMO",
    "LCO": "LCO",
}


@dataclass
class Account:
    """Per kg of feedstock: products [kg], reagents [kg], energy [MJ], water [gal], money, GHG."""

    products: dict[str, float] = field(default_factory=dict)
    reagents: dict[str, float] = field(default_factory=dict)
    energy: dict[str, float] = field(default_factory=dict)
    water_gal: float = 0.0
    black_mass_kg: float = 0.0
    revenue_usd: float = 0.0
    ghg_kg: float = 0.0
    feed_price_usd: float = 0.0

    def add(self, bucket: str, key: str, value: float) -> None:
        target = getattr(self, bucket)
        target[key] = target.get(key, 0.0) + value

    @property
    def reagent_cost_usd(self) -> float:
        prices = ref.chemical_prices()
        return sum(kg * prices[REAGENT_PRICE[r]] for r, kg in self.reagents.items())


def elements(comp: dict[str, float], chemistry: str) -> dict[str, float]:
    """Element contents (kg/kg) of a feed, as 'CM Rec Par.'!BC46:BC50: CAM and LiPF6 stoichiometry,
    F of LiPF6 and PVDF, P of LiPF6 (and of LFP)."""
    st = ref.cathode_stoichiometry()
    cam, lipf6 = st[chemistry], st["LiPF6"]
    out = {}
    for e in ("Li", "Co", "Ni", "Mn", "P", "Fe", "Al"):
        out[e] = comp["cam"] * cam[e] / cam["M"] + comp["lipf6"] * lipf6[e] / lipf6["M"]
    out["F"] = comp["lipf6"] * lipf6["F"] / lipf6["M"] + comp["pvdf"] * F_IN_PVDF
    return out


def _energy_ghg(acc: Account) -> float:
    g = acc.energy.get("natural_gas", 0.0) / MJ_PER_MMBTU * NG_G_PER_MMBTU
    g += acc.energy.get("diesel", 0.0) / MJ_PER_MMBTU * DIESEL_G_PER_MMBTU
    g += acc.energy.get("electricity", 0.0) / MJ_PER_MMBTU * ELECTRICITY_US_G_PER_MMBTU
    return g / 1000.0


def _reagent_ghg(reagents: dict[str, float]) -> float:
    greet = ref.greet_materials()
    return sum(
        kg * greet[REAGENT_GREET[r]] * SHORT_TON_PER_KG / 1000.0
        for r, kg in reagents.items()
        if r in REAGENT_GREET
    )


def feed_price(comp: dict[str, float], chemistry: str, black_mass: bool = False) -> float:
    """'Preproc. Par.'!C95: LFP −2 USD/kg; else CAM × (Co, Ni fractions × prices) × 0.3 or 0.7."""
    if chemistry == "LFP":
        return -2.0
    st = ref.cathode_stoichiometry()[chemistry]
    metal = ref.metal_prices()
    share = 0.7 if black_mass else 0.3
    return (
        comp["cam"] * (st["Co"] / st["M"] * metal["Co"] + st["Ni"] / st["M"] * metal["Ni"]) * share
    )


def preprocessing(comp: dict[str, float], chemistry: str, acc: Account) -> dict[str, float]:
    """'Preproc. Par.' per kg feedstock; returns the black-mass composition (kg/kg black mass)."""
    el = elements(comp, chemistry)
    yield_bm = (comp["cam"] + comp["graphite"] + comp["carbon_black"]) * 0.95 + (
        comp["pvdf"] + comp["anode_binder"] + comp["copper"] + comp["aluminium"]
    ) * 0.05  # AD102
    acc.black_mass_kg = yield_bm
    acc.add("products", "aluminium_scrap", comp["aluminium"] * 0.9)  # AD103
    acc.add("products", "copper_scrap", comp["copper"] * 0.9)  # AD104
    acc.add("products", "steel_scrap", comp.get("steel", 0.0) * 0.9)  # AD105
    acc.add("reagents", "nitrogen", 0.05)  # AD68
    acc.add("reagents", "lime", el["F"] / 38 * 56 + el["P"] / 62 * 168)  # AD69
    acc.add("energy", "diesel", 0.6)  # AD79
    acc.add("energy", "natural_gas", 2.0)  # AD80
    acc.add("energy", "electricity", 0.2)  # AD81
    acc.water_gal += 0.1  # AD85
    prices = ref.recovered_prices()  # 'Preproc. Par.'!C69:C71 = Materials!B84:B86
    acc.revenue_usd += comp["aluminium"] * 0.9 * prices["Aluminum"]
    acc.revenue_usd += comp["copper"] * 0.9 * prices["Copper"]
    acc.revenue_usd += comp.get("steel", 0.0) * 0.9 * prices["Steel"]
    burned = ["pp", "pe", "pet", "ec", "dmc", "pvdf", "anode_binder"]  # fates AB88:AC97
    acc.ghg_kg += sum(comp.get(m, 0.0) * CARBON[m] for m in burned) * 44 / 12  # AC150
    bm = {m: comp[m] * 0.95 / yield_bm for m in ("cam", "graphite", "carbon_black")}  # AD117…
    bm |= {m: comp[m] * 0.05 / yield_bm for m in ("pvdf", "anode_binder", "copper", "aluminium")}
    bm["lipf6"] = 0.0
    return bm


def hydro(bm: dict[str, float], chemistry: str, acc: Account) -> None:
    """'CM Rec Par.' CB:CE per kg black mass, scaled by the black-mass yield."""
    y = acc.black_mass_kg
    el = elements(bm, chemistry)
    li, co, ni, mn, f = el["Li"], el["Co"], el["Ni"], el["Mn"], el["F"]
    products = {
        "lithium_carbonate_crude": li * 0.9 / 7 * 37,  # CD126
        "cobalt_salt": co * 0.98,  # CD127
        "nickel_salt": ni * 0.98,  # CD128
        "manganese_salt": mn * 0.98,  # CD129
        "graphite": bm["graphite"] * 0.9,  # CD130
    }
    reagents = {
        "sulfuric_acid": li / 14 * 98 + (co / 59 + ni / 59 + mn / 55) * 98 * 2,  # CC88
        "hydrogen_peroxide": (co / 59 + ni / 59 + mn / 55) / 2 * 34,  # CC89
        "sodium_hydroxide": (co / 59 + ni / 59 + mn / 55) * 4 * 40,  # CC90
        "soda_ash": li / 14 * 106,  # CC91
        "lime": f / 38 * 56,  # CC92
    }
    energy = {"diesel": 0.6, "natural_gas": 1 + 4 * li / 7 * 37, "electricity": 0.25 * 3.6}
    _cm_account(acc, y, products, reagents, energy, water_gal=2.0)
    prices = ref.recovered_prices()
    acc.revenue_usd += y * (
        products["lithium_carbonate_crude"] * prices["Lithium carbonate (crude)"]
        + products["cobalt_salt"] * prices["Co2+ in Co salt/oxide"]
        + products["nickel_salt"] * prices["Ni2+ in Ni salt/oxide"]
        + products["manganese_salt"] * prices["Mn2+ in Mn salt"]
        + products["graphite"] * prices["Graphite"]
    )


def direct(bm: dict[str, float], chemistry: str, acc: Account) -> None:
    """'CM Rec Par.' DB:DE per kg black mass, scaled by the black-mass yield."""
    y = acc.black_mass_kg
    el = elements(bm, chemistry)
    products = {f"cathode_material:{chemistry}": bm["cam"] * 0.9, "graphite": bm["graphite"] * 0.9}
    reagents = {"lithium_hydroxide": el["Li"] * 0.3 / 7 * 24, "lime": el["F"] / 38 * 56}
    energy = {
        "diesel": 0.6,
        "natural_gas": 0.4 * (bm["cam"] + bm["graphite"]) + 2 * bm["cam"],  # DD105
        "electricity": 0.5 + bm["cam"] * 4 * 3.6,  # DD106
    }
    _cm_account(acc, y, products, reagents, energy, water_gal=1.0)
    prices = ref.recovered_prices()
    acc.revenue_usd += y * (
        products[f"cathode_material:{chemistry}"] * prices[CAM_PRICE_NAME[chemistry]]
        + products["graphite"] * prices["Graphite"]
    )


def _cm_account(
    acc: Account,
    y: float,
    products: dict[str, float],
    reagents: dict[str, float],
    energy: dict[str, float],
    *,
    water_gal: float,
) -> None:
    for k, v in products.items():
        acc.add("products", k, v * y)
    for k, v in reagents.items():
        acc.add("reagents", k, v * y)
    for k, v in energy.items():
        acc.add("energy", k, v * y)
    acc.water_gal += water_gal * y


def pyro(comp: dict[str, float], chemistry: str, acc: Account) -> None:
    """'CM Rec Par.' BB:BE per kg of feedstock (no pre-processing)."""
    el = elements(comp, chemistry)
    cu, co, ni, f = comp["copper"], el["Co"], el["Ni"], el["F"]
    acc.add("products", "copper_metal", cu * 0.95)  # BD127
    acc.add("products", "cobalt_salt", co * 0.95)  # BD128
    acc.add("products", "nickel_salt", ni * 0.95)  # BD129
    acc.add("reagents", "limestone", 1 * (cu + co + ni))  # BC88
    acc.add("reagents", "sand", 1.5 * (cu + co + ni))  # BC89
    acc.add("reagents", "sulfuric_acid", (co / 59 + ni / 59 + cu / 64) * 98)  # BC90
    acc.add("reagents", "lime", f / 14 * 56)  # BC91
    acc.add("energy", "diesel", 0.6)  # BD104
    acc.add("energy", "natural_gas", 1 * (cu + co + ni))  # BD105
    acc.add("energy", "electricity", cu * 2 * 3.6 + 0.5)  # BD106
    acc.water_gal += 1.0  # BD110
    prices = ref.recovered_prices()
    acc.revenue_usd += (
        cu * 0.95 * prices["Copper metal"]
        + co * 0.95 * prices["Co2+ in Co salt/oxide"]
        + ni * 0.95 * prices["Ni2+ in Ni salt/oxide"]
    )
    burned = ["graphite", "carbon_black", "pp", "pe", "pet", "ec", "dmc", "pvdf", "anode_binder"]
    acc.ghg_kg += sum(comp.get(m, 0.0) * CARBON[m] for m in burned) * 44 / 12  # BC152
    acc.ghg_kg += acc.reagents["limestone"] * 44 / 100  # BD152


def hand_calculation(chemistry: str, process: str, *, level: str = "cell") -> Account:
    """EverBatt 2023 default rules for 1 kg of ``chemistry`` feed through ``process``."""
    comp = ref.feed_composition(level)[chemistry]
    acc = Account(feed_price_usd=feed_price(comp, chemistry, black_mass=level == "black_mass"))
    if process == "pyro":
        pyro(comp, chemistry, acc)
    else:
        if level == "black_mass":
            acc.black_mass_kg = 1.0
            bm = dict(comp)
        else:
            bm = preprocessing(comp, chemistry, acc)
        (hydro if process == "hydro" else direct)(bm, chemistry, acc)
    acc.ghg_kg += _reagent_ghg(acc.reagents) + _energy_ghg(acc)
    return acc


if __name__ == "__main__":  # pragma: no cover - a printing helper
    for chem in ("NMC811", "LFP"):
        for proc in ("pyro", "hydro", "direct"):
            a = hand_calculation(chem, proc)
            print(chem, proc, {k: round(v * 1000, 3) for k, v in a.products.items()})
            print("   reagents", {k: round(v * 1000, 3) for k, v in a.reagents.items()})
            print("   energy", {k: round(v * 1000, 1) for k, v in a.energy.items()})
            print(
                f"   water {a.water_gal * 1000:.1f} gal, BM {a.black_mass_kg * 1000:.1f} kg, "
                f"revenue {a.revenue_usd * 1000:.1f} USD, reagents {a.reagent_cost_usd * 1000:.1f} "
                f"USD, GHG {a.ghg_kg * 1000:.1f} kg, feed price {a.feed_price_usd * 1000:.1f} USD"
            )
