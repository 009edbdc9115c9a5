"""What a lot tells its reader: untreatable units, assumed compositions, prices and verdicts."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import polars as pl
import pytest

from echelon.errors import RecyclingError
from echelon.recycling import LotResult, recycle_lot
from echelon.reports.recycling import write_lot_outputs

EXOTIC = pl.DataFrame(
    {
        "battery_id": ["X1", "X2", "X3", "X4", "X5"],
        "chemistry": ["Li-S", "Li-metal", "LMO-NMC", "NMC811", "Li-S"],
        "level": ["cell", "cell", "module", "cell", "pack"],
        "mass_kg": [10.0, 10.0, 20.0, 10.0, 100.0],
    }
)


def test_every_untreatable_unit_is_named_once_with_its_reason() -> None:
    # only the first chemistry was named, as "1 LMO-NMC module(s) in the lot", without ids
    with pytest.raises(RecyclingError) as direct:
        recycle_lot(EXOTIC, process="direct", year=2027)
    lines = str(direct.value).splitlines()
    assert lines[0] == "process 'direct' cannot treat 3 unit(s) of the lot:"
    assert lines[1].startswith("  - LMO-NMC (1): X3 — direct: a blended cathode")
    assert lines[2].startswith("  - Li-S (2): X1, X5 — direct: a Li–S cell has no")
    assert len(lines) == 4  # Li-metal and NMC811 can be relithiated: not named
    with pytest.raises(RecyclingError) as pyro:
        recycle_lot(EXOTIC, process="pyro", year=2027)
    assert "cannot treat 2 unit(s)" in str(pyro.value)
    assert "Li-S (2): X1, X5 — pyro: " in str(pyro.value)
    assert "LMO-NMC" not in str(pyro.value)


def test_many_untreatable_units_are_counted_after_the_first_twenty() -> None:
    ids = [f"U{i:03d}" for i in range(25)]
    units = pl.DataFrame(
        {"battery_id": ids, "chemistry": ["unknown"] * 25, "level": ["cell"] * 25,
         "mass_kg": [1.0] * 25}
    )  # fmt: skip
    with pytest.raises(RecyclingError, match=r"unknown \(25\): U000, .*, U019 … \(\+5\) — "):
        recycle_lot(units, process="direct", year=2027)


def test_a_family_without_composition_is_marked_and_noted() -> None:
    # "NMC" was booked as NMC622 with composition_estimate = false and no word
    units = pl.DataFrame(
        {
            "battery_id": ["G1", "G2", "G3"],
            "chemistry": ["NMC", "NMC811", "ternary"],
            "level": ["cell"] * 3,
            "mass_kg": [500.0, 500.0, 1.0],
        }
    )
    result = recycle_lot(units, process="hydro", year=2027)
    booked = dict(zip(result.units["battery_id"], result.units["chemistry_used"], strict=True))
    assert booked == {"G1": "NMC622", "G2": "NMC811", "G3": "NMC622"}
    estimate = dict(
        zip(result.units["battery_id"], result.units["composition_estimate"], strict=True)
    )
    assert estimate == {"G1": True, "G2": False, "G3": True}
    notes = [w for w in result.warnings if "names no composition" in w]
    assert len(notes) == 2
    assert any(n.startswith("chemistry 'NMC' names no composition: 1 unit(s) (rows 1) valued as "
                            "NMC622") for n in notes)  # fmt: skip
    assert any("'ternary'" in n and "(rows 3)" in n for n in notes)


@pytest.mark.filterwarnings("ignore:.*but metal.Co is not")  # linked-price note
def test_price_provenance_reaches_lot_json_value_csv_and_the_report(tmp_path: Path) -> None:
    # value.csv, lot.json and report.html said nothing of the source, date or unit given
    prices = tmp_path / "prices_t.csv"
    prices.write_text(
        "item,value,unit,source,as_of\n"
        "cobalt_salt,30000,USD/t Co,Fastmarkets standard grade low end,2026-01-15\n"
    )
    units = pl.DataFrame(
        {"battery_id": ["C1"], "chemistry": ["NMC811"], "level": ["cell"], "mass_kg": [1000.0]}
    )
    result = recycle_lot(units, process="hydro", year=2027, prices=prices)
    assert result.meta["prices"] == f"recycling_prices@1 overridden by {prices}"
    assert result.meta["price_overrides"] == [
        {
            "item": "cobalt_salt",
            "value": 30.0,
            "unit": "USD/kg Co",
            "value_given": 30000.0,
            "unit_given": "USD/t Co",
            "source": "Fastmarkets standard grade low end (given as 30000 USD/t Co)",
            "as_of": "2026-01-15",
            "used": True,
        }
    ]
    paths = write_lot_outputs(result, tmp_path / "out", svg=False)
    value = pl.read_csv(paths["value"])
    assert value.columns[-1] == "price_source"
    cobalt = value.filter(pl.col("item") == "cobalt_salt").row(0, named=True)
    assert cobalt["price_source"] == (
        "Fastmarkets standard grade low end (given as 30000 USD/t Co), as of 2026-01-15"
    )
    electricity = value.filter(pl.col("item") == "electricity")["price_source"][0]
    assert "as of" in electricity  # the catalogue's own prices name theirs too
    again = LotResult.from_json(paths["lot"].read_text())
    assert again.meta["price_overrides"] == result.meta["price_overrides"]
    html = paths["report"].read_text()
    assert "<td>30000 USD/t Co</td><td>Fastmarkets standard grade low end" in html
    assert '<td class="date">2026-01-15</td>' in html


@pytest.mark.parametrize(
    ("value", "targets", "shown", "margin"),
    [
        (64.97, (65.0, 70.0), "64.97", "−0.03 points"),  # was "65.0": read as a pass
        (64.9999, (65.0, None), "64.9999", "−0.0001 points"),
        (65.04, (65.0, 70.0), "65.04", "+0.04 points"),  # within 0.1 points: two decimals
        (63.09, (65.0, 70.0), "63.1", "−1.9 points"),
        (90.0, (90.0, 95.0), "90.00", "±0 points"),
        (89.96, (None, 90.0), "89.96", None),  # against the next target when none binds yet
        (None, (65.0, None), "", None),
    ],
)
def test_a_result_is_never_shown_on_the_wrong_side_of_a_target(
    value: float | None, targets: tuple[float | None, float | None], shown: str, margin: str | None
) -> None:
    from echelon.recycling.compliance import margin_text, result_text

    row = {"value_percent": value, "target_percent": targets[0], "next_target_percent": targets[1]}
    assert result_text(row) == shown
    if margin is not None:
        assert margin_text(value - targets[0]) == margin  # type: ignore[operator]


def test_the_chart_and_the_mass_balance_name_lithium_as_lithium() -> None:
    # the chart showed "Li2CO3 (crude) (26 kg)" and mass_balance.csv 26 kg of "Li2CO3 (crude)"
    # while value.csv sold 138 kg of Li2CO3: the flows count the lithium, not the carbonate
    from echelon.reports.recycling import lot_sankey

    units = pl.DataFrame(
        {"battery_id": ["C1"], "chemistry": ["NMC811"], "level": ["cell"], "mass_kg": [1000.0]}
    )
    result = recycle_lot(units, process="hydro", year=2027)
    li = result.mass_balance.filter(pl.col("material") == "Li").row(0, named=True)
    assert li["product"] == "Li in Li2CO3 (crude)"
    sold = result.value.filter(pl.col("item") == "lithium_carbonate_crude").row(0, named=True)
    assert sold["unit"] == "kg Li2CO3"
    assert sold["quantity"] == pytest.approx(li["recovered_kg"] * 37 / 7, rel=1e-12)
    cam = result.mass_balance.filter(pl.col("material") == "cam:NMC811")["product"][0]
    assert "Li in Li2CO3 (crude)" in cam
    assert "CoSO4 (Co²⁺ in salt)" in cam  # salts already name their basis: unchanged
    names = [n["name"] for n in lot_sankey(result)["data"][0]["values"]]
    assert "Li in Li2CO3 (crude)" in names
    assert "Li2CO3 (crude)" not in names


def test_recycled_content_refuses_impossible_shares_and_unknown_elements() -> None:
    # Co 120 % passed, Li −1 % failed and "Xx" got "no_minimum"
    from echelon.errors import UsageError
    from echelon.recycling import recycled_content_check

    on = dt.date(2032, 1, 1)
    with pytest.raises(UsageError) as caught:
        recycled_content_check({"Co": 120.0, "Li": -1.0, "Xx": 3.0, "Ni": math.nan},
                               placed_on_market=on)  # fmt: skip
    said = str(caught.value)
    assert "no Art. 8 recycled-content minimum for 'Xx'; give shares of Co, Li, Ni, Pb" in said
    assert "shares are percentages from 0 to 100: Co 120.0, Li -1.0, Ni nan" in said
    edges = recycled_content_check({"Co": 100.0, "Li": 0.0, "Ni": 6.0}, placed_on_market=on)
    assert edges["verdict"].to_list() == ["pass", "fail", "pass"]


def test_the_lead_minimum_is_not_applied_to_lithium_batteries() -> None:
    # a lithium battery got Pb "missing" against 85 %
    from echelon.recycling import recycled_content_check, recycled_content_minimums

    on = dt.date(2032, 1, 1)
    assert recycled_content_minimums(on) == {"Co": 16.0, "Li": 6.0, "Ni": 6.0}
    check = recycled_content_check({"Co": 18.0, "Li": 7.0, "Ni": 7.0}, placed_on_market=on)
    assert check["element"].to_list() == ["Co", "Li", "Ni"]
    given = recycled_content_check({"Co": 18.0, "Pb": 90.0}, placed_on_market=on)
    pb = given.filter(pl.col("element") == "Pb").row(0, named=True)
    assert (pb["minimum_percent"], pb["verdict"]) == (None, "not_applicable")


def test_cobalt_and_nickel_minimums_are_not_applied_to_batteries_without_them() -> None:
    # an LFP battery's Co and Ni read "missing" against 16 % and 6 %
    from echelon.errors import UsageError
    from echelon.recycling import recycled_content_check

    on = dt.date(2032, 1, 1)

    def verdicts(chemistry: str | None) -> dict[str, tuple[str, str | None]]:
        check = recycled_content_check({"Li": 7.0}, placed_on_market=on, chemistry=chemistry)
        return {r["element"]: (r["verdict"], r["reason"]) for r in check.iter_rows(named=True)}

    absent = {
        "Co": ("not_applicable", "no Co in the active material"),
        "Li": ("pass", None),
        "Ni": ("not_applicable", "no Ni in the active material"),
    }
    assert verdicts("LFP") == verdicts("LiFePO4") == absent
    assert verdicts("LMO") == absent
    lco = verdicts("LCO")
    assert lco["Co"] == ("missing", None)
    assert lco["Ni"] == ("not_applicable", "no Ni in the active material")
    # a cathode that holds them, or one not known, or no chemistry: every minimum applies
    for chemistry in ("NMC811", "unknown", None):
        assert verdicts(chemistry)["Co"] == ("missing", None), chemistry
    with pytest.raises(UsageError, match="chemistry='banana'"):
        recycled_content_check({"Li": 7.0}, placed_on_market=on, chemistry="banana")
    given = recycled_content_check({"Co": 5.0}, placed_on_market=on, chemistry="LFP")
    co = given.filter(pl.col("element") == "Co").row(0, named=True)
    assert (co["minimum_percent"], co["verdict"]) == (None, "not_applicable")
