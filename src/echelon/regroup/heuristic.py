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

import numpy as np

from echelon.regroup.instance import FloatArray, Instance, IntArray, Plan

EPS = 1e-12


class _OpenPack:
    __slots__ = ("members", "q_max", "r_max", "r_min", "sd_max", "sd_min")

    def __init__(self, unit: int, q: float, r: float, sd: float) -> None:
        self.members = [unit]
        self.q_max, self.r_min, self.r_max, self.sd_min, self.sd_max = q, r, r, sd, sd


def form_packs(
    capacity_ah: FloatArray,
    dcir_ohm: FloatArray,
    self_discharge: FloatArray,
    *,
    size: int,
    max_resistance_ratio: float | None,
    capacity_tolerance_fraction: float | None,
    max_sd_spread: float | None,
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
    rounds : int
        Rounds over the units left over by the previous round.

    Returns
    -------
    list of ndarray
        Index arrays (into the inputs) of ``size`` units each, best capacity first.
    """
    rho = np.inf if max_resistance_ratio is None else max_resistance_ratio * (1 + 1e-12)
    floor = 0.0 if capacity_tolerance_fraction is None else 1.0 - capacity_tolerance_fraction
    sd_limit = np.inf if max_sd_spread is None else max_sd_spread + 1e-12
    remaining = np.argsort(-capacity_ah, kind="stable")
    packs: list[IntArray] = []
    for _ in range(rounds):
        if remaining.size < size:
            break
        closed, left = _first_fit(
            remaining, capacity_ah, dcir_ohm, self_discharge, size, rho, floor, sd_limit
        )
        packs.extend(closed)
        if not closed or left.size == remaining.size:
            break
        remaining = left
    packs.sort(key=lambda p: -float(capacity_ah[p].sum()))
    return packs


def _first_fit(
    order: IntArray,
    q: FloatArray,
    r: FloatArray,
    sd: FloatArray,
    size: int,
    rho: float,
    floor: float,
    sd_limit: float,
) -> tuple[list[IntArray], IntArray]:
    open_packs: list[_OpenPack] = []
    closed: list[IntArray] = []
    left: list[int] = []
    for unit in order.tolist():
        qu, ru, su = float(q[unit]), float(r[unit]), float(sd[unit])
        while open_packs and qu < floor * open_packs[0].q_max:  # capacity window passed
            left.extend(open_packs.pop(0).members)
        placed = False
        for i, pack in enumerate(open_packs):
            if qu < floor * pack.q_max:
                continue
            if max(pack.r_max, ru) > rho * min(pack.r_min, ru):
                continue
            if max(pack.sd_max, su) - min(pack.sd_min, su) > sd_limit:
                continue
            pack.members.append(unit)
            pack.r_min, pack.r_max = min(pack.r_min, ru), max(pack.r_max, ru)
            pack.sd_min, pack.sd_max = min(pack.sd_min, su), max(pack.sd_max, su)
            if len(pack.members) == size:
                closed.append(np.asarray(pack.members, dtype=np.int64))
                open_packs.pop(i)
            placed = True
            break
        if not placed:
            if size == 1:
                closed.append(np.asarray([unit], dtype=np.int64))
            else:
                open_packs.append(_OpenPack(unit, qu, ru, su))
    for pack in open_packs:
        left.extend(pack.members)
    left_arr = np.asarray(left, dtype=np.int64)
    return closed, left_arr[np.argsort(-q[left_arr], kind="stable")]


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
    packs: list[IntArray] = []
    for g in range(len(inst.groups)):
        members = inst.members(g)
        if members.size >= spec.units_per_pack:
            formed = form_packs(
                inst.capacity_ah[members],
                inst.dcir_ohm[members],
                inst.self_discharge_mv_per_day[members],
                size=spec.units_per_pack,
                max_resistance_ratio=c.max_resistance_ratio,
                capacity_tolerance_fraction=c.capacity_tolerance_fraction,
                max_sd_spread=c.max_self_discharge_spread_mv_per_day,
            )
            for local in formed:
                units = members[local]
                blocks = balance_blocks(
                    inst.capacity_ah[units], series=spec.series, parallel=spec.parallel
                )
                packs.append(units[blocks])
        if progress is not None:
            progress(g + 1, len(inst.groups))
    return Plan(select_packs(inst, packs), method="heuristic")
