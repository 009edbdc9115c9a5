"""Simulated annealing over unit exchanges, for the exact method's small instances.

The exchange search of :mod:`echelon.regroup.improve` only accepts exchanges that raise the
total, so it stops at the first plan no single exchange improves. On small packs of pairs (4S2P)
the last few tenths of a percent are in *which* units share a pack so that its blocks come out
equal, and reaching them needs exchanges that first lose a little. This search moves a unit into
another pack of its group (swapping it with a unit there) or swaps it with an unused unit of the
group, accepts a loss ``Δ`` with probability ``exp(Δ / T)`` under a temperature falling linearly
to zero, and returns the best plan it met.

A pack's value is computed as the heuristic deals it: units in decreasing capacity into blocks in
snake order, usable = smallest block sum. For ``P ≤ 2`` that is the pack's optimum (pairing the
i-th largest with the i-th smallest maximises the smallest pair sum); for ``P ≥ 3`` it is a lower
value, raised afterwards by the block balancing. Every pack limit is checked on each move. The
search is seeded and bounded by a number of moves and, optionally, a wall-clock budget (the
temperature follows whichever runs out first); within the move budget a plan does not depend on
the machine.
"""

from __future__ import annotations

import math
import random
import time

import numpy as np

from echelon.regroup.heuristic import balance_blocks, snake_order
from echelon.regroup.instance import Instance, IntArray

TEMPERATURE_FRACTION = 2e-3
"""Starting temperature as a fraction of the mean pack value (the end temperature is 0)."""


class _Limits:
    """Per-unit values of every pack limit (ln R, ln Q, self-discharge) and their widths."""

    def __init__(self, inst: Instance) -> None:
        c = inst.constraints
        columns: list[list[float]] = []
        widths: list[float] = []
        if c.max_resistance_ratio is not None:
            columns.append(np.log(inst.dcir_ohm).tolist())
            widths.append(math.log(c.max_resistance_ratio) * (1 + 1e-12) + 1e-12)
        if c.capacity_tolerance_fraction is not None:
            columns.append(np.log(inst.capacity_ah).tolist())
            widths.append(-math.log1p(-c.capacity_tolerance_fraction) + 1e-12)
        if c.max_self_discharge_spread_mv_per_day is not None:
            columns.append(inst.self_discharge_mv_per_day.tolist())
            widths.append(c.max_self_discharge_spread_mv_per_day + 1e-12)
        self.columns = columns
        self.widths = widths

    def fits(self, units: list[int]) -> bool:
        """Whether a set of units meets every pack limit."""
        for values, width in zip(self.columns, self.widths, strict=True):
            picked = [values[u] for u in units]
            if max(picked) - min(picked) > width:
                return False
        return True


def anneal_packs(
    inst: Instance,
    packs: list[IntArray],
    *,
    moves: int = 200_000,
    seed: int = 0,
    temperature_fraction: float = TEMPERATURE_FRACTION,
    time_limit_s: float | None = None,
) -> list[IntArray]:
    """Improve a plan by simulated annealing over unit exchanges (see the module docstring).

    Parameters
    ----------
    inst : Instance
    packs : list of ndarray, shape (S, P)
        A plan meeting every limit.
    moves : int
        Exchanges tried.
    seed : int
        Seed of the move sequence.
    temperature_fraction : float
        Starting temperature ÷ the mean pack value (objective units).
    time_limit_s : float, optional
        Wall-clock budget [s]; ``None`` = only the move budget.

    Returns
    -------
    list of ndarray, shape (S, P)
        The best plan met, each pack dealt into blocks by the heuristic's balancing (snake
        order, then swaps); never worse than the input by the snake value (same number of packs
        per group, every limit met).
    """
    if not packs or moves <= 0:
        return packs
    s, p = inst.spec.series, inst.spec.parallel
    q = inst.capacity_ah.tolist()
    snake = snake_order(s, p).tolist()
    limits = _Limits(inst)
    weight = [inst.weight(g) for g in range(len(inst.groups))]

    def value(units: list[int]) -> float:
        sums = [0.0] * s
        for block, u in zip(snake, sorted(units, key=q.__getitem__, reverse=True), strict=True):
            sums[block] += q[u]
        return min(sums)

    current = [pk.ravel().tolist() for pk in packs]
    group = [int(inst.group[pk[0]]) for pk in current]
    owner = [-1] * inst.n_units
    for k, units in enumerate(current):
        for u in units:
            owner[u] = k
    members = {g: inst.members(g).tolist() for g in set(group)}
    values = [weight[g] * value(units) for g, units in zip(group, current, strict=True)]
    total = best_total = sum(values)
    best = [list(units) for units in current]
    start_temperature = temperature_fraction * total / len(current)
    rng = random.Random(seed)
    size = s * p
    started = time.perf_counter()
    progress = 0.0
    for step in range(moves):
        if step % 1024 == 0:
            progress = step / moves
            if time_limit_s is not None:
                progress = max(progress, (time.perf_counter() - started) / time_limit_s)
            if progress >= 1.0:
                break
        k = rng.randrange(len(current))
        pool = members[group[k]]
        v = pool[rng.randrange(len(pool))]
        j = owner[v]
        if j == k:
            continue
        i = rng.randrange(size)
        u = current[k][i]
        new_k = current[k].copy()
        new_k[i] = v
        if not limits.fits(new_k):
            continue
        delta = weight[group[k]] * value(new_k) - values[k]
        new_j: list[int] = []
        if j >= 0:
            new_j = [u if w == v else w for w in current[j]]
            if not limits.fits(new_j):
                continue
            delta += weight[group[j]] * value(new_j) - values[j]
        temperature = start_temperature * (1.0 - max(progress, step / moves))
        if delta < 0 and (temperature <= 0 or rng.random() >= math.exp(delta / temperature)):
            continue
        current[k] = new_k
        values[k] = weight[group[k]] * value(new_k)
        owner[v], owner[u] = k, j
        if j >= 0:
            current[j] = new_j
            values[j] = weight[group[j]] * value(new_j)
        total += delta
        if total > best_total * (1 + 1e-12):
            best_total = sum(values)
            best = [list(units) for units in current]
    return [_dealt(inst, np.asarray(units, dtype=np.int64)) for units in best]


def _dealt(inst: Instance, units: IntArray) -> IntArray:
    """A pack's units dealt into blocks by the heuristic's balancing (``S × P``)."""
    s, p = inst.spec.series, inst.spec.parallel
    return units[balance_blocks(inst.capacity_ah[units], series=s, parallel=p)]
