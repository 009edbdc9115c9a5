"""Batch report: chart specs (no browser) and the rendered page in Chromium (Playwright)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from echelon.pipeline import intake
from echelon.registry import Registry, units_frame
from echelon.reports import batch_report_html, summary_numbers, write_batch_report
from echelon.reports.charts import grade_distribution, routes, soh_histogram
from echelon.synth import SynthBatch
from tests.conftest import ARRIVAL


@pytest.fixture
def frame(sqlite_registry: Registry, small_batch: SynthBatch) -> pl.DataFrame:
    intake(small_batch.manifest, registry=sqlite_registry, workers=0, as_of=ARRIVAL)
    return units_frame(sqlite_registry)


def test_chart_specs_encode_the_data(frame: pl.DataFrame) -> None:
    grades = grade_distribution(frame)
    counts = {row["grade"]: row["units"] for row in next(iter(grades["datasets"].values()))}
    expected = frame["grade"].fill_null("ungraded").value_counts()
    assert counts == dict(zip(expected["grade"], expected["count"], strict=True))
    assert soh_histogram(frame)["facet"]["field"] == "chemistry"
    route_data = next(iter(routes(frame)["datasets"].values()))
    assert sum(r["units"] for r in route_data) == frame.height


def test_charts_fit_their_box_where_vega_lite_allows(frame: pl.DataFrame) -> None:
    """A single view takes its container's width; concat and facet keep their fixed size."""
    from echelon.reports.batch import _fit_width

    assert _fit_width(grade_distribution(frame))["width"] == "container"
    for spec in (routes(frame), soh_histogram(frame)):
        assert _fit_width(spec) == spec


def test_summary_numbers(frame: pl.DataFrame) -> None:
    numbers = summary_numbers(frame)
    assert numbers["units"] == frame.height
    assert numbers["to_reuse"] + numbers["to_recycle"] <= frame.height
    assert numbers["tested"] == frame["soh_percent"].is_not_null().sum()
    # a short-test model's estimate is not a measurement (the card said "with measured SOH")
    estimated = frame["soh_percent"].is_not_null() & (frame["soh_method"] != "capacity_test")
    assert estimated.sum() > 0  # the demo batch has short-test estimates
    assert numbers["measured"] == numbers["tested"] - estimated.sum()


def test_report_is_self_contained(frame: pl.DataFrame) -> None:
    html = batch_report_html(frame, failures=[("X-1", "a <b>bad</b> file")])
    assert "https://" not in html.split("<script>")[0]  # no external stylesheet or script
    assert "cdn.jsdelivr" not in html
    assert "a &lt;b&gt;bad&lt;/b&gt; file" in html  # errors are escaped


