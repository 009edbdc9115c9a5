"""Pulses on hand-built logs with known answers: transients that are not pulses, the rest
dead-band, DCIR of pulses whose current varies, delays at float boundaries and shorter than the
sampling gap, relaxation from the load's end and one pulse numbering for every function."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from echelon.diagnostics import classify_test, pulse_table, step_table
from echelon.diagnostics.segments import rest_threshold
from echelon.diagnostics.steps import rest_threshold_a
from echelon.domain import TestKind
from echelon.io.bdf import CURRENT, TIME, VOLTAGE


def log(*parts: tuple[float, float, float, float]) -> pl.DataFrame:
    """A BDF frame from ``(duration_s, period_s, current_a, voltage_v)`` parts, each sampled
    from one period after the previous part's last sample (a tester that logs on a clock)."""
    times, currents, voltages, t = [0.0], [0.0], [3.7], 0.0
    for duration, period, current, voltage in parts:
        steps = np.arange(1, round(duration / period) + 1) * period
        times += (t + steps).tolist()
        currents += [current] * steps.size
        voltages += [voltage] * steps.size
        t += float(steps[-1])
    return pl.DataFrame({TIME: times, VOLTAGE: voltages, CURRENT: currents})


def test_a_one_sample_spike_is_neither_a_pulse_nor_the_peak_current() -> None:
    # NASA PCoE charge files open with one −4 A sample, then charge at 1.5 A down to a CV tail
    cc = [(600.0, 10.0, 1.5, 4.0)]
    tail = [(600.0, 10.0, 0.03, 4.2)]  # 2 % of the charge current: still charging
    data = log((10.0, 2.5, 0.0, 3.7), (2.5, 2.5, -4.0, 3.5), (3.0, 3.0, 0.0, 3.7), *cc, *tail)
    assert rest_threshold_a(data) == pytest.approx(0.015)  # 1 % of 1.5 A, not of 4 A
    steps = step_table(data)
    assert not steps.get_column("step_type").str.starts_with("pulse").any()
    assert steps.filter(pl.col("step_type") == "rest").get_column("end_s").max() < 20.0
    assert pulse_table(data).height == 0
    assert classify_test(data) is TestKind.OTHER
    # two samples (a start and an end reading, as step-layer files log a step) make a pulse
    two = log((10.0, 1.0, 0.0, 3.7), (2.0, 1.0, -4.0, 3.5), (60.0, 1.0, 0.0, 3.7), *cc)
    assert pulse_table(two).height == 1


def test_rest_threshold_is_set_by_two_samples() -> None:
    current = np.array([0.0, -9.0, 2.0, 0.0, 1.0, -2.0, 1.0, 0.0])
    assert rest_threshold(current) == pytest.approx(0.02)  # −9 is a spike; two samples reach 2
    assert rest_threshold(current[1:2]) == pytest.approx(0.09)  # one sample: the largest
    assert np.isnan(rest_threshold(np.array([1.0, np.nan, 2.0, 2.0])))


def pulses_at(
    starts_s: list[float], *, current_a: float = 22.5, drop_v: float = 0.045
) -> pl.DataFrame:
    """Identical 10 s charge pulses (0.1 s logging, times written to 0.1 s as a Bitrode does)
    from rest at 4.0 V, each after 60 s of rest logged every second."""
    parts = []
    for start in starts_s:
        rest = np.round(start - 0.1 - np.arange(60, -1, -1.0), 1)
        pulse = np.round(start + 0.1 * np.arange(100), 1)
        after = np.round(pulse[-1] + np.arange(1.0, 61.0), 1)
        parts.append(
            pl.DataFrame(
                {
                    TIME: np.concatenate([rest, pulse, after]),
                    CURRENT: np.concatenate([0.0 * rest, 0.0 * pulse + current_a, 0.0 * after]),
                    VOLTAGE: np.concatenate(
                        [0.0 * rest + 4.0, 0.0 * pulse + 4.0 + drop_v, 0.0 * after + 4.0]
                    ),
                }
            )
        )
    return pl.concat(parts)


def test_identical_pulses_get_the_same_10s_resistance_whatever_the_float_rounding() -> None:
    # 25034.9 + 10.0 > 25044.8 + 0.1 in floating point: the 10 s value was dropped for some pulses
    starts = [25034.9, 29795.0, 34555.1, 44075.3, 48835.4, 53595.5, 58355.6, 1000.3, 2000.7]
    table = pulse_table(pulses_at(starts))
    assert table.height == len(starts)
    assert table["dcir_10s_ohm"].to_list() == pytest.approx([0.045 / 22.5] * len(starts))
