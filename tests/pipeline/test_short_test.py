"""The pipeline's short-test step: pulse-only units get a pulse SOH, calibrated per batch.

Units are built directly (no files): the step only needs each unit's identity, its capacity-test
SOH (if any) and its PulseBat features. The features are synthetic (tests/estimation/
synthetic_pulse.py) and from a cell model the shipped model never saw — the normal case.
"""

from __future__ import annotations

import polars as pl
import pytest

from echelon.domain import Battery
from echelon.estimation import soh_from_capacity
from echelon.estimation.zoo import load_model
from echelon.io.manifest import ManifestUnit
from echelon.pipeline.short_test import estimate_short_tests
from echelon.pipeline.unit import UnitOutcome
from tests.estimation.synthetic_pulse import pulse_samples

U_COLUMNS = [f"u{i}_v" for i in range(1, 22)]


def _units(
    rows: pl.DataFrame, *, capacity_tested: int, model: str
) -> tuple[list[ManifestUnit], dict[str, UnitOutcome]]:
    units, outcomes = [], {}
    for i, row in enumerate(rows.iter_rows(named=True)):
        bid = f"{model}-{i:03d}"
        battery = Battery(battery_id=bid, level="cell", chemistry=row["chemistry"], model=model,
                          nominal_capacity_ah=row["nominal_capacity_ah"])  # fmt: skip
        units.append(ManifestUnit(row=i + 1, battery=battery))
        soh = None
        if i < capacity_tested:
            soh = soh_from_capacity(
                row["soh_percent"] * row["nominal_capacity_ah"] / 100, row["nominal_capacity_ah"]
            )
        outcomes[bid] = UnitOutcome(bid, soh=soh, pulse_features={c: row[c] for c in U_COLUMNS})
    return units, outcomes


@pytest.fixture(scope="module")
def cells() -> pl.DataFrame:
    # one pulse per cell at its arrival SOC (here 30 %), a 50 Ah NMC model not in PulseBat
    return pulse_samples(30, seed=21, socs=(30.0,), prefix="Z", nominal_capacity_ah=50.0)


def test_batch_with_enough_references_is_calibrated(cells: pl.DataFrame) -> None:
    units, outcomes = _units(cells, capacity_tested=12, model="Z-50")
    done = estimate_short_tests(units, outcomes, load_model("pulse-u21"))
    assert done == 18
    estimated = [outcomes[u.battery.battery_id].soh for u in units[12:]]
    assert all(e is not None and e.method == "pulse:pulse-u21+references" for e in estimated)
    assert all(e is not None and not e.out_of_domain for e in estimated)
    # capacity-tested units keep their capacity SOH
    assert outcomes[units[0].battery.battery_id].soh.method == "capacity_test"  # type: ignore[union-attr]
    truth = cells.get_column("soh_percent").to_list()[12:]
    inside = [
        e.soh_lower_percent <= t <= e.soh_upper_percent
        for e, t in zip(estimated, truth, strict=True)
        if e
    ]
    assert sum(inside) >= 14  # 90 % intervals: at least 14 of 18 (binomial 5th percentile ≈ 14)


def test_batch_without_enough_references_is_out_of_domain(cells: pl.DataFrame) -> None:
    units, outcomes = _units(cells, capacity_tested=4, model="Z-50b")
    estimate_short_tests(units, outcomes, load_model("pulse-u21"))
    rest = [outcomes[u.battery.battery_id] for u in units[4:]]
    flagged = [o.soh for o in rest if o.soh is not None]
    refused = [why for o in rest if o.soh is None for _, why in o.soh_refusals]
    # never silence and never a confident number: a widened estimate, or a refusal saying why
    assert len(flagged) + len(refused) == len(rest)
    assert all(e.out_of_domain and e.method.endswith("+out-of-domain") for e in flagged)
    assert all(e.soh_upper_percent - e.soh_lower_percent > 10.0 for e in flagged)
    # this synthetic 50 Ah delivery reads 112–118 % (true 66–98 %): past the trained range, so
    # refused since 2026-12-07 (it used to be clipped to the range's top and widened)
    assert refused
    assert all("beyond the trained SOH range" in why for why in refused)


