"""Run flodym's inflow-driven stock model on inflow series; executed by the peer venv's Python.

Usage: ``<flodym-venv>/bin/python flodym_runner.py REQUEST.json OUT.json``. The request holds
``repeats`` and a list of ``cases``, each with a ``name``, an ``inflow`` (years, or years × series)
and a ``lifetime``: ``{"distribution": "normal", "mean": m, "sd": s}`` or
``{"distribution": "weibull", "shape": k, "scale": λ}``, where a parameter is a number or one value
per series. Each case is one ``flodym.InflowDrivenDSM`` over (time[, series]) with the default
``inflow_at="middle"``. Writes, per case, the outflow and stock by year and the best wall time over
``repeats`` runs of building and computing the model. Only the standard library, numpy and flodym
are imported (this file runs outside Echelon's environment).
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import time
from typing import Any

import flodym as fd
import numpy as np


def run_case(inflow: np.ndarray, lifetime: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Outflow and stock of one inflow-driven model (arrays shaped like ``inflow``)."""
    dim_list = [fd.Dimension(name="Time", letter="t", items=list(range(inflow.shape[0])))]
    if inflow.ndim == 2:
        series = list(range(inflow.shape[1]))
        dim_list.append(fd.Dimension(name="Series", letter="s", items=series))
    dims = fd.DimensionSet(dim_list=dim_list)

    def prm(key: str) -> float | np.ndarray:
        value = lifetime[key]
        return np.asarray(value, dtype=float) if isinstance(value, list) else float(value)

    if lifetime["distribution"] == "normal":
        model = fd.NormalLifetime(dims=dims, mean=prm("mean"), std=prm("sd"))
    elif lifetime["distribution"] == "weibull":
        model = fd.WeibullLifetime(
            dims=dims, weibull_shape=prm("shape"), weibull_scale=prm("scale")
        )
    else:
        raise ValueError(f"unsupported lifetime distribution {lifetime['distribution']!r}")
    dsm = fd.InflowDrivenDSM(dims=dims, lifetime_model=model)
    dsm.inflow.values[...] = inflow
    dsm.compute()
    return dsm.outflow.values.copy(), dsm.stock.values.copy()


def main(src: str, dst: str) -> None:
    with open(src) as fh:
        request = json.load(fh)
    repeats = int(request.get("repeats", 1))
    out = []
    for case in request["cases"]:
        inflow = np.asarray(case["inflow"], dtype=float)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            outflow, stock = run_case(inflow, case["lifetime"])
            best = min(best, time.perf_counter() - start)
        out.append(
            {
                "name": case["name"],
                "seconds": best,
                "outflow": outflow.tolist(),
                "stock": stock.tolist(),
            }
        )
    with open(dst, "w") as fh:
        json.dump({"flodym": importlib.metadata.version("flodym"), "cases": out}, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
