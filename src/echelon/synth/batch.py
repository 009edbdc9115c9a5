"""Simulate an incoming batch and write its manifest, tester files and hidden truth to a folder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from echelon._parallel import process_pool
from echelon.synth.ecm import capacity_test, pulse_test
from echelon.synth.population import SynthUnit, simulate_population
from echelon.synth.pulsebat import pulsebat_test
from echelon.synth.writers import truncate_file, write_arbin_csv_file, write_bdf_csv_file

TESTS_DIR = "tests"


@dataclass(frozen=True)
class SynthBatch:
    """Paths of a written synthetic batch."""

    folder: Path
    manifest: Path
    truth: Path
    n_units: int
    n_files: int


def _write_unit_files(unit: SynthUnit, folder: Path, arrival: dt.date) -> list[tuple[str, str]]:
    """Simulate and write one unit's tests; returns ``(kind, relative path)``.

    A tested unit gets a capacity test (unless it is short-test only), a DCIR pulse test and a
    PulseBat-protocol pulse test (file ``<id>_pulsebat.csv``, kind ``pulse``).
    """
    if not unit.tested or unit.ecm is None:
        return []
    rng = np.random.default_rng(unit.seed)
    nominal = unit.battery.nominal_capacity_ah
    tests: dict[str, pl.DataFrame] = {}
    if not unit.short_test_only:
        tests["capacity"] = capacity_test(
            unit.ecm,
            soc0=unit.arrival_soc,
            rate_c=unit.rate_c,
            nominal_capacity_ah=nominal,
            rng=rng,
        )
    tests["pulse"] = pulse_test(
        unit.ecm, soc0=unit.arrival_soc, nominal_capacity_ah=nominal, rng=rng
    )
    tests["pulsebat"] = pulsebat_test(
        unit.ecm, soc0=unit.arrival_soc, nominal_capacity_ah=nominal, rng=rng
    )
    start = dt.datetime.combine(arrival, dt.time(8, 0)) + dt.timedelta(
        minutes=int(rng.integers(600))
    )
    written = []
    for index, (kind, frame) in enumerate(tests.items()):
        relative = Path(TESTS_DIR) / f"{unit.battery.battery_id}_{kind}.csv"
        path = folder / relative
        if unit.tester == "arbin_csv":
            write_arbin_csv_file(frame, path, start)
        else:
            write_bdf_csv_file(frame, path)
        if unit.corrupt_file and index == 0:
            truncate_file(path)
        written.append(("pulse" if kind == "pulsebat" else kind, relative.as_posix()))
    return written


def _manifest_row(unit: SynthUnit, files: list[tuple[str, str]]) -> dict[str, object]:
    b = unit.battery
    return {
        "battery_id": b.battery_id,
        "parent_id": b.parent_id,
        "level": b.level.value,
        "chemistry": b.chemistry.value,
        "manufacturer": b.manufacturer,
        "model": b.model,
        "format": b.format.value if b.format else None,
        "nominal_capacity_ah": b.nominal_capacity_ah,
        "nominal_voltage_v": b.nominal_voltage_v,
        "series_count": b.series_count,
        "parallel_count": b.parallel_count,
        "origin_application": b.origin_application.value,
        "region": b.region.value,
        "country": b.country,
        "manufacture_date": b.manufacture_date.isoformat() if b.manufacture_date else None,
        "calendar_expiry_date": b.calendar_expiry_date.isoformat()
        if b.calendar_expiry_date
        else None,
        "has_traceability": "true" if b.has_traceability else "false",
        "visual_flags": ";".join(sorted(f.value for f in b.visual_flags)),
        "ocv_v": unit.measured.get("ocv_v"),
        "self_discharge_mv_per_day": unit.measured.get("self_discharge_mv_per_day"),
        "insulation_mohm": unit.measured.get("insulation_mohm"),
        "test_files": ";".join(f"{kind}:{path}" for kind, path in files),
    }


def write_batch(
    folder: Path | str,
    *,
    n: int = 500,
    seed: int = 0,
    arrival_date: dt.date | None = None,
    region: str = "EU",
    executor: Executor | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> SynthBatch:
    """Simulate ``n`` units and write ``manifest.csv``, ``truth.csv`` and ``tests/*.csv``.

    Parameters
    ----------
    folder : path-like
        Output folder (created).
    n, seed, arrival_date, region
        See :func:`~echelon.synth.population.simulate_population`.
    executor : Executor, optional
        Where to simulate and write files (default: a process pool of ``workers``).
    workers : int
        Pool size when no executor is given (0 = in-process).
    progress : callable, optional
        ``progress(done_units, total_units)``.

    Returns
    -------
    SynthBatch
    """
    folder = Path(folder)
    (folder / TESTS_DIR).mkdir(parents=True, exist_ok=True)
    arrival = arrival_date or dt.date.today()
    units = simulate_population(n, seed=seed, arrival_date=arrival, region=region)
    files: list[list[tuple[str, str]]] = []
    own = executor is None and workers > 0
    pool = process_pool(workers) if own else executor
    try:
        results: Iterable[list[tuple[str, str]]]
        if pool is None:
            results = (_write_unit_files(u, folder, arrival) for u in units)
        else:
            results = pool.map(
                _write_unit_files, units, [folder] * len(units), [arrival] * len(units), chunksize=8
            )
        for done, item in enumerate(results, start=1):
            files.append(item)
            if progress:
                progress(done, len(units))
    finally:
        if own and pool is not None:
            pool.shutdown()
    manifest = folder / "manifest.csv"
    pl.DataFrame(
        [_manifest_row(u, f) for u, f in zip(units, files, strict=True)], infer_schema_length=None
    ).write_csv(manifest)
    truth = folder / "truth.csv"
    pl.DataFrame(
        [
            {
                "battery_id": u.battery.battery_id,
                "archetype": u.archetype,
                "true_soh_percent": None if np.isnan(u.true_soh) else round(100 * u.true_soh, 3),
                "true_capacity_ah": u.ecm.capacity_ah if u.ecm else None,
                "true_r0_ohm": u.ecm.r0_ohm if u.ecm else None,
                "arrival_soc": round(u.arrival_soc, 4),
                "short_test_only": u.short_test_only,
                "defects": ";".join(u.defects),
            }
            for u in units
        ],
        infer_schema_length=None,
    ).write_csv(truth)
    return SynthBatch(folder, manifest, truth, len(units), sum(len(f) for f in files))
