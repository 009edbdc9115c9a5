"""Selecting registered units as an inventory: a unit whose numbers cannot be regrouped is
skipped with its reason, and the rest are still selected."""

from __future__ import annotations

import re
from types import SimpleNamespace

import polars as pl
import pytest

from echelon.regroup import inventory
from echelon.regroup.instance import QUARANTINED


def _units(**overrides: list[object]) -> pl.DataFrame:
    n = 4
    columns: dict[str, list[object]] = {
        "battery_id": [f"C{i}" for i in range(n)],
        "status": ["routed"] * n,
        "chemistry": ["LFP"] * n,
        "model": ["X"] * n,
        "route": ["ess"] * n,
        "grade": ["B"] * n,
        "level": ["cell"] * n,
        "capacity_ah": [None] * n,
        "nominal_capacity_ah": [100.0] * n,
        "soh_percent": [88.0, 86.0, 90.0, 87.0],
        "soh_lower_percent": [85.0, 0.0, 87.0, 84.0],  # a lower bound clipped at 0 is fine
        "soh_upper_percent": [91.0, 89.0, 93.0, 90.0],
        "dcir_ohm": [0.001, 0.0011, 0.0012, 0.001],
        "self_discharge_mv_per_day": [1.0] * n,
        "ocv_v": [3.3] * n,
        "nominal_voltage_v": [3.2] * n,
    }
    columns.update(overrides)
    return pl.DataFrame(columns, strict=False)


def _select(monkeypatch: pytest.MonkeyPatch, frame: pl.DataFrame) -> inventory.RegistryInventory:
    monkeypatch.setattr(inventory, "units_frame", lambda registry: frame)
    return inventory.inventory_from_registry(SimpleNamespace(url="sqlite:///t.db"))  # type: ignore[arg-type]


def test_every_plausible_unit_is_selected(monkeypatch: pytest.MonkeyPatch) -> None:
    selected = _select(monkeypatch, _units())
    assert selected.inventory.get_column("battery_id").to_list() == ["C0", "C1", "C2", "C3"]
    assert selected.skipped.height == 0


def test_a_dead_or_implausible_unit_is_skipped_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _units(
        soh_percent=[88.0, 0.0, 90.0, 87.0],  # C1: dead (0 % is plausible, 0 Ah is not usable)
        soh_lower_percent=[85.0, 0.0, 87.0, 84.0],
        soh_upper_percent=[91.0, 3.0, 93.0, 90.0],
        dcir_ohm=[0.001, 0.0011, 12.0, 0.001],  # C2: 12 Ω for a cell
    )
    selected = _select(monkeypatch, frame)
    assert selected.inventory.get_column("battery_id").to_list() == ["C0", "C3"]
    reasons = dict(selected.skipped.iter_rows())
    assert reasons["C1"].startswith("capacity_ah = 0: a unit without capacity adds nothing")
    assert reasons["C2"] == (
        "dcir_ohm: 12 outside the plausible range [0, 5] for a cell "
        "(wrong unit? mΩ written as Ω: write 0.012)"
    )


def test_an_soh_of_zero_does_not_scale_a_capacity_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """A measured capacity with an SOH of 0 (a clipped estimate) has no relative width to scale:
    its interval stays empty instead of [nan, inf] refusing the whole selection."""
    frame = _units(
        capacity_ah=[None, 80.0, None, None],
        soh_percent=[88.0, 0.0, 90.0, 87.0],
        soh_lower_percent=[85.0, 0.0, 87.0, 84.0],
        soh_upper_percent=[91.0, 0.0, 93.0, 90.0],
    )
    selected = _select(monkeypatch, frame)
    assert selected.inventory.get_column("battery_id").to_list() == ["C0", "C1", "C2", "C3"]
    c1 = selected.inventory.filter(pl.col("battery_id") == "C1").row(0, named=True)
    assert c1["capacity_ah"] == 80.0
    assert c1["capacity_lower_ah"] is None
    assert c1["capacity_upper_ah"] is None


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"route": "stationary_storage"}, "unknown route 'stationary_storage'; allowed: ess, ups"),
        ({"status": "routd"}, "status: unknown status 'routd' (did you mean 'routed'?)"),
        ({"grades": ("B", "E")}, "grade: unknown grade 'E'; allowed: A, B, C, D"),
        ({"level": "rack"}, "level: unknown level 'rack' (did you mean 'pack'?)"),
        ({"chemistry": "LFPP"}, "chemistry: unknown chemistry 'LFPP' (did you mean 'LFP'?)"),
    ],
)
def test_a_filter_value_not_offered_is_refused_with_the_closest_one(
    monkeypatch: pytest.MonkeyPatch, filters: dict[str, object], message: str
) -> None:
    """A typo is a usage error naming the closest value (as ``echelon batteries`` says), not an
    empty selection blamed on the stock."""
    from echelon.errors import UsageError

    monkeypatch.setattr(inventory, "units_frame", lambda registry: _units())
    registry = SimpleNamespace(url="sqlite:///t.db")
    with pytest.raises(UsageError, match=re.escape(message)):
        inventory.inventory_from_registry(registry, **filters)  # type: ignore[arg-type]


