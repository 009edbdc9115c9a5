"""``echelon flows``: retired-battery flows from a table of batteries put on the market."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import polars as pl
import typer
from rich.table import Table

from echelon.cli._common import (
    check_output,
    check_table_output,
    check_year,
    console,
    write_table,
)
from echelon.cli._errors import guarded
from echelon.cli.recycle_cmds import LocationOption, PricesOption
from echelon.flows import forecast_flows
from echelon.io.atomic import write_atomic
from echelon.reports.charts import CHART_SUFFIXES, save_chart
from echelon.reports.flows import flows_chart


def _summary(totals: pl.DataFrame, step: int) -> Table:
    table = Table(title="retired-battery flows (all regions, segments and chemistries)")
    headers = {
        "year": "year",
        "retired_kwh": "retired GWh",
        "to_second_life_kwh": "→ 2nd life GWh",
        "to_recycling_kwh": "→ recycling GWh",
        "stock_second_life_kwh": "2nd-life stock GWh",
        "to_recycling_t": "feed kt",
        "Li_t": "Li t",
        "Co_t": "Co t",
        "Ni_t": "Ni t",
        "feed_value_usd": "feed M USD",
    }
    for header in headers.values():
        table.add_column(header, justify="right")
    first = int(totals["year"].min())  # type: ignore[arg-type]
    shown = totals.filter((pl.col("year") - first) % step == 0)
    for row in shown.iter_rows(named=True):
        cells = []
        for column in headers:
            value = row[column]
            if value is None:
                cells.append("–")
            elif column == "year":
                cells.append(str(value))
            elif column.endswith("_kwh"):
                cells.append(f"{value / 1e6:,.2f}")
            elif column == "to_recycling_t":
                cells.append(f"{value / 1e3:,.1f}")
            elif column.endswith("_usd"):
                cells.append(f"{value / 1e6:,.1f}")
            else:
                cells.append(f"{value:,.0f}")
        table.add_row(*cells)
    return table


@guarded
def flows_cmd(
    sales: Annotated[
        Path,
        typer.Argument(
            help="Sales table (CSV/Parquet): year, chemistry, gwh|kwh|units(+pack_kwh), "
            "optional segment, region, lifetime_mean_years/lifetime_sd_years."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Flows per year as .csv or .parquet.")
    ] = None,
    until: Annotated[
        int | None, typer.Option(help="Last year (default: last sales year + 30).")
    ] = None,
    process: Annotated[
        Literal["hydro", "pyro", "direct", "mechanical"],
        typer.Option(help="Recycling process that values the feed."),
    ] = "hydro",
    price_year: Annotated[
        int | None,
        typer.Option(
            callback=check_year,
            help="Prices dated on or before this year, where dated; 2000–2100 (default: this "
            "year).",
        ),
    ] = None,
    second_life_share: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of the healthy batteries leaving first use young enough that are "
            "repurposed (default 0.5).",
        ),
    ] = None,
    prices: PricesOption = None,
    location: LocationOption = None,
    plot: Annotated[
        Path | None, typer.Option(help="Chart of the flows (.png, .svg or .html).")
    ] = None,
    every: Annotated[int, typer.Option(min=1, help="Years between rows shown.")] = 5,
) -> None:
    """Forecast the batteries leaving use, going to a second life and to recycling: GWh, tonnes,
    contained metals and value per year."""
    check_table_output(output)
    check_output(plot, CHART_SUFFIXES, option="--plot")
    forecast = forecast_flows(
        sales,
        until=until,
        process=process,
        price_year=price_year,
        second_life_share=second_life_share,
        prices=prices,
        location=location or "US",
    )
    console.print(_summary(forecast.totals(), every))
    meta = forecast.meta
    second = meta["second_life"]
    console.print(
        f"lifetimes: {'; '.join(meta['lifetimes'])}\nsecond life: {second['share']:.0%} of the "
        f"healthy batteries leaving first use at ≤ {second['max_age_years']} years, "
        f"{second['lifetime']}\nvalue: {', '.join(meta['prices'])} for {meta['price_year']}, "
        f"process {meta['process']}, location {meta['location']}",
        soft_wrap=True,
    )
    frame = forecast.frame
    counted = (
        frame.group_by("region", "segment", "chemistry")
        .agg(pl.col("put_on_market_kwh").is_null().all().alias("no_energy"))
        .filter("no_energy")
    )
    if counted.height:
        series = ", ".join(f"{r}/{s}/{c}" for r, s, c, _ in counted.iter_rows())
        console.print(
            f"[yellow]note:[/] given as unit counts only, so not in the GWh, tonnes and value "
            f"columns: {series} (give pack_kwh to include them; their counts are in the file)",
            soft_wrap=True,
        )
    for note in meta["notes"]:
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True)
    if output is not None:
        write_table(forecast.frame, output)
        console.print(f"[green]✓[/] {forecast.frame.height} rows → {output}")
    if plot is not None:
        chart = flows_chart(forecast.frame, title=f"Retired batteries from {sales.name}")
        write_atomic(plot, lambda tmp: save_chart(chart, tmp))
        console.print(f"[green]✓[/] chart → {plot}")
