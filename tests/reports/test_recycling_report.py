"""Recycling report: the mass-flow chart spec (no browser) and the rendered page in Chromium."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from echelon.recycling import LotResult, recycle_lot
from echelon.reports.recycling import lot_sankey, recycling_report_html, write_lot_outputs


@pytest.fixture(scope="module")
def result() -> LotResult:
    units = pl.DataFrame(
        {
            "battery_id": ["C1", "P1", "P2"],
            "chemistry": ["NMC811", "LFP", "NMC622"],
            "level": ["cell", "pack", "pack"],
            "mass_kg": [500.0, 420.0, 380.0],
        }
    )
    return recycle_lot(units, process="hydro", year=2028, dismantle="cells")


def test_sankey_conserves_mass_at_every_node(result: LotResult) -> None:
    spec = lot_sankey(result)
    links = next(d for d in spec["data"] if d["name"] == "links")["values"]
    nodes = {n["name"]: n for n in next(d for d in spec["data"] if d["name"] == "nodes")["values"]}
    inflow: dict[str, float] = defaultdict(float)
    outflow: dict[str, float] = defaultdict(float)
    for link in links:
        outflow[link["source"]] += link["kg"]
        inflow[link["target"]] += link["kg"]
    total_in = sum(v for k, v in outflow.items() if k.startswith("in: "))
    assert total_in == pytest.approx(1300.0, rel=1e-4)
    for name, node in nodes.items():
        if node["kind"] == "stage":
            assert inflow[name] == pytest.approx(outflow[name], rel=1e-4), name
    outputs = sum(inflow[n] for n, node in nodes.items() if node["kind"] in ("product", "loss"))
    assert outputs == pytest.approx(total_in, rel=1e-4)
    assert {"dismantling", "mechanical pre-treatment", "hydrometallurgy"} <= set(nodes)


def test_report_and_files(result: LotResult, tmp_path: Path) -> None:
    html = recycling_report_html(result)
    assert "https://" not in html.split("<script>")[0]
    assert result.meta["lot_id"] in html
    paths = write_lot_outputs(result, tmp_path)
    assert paths["svg"].read_text().startswith("<svg")
    assert pl.read_csv(paths["value"]).filter(pl.col("item") == "net_value").height == 1


@pytest.mark.browser
def test_report_renders_the_mass_flow(result: LotResult, tmp_path: Path, browser: object) -> None:
    path = write_lot_outputs(result, tmp_path, svg=False)["report"]
    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    page.wait_for_selector("#chart-sankey svg, #chart-sankey canvas", timeout=15000)
    assert page.locator("#compliance tbody tr").count() == 5
    assert page.locator("#mass-balance tbody tr").count() == result.mass_balance.height
    # the page fits a 1280 px window (the mass-flow chart with its labels included)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1320
    # the units table sorts by net value (numbers with thousands separators) and filters
    page.click("#units th:has-text('net [USD]')")
    net = [
        float(t.replace(",", ""))
        for t in page.locator("#units tbody td:nth-child(9)").all_inner_texts()
    ]
    assert net == sorted(net)
    total = page.locator("#units tbody tr").count()
    first_chemistry = page.locator("#units tbody td:nth-child(3)").first.inner_text()
    page.fill("#filter", first_chemistry)
    shown = page.locator("#units tbody tr:visible").count()
    assert 0 < shown <= total
    assert f"{shown} of {total} units" in page.inner_text("#count")
    page.screenshot(path=str(tmp_path / "recycling.png"), full_page=True)
    assert not errors


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1280])
def test_report_fits_the_window(
    result: LotResult, tmp_path: Path, browser: object, width: int
) -> None:
    """The page does not scroll sideways on a phone or a desktop; its tables stay.

    The mass-flow chart and the tables wider than the window scroll inside their own box.
    """
    path = write_lot_outputs(result, tmp_path, svg=False)["report"]
    page = browser.new_page(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    page.wait_for_selector("#chart-sankey svg, #chart-sankey canvas", timeout=15000)
    scroll_width, window_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= window_width + 1
    tables = {
        "compliance": result.compliance.height,
        "value": result.value.height,
        "mass-balance": result.mass_balance.height,
        "inputs": result.inputs.height,
        "units": result.units.height,
    }
    for table, rows in tables.items():
        assert page.locator(f"#{table}").is_visible(), table
        assert page.locator(f"#{table} tbody tr").count() == rows, table
    assert not errors
