"""Pack physics against hand-computed answers (second-life-domain.md §3.3)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from echelon.catalog import chemistry
from echelon.errors import SchemaError
from echelon.regroup import (
    PackSpec,
    RegroupConstraints,
    block_resistance_ohm,
    pack_table,
    prematch_delta_v,
    regroup,
    usable_capacity_ah,
    validate_inventory,
)


def _inventory(
    capacities: list[float], *, dcir: list[float] | None = None, **extra: list[float]
) -> pl.DataFrame:
    n = len(capacities)
    return validate_inventory(
        pl.DataFrame(
            {
                "battery_id": [f"C{i:03d}" for i in range(n)],
                "chemistry": ["NMC622"] * n,
                "capacity_ah": capacities,
                "dcir_ohm": dcir or [0.02] * n,
                **extra,
            }
        )
    )


def _assignment(blocks: list[list[str]], pack: str = "P1") -> pl.DataFrame:
    rows = [(bid, pack, b + 1) for b, ids in enumerate(blocks) for bid in ids]
    return pl.DataFrame(rows, schema=["battery_id", "pack_id", "block"], orient="row")


def test_worked_example_weak_cells_spread_or_bunched() -> None:
    # §3.3 worked example: 10S5P from 45 cells of 3.0 Ah and 5 of 2.5 Ah
    inv = _inventory([3.0] * 45 + [2.5] * 5)
    ids = inv["battery_id"].to_list()
    strong, weak = ids[:45], ids[45:]
    bunched = [strong[i * 5 : i * 5 + 5] for i in range(9)] + [weak]
    spread = [[*strong[i * 4 : i * 4 + 4], weak[i]] for i in range(5)]
    spread += [strong[20 + i * 5 : 25 + i * 5] for i in range(5)]
    one = pack_table(_assignment(bunched), inv, series=10, parallel=5).row(0, named=True)
    two = pack_table(_assignment(spread), inv, series=10, parallel=5).row(0, named=True)
    assert one["usable_capacity_ah"] == pytest.approx(12.5)
    assert one["stranded_capacity_ah"] == pytest.approx(2.25)  # pack-Ah, as in the reference
    assert two["usable_capacity_ah"] == pytest.approx(14.5)
    assert two["stranded_capacity_ah"] == pytest.approx(0.25)
    assert two["capacity_bound_ah"] == pytest.approx(14.75)


def test_optimiser_finds_the_worked_example_optimum() -> None:
    inv = _inventory([3.0] * 45 + [2.5] * 5)
    result = regroup(
        inv, PackSpec(series=10, parallel=5), constraints=RegroupConstraints.unconstrained()
    )
    # each weak cell lowers one block by 0.5 Ah, five blocks must hold one: 14.5 Ah is optimal
    assert result.usable_capacity_ah == pytest.approx(14.5)
    # equal blocks would allow 14.75 Ah; the weakest cell's block holds at most 2.5 + 4 × 3.0
    assert result.bound.capacity_ah == pytest.approx(14.5)
    assert result.proven_optimal


def test_energy_resistance_and_power_limit_by_hand() -> None:
    nmc = chemistry("NMC622")
    inv = _inventory([10.0, 10.0, 8.0, 12.0], dcir=[0.02, 0.02, 0.01, 0.04])
    row = pack_table(_assignment([["C000", "C001"], ["C002", "C003"]]), inv, series=2, parallel=2)
    r = row.row(0, named=True)
    assert r["usable_capacity_ah"] == pytest.approx(20.0)
    assert r["nominal_voltage_v"] == pytest.approx(2 * nmc.nominal_voltage_v)
    assert r["energy_wh"] == pytest.approx(20.0 * 2 * nmc.nominal_voltage_v)
    r1, r2 = 0.01, 1 / (1 / 0.01 + 1 / 0.04)  # block resistances: 0.02‖0.02, 0.01‖0.04
    assert r["pack_resistance_ohm"] == pytest.approx(r1 + r2)
    assert r["resistance_ratio"] == pytest.approx(4.0)
    ocv = float(nmc.ocv.ocv(0.5))
    i_max = (ocv - nmc.discharge_cutoff_v) / max(r1, r2)  # weakest block reaches cut-off first
    assert r["max_discharge_current_a"] == pytest.approx(i_max)
    assert r["power_limit_w"] == pytest.approx(i_max * (2 * ocv - i_max * (r1 + r2)))
    # the 0.01 Ω unit carries 4/5 of its block's current: 1.6 × an even share
    assert r["current_share_max"] == pytest.approx(1.6)


def test_self_discharge_drift_and_balancing_current() -> None:
    nmc = chemistry("NMC622")
    slope = float(np.diff(nmc.ocv.ocv(np.array([0.2, 0.8])))[0]) * 1000 / 60  # mV per % SOC
    inv = _inventory([10.0, 10.0, 10.0, 10.0], self_discharge_mv_per_day=[1.0, 1.0, 2.0, 4.0])
    r = pack_table(_assignment([["C000", "C001"], ["C002", "C003"]]), inv, series=2, parallel=2)
    row = r.row(0, named=True)
    drift = (3.0 - 1.0) / slope  # block rates 1 and 3 mV/day (capacity-weighted means)
    assert row["self_discharge_spread_mv_per_day"] == pytest.approx(3.0)
    assert row["soc_drift_percent_per_day"] == pytest.approx(drift)
    assert row["balancing_current_ma"] == pytest.approx(drift / 100 * 20.0 / 24 * 1000)


def test_prematch_window_and_ocv_check() -> None:
    q, r = np.array([10.0, 8.0]), np.array([0.02, 0.03])
    # 1 C of the smaller unit through both resistances: 8 A × 0.05 Ω = 0.4 V
    assert prematch_delta_v(q, r, c_rate=1.0) == pytest.approx(0.4)
    assert prematch_delta_v(q[:1], r[:1], c_rate=1.0) == np.inf
    inv = _inventory([10.0, 8.0, 10.0, 8.0], dcir=[0.02, 0.03] * 2, ocv_v=[3.70, 3.75, 3.70, 4.20])
    row = pack_table(_assignment([["C000", "C001"], ["C002", "C003"]]), inv, series=2, parallel=2)
    assert row["prematch_max_delta_v_mv"][0] == pytest.approx(400.0)
    assert row["blocks_needing_prematch"][0] == 1  # 0.5 V apart in block 2


def test_capacity_interval_gives_usable_interval() -> None:
    inv = _inventory([10.0, 9.0], capacity_lower_ah=[9.5, 8.0], capacity_upper_ah=[10.5, 9.5])
    row = pack_table(_assignment([["C000"], ["C001"]]), inv, series=2, parallel=1).row(
        0, named=True
    )
    assert (row["usable_capacity_lower_ah"], row["usable_capacity_ah"]) == (8.0, 9.0)
    assert row["usable_capacity_upper_ah"] == 9.5


def test_block_resistance_and_usable_arrays() -> None:
    assert block_resistance_ohm(np.array([[0.02, 0.02]]))[0] == pytest.approx(0.01)
    assert usable_capacity_ah(np.array([[3.0, 2.0, 4.0]]))[0] == 2.0


def test_malformed_assignment_is_refused() -> None:
    inv = _inventory([1.0, 1.0, 1.0])
    with pytest.raises(SchemaError, match="exactly 2 unit"):
        pack_table(_assignment([["C000", "C001"], ["C002"]]), inv, series=2, parallel=2)
    with pytest.raises(SchemaError, match="not in the inventory"):
        pack_table(_assignment([["C000", "X"]]), inv, series=1, parallel=2)
    with pytest.raises(SchemaError, match="more than once"):
        pack_table(_assignment([["C000"], ["C000"]]), inv, series=2, parallel=1)
