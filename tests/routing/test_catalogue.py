"""Applications catalogue, economics table and the two placeholder models."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echelon.catalog import chemistry
from echelon.catalog._loader import packaged_table_path
from echelon.domain import Application, Chemistry
from echelon.errors import ConfigError
from echelon.lifetime import expected_life_years
from echelon.recycling import unit_recycling_value
from echelon.routing import (
    expected_second_life_years,
    load_applications,
    load_economics,
    parse_overrides,
    recycling_value_usd,
    series_options,
    window_fractions,
)
from echelon.routing.placeholders import (
    LIFE_SAMPLES,
    LIFE_SOH_GRID,
    recycling_value_frame,
    table_recycling_value_usd,
)

CATALOG = load_applications()
ECON = load_economics()


def test_catalogue_defines_every_canonical_application_with_sources() -> None:
    assert set(CATALOG.application) == {a.value for a in Application}
    for spec in CATALOG.application.values():
        assert spec.source
        assert spec.as_of
        assert spec.life.source
    for reg in CATALOG.regulation:
        assert reg.source
        assert reg.message
    jurisdictions = {r.jurisdiction for r in CATALOG.regulation}
    assert jurisdictions == {"EU", "CN", "US"}


@pytest.mark.parametrize(
    ("chem", "expected"),
    [("LFP", (4, 4)), ("NMC622", (0, 0)), ("LMO", (0, 0)), ("NCA", (0, 0))],
)
def test_a_12v_battery_needs_four_lfp_cells_in_series(chem: str, expected: tuple[int, int]) -> None:
    option = series_options(CATALOG.application["auto12v"], chem, min_fraction=0.8)
    assert (option.cells_min, option.cells_max) == expected


def test_an_imposed_charge_voltage_must_not_overcharge() -> None:
    auto = CATALOG.application["auto12v"]
    # 3 NMC cells at the alternator's 14.4 V would sit at 4.8 V each: not usable at all
    assert window_fractions(auto, "NMC622", [3])[0] == 0.0
    # 4 NMC cells never get above 3.6 V each: less than half the capacity is reachable
    assert 0.0 < window_fractions(auto, "NMC622", [4])[0] < 0.5
    lfp = float(window_fractions(auto, "LFP", [4])[0])
    rec = chemistry("LFP")
    expected = float(rec.ocv.soc_at(14.4 / 4) - rec.ocv.soc_at(10.5 / 4))
    assert lfp == pytest.approx(expected)


def test_telecom_48v_takes_15_or_16_lfp_cells() -> None:
    option = series_options(CATALOG.application["telecom"], "LFP", min_fraction=0.8)
    assert option.cells_min <= 15 <= option.best_cells + 1
    assert option.cells_max >= 16
    assert option.best_fraction > 0.95


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(sorted(CATALOG.application)),
    st.sampled_from([c.value for c in Chemistry]),
)
def test_window_fractions_are_shares(app: str, chem: str) -> None:
    shares = window_fractions(CATALOG.application[app], chem, np.arange(1, 60))
    assert np.all((shares >= 0.0) & (shares <= 1.0 + 1e-9))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[application.lsv", "[application.lsv_x"), "canonical applications missing"),
        (('applications = ["ebike"]', 'applications = ["bike"]'), "unknown applications"),
        (('preferred_families = ["LFP"]', 'preferred_families = ["NMC"]'), "subset"),
        (("voltage_min_v = 30.0", "voltage_min_v = 70.0"), "empty"),
        (("mean_soc = 0.5", "mean_soc = 1.5"), "mean_soc"),
    ],
)
def test_an_edited_catalogue_is_validated(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    text = packaged_table_path("applications").read_text()
    assert edit[0] in text
    path = tmp_path / "applications.toml"
    path.write_text(text.replace(edit[0], edit[1]))
    with pytest.raises(ConfigError, match=message):
        load_applications(path)


def test_economics_overrides_are_applied_and_recorded() -> None:
    econ = load_economics(
        overrides={"price.ess": 9.5, "labour.EU": 45, "repurposing.module.labour_hours": 1}
    )
    assert econ.price_for("ess", "EU") == 9.5
    assert econ.labour_rate("EU") == 45
    assert econ.repurposing["module"].labour_hours == 1  # type: ignore[index]
    assert econ.label == (
        "routing_economics@1 (labour.EU=45, price.ess=9.5, repurposing.module.labour_hours=1)"
    )
    assert ECON.price_for("ess", "EU") == 8.0  # the packaged table is unchanged
    assert parse_overrides(["price.ups=10", " labour.CN = 4"]) == {
        "price.ups": 10.0,
        "labour.CN": 4.0,
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"price.bess": 9.0}, "did you mean 'ess'"),
        ({"repurposing.module": 1.0}, "names a table"),
        ({"price.ess.source": 1.0}, "is not a number"),
        ({"labour.EU": -5.0}, "greater than or equal to 0"),
    ],
)
def test_bad_overrides_are_explained(overrides: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_economics(overrides=overrides)


@pytest.mark.parametrize("key", ["grade.A.soh_min_percent", "gate.ocv_measured", "pricee.ess"])
def test_a_key_outside_the_economics_table_points_to_its_prefixes_and_profile_files(
    key: str,
) -> None:
    """``--set grade.A.soh_min_percent=85`` said "(top) has no 'grade'": now it says what
    ``--set`` takes and where profile thresholds are edited."""
    with pytest.raises(ConfigError) as caught:
        load_economics(overrides={key: 85.0})
    message = str(caught.value)
    assert "--set takes keys of the economics table only" in message
    assert "price., recycling., repurposing., testing." in message
    assert '"Editing a profile"' in message
    assert "(top)" not in message


@pytest.mark.parametrize("item", ["price.ess", "=3", "price.ess=cheap"])
def test_malformed_set_items_are_refused(item: str) -> None:
    with pytest.raises(ConfigError, match="KEY=NUMBER"):
        parse_overrides([item])


@pytest.mark.parametrize(
    ("line", "replacement", "messages"),
    [
        (  # a negative price and a misspelt jurisdiction: neither may pass unnoticed
            "usd_per_kwh_year = 8.0",
            "usd_per_kwh_year = 8.0\nby_jurisdiction = { EU = -50.0, eu = 99.0 }",
            [
                "price.ess.by_jurisdiction.EU: Input should be greater than or equal to 0",
                "price.ess.by_jurisdiction.eu.[key]: Input should be 'EU', 'CN', 'US' or 'none'",
            ],
        ),
        (
            'source = "[assumption] no EU labour rate',
            'source = " "',
            ["labour.EU.source: empty source: name where the number comes from"],
        ),
        (
            'as_of = "2026-11-22"',
            'as_of = "someday"',
            ["meta.as_of: as_of 'someday' is not a date"],
        ),
        (
            "payable_source = ",
            'payable_source = ""',
            ["recycling.payable_source: empty source: name where the number comes from"],
        ),
    ],
)
def test_an_edited_economics_table_is_validated(
    tmp_path: Path, line: str, replacement: str, messages: list[str]
) -> None:
    """The first line starting with ``line`` is replaced; the error names the file and keys."""
    lines = packaged_table_path("routing_economics").read_text().splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith(line))
    lines[at] = replacement
    path = tmp_path / "mine.toml"
    path.write_text("\n".join(lines))
    with pytest.raises(ConfigError) as caught:
        load_economics(path)
    assert str(path) in str(caught.value)  # the file is named
    for message in messages:  # and every key at fault
        assert message in str(caught.value)


def test_recycling_price_overrides_move_the_routers_recycling_value() -> None:
    """``--set recycling.*`` prices were recorded on every decision yet changed no value: the
    router's feed price ignored them. Each now replaces its feed-price parameter."""
    units = pl.DataFrame(
        {
            "chemistry": ["NMC622", "LFP"],
            "level": ["module", "module"],
            "nominal_capacity_ah": [60.0, 100.0],
            "unit_voltage_v": [43.2, 51.2],
        }
    )
    base = recycling_value_frame(units)
    nmc_base, lfp_base = base["recycle_value_usd"].to_list()
    assert base["recycle_basis"].to_list() == ["feed_price", "feed_price"]
    ni = recycling_value_usd(
        units, economics=load_economics(overrides={"recycling.metal_usd_per_kg.Ni": 1000.0})
    ).to_list()
    assert ni[0] > 20 * nmc_base
    assert ni[1] == pytest.approx(lfp_base)  # LFP: a fixed feed price, no metal credit
    share = recycling_value_usd(
        units, economics=load_economics(overrides={"recycling.payable_fraction": 0.6})
    ).to_list()
    assert share[0] == pytest.approx(2 * nmc_base)  # 60 % instead of 30 % of Ni + Co value
    fee = recycling_value_frame(
        units, economics=load_economics(overrides={"recycling.chemistry.LFP.fixed_usd_per_kg": -5})
    )
    assert fee["recycle_value_usd"][1] == pytest.approx(lfp_base * 2.5)  # -5 instead of -2 USD/kg
    assert fee["recycle_usd_per_kg"][1] == pytest.approx(-5.0)
    assert fee["recycle_value_usd"][1] == pytest.approx(
        fee["recycle_mass_kg"][1] * fee["recycle_usd_per_kg"][1]
    )


