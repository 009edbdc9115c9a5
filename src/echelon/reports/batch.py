"""Self-contained HTML report of an intake batch (charts inline, no network needed to view it)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import jinja2
import polars as pl
import vl_convert as vlc

from echelon._version import __version__
from echelon.io.atomic import write_text_atomic
from echelon.reports.charts import (
    grade_distribution,
    routes,
    soh_histogram,
    usable_energy_kwh,
    vega_lite_version,
)

TABLE_COLUMNS: list[tuple[str, str, str]] = [
    ("battery_id", "battery", "text"),
    ("level", "level", "text"),
    ("chemistry", "chemistry", "text"),
    ("model", "model", "text"),
    ("origin_application", "origin", "text"),
    ("status", "status", "text"),
    ("gate", "gate", "text"),
    ("grade", "grade", "text"),
    ("route", "route", "text"),
    ("soh_percent", "SOH [%]", "num"),
    ("soh_lower_percent", "SOH lower [%]", "num"),
    ("dcir_mohm", "DCIR [mΩ]", "num"),
    ("usable_kwh", "usable to reuse [kWh]", "num"),
]
"""(column, header, sort type) of the unit table."""


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("echelon.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )


@functools.lru_cache(maxsize=1)
def _vega_bundle() -> str:
    """The Vega/Vega-Lite/vega-embed JavaScript bundle inlined in every report.

    Building it takes ≈ 2 s per process, so it is kept in a per-user cache file named by the
    Vega-Lite and vl-convert versions (``ECHELON_CACHE_DIR``, else ``$XDG_CACHE_HOME/echelon``,
    else ``~/.cache/echelon``); an unwritable cache only costs the rebuild.
    """
    name = f"vega-embed-{vega_lite_version()}-vlc{getattr(vlc, '__version__', 'x')}.js"
    path = _cache_dir() / name
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    # the stub marks ``snippet`` required, but it is optional at run time (altair omits it too)
    bundle = str(vlc.javascript_bundle(vl_version=vega_lite_version()))  # type: ignore[call-arg]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(bundle, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return bundle


def _cache_dir() -> Path:
    explicit = os.environ.get("ECHELON_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "echelon"


def summary_numbers(frame: pl.DataFrame) -> dict[str, Any]:
    """Headline numbers of a batch: units, with an SOH (``tested``) and of those measured by a
    capacity test (``measured``; the rest are a short-test model's estimates), per status/gate,
    usable kWh to reuse."""
    status = frame.get_column("status").fill_null("unknown")
    energy = frame.select(usable_energy_kwh(frame).alias("kwh"), "route")
    reuse = energy.filter(
        ~pl.col("route").is_in(["recycle", "retest"]) & pl.col("route").is_not_null()
    )
    return {
        "units": frame.height,
        "tested": int(frame.get_column("soh_percent").is_not_null().sum()),
        "measured": int(
            (
                frame.get_column("soh_percent").is_not_null()
                & (frame.get_column("soh_method") == "capacity_test")
            ).sum()
        ),
        "quarantined": int((frame.get_column("gate") == "quarantine").sum()),
        "failed": int((status == "failed").sum()),
        "to_reuse": reuse.height,
        "to_recycle": int((frame.get_column("route") == "recycle").sum()),
        "reuse_kwh": round(float(reuse.get_column("kwh").sum()), 1),
    }


def _script_json(value: Any) -> str:
    """JSON safe to place inside a ``<script>`` element."""
    return json.dumps(value).replace("</", "<\\/")


COMPOSITE_KEYS: Final = ("hconcat", "vconcat", "concat", "facet", "repeat")
"""Vega-Lite keys of composite views, which cannot take their container's width."""


def _fit_width(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec sized to its container's width (``width: "container"``), where Vega-Lite allows it.

    Single and layered views fit their box (axes and title included); composite views (concat,
    facet, repeat) keep their fixed size, and the report scrolls them inside their own box.
    """
    if any(key in spec for key in COMPOSITE_KEYS):
        return spec
    return spec | {"width": "container", "autosize": {"type": "fit-x", "contains": "padding"}}


DECIMALS: Final = {"dcir_mohm": 2, "usable_kwh": 3, "soh_percent": 1, "soh_lower_percent": 1}
"""Fixed decimals per number column of the unit table (a column reads evenly)."""


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    table = frame.with_columns((pl.col("dcir_ohm") * 1000.0).alias("dcir_mohm"))
    rows = table.select([c for c, _, _ in TABLE_COLUMNS]).to_dicts()
    for row in rows:
        for column, places in DECIMALS.items():
            if row.get(column) is not None:
                row[column] = f"{row[column]:.{places}f}"
    return rows


def batch_report_html(
    frame: pl.DataFrame,
    *,
    title: str = "Echelon intake report",
    failures: Sequence[tuple[str, str]] = (),
    soh_refused: Sequence[tuple[str, str, str]] = (),
    notes: Sequence[str] = (),
) -> str:
    """Render the batch report.

    Parameters
    ----------
    frame : pl.DataFrame
        One row per unit, as :func:`echelon.registry.units_frame` returns.
    title : str
        Page title.
    failures : sequence of (battery_id, error)
        Units recorded as failed, shown with their errors.
    soh_refused : sequence of (battery_id, method, reason)
        Units left without SOH because their short-test model refused them
        (:attr:`echelon.pipeline.IntakeReport.soh_refused`), shown with the reason.
    notes : sequence of str
        Free-text lines shown under the title (e.g. the database and manifest).

    Returns
    -------
    str
        A self-contained HTML document (Vega-Lite charts and their JavaScript inline).
    """
    charts = {
        "grades": grade_distribution(frame),
        "soh": soh_histogram(frame),
        "routes": routes(frame),
    }
    template = _environment().get_template("batch_report.html.j2")
    return template.render(
        title=title,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        summary=summary_numbers(frame),
        notes=list(notes),
        columns=TABLE_COLUMNS,
        rows=_rows(frame),
        failures=list(failures),
        soh_refused=list(soh_refused),
        charts_json={k: _script_json(_fit_width(v)) for k, v in charts.items()},
        vega_bundle=_vega_bundle(),
    )


def write_batch_report(path: Path | str, frame: pl.DataFrame, **kwargs: Any) -> Path:
    """Write :func:`batch_report_html` to ``path`` atomically (folders created: an earlier file
    is replaced only by a complete one); returns the path."""
    return write_text_atomic(path, batch_report_html(frame, **kwargs))