def test_filters_take_any_case_and_a_facility_route(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _units(route=["ess", "ess", "forklift", "ups"], model=["X", "x", "X", "X"])
    monkeypatch.setattr(inventory, "units_frame", lambda registry: frame)
    registry = SimpleNamespace(url="sqlite:///t.db")
    select = inventory.inventory_from_registry
    ess = select(registry, route="ESS", status="ROUTED", level="Cell", grades=("b",))  # type: ignore[arg-type]
    assert ess.inventory.get_column("battery_id").to_list() == ["C0", "C1"]
    forklift = select(registry, route="forklift", chemistry="LiFePO4")  # type: ignore[arg-type]
    assert forklift.inventory.get_column("battery_id").to_list() == ["C2"]


def test_units_routed_to_recycling_or_retest_are_not_selected_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``routed`` includes the non-reuse routes: a pack of second-life units is built only from
    units routed to a second-life application, unless the route is named explicitly."""
    frame = _units(route=["ess", "recycle", "retest", "ups"], grade=["B", "D", "C", "B"])
    selected = _select(monkeypatch, frame)
    assert selected.inventory.get_column("battery_id").to_list() == ["C0", "C3"]
    assert selected.skipped.height == 0
    monkeypatch.setattr(inventory, "units_frame", lambda registry: frame)
    named = inventory.inventory_from_registry(
        SimpleNamespace(url="sqlite:///t.db"),  # type: ignore[arg-type]
        route="recycle",
    )
    assert named.inventory.get_column("battery_id").to_list() == ["C1"]


def test_quarantined_failed_or_recycled_units_are_never_selected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A unit quarantined at the safety gate (or failed, recycled) is skipped with the reason,
    even when ``--status quarantined`` selects it and ``allowed_grades`` is lifted."""
    frame = _units(
        status=["quarantined", "routed", "failed", "recycled"],
        gate=["quarantine", "quarantine", "pass", "pass"],
    )
    monkeypatch.setattr(inventory, "units_frame", lambda registry: frame)
    selected = inventory.inventory_from_registry(
        SimpleNamespace(url="sqlite:///t.db"),  # type: ignore[arg-type]
        status="quarantined",
    )
    assert selected.inventory.height == 0
    reasons = dict(selected.skipped.iter_rows())
    assert reasons["C0"] == QUARANTINED  # as for a table unit marked quarantine
    assert reasons["C0"].endswith("discharge it and send it to recycling")
    for status, unit, what in (
        ("failed", "C2", "fix what its intake failed on and run the intake again"),
        ("recycled", "C3", "its materials were recovered: it is no longer a unit"),
    ):
        chosen = inventory.inventory_from_registry(
            SimpleNamespace(url="sqlite:///t.db"),  # type: ignore[arg-type]
            status=status,
        )
        assert dict(chosen.skipped.iter_rows())[unit] == (
            f"status {status}: never placed in a pack; {what}"
        )
    everyone = _select(monkeypatch, frame.with_columns(status=pl.lit("routed")))
    assert everyone.inventory.get_column("battery_id").to_list() == ["C2", "C3"]
    assert dict(everyone.skipped.iter_rows())["C1"].startswith("quarantined at the safety gate")


def test_a_table_unit_marked_quarantine_is_never_placed() -> None:
    from echelon.regroup import PackSpec, regroup, validate_inventory
    from echelon.regroup.spec import RegroupConstraints

    table = validate_inventory(
        pl.DataFrame(
            {
                "battery_id": ["Q1", "P1", "P2"],
                "chemistry": "LFP",
                "capacity_ah": [100.0, 99.0, 98.0],
                "dcir_ohm": 0.01,
                "gate": ["Quarantine", "pass", None],
            }
        )
    )
    result = regroup(
        table, PackSpec(series=2, parallel=1), constraints=RegroupConstraints(same_model=False)
    )
    assert set(result.assignment["battery_id"]) == {"P1", "P2"}
    reason = dict(result.excluded.iter_rows())["Q1"]
    assert reason == QUARANTINED