def test_an_edited_tables_recycling_prices_move_the_value_too(tmp_path: Path) -> None:
    """The ``[recycling]`` prices of an ``--economics`` copy apply as a ``--set`` does."""
    units = pl.DataFrame(
        {"chemistry": ["NMC622"], "level": ["module"], "nominal_capacity_ah": [60.0],
         "unit_voltage_v": [43.2]}
    )  # fmt: skip
    path = tmp_path / "mine.toml"
    text = packaged_table_path("routing_economics").read_text()
    path.write_text(text.replace("Ni = 16.85", "Ni = 1000.0"))
    edited = recycling_value_usd(units, economics=load_economics(path))[0]
    by_set = recycling_value_usd(
        units, economics=load_economics(overrides={"recycling.metal_usd_per_kg.Ni": 1000.0})
    )[0]
    assert edited == pytest.approx(by_set)
    assert edited > 20 * recycling_value_usd(units)[0]


def test_the_catalogue_folders_recycling_prices_are_read_again_when_edited(
    tmp_path: Path,
) -> None:
    """The router's price table was cached without its catalogue folder: a folder's own
    recycling_prices.toml was ignored, and an edited one was not seen until a restart."""
    units = pl.DataFrame(
        {"chemistry": ["NMC622"], "level": ["module"], "nominal_capacity_ah": [60.0],
         "unit_voltage_v": [43.2]}
    )  # fmt: skip
    packaged = packaged_table_path("recycling_prices").read_text()
    table = tmp_path / "recycling_prices.toml"
    table.write_text(packaged)
    base = recycling_value_usd(units)[0]
    assert recycling_value_usd(units, catalog_dir=tmp_path)[0] == pytest.approx(base)
    table.write_text(packaged.replace("value = 16.853\n", "value = 1000.0\n"))
    os.utime(table, ns=(1, 2))  # a different modification time, however fast the edit
    assert recycling_value_usd(units, catalog_dir=tmp_path)[0] > 20 * base


