"""Echelon vs the independent hand calculation vs the published figures (docs/validation.md).

``python -m tests.recycling.everbatt_compare`` prints the Markdown tables pasted into
docs/validation.md; ``test_everbatt_validation.py`` checks the agreement and that the document is
current.
"""

from __future__ import annotations

from dataclasses import dataclass

from echelon.recycling import feed_balance
from echelon.recycling.catalog import emission_factors
from echelon.recycling.economics import cost_lines, ghg_lines, revenue_lines
from echelon.recycling.flows import PRODUCT, input_elements
from echelon.recycling.prices import load_prices
from tests.recycling.everbatt_hand import REAGENT_PRICE, hand_calculation

PROCESSES = ("pyro", "hydro", "direct")
CHEMISTRIES = ("NMC811", "LFP")
LI2CO3_PER_LI = 37 / 7  # EverBatt's crude Li2CO3 rule, only to express Echelon's Li as product mass

# Published figures in shared/reference/recycling-passport-flows.md, per t of cells.
PUBLISHED: dict[tuple[str, str, str], str] = {
    ("NMC811", "hydro", "black mass"): "670–700 ᵃ",
    ("NMC811", "direct", "black mass"): "670–700 ᵃ",
    ("LFP", "hydro", "black mass"): "670–700 ᵃ",
    ("LFP", "direct", "black mass"): "670–700 ᵃ",
    ("NMC811", "pyro", "revenue"): "4,310 ᵇ",
    ("NMC811", "hydro", "revenue"): "5,510 ᵇ",
    ("NMC811", "direct", "revenue"): "8,410 ᵇ",
    ("LFP", "pyro", "revenue"): "890 ᵇ",
    ("LFP", "hydro", "revenue"): "1,600 ᵇ",
    ("LFP", "direct", "revenue"): "3,950 ᵇ",
    ("NMC811", "pyro", "GHG"): "2,520 ᶜ",
    ("NMC811", "hydro", "GHG"): "2,310 ᶜ",
    ("NMC811", "direct", "GHG"): "670 ᶜ",
    ("LFP", "pyro", "GHG"): "2,440 ᶜ",
    ("LFP", "hydro", "GHG"): "2,370 ᶜ",
    ("LFP", "direct", "GHG"): "670 ᶜ",
}
# Worked example of recycling-passport-flows.md §2.3/§2.4: hydro on 1 kg NMC811 black mass.
WORKED_EXAMPLE = {
    "H2SO4": "1.45",
    "NaOH": "0.95",
    "H2O2": "0.10",
    "soda ash": "0.31",
    "natural gas": "1.78 ᵈ",
    "electricity": "0.9",
    "Li2CO3 (crude)": "0.196",
    "Ni²⁺": "0.273",
    "Co²⁺": "0.034",
    "Mn²⁺": "0.032",
    "graphite": "0.353",
    "GHG": "≈2.8 ᵉ",
}
LABELS = {
    "sulfuric_acid": "H2SO4",
    "sodium_hydroxide": "NaOH",
    "hydrogen_peroxide": "H2O2",
    "soda_ash": "soda ash",
    "limestone": "limestone",
    "sand": "sand",
    "lime": "lime",
    "nitrogen": "N2",
    "lithium_hydroxide": "LiOH",
    "natural_gas": "natural gas",
    "electricity": "electricity",
    "diesel": "diesel",
    "lithium_carbonate_crude": "Li2CO3 (crude)",
    "nickel_salt": "Ni²⁺",
    "cobalt_salt": "Co²⁺",
    "manganese_salt": "Mn²⁺",
    "graphite": "graphite",
    "copper_metal": "Cu metal",
    "copper_scrap": "Cu scrap",
    "aluminium_scrap": "Al scrap",
    "steel_scrap": "steel scrap",
}


@dataclass(frozen=True)
class Row:
    """One compared quantity."""

    quantity: str
    unit: str
    echelon: float
    hand: float
    published: str = ""

    @property
    def rel_diff(self) -> float:
        """Relative difference Echelon vs hand (0 when both are 0)."""
        if self.hand == 0.0:
            return 0.0 if self.echelon == 0.0 else float("inf")
        return (self.echelon - self.hand) / abs(self.hand)


