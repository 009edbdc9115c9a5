"""Diagnostics checked against known answers from the equivalent-circuit simulator.

The simulator integrates the ECM exactly for constant current, so the expected capacity and the
expected pulse resistance are known analytically; tolerances below say what limits agreement.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echelon.diagnostics import (
    classify_test,
    dcir_ohm,
    discharge_capacity,
    pulse_resistances,
    step_table,
)
from echelon.domain import TestKind
from echelon.errors import DiagnosticsError
from echelon.io.bdf import CURRENT, TIME, VOLTAGE
from echelon.synth import EcmParameters, capacity_test, pulse_test
from tests.diagnostics.protocols import cell


def params(r0: float = 0.03, capacity: float = 2.0, chem: str = "NMC811") -> EcmParameters:
    return cell(r0, capacity=capacity, chem=chem)


def test_step_types_of_a_capacity_test() -> None:
    data = capacity_test(
        params(), soc0=0.4, rate_c=0.5, nominal_capacity_ah=2.5, rng=np.random.default_rng(0)
    )
    types = step_table(data)["step_type"].to_list()
    assert types == [
        "rest",
        "cc_discharge",
        "rest",
        "cc_charge",
        "cv_charge",
        "rest",
        "cc_discharge",
        "rest",
    ]
    assert classify_test(data) is TestKind.CAPACITY


def test_capacity_without_resistance_equals_true_capacity() -> None:
    # with (almost) no resistance the cut-off is reached exactly at SOC 0, so the discharged
    # charge is the true capacity; 0.1 % covers current noise (0.02 % of I) and sampling
    data = capacity_test(
        params(r0=1e-9, capacity=1.7),
        soc0=0.4,
        rate_c=0.5,
        nominal_capacity_ah=2.0,
        rng=np.random.default_rng(1),
    )
    result = discharge_capacity(data)
    assert result.capacity_ah == pytest.approx(1.7, rel=1e-3)
    assert result.current_a == pytest.approx(-1.0, rel=1e-3)
    assert result.end_voltage_v == pytest.approx(2.7, abs=0.01)


def test_resistance_reduces_measured_capacity() -> None:
    low = discharge_capacity(
        capacity_test(
            params(r0=0.01),
            soc0=0.4,
            rate_c=1.0,
            nominal_capacity_ah=2.0,
            rng=np.random.default_rng(2),
        )
    )
    high = discharge_capacity(
        capacity_test(
            params(r0=0.15),
            soc0=0.4,
            rate_c=1.0,
            nominal_capacity_ah=2.0,
            rng=np.random.default_rng(2),
        )
    )
    assert high.capacity_ah < low.capacity_ah < 2.0


def expected_resistance(p: EcmParameters, t: float, current: float, soc0: float) -> float:
    """R(t) of the ECM for a discharge pulse, including the OCV drop from the charge removed."""
    drift = float(p.ocv.ocv(soc0) - p.ocv.ocv(soc0 - abs(current) * t / 3600.0 / p.capacity_ah))
    polar = (
        p.r0_ohm
        + p.r1_ohm * (1 - math.exp(-t / p.tau1_s))
        + p.r2_ohm * (1 - math.exp(-t / p.tau2_s))
    )
    return polar + drift / abs(current)


@pytest.mark.parametrize("delay", [0.1, 1.0, 10.0])
def test_pulse_resistance_matches_the_circuit(delay: float) -> None:
    p = params(r0=0.03)
    data = pulse_test(p, soc0=0.5, nominal_capacity_ah=2.0, rng=np.random.default_rng(3))
    assert classify_test(data) is TestKind.PULSE
    first = next(r for r in pulse_resistances(data) if r.current_a < 0)
    # 2 % covers the 0.5 mV voltage noise (≈ 0.25 mΩ at 2 A) and the 1 ms step-start offset
    assert first.resistance_ohm[delay] == pytest.approx(
        expected_resistance(p, delay, 2.0, 0.5), rel=0.02
    )
    assert dcir_ohm(data) == pytest.approx(first.resistance_ohm[10.0])


def test_no_pulse_and_no_discharge_are_errors() -> None:
    rest = pl.DataFrame({TIME: [0.0, 1.0, 2.0], VOLTAGE: [3.6, 3.6, 3.6], CURRENT: [0.0, 0.0, 0.0]})
    with pytest.raises(DiagnosticsError, match="no discharge pulse"):
        dcir_ohm(rest)
    with pytest.raises(DiagnosticsError, match="not a capacity test"):
        discharge_capacity(rest)
    assert classify_test(rest) is TestKind.OTHER


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(min_value=-5, max_value=5), min_size=3, max_size=80),
    st.lists(st.floats(min_value=0.1, max_value=30), min_size=80, max_size=80),
    st.sampled_from(["hold", "trapezoid", "exclude"]),
)
def test_segment_ampere_hours_conserve_charge(
    currents: list[float], steps_s: list[float], transitions: str
) -> None:
    """Per-segment Ah add up to the file's integral under the same rule: nothing lost or
    counted twice at boundaries (trapezoid within segments; at a segment's first row the
    interval is the new current held, a ramp, or not counted)."""
    n = len(currents)
    times = np.cumsum(steps_s[:n])
    data = pl.DataFrame({TIME: times, VOLTAGE: np.full(n, 3.7), CURRENT: currents})
    table = step_table(data, transitions=transitions)  # type: ignore[arg-type]
    net = float((table["charge_ah"] - table["discharge_ah"]).sum())
    i = np.asarray(currents)
    effective = np.concatenate([[0.0], (i[1:] + i[:-1]) / 2])
    starts = np.cumsum(table["n_points"].to_numpy())[:-1]  # first rows of segments 2, 3, …
    if transitions == "hold":
        effective[starts] = i[starts]
    elif transitions == "exclude":
        effective[starts] = 0.0
    direct = float(np.sum(effective[1:] * np.diff(times)) / 3600.0)
    if transitions == "trapezoid":
        assert direct == pytest.approx(float(np.trapezoid(currents, times) / 3600.0), abs=1e-12)
    assert net == pytest.approx(direct, abs=1e-9)
    assert table["n_points"].sum() == n


def random_rows(currents: list[float]) -> pl.DataFrame:
    """A BDF frame with the given currents, random times/voltages/temperatures, and steps and
    cycles that change every 3 and 11 rows (segments cut by keys as well as by current)."""
    n = len(currents)
    rng = np.random.default_rng(n)
    return pl.DataFrame(
        {
            TIME: np.cumsum(rng.uniform(0.5, 5.0, n)),
            VOLTAGE: rng.uniform(3.0, 4.2, n),
            CURRENT: currents,
            "step_id": np.repeat(np.arange(n), 3)[:n],
            "cycle_count": np.repeat(np.arange(n), 11)[:n],
            "surface_temperature_celsius": rng.uniform(20.0, 30.0, n),
        }
    )


CURRENTS = st.lists(st.sampled_from([-2.0, -0.004, 0.0, 0.003, 1.5]), min_size=2, max_size=120)


def row_splits(test: Callable[..., None]) -> Callable[..., None]:
    """Runs ``test(currents, threads, min_rows, transitions)`` over hypothesis cases of kernels
    whose rows are split in chunks."""
    cases = given(
        CURRENTS,
        st.integers(min_value=2, max_value=7),  # threads
        st.integers(min_value=1, max_value=40),  # minimum rows per chunk
        st.sampled_from(["hold", "trapezoid", "exclude"]),
    )
    return settings(deadline=None, max_examples=60)(cases(test))  # type: ignore[no-any-return]


@contextmanager
def split_rows(threads: int, min_rows: int) -> Iterator[None]:
    """Row chunks of at least ``min_rows`` rows over ``threads`` threads."""
    import echelon._parallel as parallel

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parallel, "PARALLEL_MIN_ROWS", min_rows)
        patch.setattr(parallel, "worker_threads", lambda: threads)
        yield


@row_splits
def test_threaded_segmentation_equals_one_pass(
    currents: list[float], threads: int, min_rows: int, transitions: str
) -> None:
    """numpy kernel: rows split over threads at any row (mid-segment too) give bit-for-bit the
    single-pass segment table: each chunk reads its predecessor's last row, and reductions run
    over whole segments."""
    import echelon._parallel as parallel

    data = random_rows(currents)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECHELON_KERNEL", "numpy")
        single = step_table(data, transitions=transitions)  # type: ignore[arg-type]
        with split_rows(threads, min_rows):
            n = data.height
            assert len(parallel.row_chunks(n)) == min(threads, max(1, n // min_rows))
            split = step_table(data, transitions=transitions)  # type: ignore[arg-type]
    assert split.equals(single)
