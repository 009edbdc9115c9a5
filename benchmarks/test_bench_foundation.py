"""Foundation benchmarks: the end-to-end demo and registry write throughput.

Targets (issue "Foundation"): 1,000 units (≈2,000 tester files) end to end in ≤ 60 s on 2 cores;
≥ 20,000 registry events/s on SQLite (batched, each unit still atomic).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from echelon.domain import Battery, Measurement, Status
from echelon.pipeline import intake
from echelon.registry import PendingEvent, UnitWrite, measurement_row, open_registry
from echelon.synth import write_batch

pytestmark = pytest.mark.bench
DAY = dt.date(2026, 11, 22)


def test_demo_1000_units_end_to_end(tmp_path: Path, record: Any) -> None:
    start = time.perf_counter()
    batch = write_batch(tmp_path / "batch", n=1000, seed=0, arrival_date=DAY, workers=2)
    simulated = time.perf_counter()
    registry = open_registry(f"sqlite:///{tmp_path / 'e.db'}")
    report = intake(batch.manifest, registry=registry, workers=2, as_of=DAY)
    done = time.perf_counter()
    registry.close()
    assert report.written == 1000
    record(
        "demo_1000_units",
        units=batch.n_units,
        files=batch.n_files,
        simulate_s=round(simulated - start, 2),
        intake_s=round(done - simulated, 2),
        total_s=round(done - start, 2),
        target_s=60,
    )


def units(n: int, events_per_unit: int) -> list[UnitWrite]:
    out = []
    for i in range(n):
        bid = f"BENCH-{i:06d}"
        battery = Battery(battery_id=bid, level="cell", chemistry="LFP", nominal_capacity_ah=3.0)
        rows = [
            measurement_row(
                Measurement(
                    battery_id=bid, quantity="soh_percent", value=80.0 + i % 20, method="bench"
                )
            )
        ]
        events = [
            PendingEvent("measured", None, {"i": k}, {"measurements": rows})
            for k in range(events_per_unit - 2)
        ]
        events.append(PendingEvent("graded", Status.GRADED, {"outcome": "A"}))
        out.append(
            UnitWrite(
                battery=battery,
                fingerprint=uuid.uuid4().hex * 2,
                manifest_sha256="m" * 64,
                outcome="ok",
                events=events,
            )
        )
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_registry_events_per_second(tmp_path: Path, record: Any, backend: str) -> None:
    if backend == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'w.db'}", None
    else:
        url = os.environ.get("ECHELON_TEST_DATABASE_URL", "")
        if not url:
            pytest.skip("ECHELON_TEST_DATABASE_URL not set")
        import sqlalchemy as sa

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    registry = open_registry(url, store_dir=tmp_path / "store", schema=schema)
    batch = units(5000, events_per_unit=6)
    start = time.perf_counter()
    for k in range(0, len(batch), 250):
        registry.record_units(batch[k : k + 250])
    seconds = time.perf_counter() - start
    registry.close()
    events = 5000 * 6
    record(
        "registry_events_per_second",
        backend=backend,
        units=5000,
        events=events,
        seconds=round(seconds, 2),
        events_per_s=round(events / seconds),
        target=20000,
    )
    if schema:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
