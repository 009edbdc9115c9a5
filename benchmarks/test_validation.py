"""Full validations of the readers and diagnostics on the real datasets (``make bench``).

Each test reads every file of a dataset, compares with the reference values, appends the numbers
to ``benchmarks/results.jsonl`` and draws the figures in ``docs/img/`` that docs/validation.md
shows. The quick versions of the same checks run in ``make test`` (tests/test_real_data.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.conftest import REAL_DATA

from echelon.diagnostics import (
    cycle_summary,
    discharge_capacity,
    fit_spectra,
    hppc_table,
    ica_peaks,
    incremental_capacity,
    pulse_ecm,
    pulse_table,
    track_peaks,
)
from echelon.errors import DiagnosticsError
from echelon.io import read
from echelon.io.bdf import CYCLE, frame_sha256
from echelon.reports.charts import save_chart
from echelon.reports.diagnostic_charts import hppc_chart

pytestmark = pytest.mark.bench
IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
NASA_CELLS = ("B0005", "B0006", "B0007", "B0018")
NASA_CUTOFF_V = {"B0005": 2.7, "B0006": 2.5, "B0007": 2.2, "B0018": 2.5}


@pytest.fixture(autouse=True)
def _quiet() -> None:
    logging.getLogger("echelon.io.base").setLevel(logging.ERROR)


def dataset(name: str) -> Path:
    path = (REAL_DATA / name).resolve()
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path}")
    return path


def workbook_date(path: Path) -> dt.date:
    month, day, year = (int(x) for x in re.findall(r"_(\d+)_(\d+)_(\d+)\.xlsx$", path.name)[0])
    return dt.date(2000 + year, month, day)


def line_chart(data: pl.DataFrame, x: str, y: str, color: str, title: str, ylabel: str) -> Any:
    import altair as alt

    return (
        alt.Chart(data, title=title)
        .mark_line(point=alt.OverlayMarkDef(size=8), strokeWidth=1)
        .encode(
            x=alt.X(f"{x}:Q", title=x.replace("_", " ")),
            y=alt.Y(f"{y}:Q", title=ylabel, scale=alt.Scale(zero=False)),
            color=alt.Color(f"{color}:N", title=None),
        )
        .properties(width=480, height=260)
    )


def test_calce_capacity_per_cycle(record: Any) -> None:
    root = dataset("calce")
    reference = pl.read_csv(root / "CS2_35-38_cycle_summary.csv").filter(pl.col("cell") == "CS2_35")
    rows, seen = [], {}
    for path in sorted((root / "CS2_35").glob("*.xlsx"), key=workbook_date):
        frame, _ = read(path)
        digest = frame_sha256(frame)
        duplicate_of = seen.setdefault(digest, path.name)
        summary = cycle_summary(frame).select("cycle_count", "discharge_ah")
        rows.append(
            summary.with_columns(
                pl.lit(path.name).alias("source_file"),
                pl.lit(duplicate_of != path.name).alias("duplicate"),
            )
        )
    ours = pl.concat(rows)
    joined = reference.join(
        ours.rename({"cycle_count": "cycle_in_file"}),
        on=["source_file", "cycle_in_file"],
        how="left",
    ).with_columns(
        (pl.col("discharge_ah") / pl.col("discharge_capacity_Ah") - 1).abs().alias("err")
    )
    full = (pl.col("discharge_capacity_Ah") > 0.05) & (
        (pl.col("median_discharge_current_A") + 1.1).abs() < 0.05
    )
    unique = joined.filter(~pl.col("duplicate"))
    stats = {}
    for label, subset in (
        ("all_rows", joined),
        ("full_cycles", joined.filter(full)),
        ("full_cycles_unique", unique.filter(full)),
    ):
        err = subset["err"].fill_null(1.0)
        stats[label] = {
            "cycles": subset.height,
            "within_1pct": round(float((err < 0.01).mean()), 4),  # type: ignore[arg-type]
            "max_err_pct": round(float(err.max()) * 100, 3),  # type: ignore[arg-type]
            "median_err_pct": round(float(err.median()) * 100, 4),  # type: ignore[arg-type]
        }
    record("validation_calce_cs2_35", **stats)
    assert stats["full_cycles"]["within_1pct"] >= 0.99
    plot = (
        unique.filter(full)
        .sort("cycle_global")
        .with_columns(pl.int_range(1, pl.len() + 1).alias("cycle"))
    )
    long = pl.concat(
        [
            plot.select(
                "cycle",
                pl.col("discharge_ah").alias("capacity_ah"),
                pl.lit("Echelon (raw Arbin workbooks)").alias("source"),
            ),
            plot.select(
                "cycle",
                pl.col("discharge_capacity_Ah").alias("capacity_ah"),
                pl.lit("reference summary (Arbin counters)").alias("source"),
            ),
        ]
    )
    import altair as alt

    capacity = line_chart(
        long,
        "cycle",
        "capacity_ah",
        "source",
        "CALCE CS2_35: discharge capacity per cycle",
        "capacity [A·h]",
    )
    error = (
        alt.Chart(plot.select("cycle", (pl.col("err") * 100).alias("error_pct")))
        .mark_point(size=6, filled=True)
        .encode(x=alt.X("cycle:Q"), y=alt.Y("error_pct:Q", title="|Echelon − reference| [%]"))
        .properties(width=480, height=120, title="relative difference per cycle (target < 1 %)")
    )
    save_chart(
        alt.vconcat(capacity, error).to_dict(), IMG / "validation_calce_capacity.png", scale=1.0
    )


def nasa_files(root: Path, cell: str) -> list[Path]:
    return sorted(
        (root / "discharge" / cell).glob("dis_*.csv"), key=lambda p: int(p.name.split("_")[1])
    )


def test_nasa_capacity_from_discharge_curves(record: Any) -> None:
    root = dataset("nasa")
    meta = pl.read_csv(root / "metadata_all_cells.csv", infer_schema=False).filter(
        pl.col("type") == "discharge"
    )
    stats, points = {}, []
    for cell in NASA_CELLS:
        stated = (
            meta.filter(pl.col("battery_id") == cell)
            .with_columns(pl.col("test_id").cast(pl.Int64), pl.col("Capacity").cast(pl.Float64))
            .sort("test_id")
            .get_column("Capacity")
            .to_numpy()
        )
        errors, own_cutoff = [], []
        for k, path in enumerate(nasa_files(root, cell)):
            frame, _ = read(path)
            to_27 = discharge_capacity(frame, to_voltage_v=2.7, transitions="trapezoid").capacity_ah
            full = discharge_capacity(frame).capacity_ah  # to the cell's own cut-off, default rule
            errors.append(abs(to_27 / stated[k] - 1))
            own_cutoff.append(full / stated[k] - 1)
            points.append({"cell": cell, "discharge": k + 1, "ours": to_27, "nasa": stated[k]})
        err = np.array(errors)
        stats[cell] = {
            "discharges": len(errors),
            "within_1pct": float((err < 0.01).mean()),
            "max_err_pct": round(float(err.max()) * 100, 5),
            "own_cutoff_vs_metadata_pct": round(float(np.median(own_cutoff)) * 100, 3),
        }
    record("validation_nasa_capacity", **stats)
    assert all(s["within_1pct"] == 1.0 for s in stats.values())
    long = pl.DataFrame(points)
    save_chart(
        line_chart(
            long.select("discharge", "ours", "cell").rename({"ours": "capacity_ah"}),
            "discharge",
            "capacity_ah",
            "cell",
            "NASA PCoE: capacity to 2.7 V from the discharge curves",
            "capacity [A·h]",
        ).to_dict(),
        IMG / "validation_nasa_capacity.png",
        scale=1.0,
    )


def test_nissan_leaf_hppc_tables(record: Any) -> None:
    root = dataset("nissan_leaf")
    files = {
        10: "NissanLeaf-cell-Low-Current-HPPC-10C.csv",
        25: "NissanLeaf-cell-Low-Current-HPPC-25C-2.csv",
        40: "NissanLeaf-cell-Low-Current-HPPC-40C-1.csv",
    }
    tables, fits = [], []
    for temperature, name in files.items():
        frame, _ = read(root / name)
        table = hppc_table(frame, temperature_c=temperature)
        tables.append(table)
        n_pulses = pulse_table(frame).height
        for k in range(1, n_pulses + 1):
            for order in (1, 2):
                try:
                    fit = pulse_ecm(frame, pulse=k, order=order)  # type: ignore[arg-type]
                except DiagnosticsError:
                    continue
                kind = "discharge" if fit.current_a < 0 else "charge"
                fits.append(
                    {
                        "T": temperature,
                        "kind": kind,
                        "order": order,
                        "rmse_mv": fit.rmse_v * 1000,
                        "r2": fit.r_squared,
                    }
                )
    table = pl.concat(tables)
    grid = np.linspace(0.1, 0.9, 9)
    curves = {}
    for temperature in files:
        part = table.filter(
            (pl.col("temperature_c") == temperature) & (pl.col("kind") == "discharge")
        ).sort("soc")
        curves[temperature] = {  # no 0.1 s value: the discharge pulses are logged every 0.5 s
            c: np.interp(grid, part["soc"].to_numpy(), part[c].to_numpy())
            for c in ("dcir_1s_ohm", "dcir_10s_ohm", "dcir_end_ohm")
        }
    ordering = {
        c: float(np.mean((curves[10][c] > curves[25][c]) & (curves[25][c] > curves[40][c])))
        for c in curves[10]
    }
    fit_table = (
        pl.DataFrame(fits)
        .group_by("kind", "order")
        .agg(
            pl.len().alias("pulses"),
            pl.col("rmse_mv").median().round(3).alias("median_rmse_mv"),
            pl.col("r2").median().round(4).alias("median_r2"),
            pl.col("r2").min().round(4).alias("min_r2"),
        )
        .sort("kind", "order")
    )
    record(
        "validation_nissan_hppc",
        ecm_fits=fit_table.to_dicts(),
        soc_grid=[round(float(s), 2) for s in grid],
        r10s_mohm={
            t: [round(float(v) * 1000, 3) for v in curves[t]["dcir_10s_ohm"]] for t in files
        },
        ordering_fraction=ordering,
    )
    assert ordering["dcir_10s_ohm"] >= 0.85
    save_chart(
        hppc_chart(table, title="Nissan Leaf cell: 10 s DCIR vs SOC at 10/25/40 °C"),
        IMG / "validation_hppc.png",
        scale=1.0,
    )


def peak_track(frames: list[tuple[int, pl.DataFrame]]) -> pl.DataFrame:
    curves = []
    for index, frame in frames:
        curve = incremental_capacity(frame)
        curves.append(curve.with_columns((pl.col(CYCLE) + index * 10_000).alias(CYCLE)))
    all_curves = pl.concat(curves)
    tracks = track_peaks(ica_peaks(all_curves, min_height_fraction=0.6), max_shift_v=0.06)
    main = tracks.group_by("track").len().sort("len", descending=True).get_column("track")[0]
    return (
        tracks.filter(pl.col("track") == main)
        .sort(CYCLE)
        .with_columns(pl.int_range(1, pl.len() + 1).alias("cycle"))
    )


def test_dqdv_peaks_move_with_ageing(record: Any) -> None:
    calce = dataset("calce")
    seen, frames = set(), []
    for index, path in enumerate(sorted((calce / "CS2_35").glob("*.xlsx"), key=workbook_date)):
        frame, _ = read(path)
        digest = frame_sha256(frame)
        if digest not in seen:
            seen.add(digest)
            frames.append((index, frame))
    calce_peak = peak_track(frames).with_columns(pl.lit("CALCE CS2_35 (1 C)").alias("cell"))
    nasa = dataset("nasa")
    nasa_peaks = []
    for cell in NASA_CELLS:
        frames = [(k, read(p)[0]) for k, p in enumerate(nasa_files(nasa, cell))]
        nasa_peaks.append(
            peak_track(frames).with_columns(pl.lit(f"NASA {cell} (2 A)").alias("cell"))
        )
    peaks = pl.concat([calce_peak, *nasa_peaks])
    stats = {}
    for (cell,), part in peaks.group_by("cell", maintain_order=True):
        n = part.height
        head, tail = part.head(max(1, n // 10)), part.tail(max(1, n // 10))
        stats[str(cell)] = {
            "cycles_tracked": n,
            "peak_v_first_decile": round(float(head["voltage_v"].mean()), 3),  # type: ignore[arg-type]
            "peak_v_last_decile": round(float(tail["voltage_v"].mean()), 3),  # type: ignore[arg-type]
            "height_ratio_last_to_first": round(
                float(tail["height"].mean() / head["height"].mean()), 3
            ),  # type: ignore[operator]
            "spearman_cycle_height": round(
                float(part.select(pl.corr("cycle", "height", method="spearman")).item()), 3
            ),
        }
    record("validation_dqdv_ageing", **stats)
    assert all(s["height_ratio_last_to_first"] < 0.9 for s in stats.values())
    save_chart(
        line_chart(
            peaks.select("cycle", "voltage_v", "cell"),
            "cycle",
            "voltage_v",
            "cell",
            "Main dQ/dV discharge peak position vs cycle",
            "peak voltage [V]",
        ).to_dict(),
        IMG / "validation_dqdv_peak_voltage.png",
        scale=1.0,
    )
    save_chart(
        line_chart(
            peaks.select("cycle", "height", "cell"),
            "cycle",
            "height",
            "cell",
            "Main dQ/dV discharge peak height vs cycle",
            "dQ/dV [A·h/V]",
        ).to_dict(),
        IMG / "validation_dqdv_peak_height.png",
        scale=1.0,
    )


def test_zhang_eis_circuit_fits(record: Any) -> None:
    root = dataset("eis_zhang2020")
    stats = {}
    for path in sorted((root / "raw_EIS").glob("EIS_state_V_25C0*.txt"))[:4]:
        frame, _ = read(path)
        fits = fit_spectra(frame)
        stats[path.stem] = {
            "spectra": fits.height,
            "median_rms_relative_pct": round(float(fits["rms_relative"].median()) * 100, 2),  # type: ignore[arg-type]
            "p95_rms_relative_pct": round(float(fits["rms_relative"].quantile(0.95)) * 100, 2),  # type: ignore[arg-type]
            "median_r_squared": round(float(fits["r_squared"].median()), 4),  # type: ignore[arg-type]
            "r1_first_to_last": [
                round(float(fits["r1_ohm"][0]), 3),
                round(float(fits["r1_ohm"][-1]), 3),
            ],
        }
    record("validation_eis_zhang2020", **stats)
    assert all(s["median_rms_relative_pct"] < 5 for s in stats.values())
