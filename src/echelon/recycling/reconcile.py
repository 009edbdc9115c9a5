"""A lot against the registry before it is recorded: identity, genealogy, a lot recorded before.

Pure functions on frames; :func:`echelon.recycling.records.plan_record` reads the registry, calls
them and refuses the lot before anything is written when one finds a problem:

:func:`identity_problems`
    each row of the lot against the unit's registered identity: chemistry, level, and the mass
    within :data:`MASS_TOLERANCE` of the mass the registered nominal energy gives (a table's
    ``EB-1,LFP,cell,500`` for a registered 2.1 kg NMC811 e-bike pack is refused, row and column
    named, with what the registry says).
:func:`genealogy_conflicts`
    packs and modules recycled twice: a dismantled pack recorded whole, a unit whose part was
    already recycled (or is in the same lot), a part whose assembly was recycled.
:func:`not_whole`
    the units no longer whole (recycled, gone with their assembly, or missing recycled parts):
    a registry selection (``route:recycle``) leaves them out.
:func:`with_their_assembly`
    parts of an assembly selected with it: a registry selection keeps the assembly, whose
    recycling covers them, and leaves them out (counted once).
:func:`lot_differences`
    what a lot recorded under the same id was recorded with (process, reporting year, location,
    dismantling, prices, units): the same lot cannot be recorded again under other options.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from echelon.domain import Status
from echelon.errors import Problem
from echelon.recycling.composition import unit_composition
from echelon.recycling.lot import LotResult
from echelon.registry import no_longer_whole, walk_parts, went_with

MASS_TOLERANCE: Final = 3.0
"""A row's mass more than this factor above or below the registered unit's mass (its nominal
energy × EverBatt's kg/kWh for its chemistry and level) is refused. Real products lie within
about 0.5–2× of EverBatt's BatPaC figures (an 18650 NMC cell ≈ 1.5×, a 36 V 12 A·h e-bike pack
≈ 1.4×, a 2011 24 kWh LMO car pack ≈ 1.9×); a gram written as a kilogram is 1,000×."""
RECORDED_OPTIONS: Final = ("process", "reporting_year", "location", "dismantle")
"""``LotResult.meta`` keys a lot is recorded under (with its prices and its units)."""
SAME: Final = 1e-9
"""Relative tolerance of "the same number" when a lot is compared with its recorded self."""
SHOWN: Final = 5
"""Battery ids listed per problem at most."""


def _listed(ids: Sequence[str]) -> str:
    more = f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else ""
    return ", ".join(ids[:SHOWN]) + more


def identity_problems(
    units: pl.DataFrame, registered: pl.DataFrame, *, catalog_dir: Path | None = None
) -> list[Problem]:
    """Rows of a lot that contradict the registered identity of their unit.

    Parameters
    ----------
    units : pl.DataFrame
        ``LotResult.units`` in table order: ``battery_id``, ``chemistry`` (as given),
        ``chemistry_used``, ``level``, ``mass_kg``, ``mass_estimated``.
    registered : pl.DataFrame
        One row per registered unit of the lot: ``battery_id``, ``reg_chemistry``,
        ``reg_level``, ``reg_energy_wh`` (null when the nameplate gives no energy).
    catalog_dir : Path, optional

    Returns
    -------
    list of Problem
        Row (1-based, as in the table), column and what the registry says: a chemistry other
        than the registered one (a unit registered as ``unknown`` may be identified by the lot),
        another level, or a mass more than :data:`MASS_TOLERANCE` × above or below the
        registered unit's (checked when its nominal energy is known).
    """
    rows = units.with_row_index("row", offset=1).join(
        registered, on="battery_id", how="inner", maintain_order="left"
    )
    problems: list[Problem] = []
    chemistry = rows.filter(
        (pl.col("reg_chemistry") != "unknown")
        & (pl.col("chemistry_used") != pl.col("reg_chemistry"))
    )
    for row, bid, given, reg in chemistry.select(
        "row", "battery_id", "chemistry", "reg_chemistry"
    ).iter_rows():
        problems.append(
            Problem(
                f"{given!r} but {bid} is registered as {reg}: write {reg}, or, if the registry is "
                "wrong, take the unit in again with its corrected nameplate",
                row=row,
                column="chemistry",
            )
        )
    level = rows.filter(pl.col("level") != pl.col("reg_level"))
    for row, bid, given, reg in level.select("row", "battery_id", "level", "reg_level").iter_rows():
        problems.append(
            Problem(
                f"{given!r} but {bid} is registered as a {reg}: a registered unit is recycled as "
                f"the {reg} it is (write {reg})",
                row=row,
                column="level",
            )
        )
    checked = rows.filter(pl.col("reg_energy_wh").is_not_null())
    kg_per_kwh = {
        (chem, lvl): unit_composition(chem, lvl, catalog_dir=catalog_dir).kg_per_kwh
        for chem, lvl in checked.select("reg_chemistry", "reg_level").unique().iter_rows()
    }
    columns = ("row", "battery_id", "mass_kg", "mass_estimated", "reg_chemistry", "reg_level")
    for row, bid, mass, estimated, chem, lvl, wh in checked.select(
        *columns, "reg_energy_wh"
    ).iter_rows():
        expected = wh / 1000.0 * kg_per_kwh[(chem, lvl)]
        if expected <= 0 or 1 / MASS_TOLERANCE <= mass / expected <= MASS_TOLERANCE:
            continue
        given = (
            f"mass {mass:.4g} kg (estimated from this row's nominal energy)"
            if estimated
            else f"{mass:.4g} kg"
        )
        hint = " (g written as kg?)" if mass / expected > 300 else ""
        problems.append(
            Problem(
                f"{given} but {bid} is registered as a {wh:.4g} Wh {chem} {lvl}: about "
                f"{expected:.3g} kg at {kg_per_kwh[(chem, lvl)]:.2f} kg/kWh (EverBatt); a mass "
                f"more than {MASS_TOLERANCE:g}× above or below is refused{hint} — correct the "
                "row, or the registered nameplate by taking the unit in again",
                row=row,
                column="nominal_capacity_ah" if estimated else "mass_kg",
            )
        )
    return sorted(problems, key=lambda p: (p.row or 0, p.column or ""))


@dataclass(frozen=True)
class _Genealogy:
    """The registered genealogy and the ``recycled`` events, indexed for walking up and down."""

    parent: dict[str, str | None]
    level: dict[str, str]
    status: dict[str, str | None]
    children: dict[str, list[str]]
    done: dict[str, tuple[str, str]]
    """``{battery_id: (lot id, date recorded)}`` of the recycled units."""

    @classmethod
    def of(cls, genealogy: pl.DataFrame, recycled: pl.DataFrame | None = None) -> _Genealogy:
        tree = cls({}, {}, {}, defaultdict(list), {})
        for bid, par, lvl, st in genealogy.select(
            "battery_id", "parent_id", "level", "status"
        ).iter_rows():
            tree.parent[bid], tree.level[bid], tree.status[bid] = par, lvl, st
            if par is not None:
                tree.children[par].append(bid)
        if recycled is None:
            return tree
        for bid, lot, at in recycled.select("battery_id", "lot_id", "recorded_at").iter_rows():
            tree.done.setdefault(bid, (lot, str(at)[:10]))
        return tree

    def recycled_with(self, bid: str) -> str | None:
        """``<bid>: its pack <id> was recycled in lot … on …, with <bid> in it`` when an
        assembly above the unit was recycled (:func:`~echelon.registry.went_with`, the walk of
        the registry's :func:`~echelon.registry.genealogy.gone_with_assembly`)."""
        return went_with(bid, self.parent, self.level, self.done)

    def descendants(self, bid: str) -> tuple[list[str], list[str]]:
        """A unit's parts at any depth: those recycled and the others, each sorted
        (:func:`~echelon.registry.walk_parts`, the walk of a passport's and a forecast's
        refusal: a recycled part's own parts are not looked into)."""
        recycled, whole = walk_parts(
            bid,
            self.children.get(bid, ()),
            lambda level: [part for unit in level for part in self.children.get(unit, ())],
            lambda level: {unit for unit in level if unit in self.done},
        )
        return sorted(recycled), sorted(whole)

    def outermost_in(self, bid: str, chosen: set[str]) -> str | None:
        """The outermost assembly above ``bid`` that is in ``chosen`` (``None``: none is)."""
        outermost, ancestor, seen = None, self.parent.get(bid), {bid}
        while ancestor is not None and ancestor not in seen:
            if ancestor in chosen:
                outermost = ancestor
            seen.add(ancestor)
            ancestor = self.parent.get(ancestor)
        return outermost


def genealogy_conflicts(
    battery_ids: Sequence[str], genealogy: pl.DataFrame, recycled: pl.DataFrame
) -> list[str]:
    """Units of a lot that would be recycled twice with their packs, modules or cells.

    Parameters
    ----------
    battery_ids : sequence of str
        The lot's units (registered).
    genealogy : pl.DataFrame
        Every registered unit: ``battery_id``, ``parent_id``, ``level``, ``status``.
    recycled : pl.DataFrame
        ``recycled`` events: ``battery_id``, ``lot_id``, ``recorded_at``.

    Returns
    -------
    list of str
        One message per refused unit: dismantled (its parts carry on, each registered), an
        assembly a part of which was recycled or is in the same lot (its mass would be counted
        twice), a part of an assembly that was recycled (it went with it).
    """
    tree = _Genealogy.of(genealogy, recycled)
    in_lot = set(battery_ids)
    out = []
    for bid in battery_ids:
        level = tree.level.get(bid, "unit")
        if tree.status.get(bid) == Status.DISMANTLED.value:
            out.append(
                f"{bid} was dismantled into {_listed(sorted(tree.children[bid])) or 'its parts'}: "
                "its parts carry on as registered units; record the parts you recycle, not the "
                f"{level} whole"
            )
        gone_with = tree.recycled_with(bid)
        if gone_with:
            out.append(gone_with)
        recycled_parts, parts = tree.descendants(bid)
        parts_here = [part for part in parts if part in in_lot]
        if recycled_parts:
            lots = sorted({f"lot {tree.done[p][0]} on {tree.done[p][1]}" for p in recycled_parts})
            out.append(
                f"{bid}: its part(s) {_listed(recycled_parts)} were already recycled "
                f"({'; '.join(lots)}): recording the {level} whole would count them twice"
            )
        if parts_here:
            out.append(
                f"{bid} and its part(s) {_listed(parts_here)} are both in the lot: the {level}'s "
                "recycling covers its parts, so they would be counted twice; remove the part(s) "
                f"from the lot (recycled with the {level}), or record the parts without the {level}"
            )
    return out


def not_whole(
    battery_ids: Sequence[str], genealogy: pl.DataFrame, recycled: pl.DataFrame
) -> dict[str, str]:
    """Units that are no longer whole, and why: recycled themselves, part of an assembly that was
    recycled (it went with it), or an assembly some of whose parts were recycled
    (:func:`echelon.registry.no_longer_whole`). A lot of them is refused
    (:func:`genealogy_conflicts`); a selection of registry units leaves them out.

    Parameters
    ----------
    battery_ids, genealogy, recycled
        As :func:`genealogy_conflicts`.

    Returns
    -------
    dict
        ``{battery_id: why}`` of the units of ``battery_ids`` that are no longer whole, in their
        order.
    """
    tree = _Genealogy.of(genealogy, recycled)
    out: dict[str, str] = {}
    for bid in battery_ids:
        if bid in tree.done:
            lot, on = tree.done[bid]
            out[bid] = f"{bid} was recycled in lot {lot} on {on}"
        elif gone_with := tree.recycled_with(bid):
            out[bid] = gone_with
        elif parts := tree.descendants(bid)[0]:
            out[bid] = no_longer_whole(bid, parts, "record its remaining parts instead")
    return out


def with_their_assembly(battery_ids: Sequence[str], genealogy: pl.DataFrame) -> dict[str, str]:
    """Units of a selection that are parts of an assembly in the same selection: the assembly's
    recycling covers them, so a lot keeps the outermost assembly and leaves them out (counted
    once: their mass and value are the assembly's).

    Parameters
    ----------
    battery_ids : sequence of str
        The selection (registered units).
    genealogy : pl.DataFrame
        As :func:`genealogy_conflicts`.

    Returns
    -------
    dict
        ``{battery_id: why}`` of the parts to leave out, in their order: ``<id> is part of pack
        <id>, which is in the lot: counted once, with it``.
    """
    tree = _Genealogy.of(genealogy)
    chosen = set(battery_ids)
    out: dict[str, str] = {}
    for bid in battery_ids:
        outer = tree.outermost_in(bid, chosen)
        if outer is not None:
            out[bid] = (
                f"{bid} is part of {tree.level.get(outer, 'assembly')} {outer}, which is in the "
                "lot: counted once, with it"
            )
    return out


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=SAME, abs_tol=1e-12)


