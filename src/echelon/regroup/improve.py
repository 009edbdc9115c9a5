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


def _usable(inst: Instance, units: IntArray) -> tuple[float, IntArray]:
    """Usable capacity [A·h] of a set of units once balanced, and the balanced pack."""
    s, p = inst.spec.series, inst.spec.parallel
    pack = units[balance_blocks(inst.capacity_ah[units], series=s, parallel=p)]
    return float(inst.capacity_ah[pack].sum(axis=1).min()), pack


def improve_packs(
    inst: Instance, packs: list[IntArray], *, budget: int = 20_000, candidates: int = 12
) -> list[IntArray]:
    """Improve a plan by unit exchanges between packs and with unused units (same group).

    Parameters
    ----------
    inst : Instance
    packs : list of ndarray, shape (S, P)
    budget : int
        Most exchanges evaluated (each costs two re-balancings).
    candidates : int
        Units tried per weak unit (the nearest stronger ones of each source).

    Returns
    -------
    list of ndarray
        Packs, never worse than the input (same count, same groups).
    """
    packs = [p.copy() for p in packs]
    q = inst.capacity_ah
    value = [float(q[p].sum(axis=1).min()) for p in packs]
    owner = np.full(inst.n_units, -1, dtype=np.int64)
    for k, pack in enumerate(packs):
        owner[pack.ravel()] = k
    by_group = {g: inst.members(g) for g in {int(inst.group[p[0, 0]]) for p in packs}}
    spent = 0
    improved = True
    while improved and spent < budget:
        improved = False
        for k in np.argsort(
            [v / (q[p].sum() / inst.spec.series) for v, p in zip(value, packs, strict=True)]
        ):
            pack = packs[k]
            weak_block = int(np.argmin(q[pack].sum(axis=1)))
            members = by_group[int(inst.group[pack[0, 0]])]
            best: tuple[float, int, int, IntArray, IntArray | None] | None = None
            for u in pack[weak_block].tolist():
                stronger = members[(q[members] > q[u]) & (owner[members] != k)]
                near = stronger[np.argsort(q[stronger], kind="stable")[:candidates]]
                for v in near.tolist():
                    spent += 1
                    units_k = np.where(pack.ravel() == u, v, pack.ravel())
                    if pack_violations(inst, units_k.reshape(pack.shape)):
                        continue
                    new_k, balanced_k = _usable(inst, units_k)
                    j = int(owner[v])
                    gain = new_k - value[k]
                    balanced_j = None
                    if j >= 0:
                        units_j = np.where(packs[j].ravel() == v, u, packs[j].ravel())
                        if pack_violations(inst, units_j.reshape(pack.shape)):
                            continue
                        new_j, balanced_j = _usable(inst, units_j)
                        gain += new_j - value[j]
                    if gain > EPS * max(value[k], 1.0) and (best is None or gain > best[0]):
                        best = (gain, u, v, balanced_k, balanced_j)
            if best is None:
                continue
            _, u, v, balanced_k, balanced_j = best
            j = int(owner[v])
            packs[k], value[k] = balanced_k, float(q[balanced_k].sum(axis=1).min())
            owner[v], owner[u] = k, j
            if balanced_j is not None:
                packs[j], value[j] = balanced_j, float(q[balanced_j].sum(axis=1).min())
            improved = True
            if spent >= budget:
                break
    return packs
