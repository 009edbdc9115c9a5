"""Sales tables in, flows out: validation, conservation, mass and value, the CLI."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.errors import SchemaError, UsageError
from echelon.flows import forecast_flows, normalise_sales
from echelon.recycling.composition import element_table, unit_composition

SALES = """year,region,segment,chemistry,gwh
2018,EU,ev,NMC622,20
2019,EU,ev,NMC 622,25
2020,EU,ev,LiFePO4,5
2022,EU,ev_large,LFP,10
2022,EU,ev_large,LFP,2
2021,US,ev,NMC811,60
"""
runner = CliRunner()


@pytest.fixture
def sales(tmp_path: Path) -> Path:
    path = tmp_path / "sales.csv"
    path.write_text(SALES)
    return path


def test_sales_are_normalised_and_added_up(sales: Path) -> None:
    from echelon.flows import read_sales

    table = read_sales(sales)
    assert set(table["chemistry"]) == {"NMC622", "LFP", "NMC811"}  # spellings resolved
    large = table.filter(pl.col("segment") == "ev_large")
    assert large.height == 1
    assert large["kwh"][0] == pytest.approx(12e6)  # two rows of the same key added, GWh → kWh


@pytest.mark.parametrize(
    ("csv", "fragment"),
    [
        ("year,gwh\n2020,1\n", "column 'chemistry': required column missing"),
        ("year,chemistry\n2020,LFP\n", "give 'gwh', 'kwh' or 'units'"),
        ("year,chemistry,gwh,colour\n2020,LFP,1,red\n", "column 'colour': unknown column"),
        ("year,chemistry,gwhs\n2020,LFP,1\n", "did you mean 'gwh'?"),
        ("year,chemistry,gwh\n2020,LFP,lots\n", "row 1, column 'gwh': 'lots' is not a number"),
        ("year,chemistry,gwh\n2020,LFP,-3\n", "row 1, column 'gwh': '-3' is negative"),
        ("year,chemistry,gwh\n20.5,LFP,1\n", "is not a calendar year"),
        ("year,chemistry,gwh\n2020,unobtainium,1\n", "'unobtainium' is not a chemistry"),
        ("year,chemistry,gwh,segment\n2020,LFP,1,bus\n", "'bus' is not a segment with a lifetime"),
        (
            "year,chemistry,gwh,lifetime_mean_years\n2020,LFP,1,10\n",
            "needs lifetime_mean_years and lifetime_sd_years",
        ),
        (
            "year,chemistry,gwh,lifetime_mean_years,lifetime_sd_years,lifetime_distribution\n"
            "2020,LFP,1,10,3,gamma\n",
            "'gamma' is not one of logistic, normal, weibull",
        ),
        ("year,chemistry,units\n2020,LFP,\n", "no quantity"),
        ("year,chemistry,gwh\n2020,LFP,inf\n", "'inf' is not a finite number"),
        ("year,chemistry,gwh\n2020,LFP,NaN\n", "row 1, column 'gwh': (empty) no quantity"),
        ("year,chemistry,gwh,kwh\n2020,LFP,1,5\n", "given together: give the energy once"),
        ("year,chemistry,kwh,units,pack_kwh\n2020,LFP,100,10,60\n", "give the energy once"),
        ("year,chemistry,units,pack_kwh\n2020,LFP,,60\n", "'pack_kwh': 60.0 needs units"),
        (
            "year,chemistry,gwh,lifetime_distribution\n2020,LFP,1,weibull\n",
            "'weibull' needs lifetime_mean_years and lifetime_sd_years",
        ),
        (
            "year,chemistry,gwh,lifetime_mean_years,lifetime_sd_years,lifetime_distribution\n"
            "2020,LFP,1,15,0.01,weibull\n",
            "the spread (sd ÷ mean = 0.000667) must lie in",
        ),
        (
            "year,chemistry,gwh,units\n2020,LFP,1,10\n2021,LFP,,10\n",
            "row 2, column 'gwh': no energy while other rows of all/ev/LFP give one",
        ),
        ("year,chemistry,gwh\n", "has a header but no rows"),
        (
            "year,region,segment,chemistry,gwh\n2018,EU,ev,NMC622,20000000\n",
            "row 1, column 'gwh': '20000000' puts more than 10,000 GWh on the market in one row",
        ),
        ("year,chemistry,kwh\n2020,LFP,20000000000\n", "column 'kwh': '20000000000' puts more"),
        ("year,chemistry,units,pack_kwh\n2020,LFP,200000000,75\n", "'units': '200000000' puts"),
        ("year,chemistry,gwh\n2020,LFP,1e305\n", "'1e305' puts more than 10,000 GWh"),
    ],
)
def test_a_bad_sales_table_names_row_and_column(tmp_path: Path, csv: str, fragment: str) -> None:
    from echelon.flows import read_sales

    path = tmp_path / "bad.csv"
    path.write_text(csv)
    with pytest.raises(SchemaError) as caught:
        read_sales(path)
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)


def test_a_nan_in_a_parquet_table_is_refused(tmp_path: Path) -> None:
    from echelon.flows import read_sales

    path = tmp_path / "sales.parquet"
    pl.DataFrame(
        {"year": [2020, 2021], "chemistry": ["LFP", "LFP"], "gwh": [1.0, float("nan")]}
    ).write_parquet(path)
    with pytest.raises(SchemaError, match=r"row 2, column 'gwh': nan is not a finite number"):
        read_sales(path)


def test_flows_conserve_energy_and_carry_mass_and_value(sales: Path) -> None:
    forecast = forecast_flows(sales, until=2130, price_year=2026)
    totals = forecast.totals()
    sold = totals["put_on_market_kwh"].sum()
    assert sold == pytest.approx(122e6)
    assert totals["retired_kwh"].sum() == pytest.approx(sold, rel=1e-9)  # everything returns
    assert totals["to_recycling_kwh"].sum() == pytest.approx(sold, rel=1e-9)
    nmc = forecast.frame.filter(pl.col("chemistry") == "NMC622")
    per_kwh = unit_composition("NMC622", "pack").kg_per_kwh
    assert per_kwh is not None
    assert nmc["to_recycling_t"].sum() == pytest.approx(45e6 * per_kwh / 1000, rel=1e-9)
    li = element_table(level="pack", chemistries=["NMC622"]).filter(pl.col("element") == "Li")
    assert nmc["Li_t"].sum() == pytest.approx(45e6 * li["kg_per_kwh"][0] / 1000, rel=1e-9)
    lfp_value = forecast.frame.filter(pl.col("chemistry") == "LFP")["feed_value_usd"].sum()
    nmc_value = nmc["feed_value_usd"].sum()
    assert lfp_value < 0 < nmc_value  # EverBatt 2023: LFP feed is paid for, NMC feed earns
    # a battery leaves its first use when it fails or its vehicle is scrapped, whichever is
    # first: E[min(T_battery, T_vehicle)] = ∫ S_b S_v dt, by quadrature of scipy's logistic
    lfp = forecast.frame.filter(pl.col("chemistry") == "LFP")
    mean_year = {
        seg: (part["year"] * part["retired_kwh"]).sum() / part["retired_kwh"].sum()
        for (seg,), part in lfp.group_by("segment")
    }
    assert mean_year["ev_large"] - 2022 == pytest.approx(_mean_first_exit(8, 17), abs=0.05)
    assert mean_year["ev"] - 2020 == pytest.approx(_mean_first_exit(15, 17), abs=0.05)


def _mean_first_exit(battery_mean: float, vehicle_mean: float, sd: float = 4.0) -> float:
    from scipy import integrate, stats

    def survival(mean: float) -> Callable[[float], float]:
        dist = stats.logistic(mean, sd * np.sqrt(3) / np.pi)
        return lambda t: float(dist.sf(t) / dist.sf(0.0))

    sb, sv = survival(battery_mean), survival(vehicle_mean)
    return float(integrate.quad(lambda t: sb(t) * sv(t), 0, 100)[0])


def test_units_without_energy_are_counted_but_not_weighed(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "year": [2020, 2020],
            "chemistry": ["LFP", "NMC811"],
            "units": [1000.0, 500.0],
            "pack_kwh": [None, 60.0],
        }
    )
    forecast = forecast_flows(frame, until=2080, price_year=2026)
    lfp = forecast.frame.filter(pl.col("chemistry") == "LFP")
    assert lfp["retired_units"].sum() == pytest.approx(1000.0)
    assert lfp["retired_kwh"].null_count() == lfp.height  # no energy given: none invented
    assert lfp["to_recycling_t"].null_count() == lfp.height
    nmc = forecast.frame.filter(pl.col("chemistry") == "NMC811")
    assert nmc["retired_kwh"].sum() == pytest.approx(30_000.0)


def test_own_lifetimes_keep_a_named_segment_s_vehicle() -> None:
    frame = normalise_sales(
        pl.DataFrame(
            {
                "year": [2020, 2020],
                "chemistry": ["LFP", "NMC811"],
                "kwh": [1.0, 1.0],
                "segment": [None, "ev"],
                "lifetime_mean_years": [5.0, 15.0],
                "lifetime_sd_years": [1.0, 4.0],
                "lifetime_distribution": ["normal", "logistic"],
            }
        )
    )
    assert frame["segment"].to_list() == ["custom", "ev"]
    forecast = forecast_flows(frame, until=2100, price_year=2026)
    assert forecast.meta["lifetimes"] == [
        "all/custom/LFP: battery normal 5 ± 1 years",
        "all/ev/NMC811: battery logistic 15 ± 4 years, vehicle logistic 17 ± 4",
    ]
    custom = forecast.frame.filter(pl.col("segment") == "custom")
    assert (custom["year"] * custom["retired_kwh"]).sum() - 2020 == pytest.approx(5.0, abs=0.01)
    # no vehicle: a battery leaves at the end of its life and is recycled, as Busch et al. do
    assert custom["to_second_life_kwh"].sum() == 0.0
    assert any("all/custom/LFP: no vehicle lifetime" in n for n in forecast.meta["notes"])
    # restating the catalogue's battery lifetime under `ev` changes nothing: the vehicle stays
    ev = forecast.frame.filter(pl.col("segment") == "ev")
    catalogue = forecast_flows(
        pl.DataFrame({"year": [2020], "chemistry": ["NMC811"], "kwh": [1.0]}),
        until=2100,
        price_year=2026,
    ).frame
    assert ev["to_second_life_kwh"].sum() == pytest.approx(catalogue["to_second_life_kwh"].sum())


def test_a_series_mixing_lifetimes_must_give_energy_throughout() -> None:
    rows = pl.DataFrame(
        {
            "year": [2020, 2021],
            "chemistry": ["LFP", "LFP"],
            "kwh": [100.0, None],
            "units": [None, 10.0],
            "lifetime_mean_years": [10.0, None],
            "lifetime_sd_years": [3.0, None],
            "segment": ["ev", "ev"],
        }
    )
    with pytest.raises(SchemaError, match="no energy while other rows of all/ev/LFP give one"):
        normalise_sales(rows)


def test_every_row_s_lifetime_is_checked(tmp_path: Path) -> None:
    lines = ["year,chemistry,gwh,lifetime_mean_years,lifetime_sd_years,lifetime_distribution"]
    lines += [f"{2000 + i % 50},LFP,1,10,3,normal" for i in range(259)]
    lines.append("2020,LFP,1,10,500,weibull")
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n")
    from echelon.flows import read_sales

    with pytest.raises(SchemaError, match=r"row 260, column 'lifetime_mean_years'"):
        read_sales(path)


def test_echelon_flows_command(sales: Path, tmp_path: Path) -> None:
    out, chart = tmp_path / "flows.csv", tmp_path / "flows.svg"
    result = runner.invoke(
        app,
        [
            "flows",
            str(sales),
            "--until",
            "2050",
            "--price-year",
            "2026",
            "-o",
            str(out),
            "--plot",
            str(chart),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "retired-battery flows" in result.output
    written = pl.read_csv(out)
    assert {"year", "chemistry", "retired_kwh", "to_recycling_t", "Li_t", "feed_value_usd"} <= set(
        written.columns
    )
    assert written["year"].max() == 2050
    assert "<svg" in chart.read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text("year,chemistry,gwh\n2020,LFP,x\n")
    refused = runner.invoke(app, ["flows", str(bad)])
    assert refused.exit_code == 3
    assert "row 1, column 'gwh'" in refused.output


def test_only_healthy_batteries_of_scrapped_vehicles_are_repurposed() -> None:
    """Busch et al.'s product–component logic: P(vehicle scrapped first, at ≤ 12 years) × 50 %."""
    from scipy import integrate, stats

    from echelon.flows import Lifetime, cohort_flows

    inflow = np.zeros(150)
    inflow[0] = 1000.0
    flows = cohort_flows(
        inflow,
        Lifetime("logistic", 15, 4),
        vehicle=Lifetime("logistic", 17, 4),
        second_life=Lifetime("logistic", 20, 4),
        second_life_share=0.5,
        second_life_max_age_years=12,
    )
    scale = 4 * np.sqrt(3) / np.pi
    battery, vehicle = stats.logistic(15, scale), stats.logistic(17, scale)
    first = integrate.quad(
        lambda t: vehicle.pdf(t) / vehicle.sf(0) * battery.sf(t) / battery.sf(0), 0, 12.5
    )[0]
    # yearly steps count a battery that fails in the year its vehicle is scrapped as failed,
    # as Busch's code does: a few per cent below the continuous-time share
    assert flows.to_second_life.sum() / 1000 == pytest.approx(0.5 * first, rel=0.05)
    assert flows.to_second_life.sum() < 0.5 * flows.available[:13].sum() + 1e-9
    assert flows.to_recycling.sum() == pytest.approx(1000.0)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"until": 2010}, "until=2010: give a year from the first sales year (2018)"),
        ({"until": 20_000_000}, "to 2200"),
        ({"price_year": 0}, "price_year=0"),
        ({"process": "plasma"}, "process='plasma' is not offered"),
    ],
)
def test_bad_options_are_refused(sales: Path, kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(UsageError, match=re.escape(fragment)):
        forecast_flows(sales, **kwargs)  # type: ignore[arg-type]


def test_a_price_override_is_not_hidden_by_the_cache(
    sales: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from echelon.catalog import resolve_table_path

    before = forecast_flows(sales, until=2060, price_year=2026)
    lfp = pl.col("chemistry") == "LFP"
    value = before.frame.filter(lfp)["feed_value_usd"].sum()
    text = resolve_table_path("recycling_prices").read_text()
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "recycling_prices.toml").write_text(
        text.replace("LFP = { value = -2.0,", "LFP = { value = -4.0,")
    )
    monkeypatch.setenv("ECHELON_CATALOG_DIR", str(folder))
    after = forecast_flows(sales, until=2060, price_year=2026)
    assert after.frame.filter(lfp)["feed_value_usd"].sum() == pytest.approx(2 * value, rel=1e-6)


def test_headers_in_any_case_and_one_note_for_undated_prices(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text("Year,Chemistry,GWh\n2020,NMC622,1\n")
    forecast = forecast_flows(path, until=2040, price_year=2022)
    assert forecast.frame["put_on_market_kwh"].sum() == pytest.approx(1e6)
    undated = [n for n in forecast.meta["notes"] if "no price dated on or before" in n]
    assert len(undated) == 1
    assert undated[0].split(" prices (")[0].isdigit()


def test_the_console_names_series_without_energy(tmp_path: Path) -> None:
    path = tmp_path / "mix.csv"
    path.write_text("year,chemistry,gwh,units\n2020,NMC622,1,\n2020,LFP,,200000\n")
    result = runner.invoke(app, ["flows", str(path), "--until", "2040", "--price-year", "2026"])
    assert result.exit_code == 0, result.output
    assert "all/ev/LFP" in " ".join(result.output.split())


def test_a_bad_quantity_is_reported_once(tmp_path: Path) -> None:
    """A quantity that is not a number, not finite or implausible is that row's one problem, not
    also "no quantity" or "too large"."""
    from echelon.flows import read_sales

    path = tmp_path / "bad.csv"
    path.write_text(
        "year,chemistry,gwh,units,pack_kwh\n2018,LFP,,,\n2019,LFP,abc,,\n2020,LFP,inf,,\n"
        "2021,LFP,,,60\n2022,LFP,1e305,,\n"
    )
    with pytest.raises(SchemaError) as caught:
        read_sales(path)
    rows = [p.row for p in caught.value.problems]
    assert sorted(rows) == [1, 2, 3, 4, 5], caught.value


def test_the_plausibility_bound_is_a_catalogue_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from echelon.catalog import resolve_table_path

    rows = pl.DataFrame({"year": [2024], "chemistry": ["LFP"], "gwh": [10_000.0]})
    assert normalise_sales(rows)["kwh"][0] == pytest.approx(1e10)  # at the bound: accepted
    folder = tmp_path / "catalog"
    folder.mkdir()
    text = resolve_table_path("flows").read_text()
    assert "max_gwh_per_row = 10000.0" in text
    (folder / "flows.toml").write_text(text.replace("max_gwh_per_row = 10000.0",
                                                    "max_gwh_per_row = 1000.0"))  # fmt: skip
    monkeypatch.setenv("ECHELON_CATALOG_DIR", str(folder))
    with pytest.raises(SchemaError, match="puts more than 1,000 GWh"):
        normalise_sales(rows)


def test_echelon_flows_refuses_an_absurd_row_with_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "absurd.csv"
    path.write_text("year,region,segment,chemistry,gwh\n2018,EU,ev,NMC622,20000000\n")
    out = tmp_path / "flows.csv"
    result = runner.invoke(app, ["flows", str(path), "-o", str(out)])
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "absurd.csv" in text
    assert "row 1, column 'gwh'" in text
    assert not out.exists()


CHEMISTRIES = "year,chemistry,gwh\n2020,NMC811,1\n2020,unknown,1\n2021,LMO-NMC,1\n2021,NMC,1\n"


def test_chemistry_notes_name_the_sales_rows_once(tmp_path: Path) -> None:
    # they named the 1 kWh lot's "(rows 1)", repeated "LMO-NMC: LMO-NMC:", and said nothing of
    # "NMC" being valued as NMC622
    path = tmp_path / "sales.csv"
    path.write_text(CHEMISTRIES)
    notes = forecast_flows(path, until=2030, price_year=2026).meta["notes"]
    text = "\n".join(notes)
    assert "rows 1)" not in text
    assert "LMO-NMC: LMO-NMC" not in text
    assert any(n.startswith("sales row 2 (unknown): the conservative 'unknown'") for n in notes)
    assert any(n.startswith("sales row 3 (LMO-NMC): a flagged estimate") for n in notes)
    assert any(
        n.startswith("sales row 4: chemistry 'NMC' names no composition: valued as NMC622")
        for n in notes
    )


def test_rows_a_process_cannot_treat_are_named_by_row(tmp_path: Path) -> None:
    # "1 unknown pack(s) in the lot", the first chemistry only, no row
    from echelon.errors import RecyclingError

    path = tmp_path / "sales.csv"
    path.write_text(CHEMISTRIES)
    with pytest.raises(RecyclingError) as caught:
        forecast_flows(path, until=2030, price_year=2026, process="direct")
    lines = str(caught.value).splitlines()
    assert lines[0] == "process 'direct' cannot treat 2 sales row(s):"
    assert lines[1].startswith("  - LMO-NMC (1): row 3 — direct: ")
    assert lines[2].startswith("  - unknown (1): row 2 — direct: ")
    result = runner.invoke(app, ["flows", str(path), "--process", "direct"])
    assert result.exit_code == 8, result.output
    assert "row 3 — direct" in result.output


def test_echelon_flows_takes_prices_and_location_as_recycle_does(
    sales: Path, tmp_path: Path
) -> None:
    # flows valued the feed at the catalogue's prices in the US only: no --prices, no --location
    prices = tmp_path / "prices.csv"
    prices.write_text("item,value,unit,source,as_of\ncobalt_salt,30.0,USD/kg Co,a quote,2026-01\n")

    def net_value(*args: str) -> tuple[dict[str, float], str]:
        out = tmp_path / f"flows{len(list(tmp_path.glob('flows*.csv')))}.csv"
        result = runner.invoke(
            app, ["flows", str(sales), "--until", "2050", "--price-year", "2026", "-o", str(out),
                  *args],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        frame = pl.read_csv(out).group_by("chemistry").agg(pl.col("recycling_net_value_usd").sum())
        return dict(frame.iter_rows()), " ".join(result.output.split())

    default, said = net_value()
    assert "location US" in said
    priced, said = net_value("--prices", str(prices))
    assert f"overridden by {prices}" in said
    # the price file's warnings are the forecast's notes, once (its first check of the file
    # raised one as a Python warning: "internal error" under -W error)
    assert said.count("cobalt_salt is given (30 USD/kg Co, as of 2026-01) but metal:Co is not") == 1
    assert priced["NMC622"] < default["NMC622"]  # cobalt salt at 30 instead of the catalogue's
    assert priced["LFP"] == pytest.approx(default["LFP"], rel=1e-12)  # no cobalt in LFP
    china, said = net_value("--location", "China")
    assert "location China" in said
    assert china["LFP"] != pytest.approx(default["LFP"], rel=1e-6)  # other utility prices
    library = forecast_flows(sales, until=2050, price_year=2026, location="China").frame
    lfp = library.filter(pl.col("chemistry") == "LFP")["recycling_net_value_usd"].sum()
    assert lfp == pytest.approx(china["LFP"], rel=1e-9)
    missing = runner.invoke(app, ["flows", str(sales), "--prices", str(tmp_path / "no.csv")])
    assert missing.exit_code == 3
    assert "price file not found" in missing.output
    with pytest.raises(UsageError, match="location='Mars'"):
        forecast_flows(sales, location="Mars")  # type: ignore[arg-type]