@pytest.mark.parametrize(
    "key",
    [
        "recycling.black_mass_kg_per_kg_cells",
        "recycling.chemistry.NMC622.cell_kg_per_kwh",
        "recycling.chemistry.NMC622.black_mass_ni",
    ],
)
def test_fallback_only_recycling_overrides_are_refused(key: str) -> None:
    with pytest.raises(ConfigError, match="changes only the fallback recycling table"):
        load_economics(overrides={key: 0.5})


def test_an_application_without_a_duty_is_a_configuration_error() -> None:
    """A custom application with no ``lifetime_duties`` entry was credited 0.0 years without a
    word, so it could never be chosen; now the missing entry is named."""
    custom = CATALOG.model_copy(
        update={"application": {**CATALOG.application, "forklift": CATALOG.application["ups"]}}
    )
    units = pl.DataFrame({"application": ["forklift"], "chemistry": ["LFP"], "soh_percent": [85.0]})
    with pytest.raises(ConfigError, match=r"forklift .* add \[duty\.forklift\]"):
        expected_second_life_years(units, applications=custom)
    no_model = units.with_columns(pl.lit("Li-S").alias("chemistry"))  # no life model: no duty
    assert expected_second_life_years(no_model, applications=custom).to_list() == [0.0]


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e300"])
def test_set_numbers_must_be_finite(text: str) -> None:
    with pytest.raises(ConfigError, match="not a finite number"):
        parse_overrides([f"price.ess={text}"])
    with pytest.raises(ConfigError, match="not a finite number"):  # the library path too
        load_economics(overrides={"price.ess": float(text)})


