"""A simulated PulseBat pulse test (for demos and tests only, never evidence that a model works).

The protocol of S. Tao et al., *Nat. Commun.* 15 (2024), doi:10.1038/s41467-024-54454-0
(``shared/datasets/pulsebat/PROVENANCE.md``): at each SOC a 10-min rest, then for each
amplitude a a +a C pulse, a rest of 15 pulse widths, a −a C pulse and another rest; between SOC
levels a 1 C constant-current charge of 5 % of the nominal capacity (3 min). Pulses run on the
equivalent-circuit model of :mod:`echelon.synth.ecm`; a pulse that reaches the charge or
discharge cut-off stops there, as a tester's voltage protection does, and its rest follows.

Sampling: the real protocol logs at 100 Hz during pulses and 1 Hz otherwise. The default here is
10 Hz in pulses and 1 Hz in rests, which keeps a three-amplitude block near 1,400 rows (a 100 Hz
pulse log would add 2,700 rows per block) while the turning points stay exact: each step's first
sample is logged 1 ms after the current changes (:data:`echelon.synth.ecm.STEP_START_S`) and its
last sample at the step's end, whatever the rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import polars as pl

from echelon.synth.ecm import EcmParameters, ProtocolRecorder

PULSE_SAMPLE_S: Final = 0.1
"""Sampling interval during pulses [s] (10 Hz; the PulseBat tester logged at 100 Hz)."""
REST_SAMPLE_S: Final = 1.0
"""Sampling interval during rests and SOC conditioning [s] (1 Hz, as PulseBat)."""
SOC_STEP: Final = 0.05
"""SOC conditioning step between blocks [fraction of nominal capacity] (PulseBat: 5 %)."""
CONDITIONING_C: Final = 1.0
"""Rate of the SOC-conditioning charge [C] (PulseBat: 1 C for 3 min)."""


def pulsebat_test(
    params: EcmParameters,
    *,
    soc0: float,
    nominal_capacity_ah: float,
    rng: np.random.Generator,
    amplitudes_c: Sequence[float] = (0.5, 1.0, 1.5),
    pulse_s: float = 5.0,
    rest_s: float = 75.0,
    initial_rest_s: float = 600.0,
    sample_s: float = PULSE_SAMPLE_S,
    rest_sample_s: float = REST_SAMPLE_S,
    n_soc: int = 1,
    soc_step: float = SOC_STEP,
) -> pl.DataFrame:
    """A BDF frame of the PulseBat pulse protocol at one or several SOC levels.

    Parameters
    ----------
    params : EcmParameters
        The unit's equivalent circuit (true capacity, resistances, OCV, cut-offs).
    soc0 : float
        SOC of the first block [fraction of the true capacity].
    nominal_capacity_ah : float
        Rated capacity [A·h]: amplitudes are in C of it, as a tester is programmed.
    rng : numpy.random.Generator
        Source of the measurement noise.
    amplitudes_c : sequence of float
        Pulse amplitudes in order [C] (PulseBat: 0.5, 1, 1.5, 2, 2.5; the first three give
        ``u1_v`` … ``u21_v``).
    pulse_s, rest_s : float
        Pulse width and the rest after each pulse [s] (PulseBat: 5 s and 75 s = 15 widths).
    initial_rest_s : float
        Rest before each block [s] (PulseBat: 10 min).
    sample_s, rest_sample_s : float
        Sampling interval in pulses and in rests / conditioning [s].
    n_soc : int
        Number of SOC levels (blocks).
    soc_step : float
        SOC added between blocks by a 1 C charge [fraction of the nominal capacity].

    Returns
    -------
    pl.DataFrame
        ``test_time_second``, ``voltage_volt``, ``current_ampere`` (positive on charge),
        ``step_id`` (one per rest, pulse or charge: block k's steps follow the layout rest,
        (+pulse, rest, −pulse, rest) × amplitudes), ``surface_temperature_celsius`` and
        ``cycle_count``.

    Raises
    ------
    ValueError
        For a non-positive duration, sampling interval or capacity, or no amplitude.
    """
    durations = (pulse_s, rest_s, initial_rest_s, sample_s, rest_sample_s, nominal_capacity_ah)
    if min(durations) <= 0 or not amplitudes_c or n_soc < 1 or soc_step < 0:
        raise ValueError(
            "durations, sampling intervals and the nominal capacity must be positive, with at "
            "least one amplitude and one SOC level"
        )
    rec = ProtocolRecorder(params, soc0, rng)
    for block in range(n_soc):
        if block:
            current = CONDITIONING_C * nominal_capacity_ah
            rec.constant_current(
                current,
                sample_s=rest_sample_s,
                max_s=3600.0 * soc_step / CONDITIONING_C,
                stop_above_v=params.v_max_v,
            )
        rec.rest(initial_rest_s, rest_sample_s)
        for amplitude in amplitudes_c:
            current = amplitude * nominal_capacity_ah
            rec.constant_current(
                current, sample_s=sample_s, max_s=pulse_s, stop_above_v=params.v_max_v
            )
            rec.rest(rest_s, rest_sample_s)
            rec.constant_current(
                -current, sample_s=sample_s, max_s=pulse_s, stop_below_v=params.v_min_v
            )
            rec.rest(rest_s, rest_sample_s)
    return rec.frame()