def test_report_lists_units_whose_short_test_was_refused(frame: pl.DataFrame) -> None:
    refused = [
        ("P-1", "pulse:pulse-u21", "batch d was not in training (<LFP-20.0Ah>)"),
        ("P-1", "eis:eis-lco-nmc811", "no spectrum"),
        ("P-2", "pulse:pulse-u21", "SOC 80 % outside the trained 5–50 %"),
    ]
    html = batch_report_html(frame, soh_refused=refused)
    assert "Short-test SOH refused (2 units)" in html  # units, not (unit, model) pairs
    table = html.split('id="soh-refused"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 3  # header and one row per refusal
    assert "(&lt;LFP-20.0Ah&gt;)" in table  # reasons are escaped
    assert 'id="soh-refused"' not in batch_report_html(frame)  # no section without refusals


@pytest.mark.browser
def test_report_renders_and_table_sorts(
    frame: pl.DataFrame, tmp_path: Path, browser: object
) -> None:
    path = write_batch_report(tmp_path / "report.html", frame)
    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    for chart in ("grades", "routes", "soh"):
        page.wait_for_selector(f"#chart-{chart} svg, #chart-{chart} canvas", timeout=15000)
    page.click("th:has-text('SOH [%]')")
    cells = page.locator("#units tbody tr td:nth-child(10)").all_inner_texts()
    values = [float(c) for c in cells if c.strip()]
    assert values == sorted(values)
    assert len(values) >= 20
    assert all(not c.strip() for c in cells[len(values) :])  # blanks last
    page.click("th:has-text('SOH [%]')")
    desc = [
        float(c)
        for c in page.locator("#units tbody tr td:nth-child(10)").all_inner_texts()
        if c.strip()
    ]
    assert desc == sorted(desc, reverse=True)
    page.fill("#filter", "LFP")
    visible = page.locator("#units tbody tr:visible").count()
    assert visible == frame.filter(pl.col("chemistry") == "LFP").height
    page.fill("#filter", "lfp recycle")  # every word must match, anywhere in the row
    both = frame.filter((pl.col("chemistry") == "LFP") & (pl.col("route") == "recycle")).height
    assert page.locator("#units tbody tr:visible").count() == both
    page.fill("#filter", "")
    page.focus("th:has-text('SOH [%]')")  # sortable from the keyboard
    page.keyboard.press("Enter")
    assert page.get_attribute("th:has-text('SOH [%]')", "aria-sort") == "ascending"
    page.screenshot(path=str(tmp_path / "report.png"))
    assert not errors


def test_vega_bundle_is_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from echelon.reports import batch

    monkeypatch.setenv("ECHELON_CACHE_DIR", str(tmp_path))
    batch._vega_bundle.cache_clear()
    first = batch._vega_bundle()
    cached = list(tmp_path.glob("vega-embed-*.js"))
    assert len(cached) == 1
    assert cached[0].read_text(encoding="utf-8") == first
    assert "vegaEmbed" in first
    cached[0].write_text("// marker", encoding="utf-8")  # a later process reads the file
    batch._vega_bundle.cache_clear()
    assert batch._vega_bundle() == "// marker"
    batch._vega_bundle.cache_clear()


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1280])
def test_report_fits_the_window(
    frame: pl.DataFrame, tmp_path: Path, browser: object, width: int
) -> None:
    """The page does not scroll sideways on a phone or a desktop; its tables stay.

    Charts and tables wider than the window scroll inside their own box, and a long error
    (a path has nowhere to break) wraps in its cell.
    """
    error = "cannot read /data/incoming/2026-11-22/tester-exports/rack-07/cell_0042_cycle_0001.ndax"
    path = write_batch_report(tmp_path / "report.html", frame, failures=[("X-1", error)])
    page = browser.new_page(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    for chart in ("grades", "routes", "soh"):
        page.wait_for_selector(f"#chart-{chart} svg, #chart-{chart} canvas", timeout=15000)
    scroll_width, window_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= window_width + 1
    assert page.locator("#units").is_visible()
    assert page.locator("#units tbody tr").count() == frame.height
    assert page.locator("#failures").is_visible()
    assert page.locator("#failures tbody tr").count() == 1
    grades = page.locator("#chart-grades svg.marks").bounding_box()  # sized to its box
    assert grades is not None
    assert 250 <= grades["width"] <= window_width
    assert not errors


def test_usable_kwh_is_the_route_decisions(
    sqlite_registry: Registry, small_batch: SynthBatch
) -> None:
    """The report credited rated Ah × V × SOH point (2.203 kWh for a module the decision, ``show``
    and the certificate give 1.67 kWh) and counted quarantined units; it now shows the router's
    number for units routed to reuse and nothing for the rest."""
    from echelon.domain import NON_REUSE_ROUTES
    from echelon.reports.batch import _rows

    report = intake(small_batch.manifest, registry=sqlite_registry, workers=0, as_of=ARRIVAL)
    frame = units_frame(sqlite_registry)
    graded = report.graded.select("battery_id", "route", pl.col("usable_kwh").alias("decided"))
    joined = frame.join(graded, on="battery_id", how="inner", suffix="_graded")
    reused = ~pl.col("route").is_in(list(NON_REUSE_ROUTES))
    assert joined.filter(reused).height > 0
    for row in joined.filter(reused).iter_rows(named=True):
        assert row["usable_kwh"] == pytest.approx(row["decided"], abs=1e-4)
    assert joined.filter(~reused)["usable_kwh"].is_null().all()  # quarantined, recycled, retest
    expected = round(float(joined.filter(reused)["usable_kwh"].sum()), 1)
    assert summary_numbers(frame)["reuse_kwh"] == expected
    rows = {r["battery_id"]: r for r in _rows(frame)}
    for row in joined.filter(pl.col("route") == "recycle").iter_rows(named=True):
        assert rows[row["battery_id"]]["usable_kwh"] is None