@pytest.mark.parametrize(
    ("app", "chemistry", "soh", "years"),
    [
        ("ess", "LFP", 99.0, 10.0),  # healthy LFP outlives the credited 10 years: capped
        ("telecom", "LFP", 40.0, 0.0),  # at the end of life already
        ("ess", "Li-S", 90.0, 0.0),  # no ageing model, no reuse standard: nothing credited
        ("ups", "LFP", None, None),  # unknown SOH
    ],
)
def test_life_years_edge_cases(
    app: str, chemistry: str, soh: float | None, years: float | None
) -> None:
    units = pl.DataFrame(
        {"application": [app], "chemistry": [chemistry], "soh_percent": [soh]},
        schema={"application": pl.String, "chemistry": pl.String, "soh_percent": pl.Float64},
    )
    out = expected_second_life_years(units)
    assert out.name == "expected_second_life_years"
    assert out.to_list() == [pytest.approx(years) if years is not None else None]


def test_life_years_come_from_the_lifetime_model() -> None:
    # the router evaluates the lifetime model on its SOH grid (Monte Carlo with a fixed seed, so a
    # call on the same grid reproduces it) and interpolates; on a grid point the years are the
    # model's median, capped at the application's credited maximum
    grid = pl.DataFrame(
        {
            "battery_id": [f"g{k}" for k in range(len(LIFE_SOH_GRID))],
            "chemistry": "NMC622",
            "soh_percent": LIFE_SOH_GRID,
            "soh_lower_percent": LIFE_SOH_GRID,
        }
    )
    median = expected_life_years(
        grid, application="ess", n_samples=LIFE_SAMPLES, horizon_years=12.0
    )["years_to_eol"]
    cap = CATALOG.application["ess"].life.max_years
    expected = np.minimum(np.maximum.accumulate(median.fill_null(0.0).to_numpy()), cap)
    units = pl.DataFrame(
        {"application": "ess", "chemistry": "NMC622", "soh_percent": LIFE_SOH_GRID}
    )
    assert expected_second_life_years(units).to_numpy() == pytest.approx(expected)
    assert 0 < expected[LIFE_SOH_GRID == 80.0][0] < cap  # a real, uncapped forecast at 80 %
    # between grid points: linear interpolation, so more capacity never shortens the life
    sweep = pl.DataFrame({"application": "ups", "chemistry": "NMC811",
                          "soh_percent": np.linspace(45.0, 100.0, 23)})  # fmt: skip
    values = expected_second_life_years(sweep).to_numpy()
    assert np.all(np.diff(values) >= 0)


def test_fallback_recycling_value_follows_its_table() -> None:
    units = pl.DataFrame(
        {
            "chemistry": ["NMC622", "LFP", "LCO", "Li-S", None],
            "nominal_capacity_ah": [60.0, 100.0, 3.0, 1.0, 10.0],
            "unit_voltage_v": [43.2, 51.2, 3.7, 2.1, None],
        }
    )
    values = table_recycling_value_usd(units).to_list()
    nmc_per_kg = 0.30 * 0.685 * (0.219 * 16.85 + 0.073 * 50.35)  # EverBatt 2023 convention
    assert values[0] == pytest.approx(60 * 43.2 / 1000 * 3.19 * nmc_per_kg)
    assert values[1] == pytest.approx(100 * 51.2 / 1000 * 4.24 * -2.0)  # LFP: the owner pays
    assert values[2] > 0
    assert values[3] < 0
    assert values[4] is None
    assert ECON.recycling.usd_per_kg_cells("NMC811") < ECON.recycling.usd_per_kg_cells("LCO")
    assert math.isclose(ECON.recycling.usd_per_kg_cells("NMC622"), nmc_per_kg)


def test_recycling_value_is_the_recyclers_feed_price() -> None:
    units = pl.DataFrame(
        {
            "chemistry": ["NMC622", "LFP", "Li-S", "NMC811"],
            "level": ["module", "module", "cell", "cell"],
            "nominal_capacity_ah": [60.0, 100.0, 1.0, 3.0],
            "unit_voltage_v": [43.2, 51.2, 2.1, None],
        }
    )
    values = recycling_value_usd(units).to_list()
    lot = (
        units.head(3)
        .rename({"unit_voltage_v": "nominal_voltage_v"})
        .with_columns(pl.Series("battery_id", ["a", "b", "c"]))
    )
    feed = unit_recycling_value(lot, process="hydro")["feed_price_usd"].to_list()
    assert values[:3] == pytest.approx(feed)  # valued by echelon.recycling
    assert values[0] > 0 > values[1]  # NMC is bought; LFP costs the owner a fee
    assert values[3] is None  # rated energy unknown
