"""Writers of small tester files in every supported vendor layout, from a synthetic BDF frame.

The layouts follow the vendors' documented exports (see each reader's module docstring); the
values come from the equivalent-circuit simulator, so what a reader returns can be compared with
what was written. Real files are read in place from ../shared/datasets by the real-data tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from echelon.diagnostics.eis import circuit_impedance
from echelon.io import bdf
from echelon.synth.writers import arbin_frame

START = dt.datetime(2026, 11, 22, 8, 0, 0)
EIS_PARAMS = {
    "r0_ohm": 0.02,
    "l_henry": 2e-7,
    "r1_ohm": 0.015,
    "q_farad_s_alpha": 0.8,
    "alpha": 0.85,
    "sigma_ohm_s_half": 0.004,
}


def _stamp(frame: pl.DataFrame) -> pl.Expr:
    return pl.lit(START) + pl.duration(microseconds=(pl.col(bdf.TIME) * 1e6).cast(pl.Int64))


def _duration_text(seconds: pl.Expr) -> pl.Expr:
    """``h:mm:ss.fff`` as Neware writes elapsed time."""
    ms = (seconds * 1000).round(0).cast(pl.Int64)
    h, rem = ms // 3_600_000, ms % 3_600_000
    m, rem2 = rem // 60_000, rem % 60_000
    s, frac = rem2 // 1000, rem2 % 1000
    return pl.format(
        "{}:{}:{}.{}",
        h,
        m.cast(pl.String).str.zfill(2),
        s.cast(pl.String).str.zfill(2),
        frac.cast(pl.String).str.zfill(3),
    )


def _counters(frame: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
    dq = (
        ((pl.col(bdf.CURRENT) + pl.col(bdf.CURRENT).shift(1)) / 2).fill_null(0.0)
        * pl.col(bdf.TIME).diff().fill_null(0.0)
        / 3600.0
    )
    return dq.clip(lower_bound=0).cum_sum(), (-dq.clip(upper_bound=0)).cum_sum()


def maccor_txt(frame: pl.DataFrame, path: Path) -> None:
    """Maccor text export: metadata line, tab-separated table, unsigned current + State."""
    state = (
        pl.when(pl.col(bdf.CURRENT) > 1e-9)
        .then(pl.lit("C"))
        .when(pl.col(bdf.CURRENT) < -1e-9)
        .then(pl.lit("D"))
        .otherwise(pl.lit("R"))
    )
    charge, discharge = _counters(frame)
    table = frame.select(
        pl.int_range(1, pl.len() + 1).alias("Rec#"),
        pl.col(bdf.CYCLE).alias("Cyc#"),
        pl.col(bdf.STEP).alias("Step"),
        pl.col(bdf.TIME).alias("Test (Sec)"),
        (pl.col(bdf.TIME) - pl.col(bdf.TIME).first().over(bdf.STEP)).alias("Step (Sec)"),
        (charge + discharge).alias("Amp-hr"),
        pl.lit(0.0).alias("Watt-hr"),
        pl.col(bdf.CURRENT).abs().alias("Amps"),
        pl.col(bdf.VOLTAGE).alias("Volts"),
        state.alias("State"),
        pl.lit(0).alias("ES"),
        _stamp(frame).dt.strftime("%m/%d/%Y %I:%M:%S %p").alias("DPt Time"),
        pl.col(bdf.SURFACE_T).alias("Temp 1"),
    )
    meta = (
        "Today's Date\t11/23/2026 9:00:00 AM\tDate of Test:\t11/22/2026 8:00:00 AM\t"
        "Filename:\tC:\\Data\\B1.001\tProcedure:\tcapacity.000\tComment/Barcode:\tB1\n"
    )
    path.write_text(meta + table.write_csv(separator="\t", float_precision=6))


def _bts8(frame: pl.DataFrame, *, milli: bool = False) -> pl.DataFrame:
    charge, discharge = _counters(frame)
    k = 1000.0 if milli else 1.0
    unit = "mA" if milli else "A"
    return frame.select(
        pl.int_range(1, pl.len() + 1).alias("DataPoint"),
        pl.col(bdf.CYCLE).alias("Cycle Index"),
        pl.col(bdf.STEP).alias("Step Index"),
        pl.lit("CC DChg").alias("Step Type"),
        _duration_text(pl.col(bdf.TIME) - pl.col(bdf.TIME).first().over(bdf.STEP)).alias("Time"),
        _duration_text(pl.col(bdf.TIME)).alias("Total Time"),
        (pl.col(bdf.CURRENT) * k).alias(f"Current({unit})"),
        pl.col(bdf.VOLTAGE).alias("Voltage(V)"),
        (charge * k).alias(f"Chg. Cap.({unit}h)"),
        (discharge * k).alias(f"DChg. Cap.({unit}h)"),
        _stamp(frame).dt.strftime("%Y-%m-%d %H:%M:%S%.3f").alias("Date"),
        pl.col(bdf.SURFACE_T).alias("T1(℃)"),
    )


def neware_csv(frame: pl.DataFrame, path: Path) -> None:
    """Neware BTS 8 record table as CSV (current in mA, elapsed time as h:mm:ss.fff)."""
    _bts8(frame, milli=True).write_csv(path, float_precision=6)


def neware_bts7_csv(frame: pl.DataFrame, path: Path) -> None:
    """Neware BTS 7 CSV: test time only through ``Realtime``."""
    charge, discharge = _counters(frame)
    frame.select(
        pl.int_range(1, pl.len() + 1).alias("Record ID"),
        _stamp(frame).dt.strftime("%Y-%m-%d %H:%M:%S%.3f").alias("Realtime"),
        _duration_text(pl.col(bdf.TIME) - pl.col(bdf.TIME).first().over(bdf.STEP)).alias(
            "Time(h:min:s.ms)"
        ),
        pl.col(bdf.STEP).alias("Step ID"),
        pl.col(bdf.CYCLE).alias("Cycle ID"),
        (pl.col(bdf.CURRENT) * 1000).alias("Current(mA)"),
        pl.col(bdf.VOLTAGE).alias("Voltage(V)"),
        (charge * 1000).alias("Capacitance_Chg(mAh)"),
        (discharge * 1000).alias("Capacitance_DChg(mAh)"),
        pl.col(bdf.SURFACE_T).alias("Temperature(C)"),
    ).write_csv(path, float_precision=6)


def neware_xlsx(frame: pl.DataFrame, path: Path) -> None:
    """Neware BTS 8 workbook: a ``test`` sheet and the ``record`` sheet."""
    import xlsxwriter

    with xlsxwriter.Workbook(path) as book:
        pl.DataFrame({"Test": ["B1"], "Channel": ["1-1"]}).write_excel(book, worksheet="test")
        _bts8(frame).write_excel(book, worksheet="record")


def arbin_xlsx(frame: pl.DataFrame, path: Path) -> None:
    """Arbin workbook: ``Info`` (channel, start, schedule) and the data split over two
    ``Channel`` sheets, as long Arbin exports continue on further sheets."""
    import xlsxwriter

    data = arbin_frame(frame, START)
    half = data.height // 2
    with xlsxwriter.Workbook(path) as book:
        info = book.add_worksheet("Info")
        info.write_row(0, 3, ["TEST REPORT"])
        labels = ["Channel", "Start_DateTime", "Schedule_File_Name", "Creator"]
        info.write_row(3, 0, labels)
        info.write_row(4, 0, ["1-001", None, "capacity.sdu", ""])
        info.write_datetime(4, 1, START, book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}))
        data.head(half).write_excel(book, worksheet="Channel_1-001")
        data.tail(data.height - half).write_excel(book, worksheet="Channel_1-001_2")
        pl.DataFrame({"Cycle_Index": [1]}).write_excel(book, worksheet="Statistics_1-001")


def biologic_mpt(frame: pl.DataFrame, path: Path, *, decimal_comma: bool = False) -> None:
    """EC-Lab ``.mpt``: preamble with ``Nb header lines``, tab-separated table, I in mA."""
    table = frame.select(
        pl.lit(1).alias("mode"),
        (pl.col(bdf.CURRENT) > 0).cast(pl.Int32).alias("ox/red"),
        pl.lit(0).alias("error"),
        pl.col(bdf.TIME).alias("time/s"),
        pl.col(bdf.VOLTAGE).alias("Ewe/V"),
        (pl.col(bdf.CURRENT) * 1000).alias("I/mA"),
        pl.col(bdf.STEP).alias("Ns"),
        pl.col(bdf.CYCLE).cast(pl.Float64).alias("cycle number"),
        pl.col(bdf.SURFACE_T).alias("Temperature/°C"),
    )
    _write_mpt(table, path, "Galvanostatic Cycling with Potential Limitation", decimal_comma)


def biologic_eis_mpt(path: Path, *, spectra: int = 2) -> pl.DataFrame:
    """A PEIS ``.mpt`` with ``spectra`` sweeps 10 kHz → 10 mHz of a known circuit; returns them."""
    f = np.logspace(4, -2, 41)
    z = circuit_impedance(f, EIS_PARAMS)
    parts = []
    for k in range(spectra):
        parts.append(
            pl.DataFrame(
                {
                    "freq/Hz": f,
                    "Re(Z)/Ohm": z.real * (1 + 0.05 * k),
                    "-Im(Z)/Ohm": -z.imag * (1 + 0.05 * k),
                    "|Z|/Ohm": np.abs(z),
                    "Phase(Z)/deg": np.degrees(np.angle(z)),
                    "time/s": 100.0 * k + np.arange(f.size, dtype=float),
                    "<Ewe>/V": np.full(f.size, 3.7),
                    "<I>/mA": np.zeros(f.size),
                    "cycle number": np.full(f.size, float(k + 1)),
                }
            )
        )
    table = pl.concat(parts)
    _write_mpt(table, path, "Potentio Electrochemical Impedance Spectroscopy", False)
    return table


def _write_mpt(table: pl.DataFrame, path: Path, technique: str, decimal_comma: bool) -> None:
    preamble = [
        "EC-Lab ASCII FILE",
        "Nb header lines : {n}",
        "",
        technique,
        "",
        "Run on channel : 3 (SN 20123)",
        "Device : VMP3 s/n : 0123",
        "Acquisition started on : 11/22/2026 08:00:00.000",
        "",
    ]
    n = len(preamble) + 1
    body = table.write_csv(separator="\t", float_precision=6)
    if decimal_comma:
        body = body.replace(".", ",")
    text = "\n".join(preamble).replace("{n}", str(n)) + "\n" + body
    path.write_bytes(text.encode("cp1252"))


def bitrode_csv(frame: pl.DataFrame, path: Path, *, header: bool = True) -> None:
    """Bitrode CSV (three ``Loop`` columns, trailing empty fields); optionally header-less."""
    mode = (
        pl.when(pl.col(bdf.CURRENT) > 1e-9)
        .then(pl.lit("CHRG"))
        .when(pl.col(bdf.CURRENT) < -1e-9)
        .then(pl.lit("DCHG"))
        .otherwise(pl.lit("REST"))
    )
    table = frame.select(
        pl.lit("No").alias("Exclude"),
        pl.col(bdf.TIME).round(3).alias("Time(s)"),
        pl.col(bdf.CYCLE).alias("Cycle"),
        pl.lit(1).alias("Loop"),
        pl.lit(1).alias("Loop2"),
        pl.lit(1).alias("Loop3"),
        pl.col(bdf.STEP).alias("Step"),
        (pl.col(bdf.TIME) - pl.col(bdf.TIME).first().over(bdf.STEP)).round(3).alias("StepTime(s)"),
        pl.col(bdf.CURRENT).round(4).alias("Current(A)"),
        pl.col(bdf.VOLTAGE).round(4).alias("Voltage(V)"),
        (pl.col(bdf.CURRENT) * pl.col(bdf.VOLTAGE)).round(3).alias("Power(W)"),
        pl.lit(0.0).alias("Capacity(Ah)"),
        pl.lit(0.0).alias("Energy(Wh)"),
        mode.alias("Mode"),
        pl.lit(" ").alias("Data"),
        pl.lit("").alias("end"),
    )
    lines = table.write_csv(include_header=False).splitlines()
    head = "Exclude,Time(s),Cycle,Loop,Loop,Loop,Step,StepTime(s),Current(A),Voltage(V),"
    head += "Power(W),Capacity(Ah),Energy(Wh),Mode,Data,\n"
    path.write_text((head if header else "") + "\n".join(lines) + "\n")


def nasa_csv(frame: pl.DataFrame, path: Path) -> None:
    """A NASA PCoE per-discharge CSV (time from 0, load set-points and the extra ``ic``)."""
    frame.select(
        pl.col(bdf.VOLTAGE).alias("voltage"),
        pl.col(bdf.CURRENT).alias("current"),
        pl.col(bdf.SURFACE_T).alias("temperature"),
        (-pl.col(bdf.CURRENT)).alias("current_load"),
        pl.col(bdf.VOLTAGE).alias("voltage_load"),
        (pl.col(bdf.TIME) - pl.col(bdf.TIME).first()).alias("discharge_time"),
        pl.lit(1.0).alias("ic"),
    ).write_csv(path, float_precision=7)


def nebula_steps_xlsx(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """A NEBULA step-layer workbook (one row per step, Chinese headers); returns the steps."""
    import xlsxwriter

    charge, discharge = _counters(frame)
    stamped = frame.with_columns(
        _stamp(frame).alias("_ts"), charge.alias("_qc"), discharge.alias("_qd")
    )
    steps = (
        stamped.group_by(bdf.STEP, maintain_order=True)
        .agg(
            pl.col(bdf.CYCLE).first(),
            pl.col("_ts").first().alias("start"),
            pl.col("_ts").last().alias("end"),
            pl.col(bdf.VOLTAGE).first().alias("起始电压(V)"),
            pl.col(bdf.VOLTAGE).max().alias("最大电压(V)"),
            pl.col(bdf.VOLTAGE).last().alias("结束电压(V)"),
            pl.col(bdf.CURRENT).first().alias("起始电流(A)"),
            pl.col(bdf.CURRENT).last().alias("结束电流(A)"),
            (pl.col("_qc").last() - pl.col("_qc").first()).alias("充电容量(Ah)"),
            (pl.col("_qd").first() - pl.col("_qd").last()).alias("放电容量(Ah)"),
            pl.col(bdf.SURFACE_T).first().alias("开始温度1(℃)"),
            pl.col(bdf.SURFACE_T).last().alias("结束温度1(℃)"),
        )
        .select(
            pl.col(bdf.STEP).cast(pl.Float64).alias("工步序号"),
            pl.col(bdf.CYCLE).cast(pl.Float64).alias("循环"),
            pl.lit(7.0).alias("通道"),
            pl.lit("静置").alias("状态"),
            pl.col("start").dt.strftime("%Y-%m-%d %H:%M:%S%.3f").alias("绝对时间"),
            "起始电压(V)",
            "最大电压(V)",
            "结束电压(V)",
            "起始电流(A)",
            "结束电流(A)",
            "充电容量(Ah)",
            "放电容量(Ah)",
            pl.col("end").dt.strftime("%Y-%m-%d %H:%M:%S%.3f").alias("结束时间"),
            "开始温度1(℃)",
            "结束温度1(℃)",
        )
    )
    with xlsxwriter.Workbook(path) as book:
        steps.write_excel(book, worksheet="Sheet1")
    return steps


GENERIC_MAP_YAML = """\
name: acme_9000
instrument: Acme 9000
separator: ";"
columns:
  "Elapsed [min]": {bdf: test_time_second, unit: min}
  "U [mV]": {bdf: voltage_volt, unit: mV}
  "I [mA]": {bdf: current_ampere, unit: mA, invert: true}
  "T [°F]": {bdf: surface_temperature_celsius, unit: °F, optional: true}
