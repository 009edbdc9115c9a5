"""echelon.recycling.prices: an override file is checked (units, bounds, keys, duplicates,
provenance, dates) before any price is used."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from echelon.errors import SchemaError
from echelon.recycling import load_prices

HEADER = "item,value,unit,source,as_of\n"


def _problems(path: Path) -> list[str]:
    with pytest.raises(SchemaError) as info:
        load_prices(path, year=2028)
    return [str(p) for p in info.value.problems]


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.filterwarnings("ignore:.*but metal.(Co|Ni) is not")  # linked-price notes
def test_mass_units_are_converted_exactly_and_the_table_keeps_its_unit(tmp_path: Path) -> None:
    per_tonne = _file(tmp_path, "t.csv", HEADER + "cobalt_salt,30000,USD/t Co,a quote,2026-01-15\n")
    per_pound = _file(tmp_path, "lb.csv", HEADER + "nickel_salt,10,USD/lb Ni,a quote,2026\n")
    tip_fee = _file(tmp_path, "tip.csv", HEADER + "US:landfill,100,USD/t,a quote,2026\n")
    table = load_prices(per_tonne, year=2028)
    assert table.price("cobalt_salt") == pytest.approx(30.0, rel=1e-15)
    entry = table.entries["cobalt_salt"]
    assert entry.unit == "USD/kg Co"
    assert "given as 30000 USD/t Co" in entry.source
    assert load_prices(per_pound, year=2028).price("nickel_salt") == pytest.approx(10 / 0.45359237)
    # per short ton of the table's 907.2 kg: 100 USD/t × 0.9072 t
    assert load_prices(tip_fee, year=2028).price("US:landfill") == pytest.approx(90.72)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("cobalt_salt,30,USD/kg,q,2026", "priced per kg of Co"),
        ("cobalt_salt,30,EUR/kg Co,q,2026", "prices are in USD"),
        ("cobalt_salt,30,USD/ton Co,q,2026", "only mass units"),
        ("US:electricity,0.1,USD/MWh,q,2026", "only mass units"),
        ("cobalt_salt,-30,USD/kg Co,q,2026", "negative price"),
        ("cobalt_salt,30,USD/kg Co,,2026", "no source"),
        ("cobalt_salt,30,USD/kg Co,q,", "no as_of date"),
        ("cobalt_salt,30,USD/kg Co,q,yesterday", "'yesterday' is not a date"),
    ],
)
def test_a_bad_csv_price_is_named_at_its_row(tmp_path: Path, row: str, message: str) -> None:
    path = _file(tmp_path, "p.csv", HEADER + "steel_scrap,0.3,USD/kg,q,2026\n" + row + "\n")
    problems = _problems(path)
    assert len(problems) == 1
    assert problems[0].startswith("row 2, column")
    assert message in problems[0]


def test_csv_duplicates_missing_provenance_columns_and_unknown_columns(tmp_path: Path) -> None:
    twice = HEADER + "cobalt_salt,30,USD/kg Co,q,2026-01-01\ncobalt_salt,60,USD/kg Co,q,2026-01\n"
    assert "first at row 1" in _problems(_file(tmp_path, "dup.csv", twice))[0]
    bare = _file(tmp_path, "bare.csv", "item,value,unit\ncobalt_salt,30,USD/kg Co\n")
    assert "missing column(s) ['source', 'as_of']" in _problems(bare)[0]
    typo = _file(tmp_path, "typo.csv", "item,value,sorce,source,as_of\ncobalt_salt,30,x,q,2026\n")
    assert "did you mean 'source'?" in _problems(typo)[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[payable.default]\nni = { value = 95, source = "c", as_of = "2026" }\n',
            "payable.default.ni': 95 is not a fraction in [0, 1] (a percentage? write 0.95)",
        ),
        (
            '[payable.default]\nnickel = { value = 0.95, source = "c", as_of = "2026" }\n',
            "unknown key 'nickel'",
        ),
        ('[payable.NMC81]\nni = { value = 0.9, source = "c", as_of = "2026" }\n', "'NMC811'"),
        ("[payable.default]\nni = 0.9\n", "write { value = 0.9"),
        (
            '[feed_price]\nbattery_share = { value = 0.9, source = "c", as_of = "2026" }\n',
            "did you mean 'battery_share_of_co_ni_value'?",
        ),
        (
            '[feed_price]\nblack_mass_share_of_co_ni_value = { value = 70, source = "c", '
            'as_of = "2026" }\n',
            "a percentage? write 0.7",
        ),
        (
            '[price.cobalt_salt]\nvaleu = 30.0\nvalue = 50.0\nsource = "c"\nas_of = "2026"\n',
            "unknown key 'valeu' (did you mean 'value'?)",
        ),
        (
            '[[price.cobalt_salt.dated]]\nvalue = 30.0\nsource = "c"\nas_of = "2026"\n'
            '[[price.cobalt_salt.dated]]\nvalue = 60.0\nsource = "c"\nas_of = "2026-01-01"\n',
            "cobalt_salt dated 2026-01-01 again (first at price.cobalt_salt.dated[0])",
        ),
        ('[price.cobalt_salt]\nvalue = 30.0\nas_of = "2026"\n', "no source"),
        ('[price.cobalt_salt]\nvalue = 30.0\nsource = "c"\nas_of = "someday"\n', "not a date"),
    ],
)
def test_a_bad_toml_override_is_refused_with_its_key(
    tmp_path: Path, text: str, message: str
) -> None:
    problems = _problems(_file(tmp_path, "p.toml", text))
    assert any(message in p for p in problems), problems


def test_valid_toml_payables_and_shares_apply(tmp_path: Path) -> None:
    text = (
        '[payable.default]\nni = { value = 0.95, source = "c", as_of = "2026" }\n'
        '[payable.NMC811]\nli = { value = 0.04, source = "c", as_of = "2026" }\n'
        '[feed_price]\nbattery_share_of_co_ni_value = { value = 0.5, source = "c", '
        'as_of = "2026" }\nfixed_usd_per_kg = { LFP = { value = -3.0, source = "c", '
        'as_of = "2026" } }\n'
    )
    table = load_prices(_file(tmp_path, "ok.toml", text), year=2028)
    assert table.payable("LFP")["ni"] == 0.0
    assert table.payable("NCA")["ni"] == 0.95
    assert table.payable("NMC811") == {"ni": 0.95, "co": 0.7, "li": 0.04}
    assert table.battery_share == 0.5
    assert table.fixed_feed_usd_per_kg == {"LFP": -3.0}


def test_a_catalogue_copy_with_a_price_that_is_not_a_number_names_the_item(
    tmp_path: Path,
) -> None:
    """Was a bare ValueError (exit 1, internal error) since the override checks landed."""
    from echelon.catalog._loader import packaged_table_path
    from echelon.errors import PriceError

    text = packaged_table_path("recycling_prices").read_text(encoding="utf-8")
    bad = text.replace("value = 1.117477786", 'value = "n/a"', 1)
    assert bad != text
    (tmp_path / "recycling_prices.toml").write_text(bad, encoding="utf-8")
    with pytest.raises(PriceError, match=r"price 'aluminium_scrap' has no finite value \('n/a'\)"):
        load_prices(catalog_dir=tmp_path)


def test_a_catalogue_folder_s_table_is_named_in_the_origin(tmp_path: Path) -> None:
    # an edited recycling_prices.toml in a catalogue folder was reported as the packaged table
    from echelon.catalog._loader import packaged_table_path

    text = packaged_table_path("recycling_prices").read_text(encoding="utf-8")
    (tmp_path / "recycling_prices.toml").write_text(text, encoding="utf-8")
    assert load_prices(year=2028).origin == "recycling_prices@1"
    origin = load_prices(year=2028, catalog_dir=tmp_path).origin
    assert origin == f"recycling_prices@1 from {tmp_path / 'recycling_prices.toml'}"


@pytest.mark.filterwarnings("ignore:.*but metal.Co is not")  # linked-price note
@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("cobalt_salt,30000,USD/kg Co,x,2026-01-15", "596× above the catalogue's 50.3535 USD/kg Co"
         ": a price per tonne written per kg?"),
        ("copper_scrap,0.05,USD/t,x,2026", "142,232× below the catalogue's 7.11162 USD/kg: a price "
         "per kg written per tonne?"),
    ],
)  # fmt: skip
def test_a_price_far_from_the_catalogue_s_is_warned(tmp_path: Path, row: str, said: str) -> None:
    from echelon.errors import EchelonWarning

    path = _file(tmp_path, "p.csv", HEADER + row + "\n")
    with pytest.warns(EchelonWarning, match=re.escape(said)):
        table = load_prices(path, year=2028)
    assert sum(said in note for note in table.notes) == 1
    ordinary = _file(
        tmp_path,
        "q.csv",
        HEADER + "cobalt_salt,30000,USD/t Co,x,2026-01-15\nmetal:Co,30000,USD/t,x,2026-01-15\n",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 30 USD/kg Co is a price, not a slip
        assert not load_prices(ordinary, year=2028).notes


def test_toml_problems_are_located_by_key_and_empty_values_say_so(tmp_path: Path) -> None:
    # TOML problems read "column 'price.cobalt_salt.valeu'", an empty or NaN value "missing or
    # non-numeric price None", and an empty file was taken as no override at all
    toml = _file(
        tmp_path,
        "p.toml",
        '[price.cobalt_salt]\nvaleu = 30\nsource = "x"\nas_of = "2026"\n'
        '[price.nickel_salt]\nvalue = nan\nsource = "x"\nas_of = "2026"\n',
    )
    problems = _problems(toml)
    assert problems[0].startswith("key 'price.cobalt_salt.valeu': unknown key 'valeu'")
    assert "key 'price.nickel_salt.value': nan is not a finite number" in problems
    assert not any("column" in p for p in problems)
    csv = _file(tmp_path, "p.csv", HEADER + "cobalt_salt,,,x,2026\nnickel_salt,NaN,,x,2026\n")
    assert _problems(csv) == [
        "row 1, column 'value': no value: give a number in USD/kg Co",
        "row 2, column 'value': no value: give a number in USD/kg Ni",
    ]
    assert "the file sets no price" in _problems(_file(tmp_path, "empty.toml", ""))[0]


def test_a_price_given_for_one_side_of_a_linked_pair_is_warned(tmp_path: Path) -> None:
    # a cobalt_salt of 30 USD/kg Co with metal:Co left at the catalogue's 50.35 sold the lot's
    # cobalt at one market and bought its feed at another, silently (stop-19 review finding)
    from echelon.errors import EchelonWarning

    one = _file(tmp_path, "one.csv", HEADER + "cobalt_salt,30,USD/kg Co,x,2026-01-15\n")
    said = (
        "cobalt_salt is given (30 USD/kg Co, as of 2026-01-15) but metal:Co is not: metal:Co "
        "keeps the catalogue's 50.3535 USD/kg (as of 2023), so cobalt_salt / metal:Co is 0.60 "
        "against the catalogue's 1.00"
    )
    with pytest.warns(EchelonWarning, match=re.escape(said)):
        table = load_prices(one, year=2028)
    assert sum(said in note for note in table.notes) == 1
    assert table.price("metal:Co") == pytest.approx(50.3535208)  # nothing is moved for the user
    # the other side alone, of another pair, is named the same way
    other = _file(tmp_path, "other.csv", HEADER + "metal:Ni,25,USD/kg,x,2026-01-15\n")
    with pytest.warns(EchelonWarning, match=r"metal:Ni is given .* but nickel_salt is not"):
        load_prices(other, year=2028)
    # both sides given, or one side moved within the tolerance: nothing to say
    both = _file(
        tmp_path,
        "both.csv",
        HEADER + "cobalt_salt,30,USD/kg Co,x,2026-01-15\nmetal:Co,31,USD/kg,x,2026-01-15\n",
    )
    near = _file(tmp_path, "near.csv", HEADER + "nickel_salt,17.5,USD/kg Ni,x,2026-01-15\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not load_prices(both, year=2028).notes
        assert not load_prices(near, year=2028).notes
