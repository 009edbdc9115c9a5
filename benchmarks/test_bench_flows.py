"""Retired-battery flow benchmarks: the cohort model side by side with flodym, and a whole forecast.

flodym (github.com/pik-piam/flodym, built on ODYM's concepts) computes the same inflow-driven stock
model: with its default ``inflow_at="middle"`` a unit sold in year ``c`` with lifetime ``T`` leaves
in year ``c + ⌊T + ½⌋``, as in :func:`echelon.flows.cohort_flows`. The one difference is that
flodym's normal lifetime is not truncated at zero (its mass below zero, ``F0 = Φ(−mean/sd)``, leaves
in the year of sale), so for a normal lifetime the two agree through the exact identities

    outflow_flodym = (1 − F0) · outflow_echelon + F0 · inflow
    stock_flodym   = (1 − F0) · stock_echelon

and a Weibull lifetime (F0 = 0) agrees as it is. The comparison checks these to 1e-9 of the peak
and records the raw differences.

flodym runs in its own virtual environment; create it with

    python3 -m venv ../peers/flodym-venv && ../peers/flodym-venv/bin/pip install flodym

(next to the repository, as the other peers) or point ``ECHELON_FLODYM_PYTHON`` at another
interpreter that has it. The comparison skips cleanly when neither exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import stats

from echelon.flows import Lifetime, cohort_flows, forecast_flows, weibull_from_moments

pytestmark = pytest.mark.bench
RUNNER = Path(__file__).parent / "peers" / "flodym_runner.py"
PEERS = Path(os.environ.get("ECHELON_PEER_VENVS", Path(__file__).resolve().parents[2] / "peers"))
DEFAULT_FLODYM = PEERS / "flodym-venv" / "bin" / "python"
SETUP = "python3 -m venv ../peers/flodym-venv && ../peers/flodym-venv/bin/pip install flodym"
HORIZON = 60  # years modelled (Echelon's default oldest age is 60)
TOL_IDENTITY = 1e-9  # of the peak, after the truncation identity (float noise is ~1e-15)
LIFETIMES = (("normal", 15.0, 4.0), ("normal", 12.0, 4.0), ("weibull", 15.0, 4.0))
SERIES, REPEATS = 1000, 3


def _flodym_python() -> Path:
    path = Path(os.environ.get("ECHELON_FLODYM_PYTHON", DEFAULT_FLODYM))
    if not path.is_file():
        pytest.skip(f"flodym peer venv not found at {path}: create it with `{SETUP}` "
                    "(from the repository) or set ECHELON_FLODYM_PYTHON")  # fmt: skip
    return path


def _inflows() -> dict[str, np.ndarray]:
    """A pulse of 1000 units in the first year; 20 %/year growth for 30 years, then flat."""
    pulse = np.zeros(HORIZON)
    pulse[0] = 1000.0
    growing = 100.0 * 1.2 ** np.minimum(np.arange(HORIZON), 29)
    return {"pulse": pulse, "growing": growing}


def _flodym_lifetime(dist: str, mean: Any, sd: Any) -> dict[str, Any]:
    if dist == "weibull":
        shape, scale = weibull_from_moments(mean, sd)
        return {"distribution": "weibull", "shape": shape, "scale": scale}
    return {"distribution": dist, "mean": mean, "sd": sd}


def _f0(dist: str, mean: Any, sd: float) -> Any:
    """Untruncated P(lifetime ≤ 0): flodym keeps it, Echelon renormalises it away."""
    return stats.norm.cdf(0.0, mean, sd) if dist == "normal" else np.zeros_like(mean)


def _residuals(inflow: np.ndarray, ours: tuple[np.ndarray, np.ndarray], peer: dict[str, Any],
               f0: Any) -> dict[str, float]:  # fmt: skip
    """Raw and identity-corrected differences (flodym − Echelon), relative to the peak."""
    out_e, stock_e = ours
    out_f, stock_f = np.asarray(peer["outflow"]), np.asarray(peer["stock"])
    peak_out = max(np.abs(out_e).max(), np.abs(out_f).max())
    peak_stock = max(np.abs(stock_e).max(), np.abs(stock_f).max())
    ident_out = (1 - f0) * out_e + f0 * inflow
    ident_stock = (1 - f0) * stock_e
    return {
        "max_abs_diff_outflow": float(np.abs(out_f - out_e).max()),
        "max_abs_diff_stock": float(np.abs(stock_f - stock_e).max()),
        "max_diff_outflow_of_peak": float(np.abs(out_f - out_e).max() / peak_out),
        "max_diff_stock_of_peak": float(np.abs(stock_f - stock_e).max() / peak_stock),
        "identity_residual_outflow": float(np.abs(out_f - ident_out).max() / peak_out),
        "identity_residual_stock": float(np.abs(stock_f - ident_stock).max() / peak_stock),
    }


def _echelon_series(inflow: np.ndarray, means: np.ndarray, sd: float) -> np.ndarray:
    """One ``cohort_flows`` call per series (years × series), as a user without a vector API."""
    return np.stack(
        [
            cohort_flows(inflow[:, s], Lifetime("normal", float(m), sd)).retired
            for s, m in enumerate(means)
        ],
        axis=1,
    )


def test_flodym_side_by_side(tmp_path: Path, record: Any) -> None:
    python = _flodym_python()
    flows = _inflows()
    cases = [(name, dist, mean, sd) for dist, mean, sd in LIFETIMES for name in flows]
    rng = np.random.default_rng(1)
    big = np.zeros((HORIZON, SERIES))  # 30 years of sales per series, then none
    big[:30] = rng.uniform(50.0, 150.0, (30, SERIES))
    means, sd_big = rng.uniform(10.0, 18.0, SERIES), 4.0
    request = {
        "repeats": REPEATS,
        "cases": [
            {"name": f"{name} {dist}({mean:g},{sd:g})", "inflow": flows[name].tolist(),
             "lifetime": _flodym_lifetime(dist, mean, sd)}
            for name, dist, mean, sd in cases
        ]
        + [
            {"name": f"{SERIES} series", "inflow": big.tolist(),
             "lifetime": _flodym_lifetime("normal", means.tolist(), sd_big)}
        ],
    }  # fmt: skip
    (tmp_path / "request.json").write_text(json.dumps(request))
    start = time.perf_counter()
    subprocess.run([str(python), str(RUNNER), str(tmp_path / "request.json"),
                    str(tmp_path / "flodym.json")], check=True)  # fmt: skip
    flodym_wall = time.perf_counter() - start
    peer = json.loads((tmp_path / "flodym.json").read_text())
    rows = []
    for (name, dist, mean, sd), result in zip(cases, peer["cases"], strict=False):
        ours = cohort_flows(flows[name], Lifetime(dist, mean, sd))
        f0 = float(_f0(dist, mean, sd))
        rows.append(
            {
                "case": result["name"],
                "f0": f0,
                **_residuals(flows[name], (ours.retired, ours.stock_first_life), result, f0),
            }
        )
    for row in rows:
        print({k: (f"{v:.2e}" if isinstance(v, float) else v) for k, v in row.items()})
        assert row["identity_residual_outflow"] <= TOL_IDENTITY, row
        assert row["identity_residual_stock"] <= TOL_IDENTITY, row

    # timing: one flodym model over (time, series) against a loop of cohort_flows
    _echelon_series(big[:, :2], means[:2], sd_big)  # warm-up (imports, scipy)
    echelon_s, retired = float("inf"), np.empty(0)
    for _ in range(REPEATS):
        begin = time.perf_counter()
        retired = _echelon_series(big, means, sd_big)
        echelon_s = min(echelon_s, time.perf_counter() - begin)
    timed = peer["cases"][-1]
    f0_big = _f0("normal", means, sd_big)
    out_f = np.asarray(timed["outflow"])
    timing_residual = float(
        np.abs(out_f - ((1 - f0_big) * retired + f0_big * big)).max() / np.abs(out_f).max()
    )
    assert timing_residual <= TOL_IDENTITY
    flodym_s = timed["seconds"]
    print(f"{SERIES} series × {HORIZON} years: Echelon loop {echelon_s:.3f} s, "
          f"flodym one model {flodym_s:.3f} s ({echelon_s / flodym_s:.1f}×)")  # fmt: skip
    record(
        "flows_vs_flodym",
        flodym_version=peer["flodym"],
        years=HORIZON,
        tolerance_of_peak=TOL_IDENTITY,
        max_identity_residual=max(
            max(r["identity_residual_outflow"], r["identity_residual_stock"]) for r in rows
        ),
        max_raw_diff_outflow_of_peak=max(r["max_diff_outflow_of_peak"] for r in rows),
        max_raw_diff_stock_of_peak=max(r["max_diff_stock_of_peak"] for r in rows),
        timing_series=SERIES,
        timing_repeats=f"best of {REPEATS}",
        echelon_loop_s=round(echelon_s, 3),
        flodym_vectorised_s=round(flodym_s, 3),
        echelon_over_flodym=round(echelon_s / flodym_s, 1),
        timing_identity_residual=timing_residual,
        flodym_wall_s=round(flodym_wall, 1),
        rows=rows,
    )


SEGMENT_PACK_KWH = {"ev": 60.0, "ev_large": 250.0, "ev_independent": 60.0}
CHEMISTRIES = ("LFP", "NMC622", "NMC811", "NMC111", "NCA", "LMO")


def sales_table(regions: int = 20, years: range = range(2011, 2026), seed: int = 0) -> pl.DataFrame:
    """Units put on the market per (year, region, segment, chemistry): growing, noisy, with the
    pack energy of the segment."""
    rng = np.random.default_rng(seed)
    columns = ("year", "region", "segment", "chemistry", "units", "pack_kwh")
    rows: dict[str, list[Any]] = {k: [] for k in columns}
    for r in range(regions):
        size = rng.lognormal(8.0, 1.0)
        for segment, pack in SEGMENT_PACK_KWH.items():
            for chemistry in CHEMISTRIES:
                share = rng.uniform(0.2, 1.0)
                for i, year in enumerate(years):
                    rows["year"].append(year)
                    rows["region"].append(f"R{r:02d}")
                    rows["segment"].append(segment)
                    rows["chemistry"].append(chemistry)
                    rows["units"].append(round(size * share * 1.25**i * rng.uniform(0.8, 1.2)))
                    rows["pack_kwh"].append(pack * rng.uniform(0.9, 1.1))
    return pl.DataFrame(rows)


def test_flows_forecast_speed(record: Any) -> None:
    from echelon.flows import forecast as forecast_module
    from echelon.recycling.catalog import clear_caches

    sales = sales_table()
    groups = sales.select("region", "segment", "chemistry").unique().height
    forecast_module._per_kwh.cache_clear()
    clear_caches()
    start = time.perf_counter()
    result = forecast_flows(sales, price_year=2026)
    cold_s = time.perf_counter() - start
    warm_s = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = forecast_flows(sales, price_year=2026)
        warm_s = min(warm_s, time.perf_counter() - start)

    frame = result.frame
    years = result.meta["years"][1] - result.meta["years"][0] + 1
    assert frame.height == groups * years
    kwh = (sales["units"] * sales["pack_kwh"]).sum()
    assert frame["put_on_market_kwh"].sum() == pytest.approx(kwh, rel=1e-12)
    assert frame["put_on_market_units"].sum() == pytest.approx(sales["units"].sum(), rel=1e-12)
    # conservation per series: sold so far = in first use + in second life + sent to recycling
    worst = 0.0
    for quantity in ("kwh", "units"):
        balance = frame.sort("year").select(
            (
                pl.col(f"put_on_market_{quantity}").cum_sum()
                - pl.col(f"stock_first_life_{quantity}")
                - pl.col(f"stock_second_life_{quantity}")
                - pl.col(f"to_recycling_{quantity}").cum_sum()
            )
            .over("region", "segment", "chemistry")
            .abs()
            .max()
            / pl.col(f"put_on_market_{quantity}").sum()
        )
        worst = max(worst, float(balance.item()))
        flows = [f"{name}_{quantity}" for name in ("retired", "to_second_life", "to_recycling")]
        assert frame.select(pl.min_horizontal(pl.col(flows).min())).item() >= -1e-9
    assert worst <= 1e-12
    record(
        "flows_forecast",
        sales_rows=sales.height,
        series=groups,
        years=years,
        frame_rows=frame.height,
        cold_s=round(cold_s, 3),
        warm_s=round(warm_s, 3),
        warm_ms_per_series=round(warm_s / groups * 1000, 2),
        conservation_residual=worst,
    )
