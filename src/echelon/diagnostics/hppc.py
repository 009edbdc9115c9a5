"""HPPC tables: pulse resistance against state of charge (and temperature).

A hybrid pulse power characterisation test charges the cell full, then repeats "rest, discharge
pulse, (rest,) charge pulse, discharge a fixed fraction of capacity" down to empty (FreedomCAR
Battery Test Manual for Power-Assist HEVs, DOE/ID-11069, 2003, §3.3; the ORNL Nissan Leaf data
in ../shared/datasets/nissan_leaf use 30 s / 10 s pulses and 10 % SOC steps). :func:`hppc_table`
finds every pulse, its DCIR at fixed times, and the SOC at which it was applied by coulomb
counting from the full charge that precedes the first pulse.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from echelon.diagnostics.resistance import DEFAULT_TIMES_S, dcir_column, pulse_table
from echelon.diagnostics.steps import MODE, SEGMENT, step_table
from echelon.errors import DiagnosticsError


def hppc_table(
    frame: pl.DataFrame,
    *,
    capacity_ah: float | None = None,
    temperature_c: float | None = None,
    times_s: Sequence[float] = DEFAULT_TIMES_S,
    steps: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Resistance of every HPPC pulse with the SOC (and temperature) it was measured at.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame of an HPPC test.
    capacity_ah : float, optional
        Capacity [A·h] that defines SOC. Default: the net charge removed from the reference
        (full) point to the lowest state reached in the file — right when the test runs to
        the discharge cut-off, as HPPC tests do.
    temperature_c : float, optional
        Test temperature [°C] (the chamber set-point); default: the mean surface temperature
        during each pulse when the file has one, else null.
    times_s : sequence of float
        Times after each pulse start at which DCIR is reported [s].
    steps : pl.DataFrame, optional
        Precomputed step table.

    Returns
    -------
    pl.DataFrame
        One row per pulse: ``pulse`` (its number in the whole file, as in
        :func:`~echelon.diagnostics.pulse_table` and :func:`~echelon.diagnostics.pulse_ecm`:
        it starts above 1 when pre-conditioning pulses precede the full charge),
        ``kind`` (``discharge``/``charge``),
        ``start_s``, ``soc`` [0–1], ``current_a``, ``duration_s``, ``voltage_before_v``,
        ``current_varies`` (not a constant-current pulse, e.g. held at the voltage limit: see
        :func:`~echelon.diagnostics.pulse_table`), ``dcir_<t>_ohm`` per requested time,
        ``dcir_end_ohm`` (at the pulse's end) and ``temperature_c``.

    Raises
    ------
    DiagnosticsError
        If the file holds no pulse after its largest charge (the SOC reference).
    """
    steps = steps if steps is not None else step_table(frame)
    pulses = pulse_table(frame, times_s=times_s, steps=steps)
    if pulses.height == 0:
        raise DiagnosticsError("no pulse (rest → charge/discharge ≤ 60 s) found: not an HPPC test")
    # net charge [A·h] at the start of every segment (prefix sum over the segment table)
    net = (pl.col("charge_ah") - pl.col("discharge_ah")).cum_sum()
    ledger = steps.with_columns(
        net.alias("_q_end"), (net - pl.col("charge_ah") + pl.col("discharge_ah")).alias("_q_start")
    )
    # the reference (SOC = 1) is the end of the file's largest charge, the full charge an HPPC
    # test starts from; pulses before it (pre-conditioning) are not part of the table
    charges = ledger.filter(pl.col(MODE) == 1)
    if charges.height == 0:
        raise DiagnosticsError("no charge in the file: the SOC reference (full charge) is missing")
    largest = int(charges.sort("charge_ah", descending=True).get_column(SEGMENT)[0])
    pulses = pulses.filter(pl.col(SEGMENT) > largest)
    if pulses.height == 0:
        raise DiagnosticsError("no pulse after the full charge: not an HPPC test")
    first_pulse = int(pulses.get_column(SEGMENT).min())  # type: ignore[arg-type]
    # full = the highest net charge between that charge and the first pulse (CC then CV)
    before = ledger.filter((pl.col(SEGMENT) >= largest) & (pl.col(SEGMENT) < first_pulse))
    q_full = float(before.get_column("_q_end").max())  # type: ignore[arg-type]
    if capacity_ah is None:
        after = ledger.filter(pl.col(SEGMENT) >= first_pulse)
        capacity_ah = q_full - float(after.get_column("_q_end").min())  # type: ignore[arg-type]
    if not capacity_ah or capacity_ah <= 0:
        raise DiagnosticsError("the file never discharges below its full charge: no SOC scale")
    temperature = (
        pl.lit(temperature_c, pl.Float64)
        if temperature_c is not None
        else (pl.col("mean_temperature_c") if "mean_temperature_c" in steps.columns else None)
    )
    soc = 1.0 + (pl.col("_q_start") - q_full) / capacity_ah
    columns = [dcir_column(float(t)) for t in sorted({float(t) for t in times_s})]
    return (
        pulses.join(
            ledger.select(
                SEGMENT,
                "_q_start",
                *(["mean_temperature_c"] if "mean_temperature_c" in steps.columns else []),
            ),
            on=SEGMENT,
        )
        .sort(SEGMENT)
        .select(
            "pulse",
            pl.when(pl.col("current_a") < 0)
            .then(pl.lit("discharge"))
            .otherwise(pl.lit("charge"))
            .alias("kind"),
            "start_s",
            soc.alias("soc"),
            "current_a",
            "duration_s",
            "voltage_before_v",
            "current_varies",
            *columns,
            "dcir_end_ohm",
            (temperature if temperature is not None else pl.lit(None, pl.Float64)).alias(
                "temperature_c"
            ),
        )
    )
