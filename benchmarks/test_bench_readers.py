"""Readers and per-cycle summaries side by side with BEEP and cellpy (``make bench``).

Each tool runs in its own virtual environment, in a fresh process, on the same files; the time
is measured inside the process from "open the file" to "per-cycle summary in hand" (imports and
interpreter start excluded) and the peak RSS increase is taken from ``getrusage``. The peers are
installed outside the repository (docs/performance.md says how):

    python3 -m venv ../peers/beep-venv   && ../peers/beep-venv/bin/pip install beep
    python3 -m venv ../peers/cellpy-venv && ../peers/cellpy-venv/bin/pip install cellpy

(``ECHELON_PEER_VENVS`` points elsewhere). A peer whose venv is absent is skipped, a peer that
cannot read a file is recorded as such. Synthetic files are generated once into
``ECHELON_BENCH_DATA`` (default: a folder in the system temp dir), never committed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import REAL_DATA

from benchmarks.arbin_synth import cycling_frame, write_arbin_csv
from echelon.io import RunMetadata, write_bdf_parquet

pytestmark = pytest.mark.bench
ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).with_name("peer_scripts")
PEERS = Path(os.environ.get("ECHELON_PEER_VENVS", ROOT.parent / "peers"))
DATA = Path(os.environ.get("ECHELON_BENCH_DATA", Path(tempfile.gettempdir()) / "echelon-bench"))
SIZES = (200_000, 1_000_000, 5_000_000)
PEER_TIMEOUT_S = 3600


def peer_python(name: str) -> Path | None:
    python = PEERS / f"{name}-venv" / "bin" / "python"
    return python if python.is_file() else None


def run(
    python: Path | str, script: str, *args: str, timeout: float = PEER_TIMEOUT_S
) -> dict[str, Any]:
    """Run a measurement script; its JSON line, or what went wrong."""
    try:
        done = subprocess.run(
            [str(python), str(SCRIPTS / script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"failed: {last[:300]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def best_of(n: int, python: Path | str, script: str, *args: str) -> dict[str, Any]:
    runs = [run(python, script, *args) for _ in range(n)]
    good = [r for r in runs if "error" not in r]
    return min(good, key=lambda r: float(r["seconds"])) if good else runs[0]


def synthetic(rows: int, layout: str) -> Path:
    path = DATA / f"arbin_{layout}_{rows}.csv"
    if not path.exists():
        write_arbin_csv(path, rows, layout=layout)  # type: ignore[arg-type]
    return path


def ratio(peer: dict[str, Any], ours: dict[str, Any]) -> float | None:
    if "error" in peer or "error" in ours:
        return None
    return round(float(peer["seconds"]) / float(ours["seconds"]), 1)


@pytest.mark.parametrize("rows", SIZES)
def test_synthetic_arbin_raw_to_summary(rows: int, record: Any) -> None:
    mits, beep_layout = synthetic(rows, "mits_pro"), synthetic(rows, "beep")
    # best of several runs (the least disturbed by other load); peers once on the largest file
    repeats = 3 if rows <= 1_000_000 else 1
    ours = best_of(5, sys.executable, "echelon_summary.py", str(mits))
    ours_beep_layout = best_of(5, sys.executable, "echelon_summary.py", str(beep_layout))
    result: dict[str, Any] = {
        "rows": rows,
        "echelon": ours,
        "echelon_beep_layout": ours_beep_layout,
    }
    beep, cellpy = peer_python("beep"), peer_python("cellpy")
    if beep is not None:
        result["beep"] = best_of(repeats, beep, "beep_summary.py", str(beep_layout), "2.0")
        result["beep_over_echelon"] = ratio(result["beep"], ours_beep_layout)
    if cellpy is not None:
        result["cellpy"] = best_of(
            repeats, cellpy, "cellpy_summary.py", str(mits), "arbin_sql_csv", "2.0"
        )
        result["cellpy_over_echelon"] = ratio(result["cellpy"], ours)
    record("readers_vs_peers_synthetic_arbin", **result)
    if beep is None and cellpy is None:
        pytest.skip(f"no peer venvs under {PEERS}: Echelon numbers recorded alone")


def test_real_files_raw_to_summary(record: Any) -> None:
    folder = (REAL_DATA / "calce" / "CS2_35").resolve()
    if not folder.is_dir():
        pytest.skip(f"CALCE dataset not found at {folder}")
    files = sorted(folder.glob("*.xlsx"))
    cellpy = peer_python("cellpy")
    totals: dict[str, Any] = {"files": len(files), "echelon_s": 0.0, "cellpy_s": 0.0, "errors": {}}
    capacities = {}
    for path in files:
        ours = best_of(2, sys.executable, "echelon_summary.py", str(path))
        totals["echelon_s"] += float(ours.get("seconds", 0.0))
        capacities[path.name] = {"echelon": ours.get("discharge_ah_first")}
        if cellpy is not None:
            theirs = run(cellpy, "cellpy_summary.py", str(path), "arbin_sql_xlsx", "1.1")
            if "error" in theirs:
                totals["errors"][path.name] = theirs["error"]
            else:
                totals["cellpy_s"] += float(theirs["seconds"])
                capacities[path.name]["cellpy"] = theirs["discharge_ah_first"]
    totals["cellpy_over_echelon"] = (
        round(totals["cellpy_s"] / totals["echelon_s"], 1)
        if cellpy and totals["cellpy_s"]
        else None
    )
    totals["beep"] = "cannot read Arbin workbooks (ArbinDatapath.from_file reads CSV only)"
    totals["first_capacities_example"] = capacities[files[-1].name]
    record("readers_vs_peers_calce_workbooks", **totals)


def test_parquet_summary_throughput(record: Any) -> None:
    path = DATA / "synthetic_10m.bdf.parquet"
    if not path.exists():
        frame = cycling_frame(10_000_000)
        meta = RunMetadata(
            source_path="synthetic", source_sha256="0" * 64, reader="bench", reader_version="0"
        )
        write_bdf_parquet(frame, path, meta)
        del frame
    for kernel in ("numpy", "numba"):  # the numba kernel only with the `fast` extra installed
        result = run(sys.executable, "echelon_parquet_summary.py", str(path), "7", kernel)
        record(
            f"cycle_summary_parquet_10m_{kernel}",
            **result,
            target_rows_per_s=50_000_000,
            target_peak_over_raw=2.0,
        )


def test_streaming_conversion_of_a_large_csv(record: Any) -> None:
    source = synthetic(5_000_000, "mits_pro")
    target = DATA / "converted_5m.bdf.parquet"
    result = run(sys.executable, "echelon_convert.py", str(source), str(target))
    record("convert_5m_arbin_csv", **result, source_mb=round(source.stat().st_size / 1e6))
