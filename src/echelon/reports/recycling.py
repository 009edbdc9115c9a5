"""Outputs of a recycling lot: CSV tables, a mass-flow SVG and a self-contained HTML report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import vl_convert as vlc

from echelon._version import __version__
from echelon.io.atomic import staged_files, utf8_writer
from echelon.recycling.catalog import process_catalog
from echelon.recycling.compliance import margin_text, result_text
from echelon.recycling.lot import LotResult
from echelon.reports.batch import _environment, _script_json, _vega_bundle
from echelon.reports.sankey import sankey_spec

UNITS_IN_REPORT = 1000
"""Units listed in report.html (all of them are in units.csv)."""


def product_names() -> dict[str, str]:
    """Product key → label of its mass in the flows (``Li in Li2CO3 (crude)``: the chart shows
    the recovered element, as the mass balance; :meth:`ProcessCatalog.flow_label`)."""
    catalog = process_catalog()
    return {k: catalog.flow_label(k) for k in catalog.products} | {"": ""}


def _label(product: str) -> str:
    base, _, chem = product.partition(":")
    name = product_names().get(base, base)
    return f"{name} ({chem})" if chem else name


def lot_sankey(result: LotResult) -> dict[str, Any]:
    """Vega spec of the lot's mass flow."""
    labels = {p: _label(p) for p in result.flows.get_column("product").unique().to_list()}
    title = f"Mass flow of lot {result.meta['lot_id']} ({result.meta['process']}), kg"
    return sankey_spec(result.flows, product_names=labels, title=title)


def _efficiency(result: LotResult) -> dict[str, str]:
    row = result.compliance.filter(pl.col("metric") == "recycling_efficiency").row(0, named=True)
    value = row["value_percent"]
    verdict = row["verdict"]
    if verdict in ("pass", "fail"):
        text = (
            f"{verdict} vs {row['target_percent']:g} % in {row['reporting_year']}: "
            f"{margin_text(row['margin_points'])}"
        )
    elif verdict == "not_yet_binding":
        text = f"{row['next_target_percent']:g} % binds after {row['next_deadline']}"
    else:
        text = verdict.replace("_", " ")
    return {
        "value": "n/a" if value is None else f"{result_text(row)} %",
        "verdict": verdict,
        "verdict_text": text,
    }


def recycling_report_html(result: LotResult, *, title: str | None = None) -> str:
    """Render the lot report (charts and their JavaScript inline; no network needed to view it)."""
    net = result.summary("net_value")
    summary = result.value.filter(
        (pl.col("category") == "summary") & (pl.col("item") == "net_value")
    ).row(0, named=True)
    ghg = result.inputs.filter((pl.col("category") == "ghg") & (pl.col("item") == "total"))
    verdict = (
        "recycling this lot earns more than it costs"
        if net >= 0
        else "recycling this lot costs more than its recovered materials earn (negative value)"
    )
    template = _environment().get_template("recycling_report.html.j2")
    return template.render(
        title=title or f"Echelon recycling report — {result.meta['lot_id']}",
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        meta=result.meta,
        net=net,
        net_per_tonne=summary["usd_per_tonne"],
        net_per_kwh=summary["usd_per_kwh"],
        value_verdict=verdict,
        efficiency=_efficiency(result),
        ghg_per_kg=float(ghg.get_column("per_kg_feed")[0] or 0.0),
        compliance=[r | {"value_text": result_text(r)} for r in result.compliance.to_dicts()],
        warnings=result.warnings,
        value=result.value.to_dicts(),
        price_overrides=result.meta.get("price_overrides", []),  # (lots recorded before: none)
        mass_balance=result.mass_balance.to_dicts(),
        inputs=result.inputs.to_dicts(),
        units=result.units.head(UNITS_IN_REPORT).to_dicts(),
        units_shown=min(UNITS_IN_REPORT, result.units.height),
        sankey_json=_script_json(lot_sankey(result)),
        vega_bundle=_vega_bundle(),
    )


def write_lot_outputs(
    result: LotResult, directory: Path | str, *, svg: bool = True
) -> dict[str, Path]:
    """Write ``mass_balance.csv``, ``value.csv``, ``compliance.csv``, ``inputs.csv``, ``units.csv``,
    ``lot.json``, ``mass_flow.svg`` and ``report.html`` to ``directory``, as one set: every file
    is written complete beside its target before any is put in place (:func:`staged_files`).

    Returns
    -------
    dict of str to Path

    Raises
    ------
    OutputError
        A file could not be written: no file of the set is left, and an earlier run's files
        are as they were; or one could not be put in place: names the files in place and where
        the complete others are.
    """
    out = Path(directory)
    files: dict[str, tuple[Path, Callable[[Path], object]]] = {
        name: (out / f"{name}.csv", getattr(result, name).write_csv)
        for name in ("mass_balance", "value", "compliance", "inputs", "units")
    }
    files["lot"] = (out / "lot.json", utf8_writer(result.to_json()))
    if svg:
        files["svg"] = (
            out / "mass_flow.svg",
            utf8_writer(str(vlc.vega_to_svg(lot_sankey(result)))),
        )
    files["report"] = (out / "report.html", utf8_writer(recycling_report_html(result)))
    with staged_files(list(files.values())) as staged:
        staged.place()
    return {name: target for name, (target, _) in files.items()}
