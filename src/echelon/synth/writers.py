"""Writers of synthetic tester files: BDF CSV and an Arbin-style CSV export."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from echelon.io import bdf


def write_bdf_csv_file(frame: pl.DataFrame, path: Path) -> None:
    """BDF CSV with machine-readable column names (6 significant decimals)."""
    frame.write_csv(path, float_precision=6)


def arbin_frame(frame: pl.DataFrame, start: dt.datetime) -> pl.DataFrame:
    """A BDF frame rendered with Arbin channel-sheet columns (cumulative Ah/Wh counters)."""
    dt_s = pl.col(bdf.TIME).diff().fill_null(0.0)
    i_mid = ((pl.col(bdf.CURRENT) + pl.col(bdf.CURRENT).shift(1)) / 2).fill_null(0.0)
    v_mid = ((pl.col(bdf.VOLTAGE) + pl.col(bdf.VOLTAGE).shift(1)) / 2).fill_null(0.0)
    dq = i_mid * dt_s / 3600.0
    de = i_mid * v_mid * dt_s / 3600.0
    step_start = pl.col(bdf.TIME).first().over(bdf.STEP)
    return frame.select(
        pl.int_range(1, pl.len() + 1).alias("Data_Point"),
        pl.col(bdf.TIME).alias("Test_Time(s)"),
        (pl.lit(start) + pl.duration(microseconds=(pl.col(bdf.TIME) * 1e6).cast(pl.Int64)))
        .dt.strftime("%Y-%m-%d %H:%M:%S")
        .alias("Date_Time"),
        (pl.col(bdf.TIME) - step_start).alias("Step_Time(s)"),
        pl.col(bdf.STEP).alias("Step_Index"),
        pl.col(bdf.CYCLE).alias("Cycle_Index"),
        pl.col(bdf.CURRENT).alias("Current(A)"),
        pl.col(bdf.VOLTAGE).alias("Voltage(V)"),
        dq.clip(lower_bound=0).cum_sum().alias("Charge_Capacity(Ah)"),
        (-dq.clip(upper_bound=0)).cum_sum().alias("Discharge_Capacity(Ah)"),
        de.clip(lower_bound=0).cum_sum().alias("Charge_Energy(Wh)"),
        (-de.clip(upper_bound=0)).cum_sum().alias("Discharge_Energy(Wh)"),
        (pl.col(bdf.VOLTAGE).diff() / dt_s).fill_null(0.0).fill_nan(0.0).alias("dV/dt(V/s)"),
        pl.lit(0.0).alias("Internal_Resistance(Ohm)"),
        pl.lit(0).alias("Is_FC_Data"),
        pl.col(bdf.SURFACE_T).alias("Temperature (C)_1"),
    )


def write_arbin_csv_file(frame: pl.DataFrame, path: Path, start: dt.datetime) -> None:
    """Arbin-style CSV export of a BDF frame."""
    arbin_frame(frame, start).write_csv(path, float_precision=6)


def truncate_file(path: Path, fraction: float = 0.5) -> None:
    """Cut a file mid-line at ``fraction`` of its bytes (a transfer interrupted)."""
    data = path.read_bytes()
    cut = max(1, int(len(data) * fraction))
    while cut < len(data) and data[cut - 1 : cut] == b"\n":
        cut += 1
    path.write_bytes(data[:cut])
