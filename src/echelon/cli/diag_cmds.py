"""``echelon summarize`` and ``echelon plot``: diagnostics of one tester file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
import typer
from rich.table import Table

from echelon.cli._common import check_output, check_table_output, console, write_table
from echelon.cli._errors import guarded
from echelon.diagnostics import cycle_summary, hppc_table, incremental_capacity
from echelon.diagnostics.cycles import CycleSource
from echelon.diagnostics.eis import nyquist_features, spectra
from echelon.errors import DiagnosticsError
from echelon.io import read
from echelon.io.atomic import write_atomic
from echelon.io.bdf import FREQUENCY, TIME
from echelon.reports.charts import CHART_SUFFIXES, save_chart
from echelon.reports.diagnostic_charts import (
    capacity_chart,
    dqdv_chart,
    hppc_chart,
    nyquist_chart,
)

ReaderOption = Annotated[
    str | None, typer.Option(help="Force a reader by name (see `echelon readers`).")
]
MapOption = Annotated[
    Path | None,
    typer.Option("--map", help="YAML/TOML column map describing the file (docs/readers.md)."),
]
SHOWN_ROWS = 8
PlotKind = Literal["capacity", "dqdv", "hppc", "nyquist"]


def _load(file: Path, reader: str | None, column_map: Path | None) -> pl.DataFrame:
    frame, _ = read(file, reader=reader, column_map=column_map)
    return frame


def _print_summary(summary: pl.DataFrame) -> None:
    table = Table("cycle", "discharge [Ah]", "charge [Ah]", "CE", "EE", "V̄ dis [V]", "duration [h]")
    rows = (
        summary
        if summary.height <= 2 * SHOWN_ROWS
        else pl.concat([summary.head(SHOWN_ROWS), summary.tail(SHOWN_ROWS)])
    )
    for i, row in enumerate(rows.iter_rows(named=True)):
        if summary.height > 2 * SHOWN_ROWS and i == SHOWN_ROWS:
            table.add_row("…", "", "", "", "", "", "")

        def fmt(value: float | None, spec: str) -> str:
            return "" if value is None else format(value, spec)

        table.add_row(
            str(row["cycle_count"]),
            fmt(row["discharge_ah"], ".4f"),
            fmt(row["charge_ah"], ".4f"),
            fmt(row["coulombic_efficiency"], ".4f"),
            fmt(row["energy_efficiency"], ".4f"),
            fmt(row["mean_discharge_voltage_v"], ".3f"),
            fmt(row["duration_s"] / 3600.0, ".2f"),
        )
    console.print(table)


def _print_spectra(features: pl.DataFrame) -> None:
    table = Table("spectrum", "points", "R ohmic [mΩ]", "R arc [mΩ]", "apex [Hz]", "tail [°]")

    def fmt(value: float | None, spec: str, scale: float = 1.0) -> str:
        return "" if value is None else format(value * scale, spec)

    for row in features.iter_rows(named=True):
        table.add_row(
            str(row["spectrum"]),
            str(row["n_points"]),
            fmt(row["r_ohmic_ohm"], ".3f", 1e3),
            fmt(row["r_arc_ohm"], ".3f", 1e3),
            fmt(row["apex_frequency_hz"], ".4g"),
            fmt(row["tail_angle_deg"], ".1f"),
        )
    console.print(table)


def is_impedance_only(frame: pl.DataFrame) -> bool:
    """Whether ``frame`` holds impedance spectra and no time series (an EIS text file)."""
    return FREQUENCY in frame.columns and TIME not in frame.columns


@guarded
def summarize_cmd(
    file: Annotated[
        Path, typer.Argument(help="Tester file (any supported format) or .bdf.parquet.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the per-cycle table (.csv or .parquet)."),
    ] = None,
    cycles: Annotated[
        CycleSource, typer.Option(help="Cycle numbers: the file's if any (auto), file or detect.")
    ] = "auto",
    reader: ReaderOption = None,
    column_map: MapOption = None,
) -> None:
    """Per-cycle summary: capacity, energy, efficiencies, voltages, durations, temperatures
    (an impedance-only file: each spectrum's Nyquist features)."""
    check_table_output(output)
    frame = _load(file, reader, column_map)
    if is_impedance_only(frame):
        with _about(file):
            features = nyquist_features(frame)
        _print_spectra(features)
        console.print(f"{features.height} impedance spectra, {frame.height:,} rows")
        if output is not None:
            write_table(features, output)
            console.print(f"[green]✓[/] {output}")
        return
    with _about(file):
        summary = cycle_summary(frame, cycles=cycles)
    _print_summary(summary)
    console.print(f"{summary.height} cycles, {frame.height:,} rows")
    if output is not None:
        write_table(summary, output)
        console.print(f"[green]✓[/] {output}")


@guarded
def plot_cmd(
    file: Annotated[
        Path, typer.Argument(help="Tester file (any supported format) or .bdf.parquet.")
    ],
    kind: Annotated[PlotKind, typer.Option("--kind", help="What to plot.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Chart file: .png, .svg or .html.")
    ],
    temperature_c: Annotated[
        float | None, typer.Option("--temperature-c", help="HPPC test temperature [°C].")
    ] = None,
    capacity_ah: Annotated[
        float | None,
        typer.Option("--capacity-ah", help="HPPC SOC scale [A·h] (default: measured)."),
    ] = None,
    reader: ReaderOption = None,
    column_map: MapOption = None,
) -> None:
    """Plot a diagnostic of one file: capacity fade, dQ/dV, HPPC resistance or Nyquist."""
    check_output(output, CHART_SUFFIXES)  # before reading the file
    frame = _load(file, reader, column_map)
    with _about(file):
        spec = _chart(frame, kind, file.name, temperature_c, capacity_ah)
    write_atomic(output, lambda tmp: save_chart(spec, tmp))
    console.print(f"[green]✓[/] {output}")


@contextmanager
def _about(file: Path) -> Iterator[None]:
    """A diagnostic's refusal names the file it is about."""
    try:
        yield
    except DiagnosticsError as exc:
        raise DiagnosticsError(f"{file}: {exc}") from exc


def _chart(
    frame: pl.DataFrame,
    kind: PlotKind,
    title: str,
    temperature_c: float | None,
    capacity_ah: float | None,
) -> dict[str, Any]:
    """The Vega-Lite spec of one diagnostic chart of ``frame``."""
    if kind == "capacity":
        spec = capacity_chart(cycle_summary(frame), title=f"Discharge capacity — {title}")
    elif kind == "dqdv":
        curves = incremental_capacity(frame)
        if curves.height == 0:
            raise DiagnosticsError("no constant-current discharge to compute dQ/dV from")
        spec = dqdv_chart(curves, title=f"dQ/dV (discharge) — {title}")
    elif kind == "hppc":
        table = hppc_table(frame, temperature_c=temperature_c, capacity_ah=capacity_ah)
        spec = hppc_chart(table, title=f"HPPC 10 s resistance — {title}")
    else:
        spec = nyquist_chart(spectra(frame), title=f"Nyquist — {title}")
    return spec
