"""PulseBat turning points from raw pulse-test files: synthetic round trips through two tester
formats, the published PulseBat rows reproduced from the NEBULA step files, and bad input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echelon.errors import EchelonWarning, ReaderError, SchemaError
from echelon.estimation.methods import PulseMethod
from echelon.estimation.model import prepare
from echelon.estimation.pulse_raw import (
    cell_id_from_name,
    planned_soc_percent,
    pulse_points,
    read_pulse_samples,
)
from echelon.estimation.readers import ReadOptions, read_samples
from echelon.io import bdf
from echelon.synth.ecm import EcmParameters, capacity_test, pulse_test
from echelon.synth.pulsebat import pulsebat_test
from echelon.synth.writers import truncate_file, write_arbin_csv_file, write_bdf_csv_file
from tests.diagnostics.protocols import cell as protocol_cell

NOMINAL_AH = 2.0
FIVE_AMPLITUDES = (0.5, 1.0, 1.5, 2.0, 2.5)
OPTIONS = ReadOptions(chemistry="NMC622", nominal_capacity_ah=NOMINAL_AH)
CSV_TOLERANCE_V = 1e-6
"""The writers keep 6 decimals: a value read back differs by at most 0.5 µV."""
U_ALL = [f"u{i}_v" for i in range(1, 42)]


@pytest.fixture(scope="module")
def cell() -> EcmParameters:
    """A 2 Ah NMC cell at SOH 90 % with 30 mΩ ohmic resistance (a simulation setting)."""
    return protocol_cell(0.03, r1=0.015, r2=0.02, capacity=1.8, chem="NMC622")


@pytest.fixture(scope="module")
def two_blocks(cell: EcmParameters) -> pl.DataFrame:
    """Five amplitudes at SOC 30 % and 35 % (one 5 % conditioning charge between)."""
    rng = np.random.default_rng(11)
    return pulsebat_test(
        cell,
        soc0=0.3,
        nominal_capacity_ah=NOMINAL_AH,
        rng=rng,
        amplitudes_c=FIVE_AMPLITUDES,
        n_soc=2,
    )


def simulated_points(frame: pl.DataFrame, n_amplitudes: int, n_blocks: int) -> np.ndarray:
    """Turning points read off the simulator's step layout: block k is its rest (step
    1 + k (4 n + 2)) then (+pulse, rest, −pulse, rest) × n; a conditioning charge between."""
    edges = frame.group_by(bdf.STEP).agg(
        pl.col(bdf.VOLTAGE).first().alias("first"), pl.col(bdf.VOLTAGE).last().alias("last")
    )
    first = dict(zip(edges[bdf.STEP], edges["first"], strict=True))
    last = dict(zip(edges[bdf.STEP], edges["last"], strict=True))
    rows = []
    for k in range(n_blocks):
        rest = 1 + k * (4 * n_amplitudes + 2)
        slots = range(rest + 1, rest + 1 + 4 * n_amplitudes)
        rows.append([last[rest], *(v for s in slots for v in (first[s], last[s]))])
    return np.asarray(rows)


@pytest.mark.parametrize("tester", ["bdf_csv", "arbin_csv"])
def test_round_trip_reproduces_the_simulated_turning_points(
    two_blocks: pl.DataFrame, tmp_path: Path, tester: str
) -> None:
    path = tmp_path / f"cell07_SOC_30_{tester}.csv"
    if tester == "arbin_csv":
        write_arbin_csv_file(two_blocks, path, dt.datetime(2026, 12, 6, 8))
    else:
        write_bdf_csv_file(two_blocks, path)
    samples = read_pulse_samples(path, OPTIONS)
    assert samples is not None
    expected = simulated_points(two_blocks, n_amplitudes=5, n_blocks=2)
    got = samples.select(U_ALL).to_numpy()
    assert np.abs(got - expected).max() <= CSV_TOLERANCE_V
    assert samples["sample_id"].to_list() == [f"{path.stem}:block0", f"{path.stem}:block1"]
    assert samples["cell_id"].unique().to_list() == [path.stem]
    assert samples["pulse_width_s"].to_list() == [5.0, 5.0]
    # planned SOC from the name, then + 5 % of nominal by the conditioning charge; the
    # symmetric pulses add ±0.002 % (current noise)
    assert samples["soc_percent"].to_list() == pytest.approx([30.0, 35.0], abs=0.01)
    assert samples["soh_percent"].null_count() == 2  # no capacity calibration in the file
    method = PulseMethod.for_samples(samples)
    assert method.config() == {"n_points": 41}
    assert prepare(samples, method, labelled=False, source=path).height == 2


def test_start_of_pulse_is_after_the_ohmic_jump(
    two_blocks: pl.DataFrame, cell: EcmParameters
) -> None:
    """u34 − u33 (rest end → first sample of the +2.5 C pulse) is I·R0: the first sample
    lies after the ohmic jump, 1 ms into the pulse, where the RC pairs add < 0.1 %."""
    points = pulse_points(two_blocks, nominal_capacity_ah=NOMINAL_AH, n_points=41)
    current_a = 2.5 * NOMINAL_AH
    up = (points["u34_v"] - points["u33_v"]) / current_a
    down = (points["u35_v"] - points["u36_v"]) / current_a
    # voltage noise 0.5 mV per sample → 0.14 mΩ on a 5 A step; 2 % = 0.6 mΩ
    assert up.to_list() == pytest.approx([cell.r0_ohm] * 2, rel=0.02)
    assert down.to_list() == pytest.approx([cell.r0_ohm] * 2, rel=0.02)
    assert points["amplitudes_c"][0].to_list() == pytest.approx(FIVE_AMPLITUDES, rel=1e-3)
    assert points["cut_pulses"].to_list() == [0, 0]


def test_pulses_cut_by_voltage_protection_are_kept(cell: EcmParameters) -> None:
    """Near full charge the +1.5 C pulse hits the 4.2 V limit: it stops there, its rest follows,
    and the block still gives 21 points (as the PulseBat cells tested at high SOC)."""
    frame = pulsebat_test(
        cell, soc0=0.97, nominal_capacity_ah=NOMINAL_AH, rng=np.random.default_rng(3)
    )
    points = pulse_points(frame, nominal_capacity_ah=NOMINAL_AH)
    assert points["cut_pulses"][0] >= 1
    assert points["n_points"].to_list() == [21]
    assert points["u19_v"][0] == pytest.approx(cell.v_max_v, abs=0.005)  # the end of the cut pulse


def test_amplitudes_within_tolerance(cell: EcmParameters) -> None:
    rng = np.random.default_rng(5)
    near = pulsebat_test(
        cell, soc0=0.5, nominal_capacity_ah=NOMINAL_AH, rng=rng, amplitudes_c=(0.53, 0.94, 1.58)
    )
    points = pulse_points(near, nominal_capacity_ah=NOMINAL_AH)
    assert points["amplitudes_c"][0].to_list() == pytest.approx([0.53, 0.94, 1.58], rel=1e-3)
    off = pulsebat_test(
        cell, soc0=0.5, nominal_capacity_ah=NOMINAL_AH, rng=rng, amplitudes_c=(0.5, 1.25, 1.5)
    )
    with pytest.raises(
        SchemaError, match=r"expected a \+1 C pulse of 5 s, found a \+1\.25 C pulse"
    ):
        pulse_points(off, nominal_capacity_ah=NOMINAL_AH, source="off.csv")


def test_a_rest_split_in_two_steps_is_one_rest(two_blocks: pl.DataFrame) -> None:
    """Step 3 (the rest after +0.5 C) logged as two steps gives the same points."""
    t0 = two_blocks.filter(pl.col(bdf.STEP) == 3)[bdf.TIME][0]
    split = two_blocks.with_columns(
        pl.when((pl.col(bdf.STEP) == 3) & (pl.col(bdf.TIME) > t0 + 30.0))
        .then(1000)
        .otherwise(pl.col(bdf.STEP))
        .alias(bdf.STEP)
    )
    assert split[bdf.STEP].n_unique() == two_blocks[bdf.STEP].n_unique() + 1
    kw = {"nominal_capacity_ah": NOMINAL_AH, "n_points": 41}
    assert (
        pulse_points(split, **kw).select(U_ALL).equals(pulse_points(two_blocks, **kw).select(U_ALL))
    )


def test_a_missing_rest_nulls_its_two_points(two_blocks: pl.DataFrame) -> None:
    """Block 1's rest after +2.5 C (step 41) missing, as after PulseBat's zero-length cut pulses:
    the block keeps u1–u21, its u36/u37 are null, and the file reader drops u22–u41."""
    broken = two_blocks.filter(pl.col(bdf.STEP) != 41)
    points = pulse_points(broken, nominal_capacity_ah=NOMINAL_AH)
    assert points["n_points"].to_list() == [41, 21]
    assert points.select(U_ALL[:21]).equals(
        pulse_points(two_blocks, nominal_capacity_ah=NOMINAL_AH).select(U_ALL[:21])
    )
    assert points["u36_v"].to_list()[1] is None
    assert points["u37_v"].to_list()[1] is None
    with pytest.raises(SchemaError, match=r"no rest step after a \+2\.5 C pulse"):
        pulse_points(broken, nominal_capacity_ah=NOMINAL_AH, n_points=41)


def test_other_widths_are_named_and_selectable(cell: EcmParameters) -> None:
    frame = pulsebat_test(
        cell,
        soc0=0.5,
        nominal_capacity_ah=NOMINAL_AH,
        rng=np.random.default_rng(8),
        pulse_s=3.0,
        rest_s=45.0,
    )
    with pytest.raises(SchemaError, match="pulses found last 3 s: pass pulse_width_s"):
        pulse_points(frame, nominal_capacity_ah=NOMINAL_AH)
    points = pulse_points(frame, nominal_capacity_ah=NOMINAL_AH, pulse_width_s=None)
    assert points["pulse_width_s"].to_list() == [3.0]


def test_discharge_first_protocol_is_refused(cell: EcmParameters, tmp_path: Path) -> None:
    """A DCIR test (rest, −1 C 10 s, rest, +0.75 C) is a pulse test but not PulseBat."""
    frame = pulse_test(cell, soc0=0.5, nominal_capacity_ah=NOMINAL_AH, rng=np.random.default_rng(1))
    path = tmp_path / "U12_pulse.csv"
    write_bdf_csv_file(frame, path)
    with pytest.raises(SchemaError, match=r"U12_pulse\.csv") as info:
        read_pulse_samples(path, OPTIONS)
    message = str(info.value)
    assert "the first pulse is a −1 C pulse of 9.999 s (step 2 at t = 30.001 s)" in message
    assert "expected the PulseBat protocol" in message


def test_truncated_files(cell: EcmParameters, two_blocks: pl.DataFrame, tmp_path: Path) -> None:
    # cut mid-line: the tester reader names the file
    path = tmp_path / "cut.csv"
    write_bdf_csv_file(two_blocks, path)
    truncate_file(path, 0.6)
    with pytest.raises(ReaderError, match=r"cut\.csv"):
        read_pulse_samples(path, OPTIONS)
    # cut at a line inside the only block: nothing to keep
    one = pulsebat_test(
        cell, soc0=0.5, nominal_capacity_ah=NOMINAL_AH, rng=np.random.default_rng(2)
    )
    path = tmp_path / "short.csv"
    write_bdf_csv_file(one.head(800), path)
    with pytest.raises(SchemaError, match=r"short\.csv(.|\n)*truncated file or aborted test"):
        read_pulse_samples(path, OPTIONS)
    # cut in the second block: the first is kept, the second skipped with a warning
    path = tmp_path / "half.csv"
    write_bdf_csv_file(two_blocks.filter(pl.col(bdf.STEP) <= 30), path)
    with pytest.warns(EchelonWarning, match=r"half\.csv: the pulse block starting at step 24"):
        samples = read_pulse_samples(path, OPTIONS)
    assert samples is not None
    assert samples["sample_id"].to_list() == ["half:block0"]


def test_missing_options_and_non_pulse_files(
    two_blocks: pl.DataFrame, cell: EcmParameters, tmp_path: Path
) -> None:
    path = tmp_path / "cell_SOC30.csv"
    write_bdf_csv_file(two_blocks, path)
    with pytest.raises(SchemaError, match=r"cell_SOC30\.csv(.|\n)*pass --nominal-capacity-ah"):
        read_pulse_samples(path, ReadOptions(chemistry="NMC622"))
    with pytest.raises(SchemaError, match="pass --chemistry and --nominal-capacity-ah"):
        read_samples(path)
    capacity = tmp_path / "capacity.csv"
    frame = capacity_test(
        cell, soc0=0.5, rate_c=1.0, nominal_capacity_ah=NOMINAL_AH, rng=np.random.default_rng(4)
    )
    write_bdf_csv_file(frame, capacity)
    assert read_pulse_samples(capacity, OPTIONS) is None  # a tester file without pulses
    notes = tmp_path / "notes.txt"
    notes.write_text("not a tester file\n")
    assert read_pulse_samples(notes, OPTIONS) is None


def test_time_going_backwards_names_the_row(two_blocks: pl.DataFrame) -> None:
    shuffled = pl.concat([two_blocks.slice(100, 50), two_blocks.head(100)])
    with pytest.raises(SchemaError, match="row 51: test time goes backwards"):
        pulse_points(shuffled, nominal_capacity_ah=NOMINAL_AH, source="x.csv")


def test_names() -> None:
    name = "LMO_C_10_B_2_SOC_5-55_Part_1-1_ID_PIP15827A00221240.xlsx"
    assert planned_soc_percent(name) == 5.0
    assert planned_soc_percent("NMC_C_21_B_6_SOC_5-90_Part_2-2_ID_X.xlsx") is None
    assert planned_soc_percent("cell12_soc50.csv") == 50.0
    assert planned_soc_percent("cell12.csv") is None
    assert cell_id_from_name(name) == "LMO_C_10_B_2_SOC_5-55_ID_PIP15827A00221240"


# --- real data: the NEBULA step files of PulseBat against the authors' published features ----

PUBLISHED = {
    "LMO/LMO_C_10_B_2_SOC_5-55_Part_1-1_ID_PIP15827A00221240.xlsx": (
        "LMO",
        "10Ah LMO/LMO_10Ah_W_5000.xlsx",
    ),
    "NMC/NMC_C_21_B_6_SOC_5-90_Part_1-2_ID_02LCC02100101A87Y0052124.xlsx": (
        "NMC622",
        "21Ah NMC/NMC_21Ah_W_5000.xlsx",
    ),
}


def published_rows(workbook: Path, file_name: str) -> pl.DataFrame:
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(workbook)).get_sheet_by_name("SOC ALL").to_python()
    sheet = pl.DataFrame(rows[1:], schema=rows[0], orient="row", infer_schema_length=None)
    return sheet.filter(pl.col("File_Name") == file_name).sort("SOC")


@pytest.mark.real_data
@pytest.mark.parametrize("step_file", list(PUBLISHED))
def test_step_files_reproduce_the_published_features(
    real_dataset: Callable[[str], Path], step_file: str
) -> None:
    """Tao et al. 2024 extracted U1–U21 from these step tables; Echelon's reader and
    pulse_points give the same numbers at every SOC 5–50 %: max |ΔU| 0.0 mV (the published
    values carry the file's 0.1 mV resolution), SOC equal to the authors' SOCR and SOH equal to
    Q/Qn of the capacity calibration in the same file."""
    root = real_dataset("pulsebat")
    chem, workbook = PUBLISHED[step_file]
    path = root / "workstep_layer" / step_file
    qn = float(path.name.split("_")[2])
    ours = read_pulse_samples(path, ReadOptions(chemistry=chem, nominal_capacity_ah=qn))
    assert ours is not None
    ref = published_rows(root / "processed_features_W5000" / workbook, path.name)
    assert ref.height == 10  # SOC 5 … 50 %
    # block k was tested at planned SOC 5 (k + 1) %
    ours = ours.with_columns(((pl.col("block") + 1) * 5.0).alias("SOC"))
    both = ref.join(ours, on="SOC", how="left")
    published = both.select([f"U{i}" for i in range(1, 22)]).to_numpy().astype(float)
    computed = both.select(U_ALL[:21]).to_numpy()
    assert np.abs(published - computed).max() < 1e-6  # identical to the file's 4 decimals
    assert both["soc_percent"].to_numpy() == pytest.approx(100 * both["SOCR"].to_numpy(), abs=1e-6)
    assert both["soh_percent"].to_numpy() == pytest.approx(100 * both["SOH"].to_numpy(), abs=1e-6)
    assert ours["cell_id"][0].endswith(path.name.split("_ID_")[1].removesuffix(".xlsx"))


@pytest.mark.real_data
def test_every_width_of_a_step_file(real_dataset: Callable[[str], Path]) -> None:
    """The 10 Ah LMO file holds 10 widths (30 ms … 5 s) at 11 SOC levels. One block is broken
    (its rest has no sample near 15 pulse widths) and is reported; the other 109 are found — one
    of them only since the reader ends a paused step after its logged duration (step 2026)."""
    path = real_dataset("pulsebat") / "workstep_layer" / next(iter(PUBLISHED))
    from echelon.io import read

    frame, _ = read(path)
    with pytest.warns(EchelonWarning) as caught:
        points = pulse_points(
            frame, nominal_capacity_ah=10.0, pulse_width_s=None, incomplete="warn"
        )
    assert len(caught) == 1
    assert "has no sample near 15 pulse widths" in str(caught[0].message)
    widths = points.group_by("pulse_width_s").len().sort("pulse_width_s")
    assert widths["pulse_width_s"].to_list() == [
        0.03,
        0.05,
        0.07,
        0.1,
        0.3,
        0.5,
        0.7,
        1.0,
        3.0,
        5.0,
    ]
    assert points.height == 109


@pytest.mark.real_data
def test_25ah_lmo_step_files(real_dataset: Callable[[str], Path]) -> None:
    """The seven 25 Ah LMO files (no published feature rows): every 5 s block at SOC 5 %, 10 %, …
    is found with 41 points, 5 % of nominal capacity apart up to 30 %."""
    folder = real_dataset("pulsebat") / "workstep_layer" / "LMO"
    files = sorted(folder.glob("LMO_C_25_*.xlsx"))
    assert len(files) == 7
    samples = read_samples(files, chemistry="LMO", nominal_capacity_ah=25.0)
    for _, rows in samples.group_by("cell_id"):
        soc = rows.sort("block")["soc_percent"].to_numpy()
        assert soc[:6] == pytest.approx([5, 10, 15, 20, 25, 30], abs=0.05)
        assert rows["u41_v"].null_count() == 0
        # labelled by the capacity calibration in the same file (13.4–19.9 Ah of 25 Ah)
        assert 50.0 < rows["soh_percent"][0] < 85.0
