"""Processing of one unit: read its tester files, store them, diagnose, estimate SOH.

:func:`process_unit` runs in a worker process; it touches only the content-addressed store (atomic,
idempotent writes) and returns a picklable :class:`UnitOutcome`. Any error becomes the unit's
recorded failure: it never propagates to the batch.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from echelon.catalog import chemistry, load_table
from echelon.diagnostics import (
    classify_test,
    dcir_method,
    dcir_ohm,
    discharge_capacity,
    nyquist_features,
    pulse_resistances,
    reference_pulse,
    step_table,
)
from echelon.diagnostics.capacity import (
    MIN_CAPACITY_DISCHARGE_S,
    CapacityResult,
    full_discharge_problem,
)
from echelon.diagnostics.eis import SPECTRUM, spectra
from echelon.diagnostics.segments import MODE
from echelon.domain import Battery, Measurement, TestKind, TestRun
from echelon.errors import DiagnosticsError, EchelonError, InputError, SchemaError
from echelon.estimation import SohEstimate, soh_from_capacity
from echelon.estimation.methods import u_column
from echelon.estimation.pulse_raw import pulse_points
from echelon.io import read
from echelon.io.base import require_file, sha256_file
from echelon.io.bdf import CURRENT, FREQUENCY, TIME, Z_IMAG, Z_REAL
from echelon.io.manifest import ManifestUnit, TestFileRef
from echelon.registry.store import Store


@dataclass
class UnitOutcome:
    """Result of processing one unit (picklable).

    Attributes
    ----------
    battery_id : str
    test_runs : list of TestRun
    measurements : list of Measurement
        From the manifest (method ``manifest``) and from the tester files.
    soh : SohEstimate or None
    pulse_features : dict or None
        Per-cell PulseBat turning-point voltages (``u1_v`` … ``u21_v``) of a pulse test that
        follows that protocol: the short-test SOH estimator's input
        (:mod:`echelon.pipeline.short_test`).
    eis_spectrum : dict or None
        The first impedance sweep of an EIS file: ``frequency_hz``, ``z_real_ohm`` and
        ``z_imag_ohm`` lists (the EIS estimator's input).
    error : str or None
        What failed, with the file and stage, if anything did.
    soh_refusals : list of (str, str)
        Short-test estimates a model refused for this unit: ``(method, reason)``
        (:mod:`echelon.pipeline.short_test`); recorded as ``soh_refused`` events.
    """

    battery_id: str
    test_runs: list[TestRun] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    soh: SohEstimate | None = None
    pulse_features: dict[str, float] | None = None
    eis_spectrum: dict[str, list[float]] | None = None
    error: str | None = None
    soh_refusals: list[tuple[str, str]] = field(default_factory=list)


def _rest_voltage(steps: pl.DataFrame | None) -> float | None:
    """Voltage at the end of the rest that opens a file (≈ OCV on arrival), if it opens with one."""
    if steps is None or steps.height == 0:
        return None
    first = steps.row(0, named=True)
    return float(first["end_voltage_v"]) if first["step_type"] == "rest" else None


def _voltage_range(steps: pl.DataFrame | None) -> list[tuple[str, float]]:
    """The highest end voltage of the file's charges and the lowest of its discharges of
    ≥ 10 min (short pulses overshoot), for the gate's check of the declared chemistry."""
    if steps is None:
        return []
    long = steps.filter(pl.col("duration_s") >= MIN_CAPACITY_DISCHARGE_S)
    out = []
    for quantity, mode, pick in (
        ("max_charge_voltage_v", 1, pl.col("end_voltage_v").max()),
        ("min_discharge_voltage_v", -1, pl.col("end_voltage_v").min()),
    ):
        value = long.filter(pl.col(MODE) == mode).select(pick).item()
        if value is not None:
            out.append((quantity, float(value)))
    return out


def _extremes_last(measurements: list[Measurement]) -> None:
    """Move the highest ``max_charge_voltage_v`` and the lowest ``min_discharge_voltage_v`` of a
    unit's files to the end (in place): the registry grades the latest value, and the gate's
    chemistry check must see the unit's whole voltage range, not its last file's."""
    for quantity, sign in (("max_charge_voltage_v", 1.0), ("min_discharge_voltage_v", -1.0)):
        found = [m for m in measurements if m.quantity == quantity]
        if len(found) > 1:
            extreme = max(found, key=lambda m: sign * m.value)
            measurements.remove(extreme)
            measurements.append(extreme)


def _diagnose(
    battery_id: str,
    kind: TestKind,
    frame: pl.DataFrame,
    steps: pl.DataFrame | None,
    sha: str,
    *,
    rest_label: TestKind | None = None,
) -> list[Measurement]:
    out: list[Measurement] = []

    def add(quantity: str, value: float, method: str) -> None:
        out.append(
            Measurement(
                battery_id=battery_id,
                quantity=quantity,
                value=value,
                method=method,
                source_sha256=sha,
            )
        )

    if kind is TestKind.EIS:
        features = nyquist_features(frame).row(0, named=True)
        for name in ("r_ohmic_ohm", "r_arc_ohm"):
            if features[name] is not None:
                add(f"eis_{name}", float(features[name]), "eis_nyquist")
    elif kind in (TestKind.PULSE, TestKind.HPPC):
        pulses = pulse_resistances(frame, steps=steps)
        first = reference_pulse(pulses)  # the pulse dcir_ohm reads (10 s, or a shorter's end)
        method = dcir_method(first) if first is not None else "pulse_dcir_10s"
        add("dcir_ohm", dcir_ohm(frame, at_s=10.0, pulses=pulses), method)
        if first is not None:
            for delay, name in ((0.1, "dcir_100ms_ohm"), (1.0, "dcir_1s_ohm")):
                if delay in first.resistance_ohm:
                    add(name, first.resistance_ohm[delay], f"pulse_dcir_{name.split('_')[1]}")
    for quantity, value in _voltage_range(steps):
        add(quantity, value, "test_file_long_steps")
    rest_v = _rest_voltage(steps)
    if rest_v is not None:
        add("rest_voltage_v", rest_v, f"{(rest_label or kind).value}_test_initial_rest")
    return out


def _not_full(cap: CapacityResult, battery: Battery) -> str | None:
    """Why ``cap`` is not a full capacity test of ``battery`` (catalogue chemistry cut-offs and
    table ``soh_capacity_test`` [full_discharge]), or ``None``. Empty is the discharge cut-off,
    or the OCV table's 0 % SOC where that rests higher (LMO: 3.25 V, the cut-off of the table's
    C/15 discharge reached under load)."""
    record = chemistry(battery.chemistry)
    rule = load_table("soh_capacity_test")["full_discharge"]
    return full_discharge_problem(
        cap,
        cutoff_v=max(record.discharge_cutoff_v, float(record.ocv.ocv(0.0)))
        + float(rule["cutoff_tolerance_v_per_cell"]),
        full_v=float(record.ocv.ocv(float(rule["start_soc_min"]))),
        cells_in_series=battery.series_count,
        chemistry=battery.chemistry.value,
    )


def _capacity_test(
    battery: Battery, frame: pl.DataFrame, steps: pl.DataFrame | None, sha: str
) -> tuple[list[Measurement], str | None]:
    """The capacity, energy and current of a file's capacity test (method ``capacity_test``), or
    no measurement and the reason when its discharge is not a full one (:func:`_not_full`)."""
    cap = discharge_capacity(frame, steps=steps)
    problem = _not_full(cap, battery)
    if problem is not None:
        return [], problem
    return [
        Measurement(battery_id=battery.battery_id, quantity=quantity, value=value,
                    method="capacity_test", source_sha256=sha)
        for quantity, value in (
            ("capacity_ah", cap.capacity_ah),
            ("energy_wh", cap.energy_wh),
            ("capacity_test_current_a", abs(cap.current_a)),
        )
    ], None  # fmt: skip


def _pulsebat_features(
    frame: pl.DataFrame, unit: ManifestUnit, path: Path
) -> dict[str, float] | None:
    """Per-cell U1–U21 of the first 5 s PulseBat block, or ``None`` if the test is not one."""
    try:
        blocks = pulse_points(
            frame,
            nominal_capacity_ah=unit.battery.nominal_capacity_ah,
            incomplete="drop",
            source=path,
        )
    except (SchemaError, DiagnosticsError):
        return None  # another pulse protocol (e.g. a single DCIR pulse): not for the estimator
    if blocks.height == 0:
        return None
    series = unit.battery.series_count or 1
    first = blocks.row(0, named=True)
    return {u_column(i): float(first[u_column(i)]) / series for i in range(1, 22)}


def _first_spectrum(frame: pl.DataFrame) -> dict[str, list[float]] | None:
    """The first sweep of an impedance run, as the EIS method's list columns."""
    sweeps = spectra(frame)
    first = sweeps.filter(pl.col(SPECTRUM) == 1)
    if first.height < 5:
        return None
    return {
        "frequency_hz": first.get_column(FREQUENCY).to_list(),
        "z_real_ohm": first.get_column(Z_REAL).to_list(),
        "z_imag_ohm": first.get_column(Z_IMAG).to_list(),
    }


@dataclass
class _FileResult:
    """What one tester file gives a unit: its run, measurements and short-test inputs."""

    run: TestRun
    measurements: list[Measurement]
    pulse_features: dict[str, float] | None = None
    eis_spectrum: dict[str, list[float]] | None = None
    capacity_refused: str | None = None


def _process_file(unit: ManifestUnit, ref: TestFileRef, store: Store) -> _FileResult:
    require_file(
        ref.path,
        hint="check the test_files entry in the manifest",
        folder_hint="name its tester files in test_files, separated by ';'",
    )
    source_sha = sha256_file(ref.path)
    store.put_raw(ref.path, source_sha)
    frame, metadata = read(ref.path)
    steps = step_table(frame) if CURRENT in frame.columns else None  # impedance-only files: none
    kind = ref.kind or classify_test(frame, steps=steps)
    bdf_sha = store.put_bdf(frame, metadata)
    bid = unit.battery.battery_id
    run = TestRun(
        battery_id=bid,
        kind=kind,
        source_path=str(ref.path),
        source_sha256=source_sha,
        bdf_sha256=bdf_sha,
        reader=metadata.reader,
        reader_version=metadata.reader_version,
        n_rows=frame.height,
        duration_s=(
            float(frame.get_column(TIME)[-1] - frame.get_column(TIME)[0])
            if TIME in frame.columns
            else 0.0
        ),
        metadata={
            "instrument": metadata.instrument,
            "channel": metadata.channel,
            "start_time": metadata.start_time.isoformat() if metadata.start_time else None,
            "unmapped_columns": ";".join(metadata.unmapped_columns),
        },
    )
    refused = None
    if kind in (TestKind.CAPACITY, TestKind.CYCLING):
        also, refused = _capacity_test(unit.battery, frame, steps, source_sha)
    else:
        also = _capacity_inside(unit.battery, ref.kind, frame, steps, source_sha)
    if kind in (TestKind.PULSE, TestKind.HPPC):
        features = _pulsebat_features(frame, unit, ref.path)
        if features is not None:  # a short SOH test, and its 5 s pulses a DCIR test
            measured = _diagnose(bid, kind, frame, steps, source_sha)
            return _FileResult(run, also + measured, pulse_features=features)
    spectrum = _first_spectrum(frame) if kind is TestKind.EIS else None
    measured = _diagnose(bid, kind, frame, steps, source_sha)
    return _FileResult(run, also + measured, eis_spectrum=spectrum, capacity_refused=refused)


def _capacity_inside(
    battery: Battery,
    declared: TestKind | None,
    frame: pl.DataFrame,
    steps: pl.DataFrame | None,
    sha: str,
) -> list[Measurement]:
    """The capacity test a file declared as another kind holds (e.g. a PulseBat step file with
    its calibrated full discharge, declared ``pulse:``): a declared kind says what the file was
    run for, it does not hide the best SOH measurement the unit has. A discharge that is not a
    full one is left out silently: the file was not declared a capacity test."""
    if declared is None or declared in (TestKind.CAPACITY, TestKind.CYCLING) or steps is None:
        return []
    if classify_test(frame, steps=steps) not in (TestKind.CAPACITY, TestKind.CYCLING):
        return []
    return _capacity_test(battery, frame, steps, sha)[0]  # (the rest voltage: the file diagnosis)


def process_unit(unit: ManifestUnit, store_root: Path) -> UnitOutcome:
    """Read, store and diagnose every tester file of a unit, then estimate its SOH.

    Parameters
    ----------
    unit : ManifestUnit
        Validated manifest row.
    store_root : Path
        Root of the registry's file store.

    Returns
    -------
    UnitOutcome
        With ``error`` set (and partial results discarded) if any step failed.
    """
    bid = unit.battery.battery_id
    from_manifest = [
        Measurement(battery_id=bid, quantity=name, value=value, method="manifest")
        for name, value in sorted(unit.measurements.items())
    ]
    outcome = UnitOutcome(bid, measurements=list(from_manifest))
    store = Store(store_root)
    stage = "reading"
    capacity_file = ""
    try:
        for ref in unit.test_files:
            stage = f"{ref.path.name}"
            result = _process_file(unit, ref, store)
            outcome.test_runs.append(result.run)
            outcome.measurements.extend(result.measurements)
            if any(m.quantity == "capacity_ah" for m in result.measurements):
                capacity_file = ref.path.name  # the last capacity test is the unit's SOH
            if result.capacity_refused is not None:  # refused for SOH, as if no capacity test
                outcome.soh_refusals.append(
                    ("capacity_test", f"{ref.path.name}: {result.capacity_refused}")
                )
            if result.pulse_features is not None:  # the last pulse test wins
                outcome.pulse_features = result.pulse_features
            if outcome.eis_spectrum is None:  # the first sweep of the first EIS file
                outcome.eis_spectrum = result.eis_spectrum
        # a 10 s DCIR outranks a shorter pulse's: its file's DCIRs go last (the latest is graded)
        tenth = {
            m.source_sha256
            for m in outcome.measurements
            if m.quantity == "dcir_ohm" and m.method.startswith("pulse_dcir_10s")
        }
        outcome.measurements.sort(
            key=lambda m: m.quantity.startswith("dcir_") and m.source_sha256 in tenth
        )
        _extremes_last(outcome.measurements)
        capacities = [m for m in outcome.measurements if m.quantity == "capacity_ah"]
        manifest_capacity = unit.measurements.get("measured_capacity_ah")
        if capacities:
            stage = f"estimating SOH from {capacity_file}"
            outcome.soh = soh_from_capacity(capacities[-1].value, unit.battery.nominal_capacity_ah)
        elif manifest_capacity is not None:
            stage = "estimating SOH from the manifest's measured_capacity_ah"
            outcome.soh = soh_from_capacity(manifest_capacity, unit.battery.nominal_capacity_ah)
    except InputError as exc:  # names its file already
        return UnitOutcome(bid, error=str(exc), measurements=from_manifest)
    except EchelonError as exc:
        return UnitOutcome(bid, error=f"{stage}: {exc}", measurements=from_manifest)
    except Exception as exc:  # a bug or an unforeseen file must not stop the batch
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return UnitOutcome(
            bid, error=f"{stage}: unexpected error {detail}", measurements=from_manifest
        )
    return outcome
