"""Voltage relaxation after current stops: features of every rest that follows a load.

When the current is interrupted the voltage relaxes towards the open-circuit voltage: an
instantaneous ohmic step, then charge-transfer and diffusion tails. The amplitude and speed of
that relaxation grow with ageing and are used as SOH features of short tests (e.g. Zhu et al.,
"Data-driven capacity estimation of commercial lithium-ion batteries from voltage relaxation",
Nat. Commun. 13, 2261 (2022), doi:10.1038/s41467-022-29837-w). All rests of a file are reduced
at once (as-of joins and one group-by), no loop over rests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from echelon.diagnostics._interp import (
    FIRST_SAMPLE_DELAY,
    ONSET_COLUMNS,
    at_column,
    values_after_onset,
)
from echelon.diagnostics.steps import MODE, SEGMENT, step_table, with_segments
from echelon.io.bdf import TIME, VOLTAGE

RELAXATION_TIMES_S: Final = (1.0, 10.0, 60.0, 300.0)
MIN_REST_S: Final = 10.0
OHMIC_MAX_DELAY_S: Final = 1.0
"""The relaxation share done at the first rest sample is reported as ``ohmic_fraction`` only when
that sample comes at most this long after the load's end; later, charge transfer has relaxed too."""


def relaxation_features(
    frame: pl.DataFrame,
    *,
    times_s: Sequence[float] = RELAXATION_TIMES_S,
    min_rest_s: float = MIN_REST_S,
    steps: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Relaxation features of every rest that follows a charge or discharge.

    Times are counted from the rest's onset, the load's last sample (the current is taken to stop
    right after it, the ``hold`` rule of :func:`~echelon.diagnostics.step_table`), not from the
    first rest sample: with a rest logged every 60 s the first rest sample comes 60 s after the
    load stopped, when most of the relaxation is over.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame.
    times_s : sequence of float
        Delays after the load's end at which the voltage change is reported [s].
    min_rest_s : float
        Shorter rests are ignored [s].
    steps : pl.DataFrame, optional
        Precomputed step table.

    Returns
    -------
    pl.DataFrame
        One row per rest: ``segment``, ``after`` (``charge``/``discharge``), ``onset_s`` (the
        load's last sample), ``start_s`` (first rest sample), ``first_sample_delay_s``
        (``start_s − onset_s``), ``duration_s``, ``current_before_a`` (end current of the load),
        ``voltage_load_end_v`` (last voltage under load), ``voltage_start_v`` (first rest
        sample), ``voltage_end_v``, ``dv_<t>s_v`` = V(onset + t) − V(load end) for each delay
        (null when the rest is shorter or its first sample comes after the delay: the voltage
        then was not logged), ``dv_total_v`` = V(end) − V(load end), ``ohmic_fraction`` (share
        of the total relaxation done at the first rest sample; null when that sample comes more
        than :data:`OHMIC_MAX_DELAY_S` after the load's end, as the share is then not ohmic) and
        ``tau63_s`` (time from the first rest sample until 63 % of the relaxation left at that
        sample is done: τ of a single RC whatever the gap, but blind to faster processes that
        ended within ``first_sample_delay_s``).
    """
    steps = steps if steps is not None else step_table(frame)
    rests = (
        steps.with_columns(pl.col(MODE).shift(1).alias("_mode_before"), *ONSET_COLUMNS)
        .filter(
            (pl.col("step_type") == "rest")
            & (pl.col("_mode_before") != 0)
            & (pl.col("duration_s") >= min_rest_s)
            & pl.col("voltage_before_v").is_not_null()
        )
        .select(
            SEGMENT,
            pl.when(pl.col("_mode_before") > 0)
            .then(pl.lit("charge"))
            .otherwise(pl.lit("discharge"))
            .alias("after"),
            "onset_s",
            "start_s",
            "end_s",
            FIRST_SAMPLE_DELAY,
            "duration_s",
            "current_before_a",
            pl.col("voltage_before_v").alias("voltage_load_end_v"),
            pl.col("start_voltage_v").alias("voltage_start_v"),
            pl.col("end_voltage_v").alias("voltage_end_v"),
        )
    )
    if rests.height == 0:
        return rests
    samples = with_segments(frame).filter(
        pl.col(SEGMENT).is_in(rests.get_column(SEGMENT).implode())
    )
    times = sorted({float(t) for t in times_s})
    at = values_after_onset(samples, rests, times)
    load_end = pl.col("voltage_load_end_v")
    wide = at.join(rests.select(SEGMENT, "voltage_load_end_v"), on=SEGMENT).select(
        SEGMENT, *((pl.col(at_column(VOLTAGE, t)) - load_end).alias(f"dv_{t:g}s_v") for t in times)
    )

    # τ63: first sample where the voltage has covered 63 % of (end − first rest sample)
    v0 = pl.col(VOLTAGE).first()
    covered = (pl.col(VOLTAGE) - v0).abs() >= 0.632 * (pl.col(VOLTAGE).last() - v0).abs()
    tau = samples.group_by(SEGMENT).agg(
        (pl.col(TIME).filter(covered).first() - pl.col(TIME).first()).alias("tau63_s")
    )
    total = pl.col("voltage_end_v") - pl.col("voltage_load_end_v")
    prompt = pl.col("first_sample_delay_s") <= OHMIC_MAX_DELAY_S
    return (
        rests.join(wide, on=SEGMENT, how="left")
        .join(tau, on=SEGMENT, how="left")
        .with_columns(
            total.alias("dv_total_v"),
            pl.when((total.abs() > 0) & prompt)
            .then((pl.col("voltage_start_v") - pl.col("voltage_load_end_v")) / total)
            .alias("ohmic_fraction"),
        )
        .drop("end_s")
        .sort(SEGMENT)
    )