def test_unknown_family_gets_no_estimate() -> None:
    lco = pulse_samples(
        12, chemistry_name="LCO", nominal_capacity_ah=4.0, seed=22, socs=(30.0,), prefix="Y"
    )
    units, outcomes = _units(lco, capacity_tested=0, model="Y-4")
    assert estimate_short_tests(units, outcomes, load_model("pulse-u21")) == 0
    assert all(outcomes[u.battery.battery_id].soh is None for u in units)
    # the refusal is kept with its reason, for the unit's history (a soh_refused event)
    for u in units:
        [(method, why)] = outcomes[u.battery.battery_id].soh_refusals
        assert method == "pulse:pulse-u21"
        assert "no pulse model for chemistry family LCO" in why


def test_a_refusal_becomes_a_soh_refused_event() -> None:
    from echelon.pipeline.intake import _events

    battery = Battery(battery_id="R-1", level="cell", chemistry="LCO", nominal_capacity_ah=4.0)
    out = UnitOutcome("R-1", soh_refusals=[("pulse:pulse-u21", "no pulse model for LCO")])
    events = _events(ManifestUnit(row=1, battery=battery), out, None, {}, [])
    refused = [e for e in events if e.kind == "soh_refused"]
    assert [e.payload for e in refused] == [
        {"method": "pulse:pulse-u21", "reason": "no pulse model for LCO"}
    ]
    assert all(e.status is None for e in refused)  # the unit's status is not changed by it


def test_units_with_only_a_spectrum_get_the_eis_estimate() -> None:
    from tests.estimation.test_eis import synthetic

    spectra = synthetic(n_cells=14, per_cell=1, seed=23).with_columns(
        pl.lit("NMC811").alias("chemistry"), pl.lit(4.9).alias("nominal_capacity_ah")
    )
    units, outcomes = [], {}
    for i, row in enumerate(spectra.iter_rows(named=True)):
        bid = f"W-{i:03d}"
        battery = Battery(battery_id=bid, level="cell", chemistry="NMC811", model="W-21700",
                          nominal_capacity_ah=4.9)  # fmt: skip
        units.append(ManifestUnit(row=i + 1, battery=battery))
        soh = soh_from_capacity(row["soh_percent"] * 4.9 / 100, 4.9) if i < 10 else None
        spectrum = {k: row[k] for k in ("frequency_hz", "z_real_ohm", "z_imag_ohm")}
        outcomes[bid] = UnitOutcome(bid, soh=soh, eis_spectrum=spectrum)
    assert estimate_short_tests(units, outcomes, load_model("pulse-u21")) == 0  # no pulses
    assert estimate_short_tests(units, outcomes, load_model("eis-lco-nmc811")) == 4
    estimated = [outcomes[u.battery.battery_id].soh for u in units[10:]]
    assert all(
        e is not None and e.method.startswith("eis:eis-lco-nmc811+references") for e in estimated
    )


def test_one_unusable_unit_is_refused_and_its_batch_still_estimated(cells: pl.DataFrame) -> None:
    """A pulse response logged in mV (one target) and one reference's too: each is named and set
    aside, and the rest of the batch gets exactly the estimates it gets without them — one bad
    unit never spoils a batch (before 2026-12-07 the SchemaError of the whole table aborted the
    intake)."""
    units, outcomes = _units(cells, capacity_tested=13, model="Z-50c")
    bad = [units[0].battery.battery_id, units[-1].battery.battery_id]  # a reference, a target
    for bid in bad:
        features = outcomes[bid].pulse_features
        assert features is not None
        features.update({c: v * 1000.0 for c, v in features.items()})
    estimate_short_tests(units, outcomes, load_model("pulse-u21"))
    target = outcomes[bad[1]]
    assert target.soh is None
    [(method, why)] = target.soh_refusals
    assert method == "pulse:pulse-u21"
    assert why.startswith("its pulse inputs cannot be used: u1_v")
    assert "… and 19 more" in why  # u1_v … u21_v, not 21 copies of the same advice
    reference = outcomes[bad[0]]
    assert reference.soh is not None
    assert reference.soh.method == "capacity_test"
    assert reference.soh_refusals == []
    good, alone = _units(cells, capacity_tested=13, model="Z-50c")
    kept = [u for u in good if u.battery.battery_id not in bad]
    estimate_short_tests(kept, {u.battery.battery_id: alone[u.battery.battery_id] for u in kept},
                         load_model("pulse-u21"))  # fmt: skip
    for unit in kept:
        bid = unit.battery.battery_id
        assert outcomes[bid].soh == alone[bid].soh
        assert outcomes[bid].soh_refusals == alone[bid].soh_refusals
    assert sum(outcomes[u.battery.battery_id].soh is not None for u in kept[12:]) >= 14
