"""Local search across packs: exchange a unit of a pack's weakest block with a stronger unit of
another pack of its group, or with an unused unit, when that raises the total usable capacity
and both packs still meet every limit.

Each candidate exchange is evaluated exactly (both packs re-balanced), the best one applied, and
the search repeats until no exchange helps or the evaluation budget is spent. It is what lets a
plan choose *which* units share a pack with their balancing in mind, beyond the pack formation's
sum-of-capacity view.
"""

from __future__ import annotations

import numpy as np

from echelon.regroup.heuristic import balance_blocks
from echelon.regroup.instance import Instance, IntArray, pack_violations

EPS = 1e-9


def _rebalanced(inst: Instance, pack: IntArray) -> IntArray:
    """The pack's units dealt afresh into blocks, if that is better; else the pack."""
    s, p = inst.spec.series, inst.spec.parallel
    q = inst.capacity_ah
    units = pack.ravel()
    fresh = units[balance_blocks(q[units], series=s, parallel=p)]
    return fresh if q[fresh].sum(axis=1).min() > q[pack].sum(axis=1).min() else pack


def improve_packs(
    inst: Instance, packs: list[IntArray], *, budget: int = 20_000, candidates: int = 12
) -> list[IntArray]:
    """Improve a plan by unit exchanges between packs and with unused units (same group).

    A unit ``u`` of a pack's weakest block is exchanged with a stronger unit ``v`` (unused, or
    in another pack of the group) when the gain of the weak pack exceeds the loss of the other,
    both packs still meet every limit; ``v`` takes ``u``'s place and vice versa, then both packs
    are re-dealt into blocks if that helps.

    Parameters
    ----------
    inst : Instance
    packs : list of ndarray, shape (S, P)
    budget : int
        Most exchanges evaluated.
    candidates : int
        Units tried per weak unit (the nearest stronger ones).

    Returns
    -------
    list of ndarray
        Packs, never worse than the input (same count, same groups).
    """
    packs = [p.copy() for p in packs]
    q = inst.capacity_ah
    sums = [q[p].sum(axis=1) for p in packs]
    owner = np.full(inst.n_units, -1, dtype=np.int64)
    for k, pack in enumerate(packs):
        owner[pack.ravel()] = k
    by_group = {g: inst.members(g) for g in {int(inst.group[p[0, 0]]) for p in packs}}
    spent = 0
    improved = True
    while improved and spent < budget:
        improved = False
        order = np.argsort([s.min() / s.mean() for s in sums], kind="stable")
        for k in order.tolist():
            pack = packs[k]
            weak = int(np.argmin(sums[k]))
            members = by_group[int(inst.group[pack[0, 0]])]
            best: tuple[float, int, int] | None = None
            for u in pack[weak].tolist():
                stronger = members[(q[members] > q[u]) & (owner[members] != k)]
                for v in stronger[np.argsort(q[stronger], kind="stable")[:candidates]].tolist():
                    spent += 1
                    delta = float(q[v] - q[u])
                    new_k = sums[k].copy()
                    new_k[weak] += delta
                    gain = float(new_k.min() - sums[k].min())
                    j = int(owner[v])
                    if j >= 0:
                        block_j = int(np.flatnonzero((packs[j] == v).any(axis=1))[0])
                        new_j = sums[j].copy()
                        new_j[block_j] -= delta
                        gain += float(new_j.min() - sums[j].min())
                    if gain > EPS * float(sums[k].min()) and (best is None or gain > best[0]):
                        if not _feasible(inst, packs, k, j, u, v):
                            continue
                        best = (gain, u, v)
            if best is None:
                continue
            _, u, v = best
            j = int(owner[v])
            packs[k][packs[k] == u] = v
            owner[v] = k
            packs[k] = _rebalanced(inst, packs[k])
            sums[k] = q[packs[k]].sum(axis=1)
            owner[u] = j
            if j >= 0:
                packs[j][packs[j] == v] = u
                packs[j] = _rebalanced(inst, packs[j])
                sums[j] = q[packs[j]].sum(axis=1)
            improved = True
            if spent >= budget:
                break
    return packs


def _feasible(inst: Instance, packs: list[IntArray], k: int, j: int, u: int, v: int) -> bool:
    """Whether both packs meet every limit after exchanging ``u`` (in ``k``) and ``v``."""
    if pack_violations(inst, np.where(packs[k] == u, v, packs[k])):
        return False
    return j < 0 or not pack_violations(inst, np.where(packs[j] == v, u, packs[j]))
