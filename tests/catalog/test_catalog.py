"""Catalogue: every chemistry loads with provenance, OCV tables behave, overrides and errors."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from echelon.catalog import (
    chemistries,
    chemistry,
    generic_chemistry,
    load_table,
    resolve_chemistry,
    table_names,
)
from echelon.catalog._loader import packaged_table_path
from echelon.domain import Chemistry
from echelon.errors import CatalogError, EchelonWarning


def test_every_chemistry_has_a_record_with_source_and_date() -> None:
    records = chemistries()
    assert set(records) == set(Chemistry)
    for rec in records.values():
        assert rec.source
        assert rec.as_of
        assert rec.ocv.source
        assert rec.ocv.as_of
        assert len(rec.ocv.soc) == 21
        # the table spans (within 0.3 V) the operating window it is used with
        assert abs(rec.ocv.ocv_v[0] - rec.discharge_cutoff_v) < 0.3
        assert abs(rec.ocv.ocv_v[-1] - rec.charge_cutoff_v) < 0.1


def test_chemistries_without_reuse_standard() -> None:
    no_standard = {c for c, r in chemistries().items() if not r.has_reuse_standard}
    assert no_standard == {Chemistry.LI_METAL, Chemistry.LI_S, Chemistry.UNKNOWN}


def test_lfp_plateau_is_flat() -> None:
    # LFP's OCV barely moves between 30 and 70 % SOC (a known property of the chemistry)
    lfp = chemistry("LFP").ocv
    assert float(lfp.ocv(0.7) - lfp.ocv(0.3)) < 0.05
    nmc = chemistry("NMC811").ocv
    assert float(nmc.ocv(0.7) - nmc.ocv(0.3)) > 0.15


@given(st.sampled_from(list(Chemistry)), st.floats(min_value=0.0, max_value=1.0))
def test_ocv_inverse_round_trip(chem: Chemistry, soc: float) -> None:
    table = chemistry(chem).ocv
    assert float(table.soc_at(table.ocv(soc))) == pytest.approx(soc, abs=1e-9)


def test_unknown_table_names_alternatives() -> None:
    with pytest.raises(CatalogError, match=r"available: .*chemistries"):
        load_table("no_such_table")
    assert "chemistries" in table_names()


def test_user_override_folder_replaces_a_table(tmp_path: Path) -> None:
    shutil.copy(packaged_table_path("soh_capacity_test"), tmp_path / "soh_capacity_test.toml")
    text = (tmp_path / "soh_capacity_test.toml").read_text().replace("value = 0.01", "value = 0.02")
    (tmp_path / "soh_capacity_test.toml").write_text(text)
    assert (
        load_table("soh_capacity_test", catalog_dir=tmp_path)["relative_uncertainty"]["value"]
        == 0.02
    )
    assert load_table("soh_capacity_test")["relative_uncertainty"]["value"] == 0.01


def test_table_without_meta_is_refused(tmp_path: Path) -> None:
    (tmp_path / "soh_capacity_test.toml").write_text("[relative_uncertainty]\nvalue = 0.5\n")
    with pytest.raises(CatalogError, match="lacks name, version, as_of"):
        load_table("soh_capacity_test", catalog_dir=tmp_path)


def test_broken_chemistry_record_names_it(tmp_path: Path) -> None:
    text = packaged_table_path("chemistries").read_text()
    broken = text.replace("ocv_max_v = 3.7\n", "ocv_max_v = 3.0\n", 1)
    (tmp_path / "chemistries.toml").write_text(broken)
    with pytest.raises(CatalogError, match="record 'LFP'"):
        chemistries(catalog_dir=tmp_path)


def test_resolve_chemistry_rejects_garbage_with_hint() -> None:
    with pytest.raises(ValueError, match="use 'unknown'"):
        resolve_chemistry("banana")
    with pytest.raises(ValueError, match="did you mean"):
        resolve_chemistry("NMX622")
    assert np.isfinite(chemistry(Chemistry.LCO).nominal_voltage_v)


@pytest.mark.parametrize(
    "spelling", ["NMC", "NCM", "ncm", "ternary", "Ternary Li-ion", "NMC/graphite"]
)
def test_family_only_nmc_spellings_resolve_to_the_generic_nmc(spelling: str) -> None:
    assert resolve_chemistry(spelling) is Chemistry.NMC622
    assert generic_chemistry(spelling) is Chemistry.NMC622
    assert "Generic NMC" in chemistry(Chemistry.NMC622).source  # the assumption, with its sources
    assert chemistry(Chemistry.NMC622).as_of == "2026-12-06"


def test_specific_spellings_are_not_generic() -> None:
    assert generic_chemistry("NMC811") is None
    assert generic_chemistry("NCM523") is None
    assert resolve_chemistry("NCM811") is Chemistry.NMC811


def test_a_spelling_naming_two_chemistries_is_refused(tmp_path: Path) -> None:
    text = packaged_table_path("chemistries").read_text()
    clash = text.replace('generic_aliases = ["NMC", ', 'generic_aliases = ["NCM811", "NMC", ', 1)
    (tmp_path / "chemistries.toml").write_text(clash)
    with pytest.raises(CatalogError, match="'NCM811' names both"):
        resolve_chemistry("NMC", catalog_dir=tmp_path)


def test_a_missing_override_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, a folder that does not exist was ignored and the packaged tables used silently."""
    with pytest.raises(CatalogError, match="no such folder"):
        load_table("chemistries", catalog_dir=tmp_path / "nope")
    monkeypatch.setenv("ECHELON_CATALOG_DIR", str(tmp_path / "nope"))
    with pytest.raises(CatalogError, match=r"ECHELON_CATALOG_DIR=.*nope: no such folder"):
        load_table("chemistries")


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("routing-economics.toml", "routing_economics.toml"),
        ("grading_EU.toml", "grading_eu.toml"),
        ("Soh Capacity Test.toml", "soh_capacity_test.toml"),
    ],
)
def test_a_near_miss_file_name_in_the_override_folder_is_refused(
    tmp_path: Path, file_name: str, expected: str
) -> None:
    """Before, such a file was ignored without a word and the packaged table used."""
    (tmp_path / file_name).write_text('[meta]\nname = "x"\nversion = "1"\nas_of = "2026"\n')
    with pytest.raises(CatalogError, match=f"{file_name} → {expected}: .*rename the file"):
        load_table("chemistries", catalog_dir=tmp_path)


