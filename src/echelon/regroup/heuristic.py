"""The fast pack builder: sort, window first-fit into packs, snake into blocks, local search.

1. **Pack formation** (per compatible group). Units are taken in decreasing capacity and put into
   the oldest open pack they are compatible with (resistance ratio, capacity tolerance and
   self-discharge spread checked against the pack's members), else they open a new pack. Without
   pack-level limits this is sort-and-chunk, which keeps each pack's capacities close together;
   with them, units of unusual resistance gather in their own packs instead of spoiling others.
   Packs that cannot fill (their capacity window has passed) are dissolved and their units tried
   again in a second round.
2. **Block balancing** (per pack). Sorted units are dealt to the ``S`` blocks in snake order
   (1…S, S…1, …), the classic balanced assignment; then pairwise swaps between the smallest block
   and a larger one raise the smallest block while any swap can (the "distribute weak cells,
   equalise block sums" rule of second-life-domain.md §3.3, [S64]).
3. **Selection**. With a fixed number of packs, the packs with the largest objective are kept.

Cost is O(N log N) plus O(N × open packs); 10⁵ units take about a second.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from echelon.regroup.instance import FloatArray, Instance, IntArray, Plan

EPS = 1e-12


Sweep = Literal["capacity", "resistance"]
"""Order units are taken in: decreasing capacity, or increasing resistance."""


class _OpenPack:
    """A pack being filled: members and the range of each limited quantity."""

    __slots__ = ("high", "low", "members")

    def __init__(self, unit: int, values: tuple[float, ...]) -> None:
        self.members = [unit]
        self.low, self.high = list(values), list(values)

    def accepts(self, values: tuple[float, ...], widths: tuple[float, ...]) -> bool:
        return all(
            max(h, v) - min(lo, v) <= w
            for v, lo, h, w in zip(values, self.low, self.high, widths, strict=True)
        )

    def add(self, unit: int, values: tuple[float, ...]) -> None:
        self.members.append(unit)
        self.low = [min(a, b) for a, b in zip(self.low, values, strict=True)]
        self.high = [max(a, b) for a, b in zip(self.high, values, strict=True)]


def form_packs(
    capacity_ah: FloatArray,
    dcir_ohm: FloatArray,
    self_discharge: FloatArray,
    *,
    size: int,
    max_resistance_ratio: float | None,
    capacity_tolerance_fraction: float | None,
    max_sd_spread: float | None,
    sweep: Sweep = "capacity",
    rounds: int = 4,
) -> list[IntArray]:
    """Partition units of one compatible group into packs of ``size`` meeting the pack limits.

    Parameters
    ----------
    capacity_ah, dcir_ohm, self_discharge : ndarray, shape (N,)
        Unit capacity [A·h], DCIR [Ω] and self-discharge [mV/day] (NaN allowed when unlimited).
    size : int
        Units per pack (``S × P``).
    max_resistance_ratio, capacity_tolerance_fraction, max_sd_spread : float or None
        Pack limits (``None`` = not limited).
    sweep : {"capacity", "resistance"}
        Take units by decreasing capacity (packs of similar capacity; the default) or by
        increasing resistance (packs of similar resistance, for tight resistance limits).
    rounds : int
        Rounds over the units left over by the previous round.

    Returns
    -------
    list of ndarray
        Index arrays (into the inputs) of ``size`` units each, best capacity first.
    """
    # every limit is a window of fixed width on a (log) scale: ln Q, ln R, self-discharge
    values = np.column_stack([np.log(capacity_ah), np.log(dcir_ohm), np.nan_to_num(self_discharge)])
    limits = (
        np.inf if capacity_tolerance_fraction is None else -np.log1p(-capacity_tolerance_fraction),
        np.inf if max_resistance_ratio is None else np.log(max_resistance_ratio),
        np.inf if max_sd_spread is None else max_sd_spread,
    )
    widths = tuple(float(w) + 1e-12 for w in limits)
    axis, sign = (0, -1.0) if sweep == "capacity" else (1, 1.0)
    remaining = np.argsort(sign * values[:, axis], kind="stable")
    packs: list[IntArray] = []
    for _ in range(rounds):
        if remaining.size < size:
            break
        closed, left = _first_fit(remaining, values, widths, size, axis, sign)
        packs.extend(closed)
        if not closed or left.size == remaining.size:
            break
        remaining = left[np.argsort(sign * values[left, axis], kind="stable")]
    packs.sort(key=lambda p: -float(capacity_ah[p].sum()))
    return packs


def _first_fit(
    order: IntArray,
    values: FloatArray,
    widths: tuple[float, ...],
    size: int,
    axis: int,
    sign: float,
) -> tuple[list[IntArray], IntArray]:
    """One first-fit pass in ``order``; returns closed packs and the units left over."""
    open_packs: list[_OpenPack] = []
    closed: list[IntArray] = []
    left: list[int] = []
    for unit in order.tolist():
        vals = tuple(float(v) for v in values[unit])
        # packs whose window along the sweep has passed can never fill: release their units
        while open_packs and sign * (vals[axis] - _start(open_packs[0], axis, sign)) > widths[axis]:
            left.extend(open_packs.pop(0).members)
        for i, pack in enumerate(open_packs):
            if pack.accepts(vals, widths):
                pack.add(unit, vals)
                if len(pack.members) == size:
                    closed.append(np.asarray(pack.members, dtype=np.int64))
                    open_packs.pop(i)
                break
        else:
            if size == 1:
                closed.append(np.asarray([unit], dtype=np.int64))
            else:
                open_packs.append(_OpenPack(unit, vals))
    for pack in open_packs:
        left.extend(pack.members)
    return closed, np.asarray(left, dtype=np.int64)


def _start(pack: _OpenPack, axis: int, sign: float) -> float:
    """The value the pack's window starts from along the sweep (its first member's)."""
    return pack.high[axis] if sign < 0 else pack.low[axis]


def snake_order(series: int, parallel: int) -> IntArray:
    """Block (0…S−1) of the j-th largest unit in snake dealing: 0…S−1, S−1…0, …"""
    position = np.arange(series * parallel)
    rnd, col = np.divmod(position, series)
    return np.where(rnd % 2 == 0, col, series - 1 - col).astype(np.int64)


def balance_blocks(capacity_ah: FloatArray, *, series: int, parallel: int) -> IntArray:
    """Deal one pack's units into ``S`` blocks of ``P`` maximising the smallest block sum.

    Parameters
    ----------
    capacity_ah : ndarray, shape (S × P,)
        Capacities of the pack's units [A·h].

    Returns
    -------
    ndarray, shape (S, P)
        Local indices (into ``capacity_ah``) per block.
    """
    order = np.argsort(-capacity_ah, kind="stable")
    blocks = snake_order(series, parallel)
    members = np.empty((series, parallel), dtype=np.int64)
    fill = np.zeros(series, dtype=np.int64)
    for unit, block in zip(order.tolist(), blocks.tolist(), strict=True):
        members[block, fill[block]] = unit
        fill[block] += 1
    if parallel > 1 and series > 1:
        _raise_smallest_block(capacity_ah, members)
    return members


def _raise_smallest_block(q: FloatArray, members: IntArray, max_iter: int = 500) -> None:
    """Swap units between the smallest block and a larger one while that raises the smallest."""
    sums = q[members].sum(axis=1)
    scale = max(float(np.abs(sums).max()), 1.0)
    for _ in range(max_iter):
        low = int(np.argmin(sums))
        improved = False
        for other in np.argsort(-sums).tolist():
            gap = float(sums[other] - sums[low])
            if other == low or gap <= EPS * scale:
                break
            diff = q[members[other]][:, None] - q[members[low]][None, :]
            valid = (diff > EPS * scale) & (diff < gap - EPS * scale)
            if not valid.any():
                continue
            cost = np.where(valid, np.abs(diff - gap / 2.0), np.inf)
            i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
            members[other, i], members[low, j] = members[low, j], members[other, i]
            delta = float(diff[i, j])
            sums[other] -= delta
            sums[low] += delta
            improved = True
            break
        if not improved:
            return


def select_packs(inst: Instance, packs: list[IntArray]) -> list[IntArray]:
    """Keep the requested number of packs with the largest objective (all when unlimited)."""
    if inst.spec.packs is None or len(packs) <= inst.spec.packs:
        return packs
    value = [
        inst.weight(int(inst.group[p.ravel()[0]])) * float(inst.capacity_ah[p].sum(axis=1).min())
        for p in packs
    ]
    keep = np.argsort(-np.asarray(value), kind="stable")[: inst.spec.packs]
    return [packs[i] for i in sorted(keep.tolist())]


def _total(inst: Instance, packs: list[IntArray]) -> float:
    """Total usable capacity of packs [A·h]."""
    return float(sum(inst.capacity_ah[p].sum(axis=1).min() for p in packs))


def heuristic(
    inst: Instance,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Plan:
    """Build packs with the fast heuristic (see the module docstring).

    Parameters
    ----------
    inst : Instance
    progress : callable, optional
        ``progress(done_groups, total_groups)``.

    Returns
    -------
    Plan
    """
    spec, c = inst.spec, inst.constraints
    sweeps: tuple[Sweep, ...] = ("capacity",)
    if c.max_resistance_ratio is not None:
        sweeps = ("capacity", "resistance")
    packs: list[IntArray] = []
    for g in range(len(inst.groups)):
        members = inst.members(g)
        best: list[IntArray] = []
        for sweep in sweeps if members.size >= spec.units_per_pack else ():
            formed = form_packs(
                inst.capacity_ah[members],
                inst.dcir_ohm[members],
                inst.self_discharge_mv_per_day[members],
                size=spec.units_per_pack,
                max_resistance_ratio=c.max_resistance_ratio,
                capacity_tolerance_fraction=c.capacity_tolerance_fraction,
                max_sd_spread=c.max_self_discharge_spread_mv_per_day,
                sweep=sweep,
            )
            candidate = []
            for local in formed:
                units = members[local]
                blocks = balance_blocks(
                    inst.capacity_ah[units], series=spec.series, parallel=spec.parallel
                )
                candidate.append(units[blocks])
            if _total(inst, candidate) > _total(inst, best):
                best = candidate
        packs.extend(best)
        if progress is not None:
            progress(g + 1, len(inst.groups))
    return Plan(select_packs(inst, packs), method="heuristic")
