"""Baselines the optimiser is compared with (second-life-domain.md §3.2).

All three respect the chemistry/model groups and the unit-level filters but not the pack-level
limits (resistance ratio, capacity tolerance) — that is how they are practised; the comparison
reports how many of their packs break those limits.

* ``random``: units of a group shuffled, cut into packs, each pack's blocks in shuffled order.
* ``sort_chunk``: units sorted by capacity and cut into packs, each pack's blocks filled with
  consecutive sorted units (matched cells in parallel, blocks in series) — common shop practice.
* ``kmeans``: k-means on standardised (capacity, DCIR) as in the sorting literature
  [S56][S57][S59]; each cluster is then sorted and chunked into packs as above; units that do not
  fill a whole pack in their cluster are left over.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.cluster.vq import kmeans2

from echelon.regroup.heuristic import select_packs
from echelon.regroup.instance import Instance, IntArray, Plan


def _chunk(units: IntArray, series: int, parallel: int) -> list[IntArray]:
    """Cut an ordered unit list into packs; consecutive units share a block."""
    n = series * parallel
    whole = units.size // n
    return [units[i * n : (i + 1) * n].reshape(series, parallel) for i in range(whole)]


def _per_group(inst: Instance, order: Callable[[IntArray], list[IntArray]], method: str) -> Plan:
    s, p = inst.spec.series, inst.spec.parallel
    packs: list[IntArray] = []
    for g in range(len(inst.groups)):
        for ordered in order(inst.members(g)):
            packs.extend(_chunk(ordered, s, p))
    return Plan(select_packs(inst, packs), method=method)


def random_plan(inst: Instance, *, seed: int = 0) -> Plan:
    """Random packs and blocks within each compatible group."""
    rng = np.random.default_rng(seed)
    return _per_group(inst, lambda m: [rng.permutation(m)], "random")


def sort_chunk_plan(inst: Instance) -> Plan:
    """Sort by capacity, cut into packs, consecutive units in a block."""

    def order(members: IntArray) -> list[IntArray]:
        return [members[np.argsort(-inst.capacity_ah[members], kind="stable")]]

    return _per_group(inst, order, "sort_chunk")


def kmeans_plan(inst: Instance, *, clusters: int, seed: int = 0) -> Plan:
    """k-means on standardised (capacity, DCIR), then sort-and-chunk within each cluster."""
    rng = np.random.default_rng(seed)

    def order(members: IntArray) -> list[IntArray]:
        k = min(clusters, members.size)
        if k <= 1:
            return [members[np.argsort(-inst.capacity_ah[members], kind="stable")]]
        features = np.column_stack([inst.capacity_ah[members], inst.dcir_ohm[members]])
        spread = features.std(axis=0)
        features = (features - features.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
        _, labels = kmeans2(features, k, minit="++", seed=rng)
        out = []
        for label in range(k):
            cluster = members[labels == label]
            out.append(cluster[np.argsort(-inst.capacity_ah[cluster], kind="stable")])
        return out

    return _per_group(inst, order, "kmeans")