def test_a_close_misspelling_warns_but_a_custom_table_does_not(tmp_path: Path) -> None:
    shutil.copy(packaged_table_path("applications"), tmp_path / "aplications.toml")
    shutil.copy(packaged_table_path("applications"), tmp_path / "facility_econ.toml")
    with pytest.warns(EchelonWarning, match=r"aplications.toml .*did you mean applications.toml"):
        load_table("chemistries", catalog_dir=tmp_path)
    assert load_table("facility_econ", catalog_dir=tmp_path)["meta"]["name"] == "applications"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"source": "", "as_of": "2026"}, "source: empty source"),
        ({"source": "x", "as_of": "someday"}, "as_of: as_of 'someday' is not a date"),
        ({"source": "x", "as_of": ""}, "as_of: as_of '' is not a date"),
    ],
)
def test_a_number_without_source_or_date_is_refused(record: dict[str, str], message: str) -> None:
    from echelon.catalog.models import Sourced, TableMeta, validated
    from echelon.errors import ConfigError

    with pytest.raises(ConfigError, match=f"my table is invalid:\n  - {message}"):
        validated(Sourced, record, what="my table")
    meta = {"name": "t", "version": "1", **record}
    with pytest.raises(ConfigError, match=message):
        validated(TableMeta, meta, what="my table")
    for as_of in ("2023", "2025-07", "2026-11-22"):
        assert validated(Sourced, {"source": "x", "as_of": as_of}, what="t").as_of == as_of
    # an unquoted TOML date is a date too (recycle --prices took it; the tables refused it)
    record = tomllib.loads('source = "x"\nas_of = 2026-01-15\n')
    assert validated(Sourced, record, what="t").as_of == "2026-01-15"