def echelon_account(chemistry: str, process: str, level: str = "cell") -> dict[str, float]:
    """Echelon's figures per kg of feed, keyed like the comparison rows."""
    bal = feed_balance(chemistry, level, process=process)  # type: ignore[arg-type]
    prices = load_prices(year=2023)
    out: dict[str, float] = {}
    for f in bal.flows:
        if f.destination == PRODUCT and f.product:
            key = "cathode material" if f.product.startswith("cathode_material") else f.product
            out[f"product:{key}"] = out.get(f"product:{key}", 0.0) + f.kg
    if "product:lithium_carbonate_crude" in out:
        out["product:lithium_carbonate_crude"] *= LI2CO3_PER_LI
    for (_, reagent), kg in bal.reagents_kg.items():
        out[f"reagent:{reagent}"] = out.get(f"reagent:{reagent}", 0.0) + kg
    for (_, carrier), mj in bal.energy_mj.items():
        out[f"energy:{carrier}"] = out.get(f"energy:{carrier}", 0.0) + mj
    out["water"] = sum(bal.water_gal.values())
    out["black mass"] = bal.stage_feed_kg.get(process, 0.0) if process != "pyro" else 0.0
    out["revenue"] = sum(line.value for line in revenue_lines(bal, prices))
    out["reagent cost"] = sum(
        line.value for line in cost_lines(bal, prices, location="US") if line.item in REAGENT_PRICE
    )
    out["GHG"] = sum(line.value for line in ghg_lines(bal, emission_factors(), location="US"))
    from echelon.recycling.economics import feed_price_usd_per_kg

    out["feed price"] = feed_price_usd_per_kg(chemistry, level, input_elements(bal), prices)
    return out


def hand_account(chemistry: str, process: str, level: str = "cell") -> dict[str, float]:
    """The hand calculation per kg of feed, keyed like :func:`echelon_account`."""
    acc = hand_calculation(chemistry, process, level=level)
    out: dict[str, float] = {}
    for k, v in acc.products.items():
        key = "cathode material" if k.startswith("cathode_material") else k
        if v:
            out[f"product:{key}"] = v
    out |= {f"reagent:{k}": v for k, v in acc.reagents.items() if v}
    out |= {f"energy:{k}": v for k, v in acc.energy.items()}
    out["water"] = acc.water_gal
    out["black mass"] = acc.black_mass_kg
    out["revenue"] = acc.revenue_usd
    out["reagent cost"] = acc.reagent_cost_usd
    out["GHG"] = acc.ghg_kg
    out["feed price"] = acc.feed_price_usd
    return out


def _label(key: str) -> tuple[str, str]:
    kind, _, name = key.partition(":")
    if kind == "product":
        return f"product: {LABELS.get(name, name)}", "kg"
    if kind == "reagent":
        return f"reagent: {LABELS.get(name, name)}", "kg"
    if kind == "energy":
        return f"energy: {LABELS.get(name, name)}", "MJ"
    return key, {
        "water": "gal",
        "black mass": "kg",
        "revenue": "USD",
        "reagent cost": "USD",
        "GHG": "kg CO2e",
        "feed price": "USD",
    }[key]


def rows(chemistry: str, process: str) -> list[Row]:
    """Comparison rows for 1 t (1,000 kg) of cells."""
    ours, hand = echelon_account(chemistry, process), hand_account(chemistry, process)
    keys = [k for k in hand if hand[k] or ours.get(k)]
    keys += [k for k in ours if k not in hand and ours[k]]
    out = []
    for key in keys:
        label, unit = _label(key)
        out.append(
            Row(
                label,
                unit,
                1000.0 * ours.get(key, 0.0),
                1000.0 * hand.get(key, 0.0),
                PUBLISHED.get((chemistry, process, key), ""),
            )
        )
    return out


def worked_example_rows() -> list[Row]:
    """Hydro on 1 kg of EverBatt-default NMC811 black mass vs the reference's worked example."""
    ours = echelon_account("NMC811", "hydro", level="black_mass")
    hand = hand_account("NMC811", "hydro", level="black_mass")
    out = []
    for key in hand:
        label, unit = _label(key)
        short = label.split(": ", 1)[-1]
        if short in WORKED_EXAMPLE:
            out.append(Row(label, unit, ours.get(key, 0.0), hand[key], WORKED_EXAMPLE[short]))
    return out


def _pct(rel: float) -> str:
    """Relative difference in percent, 3 decimals ("+0.000 %" below 0.0005 %)."""
    text = f"{100 * rel:+.3f} %"
    return "+0.000 %" if text == "-0.000 %" else text


def _fmt(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 10 else f"{value:,.1f}"


def markdown() -> str:
    """The comparison tables as Markdown."""
    parts = []
    for chem in CHEMISTRIES:
        for proc in PROCESSES:
            parts.append(f"**1 t of {chem} cells, {proc}**\n")
            parts.append("| quantity | unit | Echelon | hand calculation | Δ | published |")
            parts.append("|---|---|---:|---:|---:|---|")
            for r in rows(chem, proc):
                parts.append(
                    f"| {r.quantity} | {r.unit} | {_fmt(r.echelon)} | {_fmt(r.hand)} | "
                    f"{_pct(r.rel_diff)} | {r.published} |"
                )
            parts.append("")
    parts.append(
        "**Hydro on 1 kg of EverBatt-default NMC811 black mass (the reference's worked example)**\n"
    )
    parts.append("| quantity | unit | Echelon | hand calculation | Δ | published |")
    parts.append("|---|---|---:|---:|---:|---|")
    for r in worked_example_rows():
        parts.append(
            f"| {r.quantity} | {r.unit} | {r.echelon:.4g} | {r.hand:.4g} | "
            f"{_pct(r.rel_diff)} | {r.published} |"
        )
    return "\n".join(parts) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(markdown())
