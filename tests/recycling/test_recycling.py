"""echelon.recycling: compositions, stage flows, lots (balance, value, compliance) and bad input."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echelon.catalog._loader import packaged_table_path
from echelon.errors import CatalogError, EchelonWarning, PriceError, RecyclingError, SchemaError
from echelon.recycling import (
    composition_table,
    element_table,
    feed_balance,
    load_prices,
    prepare_units,
    read_units_table,
    recycle_lot,
    recycled_content_check,
    recycled_content_minimums,
    recycled_content_supply,
    unit_composition,
    unit_recycling_value,
)
from echelon.recycling.catalog import clear_caches, composition_catalog, process_catalog
from echelon.recycling.compliance import binding_target
from echelon.recycling.flows import PRODUCT, check_conservation, input_elements

QUOTED = ("NMC111", "NMC532", "NMC622", "NMC811", "NCA", "LFP", "LMO", "LCO")
ALL = (*QUOTED, "Li-metal", "Li-S", "LMO-NMC", "unknown")
LEVELS = ("cell", "module", "pack", "black_mass")


def lot(**columns: list[object]) -> pl.DataFrame:
    return pl.DataFrame(columns, strict=False)


# ------------------------------------------------------------------------------ composition


@pytest.mark.parametrize("chemistry", ALL)
@pytest.mark.parametrize("level", LEVELS)
def test_compositions_are_complete(chemistry: str, level: str) -> None:
    comp = unit_composition(chemistry, level)
    assert sum(comp.fractions.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(v >= 0 for v in comp.fractions.values())
    assert (comp.kg_per_kwh is None) == (level == "black_mass")
    assert comp.is_estimate == (
        chemistry in ("LMO", "LCO", "Li-metal", "Li-S", "LMO-NMC", "unknown")
    )


def test_everbatt_specific_energy_and_pack_split() -> None:
    # EverBatt 2023 §3: NMC811 cell 2.9765 kg/kWh, pack 4.88726 kg/kWh (100 kWh pack of 400 cells)
    assert unit_composition("NMC811", "cell").kg_per_kwh == pytest.approx(2.9765, rel=1e-5)
    pack = unit_composition("NMC811", "pack")
    assert pack.kg_per_kwh == pytest.approx(4.88726, rel=1e-9)
    # the cells are 297.65 of 488.726 kg; steel, iron and BMS electronics are all pack hardware
    assert sum(pack.parts["cells"].values()) == pytest.approx(297.65 / 488.726, rel=2e-3)
    for material in ("steel", "iron", "electronics", "coolant"):
        in_cells = pack.parts["cells"].get(material, 0.0)
        assert in_cells == pytest.approx(0.0, abs=1e-6), material
    assert pack.parts["pack_hardware"]["steel"] > 0.15


def test_per_kwh_tables_follow_the_reference() -> None:
    # recycling-passport-flows.md §1.2 (derived from the same workbook): NMC811 CAM 1.277 kg/kWh,
    # Ni 0.616, Li 0.093; LFP Fe 0.685, P 0.380 (CAM only; LiPF6 adds a little P)
    cells = composition_table(level="cell", chemistries=["NMC811", "LFP"])
    cam = cells.filter((pl.col("chemistry") == "NMC811") & (pl.col("material") == "cam:NMC811"))
    assert cam["kg_per_kwh"][0] == pytest.approx(1.277, abs=0.001)
    elements = element_table(level="cell", chemistries=["NMC811", "LFP"])
    got = {(r["chemistry"], r["element"]): r["kg_per_kwh"] for r in elements.iter_rows(named=True)}
    assert got[("NMC811", "Ni")] == pytest.approx(0.616, abs=0.001)
    assert got[("NMC811", "Li")] == pytest.approx(0.093, abs=0.001)
    assert got[("LFP", "Fe")] == pytest.approx(0.685, abs=0.001)
    assert got[("LFP", "P")] == pytest.approx(0.380 + 0.016, abs=0.002)


def test_estimates_are_derived_as_documented() -> None:
    base = unit_composition("NMC811", "cell")
    metal = unit_composition("Li-metal", "cell")
    assert "graphite" not in metal.fractions
    # graphite (0.866 kg/kWh) and anode binder out, 0.105 kg/kWh lithium foil in
    removed = base.fractions["graphite"] + base.fractions["anode_binder"]
    expected = base.kg_per_kwh * (1 - removed) + 0.105
    assert metal.kg_per_kwh == pytest.approx(expected, rel=1e-12)
    lis = unit_composition("Li-S", "cell")
    assert lis.kg_per_kwh == pytest.approx(2.47, rel=1e-12)
    assert lis.fractions["sulfur"] * lis.kg_per_kwh == pytest.approx(0.41)
    blend = unit_composition("LMO-NMC", "cell")
    assert blend.fractions["cam:LMO"] == pytest.approx(
        0.5 * unit_composition("LMO", "cell").fractions["cam:LMO"]
    )


def test_unknown_is_conservative_never_zero() -> None:
    unknown = element_table(level="cell", chemistries=["unknown"])
    contents = dict(zip(unknown["element"], unknown["kg_per_kg"], strict=True))
    assert contents["Li"] > 0.015  # never silently zero
    assert not {"Ni", "Co", "Mn"} & set(contents)
    known = element_table(level="cell", chemistries=list(QUOTED))
    li = known.filter(pl.col("element") == "Li")["kg_per_kg"]
    cu = known.filter(pl.col("element") == "Cu")["kg_per_kg"]
    assert contents["Li"] <= li.max()
    assert contents["Cu"] == pytest.approx(cu.min())
    assert unit_composition("unknown", "cell").kg_per_kwh == max(
        unit_composition(c, "cell").kg_per_kwh or 0 for c in QUOTED
    )


# ------------------------------------------------------------------------------ flows


def _element_balance(chemistry: str, level: str, process: str, dismantle: str) -> None:
    bal = feed_balance(chemistry, level, process=process, dismantle=dismantle)  # type: ignore[arg-type]
    outputs: dict[str, float] = {}
    for f in bal.flows:
        outputs[f.component] = outputs.get(f.component, 0.0) + f.kg
        assert f.kg > 0
    check_conservation(input_elements(bal), outputs, what=f"{chemistry} {level} {process}")
    assert sum(outputs.values()) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    chemistry=st.sampled_from([c for c in ALL if c not in ("unknown", "LMO-NMC", "Li-S")]),
    level=st.sampled_from(LEVELS),
    process=st.sampled_from(["mechanical", "pyro", "hydro", "direct"]),
    dismantle=st.sampled_from(["none", "modules", "cells"]),
)
def test_every_feed_conserves_mass_per_element(
    chemistry: str, level: str, process: str, dismantle: str
) -> None:
    _element_balance(chemistry, level, process, dismantle)


@pytest.mark.parametrize(
    ("process", "product", "share"),
    [
        ("pyro", "cobalt_salt", 0.95),  # 'CM Rec Par.'!BD128
        ("hydro", "cobalt_salt", 0.95 * 0.98),  # black-mass capture × CD127
        ("hydro", "nickel_salt", 0.95 * 0.98),
    ],
)
def test_recovery_rules_per_element(process: str, product: str, share: float) -> None:
    bal = feed_balance("NMC622", "cell", process=process)  # type: ignore[arg-type]
    element = {"cobalt_salt": "Co", "nickel_salt": "Ni"}[product]
    got = sum(f.kg for f in bal.flows if f.product == product)
    assert got == pytest.approx(share * input_elements(bal)[element], rel=1e-12)


def test_pyro_recovers_no_lithium_manganese_aluminium_or_graphite() -> None:
    # reference everbatt-2023 §12.4: structural checks of the default rules
    bal = feed_balance("NMC111", "cell", process="pyro")
    products = {f.product for f in bal.flows if f.destination == PRODUCT}
    assert products == {"copper_metal", "cobalt_salt", "nickel_salt"}
    hydro = feed_balance("NMC111", "cell", process="hydro")
    li = {f.product for f in hydro.flows if f.component == "Li" and f.destination == PRODUCT}
    assert li == {"lithium_carbonate_crude"}
    direct = feed_balance("LFP", "cell", process="direct")
    assert any(f.product == "cathode_material:LFP" for f in direct.flows)


def test_dismantling_sells_hardware_and_costs_labour() -> None:
    whole = feed_balance("NMC811", "pack", process="hydro")
    split = feed_balance("NMC811", "pack", process="hydro", dismantle="cells")
    assert whole.labour_hours == 0
    # 2 h + 2 h per 100 kWh pack of 488.7 kg (EverBatt Disassembly!C25:C26)
    assert split.labour_hours == pytest.approx(4 / 488.726, rel=1e-6)
    parts = {f.product for f in split.flows if f.stage == "dismantling" and f.product}
    assert {"steel_scrap", "electronic_parts", "aluminium_scrap"} <= parts
    steel = lambda b: sum(f.kg for f in b.flows if f.product == "steel_scrap")  # noqa: E731
    assert steel(split) > steel(whole)  # removed whole instead of 90 % from the shredder


def test_a_process_that_cannot_treat_a_chemistry_is_refused() -> None:
    with pytest.raises(RecyclingError, match="cannot treat unknown"):
        feed_balance("unknown", "cell", process="direct")
    with pytest.raises(RecyclingError, match="Li-S"):
        feed_balance("Li-S", "cell", process="pyro")
    with pytest.raises(RecyclingError, match="unknown process"):
        feed_balance("LFP", "cell", process="plasma")  # type: ignore[arg-type]


def test_conservation_check_fails_loudly() -> None:
    with pytest.raises(RecyclingError, match="Ni is not conserved"):
        check_conservation({"Ni": 1.0}, {"Ni": 1.02}, what="test")
    assert check_conservation({"Ni": 1.0}, {"Ni": 1.0 + 1e-12}, what="test")["Ni"] < 1e-9


def test_an_override_recovering_more_than_everything_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = packaged_table_path("recycling_processes").read_text()
    bad = text.replace(
        'copper = { value = 0.9, product = "copper_scrap" }',
        'copper = { value = 0.99, product = "copper_scrap" }',
    )
    assert bad != text
    (tmp_path / "recycling_processes.toml").write_text(bad)
    monkeypatch.setenv("ECHELON_CATALOG_DIR", str(tmp_path))
    try:
        with pytest.raises(CatalogError, match=r"copper: black-mass capture 0.05 \+ scrap 0.99"):
            process_catalog()
    finally:
        monkeypatch.delenv("ECHELON_CATALOG_DIR")
        clear_caches()


# ------------------------------------------------------------------------------ lots


@pytest.fixture
def mixed() -> pl.DataFrame:
    return lot(
        battery_id=["C1", "C2", "M1", "P1", "P2"],
        chemistry=["NMC811", "NCM811", "NMC622", "LFP", "LiFePO4"],
        level=["cell", "cell", "module", "pack", "pack"],
        mass_kg=[0.07, 0.07, None, 420.0, None],
        nominal_capacity_ah=[None, None, 60.0, None, 280.0],
        nominal_voltage_v=[None, None, 44.4, None, 307.2],
    )


def test_lot_totals_are_the_sum_of_the_units(mixed: pl.DataFrame) -> None:
    result = recycle_lot(mixed, process="hydro", year=2028)
    units = result.units
    assert units["chemistry_used"].to_list() == ["NMC811", "NMC811", "NMC622", "LFP", "LFP"]
    # estimated masses: 60 Ah × 44.4 V × module kg/kWh; 280 Ah × 307.2 V × pack kg/kWh
    module = unit_composition("NMC622", "module").kg_per_kwh
    assert units["mass_kg"][2] == pytest.approx(60 * 44.4 / 1000 * module)
    assert units["mass_estimated"].to_list() == [False, False, True, False, True]
    assert result.summary("revenue") == pytest.approx(units["recovered_value_usd"].sum())
    assert result.summary("cost") == pytest.approx(units["process_cost_usd"].sum())
    assert result.summary("net_value") == pytest.approx(units["net_value_usd"].sum())
    materials = result.mass_balance.filter(pl.col("kind") == "material")
    assert materials["input_kg"].sum() == pytest.approx(units["mass_kg"].sum(), rel=1e-12)
    balance = result.mass_balance
    assert (balance["input_kg"] - balance["recovered_kg"] - balance["loss_kg"]).abs().max() < 1e-9
    assert result.flows["kg"].sum() == pytest.approx(units["mass_kg"].sum(), rel=1e-12)


def test_value_per_tonne_and_per_kwh(mixed: pl.DataFrame) -> None:
    result = recycle_lot(mixed, process="hydro", year=2028)
    net = result.value.filter(pl.col("item") == "net_value").row(0, named=True)
    assert net["usd_per_tonne"] == pytest.approx(net["value_usd"] / (result.meta["mass_kg"] / 1000))
    assert net["usd_per_kwh"] == pytest.approx(net["value_usd"] / result.meta["energy_kwh"])


def test_no_value_per_kwh_when_black_mass_has_no_energy(mixed: pl.DataFrame) -> None:
    """Its value per kWh credited the black mass's revenue to the cells' energy."""
    black = lot(battery_id=["B1"], chemistry=["LFP"], level=["black_mass"], mass_kg=[120.0])
    result = recycle_lot(pl.concat([mixed, black], how="diagonal_relaxed"), process="hydro",
                         year=2028)  # fmt: skip
    net = result.value.filter(pl.col("item") == "net_value").row(0, named=True)
    assert net["usd_per_kwh"] is None
    assert net["usd_per_tonne"] is not None
    assert any("no USD/kWh: 1 unit(s) (black_mass)" in n for n in result.warnings)


def test_lfp_lots_can_be_worth_less_than_nothing() -> None:
    lfp = lot(battery_id=["L1"], chemistry=["LFP"], level=["cell"], mass_kg=[1000.0])
    smelted = recycle_lot(lfp, process="pyro", year=2028)
    # pyro recovers only the copper of LFP (EverBatt 'CM Rec Par.'!BD127:BD129)
    assert smelted.summary("net_value") < 0
    assert smelted.summary("feed_price") == pytest.approx(-2000.0)  # EverBatt: LFP at −2 USD/kg
    cheap = Path(__file__).with_name("cheap_lithium.csv")
    cheap_result = recycle_lot(lfp, process="hydro", year=2028, prices=cheap)
    default = recycle_lot(lfp, process="hydro", year=2028)
    assert cheap_result.summary("revenue") < default.summary("revenue")


def test_unknown_chemistry_warns_and_is_never_zero() -> None:
    units = lot(
        battery_id=["X", "Y"],
        chemistry=["sodium-ion", "NMC811"],
        level=["cell", "cell"],
        mass_kg=[10.0, 10.0],
    )
    result = recycle_lot(units, process="hydro", year=2028)
    assert any("sodium-ion" in w and "conservative" in w for w in result.warnings)
    x = result.units.filter(pl.col("battery_id") == "X").row(0, named=True)
    assert x["chemistry_used"] == "unknown"
    assert x["recovered_value_usd"] > 0
    with pytest.warns(EchelonWarning, match="unknown chemistry"):
        unit_recycling_value(units)


def test_a_capacity_in_mah_is_refused_not_valued() -> None:
    """A 2,500 mAh phone cell written as 2,500 A·h was booked at 9 kWh before 2026-12-07."""
    units = lot(battery_id=["P"], chemistry=["LCO"], level=["cell"], nominal_capacity_ah=[2500.0],
                nominal_voltage_v=[3.7])  # fmt: skip
    with pytest.raises(SchemaError) as info:
        recycle_lot(units, process="hydro")
    [problem] = info.value.problems
    assert (problem.row, problem.column) == (1, "nominal_capacity_ah")
    assert "for a cell (wrong unit? mAh written as Ah: write 2.5)" in problem.message


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("mass_kg", -5.0, "negative mass"),
        ("mass_kg", 0.0, "zero mass"),
        ("level", "crate", "unknown level 'crate'"),
        ("battery_id", "A", "duplicate battery_id"),
        # unit mistakes (2026-12-07: were valued — a 2 t "cell" of 2e6 g, a 9 kWh phone cell)
        (
            "mass_kg",
            2e6,
            r"2e\+06 outside the plausible range \[0\.0001, 1e\+06\] \(wrong unit\? g ",
        ),
    ],
)
def test_bad_lots_are_refused_with_row_and_column(column: str, value: object, message: str) -> None:
    units = lot(
        battery_id=["A", "B"], chemistry=["LFP", "LFP"], level=["cell", "cell"], mass_kg=[1.0, 2.0]
    )
    units = units.with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .alias(column)
    )
    with pytest.raises(SchemaError, match=message) as info:
        recycle_lot(units, process="hydro")
    assert any(p.row == 2 and p.column == column for p in info.value.problems)


def test_mass_that_cannot_be_estimated_is_an_error() -> None:
    units = lot(
        battery_id=["A"],
        chemistry=["LFP"],
        level=["pack"],
        mass_kg=[None],
        nominal_capacity_ah=[100.0],
    )
    with pytest.raises(SchemaError, match="cannot be estimated"):
        recycle_lot(units)
    with pytest.raises(SchemaError, match="missing column"):
        recycle_lot(pl.DataFrame({"battery_id": ["A"], "level": ["cell"]}))


def test_missing_prices_are_clear_errors(tmp_path: Path) -> None:
    blank = tmp_path / "prices.csv"
    blank.write_text("item,value,source,as_of\ncobalt_salt,,a quote,2026\n")
    with pytest.raises(SchemaError, match="no value: give a number in USD/kg Co") as info:
        load_prices(blank)
    assert info.value.problems[0].row == 1
    typo = tmp_path / "typo.csv"
    typo.write_text("item,value,source,as_of\ncobalt_slat,40,a quote,2026\n")
    with pytest.raises(SchemaError, match="did you mean 'cobalt_salt'"):
        load_prices(typo)
    table = load_prices(year=2028)
    with pytest.raises(PriceError, match="no price for 'cathode_material:Li-S'"):
        table.price("cathode_material:Li-S")


def test_dated_prices_follow_the_reporting_year(tmp_path: Path) -> None:
    dated = tmp_path / "li.toml"
    dated.write_text(
        '[price.lithium_carbonate_crude]\nsource = "an offtake contract"\n'
        '[[price.lithium_carbonate_crude.dated]]\nvalue = 20.0\nas_of = "2022-06-30"\n'
        '[[price.lithium_carbonate_crude.dated]]\nvalue = 5.0\nas_of = "2025-06-30"\n'
    )
    assert load_prices(dated, year=2023).price("lithium_carbonate_crude") == 20.0
    assert load_prices(dated, year=2026).price("lithium_carbonate_crude") == 5.0
    early = load_prices(dated, year=2020)
    assert early.price("lithium_carbonate_crude") == 20.0
    assert any("lithium_carbonate_crude" in n for n in early.notes)


def test_unit_recycling_value_contract() -> None:
    units = lot(
        battery_id=["B", "A", "C"],
        chemistry=["LFP", "NMC811", "unknown"],
        level=["pack", "cell", "cell"],
        mass_kg=[None, 0.07, 0.05],
        nominal_capacity_ah=[280.0, None, None],
        nominal_voltage_v=[307.2, None, None],
    )
    with pytest.warns(EchelonWarning):
        values = unit_recycling_value(units, process="hydro", year=2027)
    assert values.columns[:5] == [
        "battery_id",
        "mass_kg",
        "recovered_value_usd",
        "process_cost_usd",
        "net_value_usd",
    ]
    assert values["battery_id"].to_list() == ["B", "A", "C"]
    row = values.row(1, named=True)
    assert row["net_value_usd"] == pytest.approx(
        row["recovered_value_usd"] - row["process_cost_usd"]
    )
    with pytest.warns(EchelonWarning), pytest.raises(RecyclingError, match="unknown \\(1\\): C — "):
        unit_recycling_value(units, process="direct")
    with pytest.warns(EchelonWarning):
        partial = unit_recycling_value(units, process="direct", untreatable="null")
    assert partial["net_value_usd"].is_null().to_list() == [False, False, True]


def test_lot_result_round_trips_through_json(mixed: pl.DataFrame) -> None:
    from echelon.recycling import LotResult

    result = recycle_lot(mixed, process="direct", year=2028, dismantle="modules")
    again = LotResult.from_json(result.to_json())
    assert again.meta == result.meta
    assert again.mass_balance.equals(result.mass_balance)
    assert again.summary("net_value") == result.summary("net_value")


# ------------------------------------------------------------------------------ compliance


def test_targets_bind_from_the_year_after_their_deadline() -> None:
    from echelon.recycling.catalog import regulation

    targets = regulation().recycling_efficiency
    assert binding_target(targets, 2025) == (None, targets[0])
    assert binding_target(targets, 2026)[0].percent == 65.0
    assert binding_target(targets, 2031)[0].percent == 70.0


def test_compliance_verdicts_of_a_hydro_lot() -> None:
    units = lot(battery_id=["N"], chemistry=["NMC811"], level=["cell"], mass_kg=[1000.0])
    early = recycle_lot(units, process="hydro", year=2027).compliance
    verdicts = dict(zip(early["element"], early["verdict"], strict=True))
    assert verdicts[""] == "fail"  # 65 % binds in 2027
    assert verdicts["Co"] == "not_yet_binding"
    late = recycle_lot(units, process="hydro", year=2028).compliance
    rows = {r["element"]: r for r in late.iter_rows(named=True)}
    # 0.95 black-mass capture × 0.98 leach yield = 93.1 % ≥ 90 %; copper scrap 90 % exactly
    assert rows["Co"]["value_percent"] == pytest.approx(93.1)
    assert (rows["Co"]["verdict"], rows["Co"]["next_verdict"]) == ("pass", "fail")
    assert rows["Cu"]["value_percent"] == pytest.approx(90.0)
    assert rows["Cu"]["verdict"] == "pass"
    assert rows["Li"]["verdict"] == "pass"
    mechanical = recycle_lot(units, process="mechanical", year=2028).compliance
    assert set(mechanical["verdict"]) == {"not_applicable"}


def test_recycled_content_helper() -> None:
    assert recycled_content_minimums(dt.date(2031, 8, 17)) == {}
    assert recycled_content_minimums(dt.date(2031, 8, 18))["Co"] == 16.0
    assert recycled_content_minimums(dt.date(2036, 8, 18))["Ni"] == 15.0
    check = recycled_content_check({"Co": 20.0, "Li": 5.0}, placed_on_market=dt.date(2032, 1, 1))
    verdicts = dict(zip(check["element"], check["verdict"], strict=True))
    # no Pb row: the lead minimum is for lead-based batteries (it read "missing" against 85 %)
    assert verdicts == {"Co": "pass", "Li": "fail", "Ni": "missing"}
    supply = recycled_content_supply(
        {"Ni": 616.0}, chemistry="NMC811", level="cell", on=dt.date(2036, 9, 1)
    )
    ni = supply.filter(pl.col("element") == "Ni").row(0, named=True)
    # NMC811 cells hold 0.616 kg Ni/kWh; 15 % of it recycled → 616 kg supply 6,667 kWh
    assert ni["kwh_supplied"] == pytest.approx(616.0 / (0.616 * 0.15), rel=2e-3)


def test_compositions_load_from_an_override_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(
        packaged_table_path("recycling_composition"), tmp_path / "recycling_composition.toml"
    )
    text = (tmp_path / "recycling_composition.toml").read_text()
    (tmp_path / "recycling_composition.toml").write_text(
        text.replace("li_metal = { value = 0.105,", "li_metal = { value = 0.14,")
    )
    monkeypatch.setenv("ECHELON_CATALOG_DIR", str(tmp_path))
    try:
        heavier = unit_composition("Li-metal", "cell").kg_per_kwh
    finally:
        monkeypatch.delenv("ECHELON_CATALOG_DIR")
        clear_caches()
    assert heavier is not None
    default = unit_composition("Li-metal", "cell").kg_per_kwh
    assert default is not None
    assert math.isclose(heavier - default, 0.035, rel_tol=1e-9)
    assert composition_catalog().chemistries["Li-metal"].is_estimate


def test_value_lines_give_the_unit_of_their_quantity() -> None:
    """Revenue and cost lines alike: ``unit`` is what ``quantity`` counts, the price is USD per
    it (a salt sold per kg of its metal reads 'kg Co', not 'USD/kg Co')."""
    from echelon.recycling import recycle_lot

    lot = pl.DataFrame(
        {
            "battery_id": ["A", "B"],
            "chemistry": ["NMC622", "NMC622"],
            "level": ["cell", "cell"],
            "mass_kg": [0.5, 0.5],
        }
    )
    lines = recycle_lot(lot, process="hydro", year=2027).value.filter(
        pl.col("category").is_in(["revenue", "cost"])
    )
    assert not lines["unit"].str.starts_with("USD").any()
    cobalt = lines.filter(pl.col("item") == "cobalt_salt")
    assert cobalt["unit"].to_list() == ["kg Co"]


def test_a_european_lot_table_reads_as_the_plain_one(tmp_path: Path) -> None:
    plain, excel = tmp_path / "lot.csv", tmp_path / "excel.csv"
    plain.write_text(
        "battery_id,chemistry,level,mass_kg,nominal_capacity_ah,nominal_voltage_v\n"
        "A1,NMC811,cell,1200.5,,NA\nB1,LFP,pack,,100,355.2\nC1,NCM622,module,-,50,48\n"
    )
    text = (
        plain.read_text().replace(",", ";").replace("1200.5", "1.200,5").replace("355.2", "355,2")
    )
    excel.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode() + b";;;;;\r\n")
    read = [prepare_units(read_units_table(p), source=p)[0] for p in (plain, excel)]
    assert read[0]["mass_kg"][0] == 1200.5
    assert read[1].equals(read[0])


def test_a_european_price_csv_reads_like_the_plain_one(tmp_path: Path) -> None:
    """A ';'-separated price table with a decimal comma (Excel in Europe) gives the same prices
    as the plain CSV; before, it was refused ('missing column(s) [item, value]')."""
    lfp = lot(battery_id=["L1"], chemistry=["LFP"], level=["cell"], mass_kg=[1000.0])
    plain = Path(__file__).with_name("cheap_lithium.csv")
    europe = tmp_path / "cheap_lithium_eu.csv"
    lines = plain.read_text(encoding="utf-8").splitlines()
    europe.write_text(
        "\r\n".join(line.replace(",", ";").replace(";2.0;", ";2,0;") for line in lines),
        encoding="utf-8-sig",
    )
    expected = recycle_lot(lfp, process="hydro", year=2028, prices=plain)
    read = recycle_lot(lfp, process="hydro", year=2028, prices=europe)
    assert read.summary("revenue") == pytest.approx(expected.summary("revenue"))
    assert read.summary("revenue") < recycle_lot(lfp, process="hydro", year=2028).summary("revenue")
