"""Large synthetic Arbin-style cycling files for benchmarks (generated, never committed).

A cell of 2 A·h is cycled at 1 C (CC to 80 % of its capacity, CV hold, rest, CC discharge,
rest) with a capacity that fades linearly by 20 % over the file; every segment has a fixed number
of samples, so millions of rows are built with numpy broadcasting in seconds. Two Arbin export
layouts are written from the same data:

``mits_pro``
    MITS Pro channel export with units in the names (``Test_Time(s)``, ``Current(A)``, …) — the
    layout of the CALCE workbooks, read by Echelon and by cellpy's ``arbin_sql_csv`` loader.
``beep``
    the unit-less layout BEEP's ``ArbinDatapath`` expects (``Test_Time``, ``DateTime`` as epoch
    seconds, ``Current``, …; as in the Severson et al. 2019 raw files).

Capacity counters reset at every cycle (as BEEP's summary requires).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

Layout = Literal["mits_pro", "beep"]
SAMPLES = {"cc_charge": 300, "cv_charge": 120, "rest1": 60, "discharge": 360, "rest2": 60}
"""Samples per segment of one cycle (900 rows per cycle)."""
ROWS_PER_CYCLE = sum(SAMPLES.values())
START = dt.datetime(2026, 1, 1)


def cycling_frame(n_rows: int, *, capacity_ah: float = 2.0, seed: int = 0) -> pl.DataFrame:
    """BDF-named columns of ``ceil(n_rows / 900)`` cycles, cut to ``n_rows`` rows."""
    rng = np.random.default_rng(seed)
    cycles = -(-n_rows // ROWS_PER_CYCLE)
    q = capacity_ah * (1.0 - 0.2 * np.arange(cycles) / max(cycles - 1, 1))  # fade
    current = capacity_ah  # 1 C
    durations = {  # seconds per segment, per cycle
        "cc_charge": 0.8 * q / current * 3600.0,
        "cv_charge": np.full(cycles, 1800.0),
        "rest1": np.full(cycles, 600.0),
        "discharge": q / current * 3600.0,
        "rest2": np.full(cycles, 600.0),
    }
    times, volts, amps, steps = [], [], [], []
    offset = np.concatenate([[0.0], np.cumsum(sum(durations.values()))[:-1]])
    elapsed = np.zeros(cycles)
    for step, (name, n) in enumerate(SAMPLES.items(), start=1):
        frac = (np.arange(1, n + 1) / n)[None, :]  # (1, n)
        t = offset[:, None] + elapsed[:, None] + durations[name][:, None] * frac
        soc = {
            "cc_charge": 0.8 * frac,
            "cv_charge": 0.8 + 0.2 * (1 - np.exp(-5 * frac)),
            "rest1": np.ones_like(frac),
            "discharge": 1.0 - frac,
            "rest2": np.zeros_like(frac),
        }[name] * np.ones((cycles, 1))
        i = {
            "cc_charge": np.full_like(soc, current),
            "cv_charge": current * np.exp(-5 * frac) * np.ones((cycles, 1)),
            "rest1": np.zeros_like(soc),
            "discharge": np.full_like(soc, -current),
            "rest2": np.zeros_like(soc),
        }[name]
        ocv = 3.0 + 1.1 * soc - 0.25 * np.exp(-15 * soc) + 0.05 * np.sin(6 * soc)
        v = np.where(name == "cv_charge", 4.2, ocv + 0.05 * i)
        times.append(t)
        volts.append(v + rng.normal(0, 3e-4, v.shape))
        amps.append(i)
        steps.append(np.full(t.shape, step))
        elapsed += durations[name]
    stack = lambda parts: np.concatenate(parts, axis=1).ravel()[:n_rows]  # noqa: E731
    return pl.DataFrame(
        {
            "test_time_second": stack(times),
            "voltage_volt": stack(volts),
            "current_ampere": stack(amps),
            "step_id": stack(steps).astype(np.int64),
            "cycle_count": np.repeat(np.arange(1, cycles + 1), ROWS_PER_CYCLE)[:n_rows],
        }
    )


def arbin_table(frame: pl.DataFrame, layout: Layout, *, first_point: int = 1) -> pl.DataFrame:
    """The frame as an Arbin export (per-cycle counters, step time, dV/dt, date-time)."""
    dt_s = pl.col("test_time_second").diff().fill_null(0.0)
    dq = pl.col("current_ampere") * dt_s / 3600.0
    de = dq * pl.col("voltage_volt")
    stamp = pl.lit(START) + pl.duration(
        milliseconds=(pl.col("test_time_second") * 1000).cast(pl.Int64)
    )
    units = layout == "mits_pro"
    base = {  # quantity → (Arbin name, unit suffix of the MITS Pro layout)
        "time": ("Test_Time", "s"),
        "step_time": ("Step_Time", "s"),
        "current": ("Current", "A"),
        "voltage": ("Voltage", "V"),
        "qc": ("Charge_Capacity", "Ah"),
        "qd": ("Discharge_Capacity", "Ah"),
        "ec": ("Charge_Energy", "Wh"),
        "ed": ("Discharge_Energy", "Wh"),
        "dvdt": ("dV/dt", "V/s"),
        "ir": ("Internal_Resistance", "Ohm"),
    }
    name = {k: f"{n}({u})" if units else n for k, (n, u) in base.items()}
    name["date"] = "Date_Time" if units else "DateTime"
    name["temp"] = "Aux_Temperature_1(C)" if units else "Temperature"
    date = stamp.dt.strftime("%Y-%m-%d %H:%M:%S") if units else (stamp.dt.epoch("ms") / 1000.0)
    return frame.select(
        pl.int_range(first_point, first_point + pl.len()).alias("Data_Point"),
        pl.col("test_time_second").round(3).alias(name["time"]),
        (
            pl.col("test_time_second")
            - pl.col("test_time_second").first().over("step_id", "cycle_count")
        )
        .round(3)
        .alias(name["step_time"]),
        date.alias(name["date"]),
        pl.col("step_id").alias("Step_Index"),
        pl.col("cycle_count").alias("Cycle_Index"),
        pl.col("current_ampere").round(5).alias(name["current"]),
        pl.col("voltage_volt").round(5).alias(name["voltage"]),
        dq.clip(lower_bound=0).cum_sum().over("cycle_count").round(6).alias(name["qc"]),
        (-dq.clip(upper_bound=0)).cum_sum().over("cycle_count").round(6).alias(name["qd"]),
        de.clip(lower_bound=0).cum_sum().over("cycle_count").round(6).alias(name["ec"]),
        (-de.clip(upper_bound=0)).cum_sum().over("cycle_count").round(6).alias(name["ed"]),
        (pl.col("voltage_volt").diff() / dt_s)
        .fill_null(0.0)
        .fill_nan(0.0)
        .round(6)
        .alias(name["dvdt"]),
        pl.lit(0.021).alias(name["ir"]),
        (25.0 + 0.5 * pl.col("current_ampere").abs()).round(2).alias(name["temp"]),
    )


def write_arbin_csv(path: Path, n_rows: int, *, layout: Layout = "mits_pro", seed: int = 0) -> Path:
    """Write an Arbin-style CSV of ``n_rows`` rows (streamed in chunks of 1 M rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = ROWS_PER_CYCLE * 1111  # whole cycles per chunk (counters reset per cycle)
    frame = cycling_frame(n_rows, seed=seed)
    with path.open("wb") as fh:
        for start in range(0, n_rows, chunk):
            part = arbin_table(frame.slice(start, chunk), layout, first_point=start + 1)
            part.write_csv(fh, include_header=start == 0)
    return path
