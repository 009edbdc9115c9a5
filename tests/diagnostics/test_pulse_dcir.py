"""The DCIR a pulse file stands for: the standard 10 s value, or the end of a shorter pulse, of
the strongest constant-current discharge pulse at the SOC level nearest the power SOC — read from
step-level data (a NEBULA step table, PulseBat's layout) as from the full log."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from echelon.diagnostics import (
    dcir_method,
    dcir_ohm,
    pulse_resistances,
    pulse_table,
    reference_pulse,
)
from echelon.diagnostics.resistance import DCIR_REFERENCE_SOC
from echelon.io import read
from echelon.routing.applications import load_applications
from echelon.synth.ecm import ProtocolRecorder
from tests.diagnostics.protocols import CAPACITY_AH, cell
from tests.io.formats import nebula_steps_xlsx

TRUE_CAPACITY_AH = 0.8 * CAPACITY_AH
WIDTHS_S = (0.1, 1.0, 5.0)
AMPLITUDES_C = (0.5, 1.5)
LEVELS = (0.1, 0.25, 0.4)
"""SOC of each pulse block [fraction of the true capacity]."""


def pulsebat_like() -> pl.DataFrame:
    """A full cell discharged to its cut-off (the capacity test), then at each SOC level a 10-min
    rest and ±0.5, ±1.5 C pulses of 0.1, 1 and 5 s, each followed by a rest of 15 widths."""
    params = cell(capacity=TRUE_CAPACITY_AH, chem="NMC622")
    rec = ProtocolRecorder(params, 1.0, np.random.default_rng(3))
    rec.rest(600.0, 10.0)
    rec.constant_current(-CAPACITY_AH / 2, sample_s=10.0, max_s=4 * 3600, stop_below_v=2.7)
    rec.rest(1800.0, 10.0)
    soc = 0.0
    for level in LEVELS:
        charge_s = (level - soc) * TRUE_CAPACITY_AH / CAPACITY_AH * 3600
        rec.constant_current(CAPACITY_AH, sample_s=1.0, max_s=charge_s)
        soc = level
        rec.rest(600.0, 1.0)
        for width in WIDTHS_S:
            for amplitude in AMPLITUDES_C:
                for sign in (1.0, -1.0):
                    rec.constant_current(sign * amplitude * CAPACITY_AH, sample_s=0.01, max_s=width)
                    rec.rest(15 * width, 0.1)
    return rec.frame()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The full log and the same test read back from a NEBULA step-layer workbook."""
    full = pulsebat_like()
    path = tmp_path_factory.mktemp("nebula") / "steps.xlsx"
    nebula_steps_xlsx(full, path)
    steps, _ = read(path)
    return full, steps


def test_the_reference_is_the_strongest_5s_discharge_at_the_level_nearest_the_power_soc(
    logs: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    full, steps = logs
    for frame in (full, steps):
        pulses = pulse_resistances(frame)
        chosen = reference_pulse(pulses)
        assert chosen is not None
        assert chosen.current_a == pytest.approx(-1.5 * CAPACITY_AH, rel=0.01)
        assert chosen.dcir_read_s == pytest.approx(5.0, abs=0.05)
        assert chosen.soc == pytest.approx(0.25, abs=0.01)  # the level nearest 0.2
        assert dcir_method(chosen) == "pulse_dcir_5s_soc25"
        assert dcir_ohm(frame, pulses=pulses) == chosen.end_ohm
    # the step table gives the full log's value: ΔV/ΔI from the last rest sample to the pulse end
    table = [
        pulse_table(f).filter(
            (pl.col("duration_s") > 4) & (pl.col("current_a") < -2.5) & (pl.col("soc") > 0.2)
        )
        for f in logs
    ]
    assert table[1].item(0, "dcir_end_ohm") == pytest.approx(
        table[0].item(0, "dcir_end_ohm"), rel=1e-3
    )
    # R0 + R1 (1 − e^(−5/τ1)) + R2 (1 − e^(−5/τ2)) of the simulated cell, plus the OCV slope
    r = 0.03 + 0.018 * (1 - np.exp(-5 / 2.0)) + 0.024 * (1 - np.exp(-5 / 60.0))
    assert table[1].item(0, "dcir_end_ohm") == pytest.approx(r, rel=0.05)


def test_a_pulse_logged_at_its_ends_only_has_no_value_in_between(
    logs: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """A straight line through a 5 s pulse's two step-table samples is no reading at 1 s."""
    full, steps = logs
    long_full, long_steps = (pulse_table(f).filter(pl.col("duration_s") > 4) for f in (full, steps))
    assert long_full.get_column("dcir_1s_ohm").null_count() == 0
    assert long_steps.get_column("dcir_1s_ohm").null_count() == long_steps.height
    assert long_steps.get_column("dcir_end_ohm").null_count() == 0


def test_the_reference_soc_is_the_power_soc_of_most_applications() -> None:
    socs = [spec.power_soc for spec in load_applications().application.values()]
    assert min(socs) == DCIR_REFERENCE_SOC
    assert sum(s == DCIR_REFERENCE_SOC for s in socs) > len(socs) / 2
