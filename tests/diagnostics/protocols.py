"""Synthetic test protocols built with the simulator's recorder (cycling, HPPC, storage)."""

from __future__ import annotations

import numpy as np
import polars as pl

from echelon.catalog import chemistry
from echelon.synth import EcmParameters
from echelon.synth.ecm import ProtocolRecorder

CAPACITY_AH = 2.0


def cell(
    r0: float = 0.03,
    *,
    r1: float | None = None,
    r2: float | None = None,
    capacity: float = CAPACITY_AH,
    chem: str = "NMC811",
) -> EcmParameters:
    """A simulated single cell of ``chem`` (R1 = 0.6 R0 and R2 = 0.8 R0 unless given)."""
    rec = chemistry(chem)
    return EcmParameters(
        capacity_ah=capacity,
        r0_ohm=r0,
        r1_ohm=0.6 * r0 if r1 is None else r1,
        tau1_s=2.0,
        r2_ohm=0.8 * r0 if r2 is None else r2,
        tau2_s=60.0,
        series_count=1,
        ocv=rec.ocv,
        v_min_v=rec.discharge_cutoff_v,
        v_max_v=rec.charge_cutoff_v,
    )


def cycling(
    params: EcmParameters, *, cycles: int = 3, rate_c: float = 0.5, seed: int = 0
) -> pl.DataFrame:
    """Rest, then ``cycles`` × (CC-CV charge, rest, CC discharge, rest); no cycle column."""
    rec = ProtocolRecorder(params, 0.0, np.random.default_rng(seed))
    current = rate_c * CAPACITY_AH
    rec.rest(60.0, 10.0)
    for _ in range(cycles):
        rec.constant_current(current, sample_s=10.0, max_s=4 * 3600, stop_above_v=params.v_max_v)
        rec.constant_voltage_charge(current, CAPACITY_AH / 20.0, sample_s=10.0)
        rec.rest(600.0, 10.0)
        rec.constant_current(-current, sample_s=10.0, max_s=4 * 3600, stop_below_v=params.v_min_v)
        rec.rest(600.0, 10.0)
    return rec.frame().drop("cycle_count")


def hppc(
    params: EcmParameters, *, levels: int = 5, pulse_s: float = 10.0, seed: int = 1
) -> pl.DataFrame:
    """Full charge, then ``levels`` × (1 h rest, 1 C discharge pulse, 40 s rest, 0.75 C charge
    pulse, 40 s rest, discharge 15 % of capacity at C/2)."""
    rec = ProtocolRecorder(params, 0.1, np.random.default_rng(seed))
    rec.rest(60.0, 10.0)
    rec.constant_current(
        CAPACITY_AH / 2, sample_s=10.0, max_s=4 * 3600, stop_above_v=params.v_max_v
    )
    rec.constant_voltage_charge(CAPACITY_AH / 2, CAPACITY_AH / 50.0, sample_s=10.0)
    for _ in range(levels):
        rec.rest(3600.0, 10.0)
        rec.constant_current(-CAPACITY_AH, sample_s=0.1, max_s=pulse_s)
        rec.rest(40.0, 0.5)
        rec.constant_current(0.75 * CAPACITY_AH, sample_s=0.1, max_s=pulse_s)
        rec.rest(40.0, 0.5)
        rec.constant_current(-CAPACITY_AH / 2, sample_s=5.0, max_s=0.15 * 2 * 3600)
    rec.rest(600.0, 10.0)
    return rec.frame()