ignore: [Index]
"""

GENERIC_MAP_TOML = """\
name = "acme_9000"
instrument = "Acme 9000"
separator = ";"
ignore = ["Index"]

[columns."Elapsed [min]"]
bdf = "test_time_second"
unit = "min"

[columns."U [mV]"]
bdf = "voltage_volt"
unit = "mV"

[columns."I [mA]"]
bdf = "current_ampere"
unit = "mA"
invert = true

[columns."T [°F]"]
bdf = "surface_temperature_celsius"
unit = "°F"
optional = true
"""


def generic_csv(frame: pl.DataFrame, path: Path) -> None:
    """A ``;``-separated export with decimal commas, minutes, mV, discharge-positive mA and °F,
    plus an unmapped ``Comment`` column."""
    text = frame.select(
        pl.int_range(1, pl.len() + 1).alias("Index"),
        (pl.col(bdf.TIME) / 60.0).alias("Elapsed [min]"),
        (pl.col(bdf.VOLTAGE) * 1000.0).alias("U [mV]"),
        (-pl.col(bdf.CURRENT) * 1000.0).alias("I [mA]"),
        (pl.col(bdf.SURFACE_T) * 9.0 / 5.0 + 32.0).alias("T [°F]"),
        pl.lit("ok").alias("Comment"),
    ).write_csv(separator=";", float_precision=8)
    path.write_text(text.replace(".", ","))


def battery_archive_csv(frame: pl.DataFrame, path: Path) -> None:
    """Battery Archive time series: Arbin-like spaced names, no step index, two temperatures."""
    charge, discharge = _counters(frame)
    frame.select(
        _stamp(frame).dt.strftime("%Y-%m-%d %H:%M:%S%.3f").alias("Date_Time"),
        pl.col(bdf.TIME).alias("Test_Time (s)"),
        pl.col(bdf.CYCLE).alias("Cycle_Index"),
        pl.col(bdf.CURRENT).alias("Current (A)"),
        pl.col(bdf.VOLTAGE).alias("Voltage (V)"),
        charge.alias("Charge_Capacity (Ah)"),
        discharge.alias("Discharge_Capacity (Ah)"),
        pl.lit(0.0).alias("Charge_Energy (Wh)"),
        pl.lit(0.0).alias("Discharge_Energy (Wh)"),
        pl.lit(25.0).alias("Environment_Temperature (C)"),
        pl.col(bdf.SURFACE_T).alias("Cell_Temperature (C)"),
    ).write_csv(path, float_precision=6)


def novonix_csv(frame: pl.DataFrame, path: Path) -> None:
    """Novonix data file: [Summary] and [Protocol] blocks, then each table line in quotes."""
    table = frame.select(
        _stamp(frame).dt.strftime("%Y-%m-%d %I:%M:%S %p").alias("Date and Time"),
        pl.col(bdf.CYCLE).alias("Cycle Number"),
        pl.lit(0).alias("Step Type"),
        (pl.col(bdf.TIME) / 3600.0).alias("Run Time (h)"),
        pl.lit(0.0).alias("Step Time (h)"),
        pl.col(bdf.CURRENT).alias("Current (A)"),
        pl.col(bdf.VOLTAGE).alias("Potential (V)"),
        pl.lit(0.0).alias("Capacity (Ah)"),
        pl.col(bdf.SURFACE_T).alias("Temperature (°C)"),
        pl.lit(23.4).alias("Circuit Temperature (°C)"),
        pl.col(bdf.STEP).alias("Step Number"),
    ).write_csv(float_precision=9)
    preamble = (
        "[Summary]\nNovonix HPC data file\nNovonix\nChannel: 03\nCell: a.csv\n"
        f"Started: {START:%Y-%m-%d %I:%M:%S %p}\nVersion: 2.2.1.6\n[End Summary]\n"
        "[Protocol]\n[0: Open_circuit_storage:]\n   [End step when step time > 2 minutes]\n"
        "[End Protocol]\n[Data]\n"
    )
    path.write_text(preamble + "".join(f'"{line}"\n' for line in table.splitlines()))


Writer = Callable[[pl.DataFrame, Path], object]
WRITERS: dict[str, tuple[str, Writer]] = {
    "arbin_xlsx": ("a.xlsx", arbin_xlsx),
    "battery_archive_csv": ("a_timeseries.csv", battery_archive_csv),
    "maccor_txt": ("a.txt", maccor_txt),
    "neware_csv": ("a.csv", neware_csv),
    "neware_bts7_csv": ("a.csv", neware_bts7_csv),
    "neware_xlsx": ("a.xlsx", neware_xlsx),
    "biologic_mpt": ("a.mpt", biologic_mpt),
    "bitrode_csv": ("a.csv", bitrode_csv),
    "nasa_pcoe_csv": ("a.csv", nasa_csv),
    "nebula_steps_xlsx": ("a.xlsx", nebula_steps_xlsx),
    "novonix_csv": ("a.csv", novonix_csv),
}
"""Reader name → (file name, writer) for every vendor layout written from a BDF frame."""