def lot_differences(recorded: LotResult, lot: LotResult) -> list[str]:
    """How ``lot`` differs from the lot recorded under its id (empty: the same lot).

    Compared: :data:`RECORDED_OPTIONS`, the units (ids, chemistry booked, level, mass) and the
    prices (their origin, and every value line when the units are the same, so an edited price
    file under the same name is seen).
    """
    old, new = recorded.meta, lot.meta
    out = [
        f"{key} {new.get(key)} (recorded: {old.get(key)})"
        for key in RECORDED_OPTIONS
        if str(new.get(key)) != str(old.get(key))
    ]
    cols = ("battery_id", "chemistry_used", "level", "mass_kg")
    before = {r[0]: r[1:] for r in recorded.units.select(cols).iter_rows()}
    now = {r[0]: r[1:] for r in lot.units.select(cols).iter_rows()}
    added, gone = sorted(set(now) - set(before)), sorted(set(before) - set(now))
    if added or gone:
        parts = [f"{len(now)} unit(s) (recorded: {len(before)})"]
        if added:
            parts.append(f"not in the recorded lot: {_listed(added)}")
        if gone:
            parts.append(f"recorded but not given: {_listed(gone)}")
        out.append("; ".join(parts))
        return out
    changed = sorted(
        bid
        for bid, (chem, lvl, kg) in now.items()
        if (chem, lvl) != before[bid][:2] or not _close(kg, before[bid][2])
    )
    if changed:
        shown = [
            f"{b} {now[b][0]} {now[b][1]} {now[b][2]:.4g} kg (recorded: {before[b][0]} "
            f"{before[b][1]} {before[b][2]:.4g} kg)"
            for b in changed[:SHOWN]
        ]
        out.append(f"unit data: {'; '.join(shown)}{' …' if len(changed) > SHOWN else ''}")
        return out
    other_prices = new.get("prices") != old.get("prices")
    if out and other_prices:
        out.append(f"prices {new.get('prices')} (recorded: {old.get('prices')})")
    elif not out and not _same_values(recorded.value, lot.value):  # the prices are what is left
        out.append(
            f"prices {new.get('prices')} (recorded: {old.get('prices')})"
            if other_prices
            else f"prices: {new.get('prices')} now gives other values than recorded"
        )
    return out


def _same_values(recorded: pl.DataFrame, value: pl.DataFrame) -> bool:
    keys = ("category", "item", "stage", "unit")
    old = {r[:-1]: r[-1] for r in recorded.select(*keys, "value_usd").iter_rows()}
    new = {r[:-1]: r[-1] for r in value.select(*keys, "value_usd").iter_rows()}
    return old.keys() == new.keys() and all(_close(new[k], old[k]) for k in old)
