"""Readers and diagnostics on real measured data (../shared/datasets; skipped when absent).

Each validation target of the readers issue has at least one test here on a subset of the real
files; the full validations (all files) are benchmarks whose numbers are in docs/validation.md
(``benchmarks/test_validation.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echelon.diagnostics import (
    cycle_summary,
    discharge_capacity,
    fit_spectra,
    hppc_table,
    ica_peaks,
    incremental_capacity,
    pulse_table,
    step_table,
    track_peaks,
)
from echelon.io import read
from echelon.io.bdf import frame_sha256

pytestmark = pytest.mark.real_data
Dataset = Callable[[str], Path]
CALCE_SMALL = [
    "CS2_35_8_17_10.xlsx",
    "CS2_35_8_18_10.xlsx",
    "CS2_35_8_19_10.xlsx",
    "CS2_35_9_8_10.xlsx",
]


def calce_reference(root: Path) -> pl.DataFrame:
    """The derived CALCE summary, full cycles only (PROVENANCE: discharge > 0.05 Ah and the
    median discharge current ≈ −1.1 A)."""
    return pl.read_csv(root / "CS2_35-38_cycle_summary.csv").filter(
        (pl.col("cell") == "CS2_35")
        & (pl.col("discharge_capacity_Ah") > 0.05)
        & ((pl.col("median_discharge_current_A") + 1.1).abs() < 0.05)
    )


def test_calce_per_cycle_discharge_capacity_within_1_percent(real_dataset: Dataset) -> None:
    root = real_dataset("calce")
    reference = calce_reference(root)
    errors = []
    for name in CALCE_SMALL:
        frame, meta = read(root / "CS2_35" / name)
        assert meta.reader == "arbin_xlsx"
        assert meta.channel == "1-008"
        ours = cycle_summary(frame).select("cycle_count", "discharge_ah")
        ref = reference.filter(pl.col("source_file") == name).select(
            pl.col("cycle_in_file").alias("cycle_count"), "discharge_capacity_Ah"
        )
        joined = ours.join(ref, on="cycle_count")
        assert joined.height == ref.height > 0
        errors += (joined["discharge_ah"] / joined["discharge_capacity_Ah"] - 1).abs().to_list()
    # the target: within 1 % on ≥ 99 % of cycles (here: every cycle of these files)
    assert max(errors) < 0.01


def test_calce_duplicated_workbook_is_recognised_by_its_data(real_dataset: Dataset) -> None:
    folder = real_dataset("calce") / "CS2_35"
    a, meta_a = read(folder / "CS2_35_2_4_11.xlsx")
    b, meta_b = read(folder / "CS2_35_2_10_11.xlsx")
    assert meta_a.source_sha256 != meta_b.source_sha256  # the files differ in workbook bytes
    assert frame_sha256(a) == frame_sha256(b)  # … but hold the same measurements


def test_nasa_capacity_from_discharge_curves_matches_metadata(real_dataset: Dataset) -> None:
    root = real_dataset("nasa") / "discharge"
    errors = []
    for cell in ("B0005", "B0006", "B0007", "B0018"):
        files = sorted(
            root.joinpath(cell).glob("dis_*.csv"), key=lambda p: int(p.name.split("_")[1])
        )
        for path in files[:: max(1, len(files) // 8)]:
            stated = float(re.search(r"cap_([0-9.]+)\.csv", path.name).group(1))  # type: ignore[union-attr]
            frame, _ = read(path)
            # NASA's Capacity: trapezoidal ∫I dt until the voltage first drops below 2.7 V,
            # for every cell whatever its cut-off (docs/validation.md)
            ours = discharge_capacity(frame, to_voltage_v=2.7, transitions="trapezoid")
            errors.append(abs(ours.capacity_ah / stated - 1))
    assert max(errors) < 0.01


def test_nissan_leaf_hppc_resistance_falls_with_temperature(real_dataset: Dataset) -> None:
    root = real_dataset("nissan_leaf")
    files = {
        10: "NissanLeaf-cell-Low-Current-HPPC-10C.csv",  # no header row
        25: "NissanLeaf-cell-Low-Current-HPPC-25C-2.csv",
        40: "NissanLeaf-cell-Low-Current-HPPC-40C-1.csv",
    }
    grid = np.linspace(0.2, 0.9, 8)
    curves = {}
    for temperature, name in files.items():
        frame, meta = read(root / name)
        assert meta.reader == "bitrode_csv"
        table = hppc_table(frame, temperature_c=temperature).filter(pl.col("kind") == "discharge")
        assert table.height == 10
        order = np.argsort(table["soc"].to_numpy())
        curves[temperature] = np.interp(
            grid, table["soc"].to_numpy()[order], table["dcir_10s_ohm"].to_numpy()[order]
        )
    # Arrhenius: the cold cell is the most resistive at every SOC, the warm one the least
    assert (curves[10] > curves[25]).all()
    assert (curves[25] >= curves[40]).all()
    assert 1.0e-3 < curves[25].mean() < 4.0e-3  # ≈ 2 mΩ for a 33 Ah EV cell


def test_nissan_leaf_regen_pulse_held_at_the_voltage_limit(real_dataset: Dataset) -> None:
    """The 25 °C file's first regen pulse reaches 4.2 V: 9.6 → 22.5 → 16.1 A. Its resistance is
    ΔV/ΔI at each instant (hand values 1.582, 1.822 and 2.852 mΩ 0.2 s, 1.1 s after the onset and
    at the end, with ΔI from 0 A instead of the resting 10 mA) and it is flagged; the other
    identical 10 s pulses all have a 10 s value."""
    frame, _ = read(real_dataset("nissan_leaf") / "NissanLeaf-cell-Low-Current-HPPC-25C-2.csv")
    table = pulse_table(frame, times_s=(0.2, 1.1, 10.0))
    assert table["current_varies"].to_list() == [False, True] + [False] * 18
    row = table.row(1, named=True)
    got = [row[c] * 1e3 for c in ("dcir_200ms_ohm", "dcir_1.1s_ohm", "dcir_end_ohm")]
    assert got == pytest.approx([1.582, 1.822, 2.852], abs=2e-3)
    assert table["dcir_10s_ohm"].null_count() == 0


def main_peak(frame: pl.DataFrame) -> pl.DataFrame:
    curves = incremental_capacity(frame)
    peaks = track_peaks(ica_peaks(curves, min_height_fraction=0.6))
    return peaks.filter(pl.col("track") == peaks["track"].mode()[0])


def test_calce_dqdv_peak_shrinks_and_moves_down_with_ageing(real_dataset: Dataset) -> None:
    folder = real_dataset("calce") / "CS2_35"
    early = main_peak(read(folder / "CS2_35_8_30_10.xlsx")[0])
    late = main_peak(read(folder / "CS2_35_1_28_11.xlsx")[0])
    # 1 C discharge of LCO/graphite: loss of active material lowers the main peak and the
    # rising resistance shifts it to lower voltage (Dubarry et al. 2012)
    assert late["height"].mean() < 0.6 * early["height"].mean()  # type: ignore[operator]
    assert late["voltage_v"].mean() < early["voltage_v"].mean() - 0.02  # type: ignore[operator]


def test_nasa_dqdv_peak_shrinks_with_ageing(real_dataset: Dataset) -> None:
    root = real_dataset("nasa") / "discharge" / "B0005"
    files = sorted(root.glob("dis_*.csv"), key=lambda p: int(p.name.split("_")[1]))
    first = main_peak(read(files[0])[0])
    last = main_peak(read(files[-1])[0])
    assert last["height"][0] < 0.85 * first["height"][0]
    assert last["voltage_v"][0] < first["voltage_v"][0]


def test_pulsebat_step_tables_read_with_tester_capacities(real_dataset: Dataset) -> None:
    folder = real_dataset("pulsebat") / "workstep_layer"
    path = next(folder.glob("NMC/*.xlsx"))
    frame, meta = read(path)
    assert meta.reader == "nebula_steps_xlsx"
    capacity = discharge_capacity(frame).capacity_ah
    # the calibration discharge (step 4) as the tester integrated it: 21.0443 Ah
    assert capacity == pytest.approx(21.0443, rel=1e-3)
    for other in folder.glob("LMO/*.xlsx"):
        data, _ = read(other)
        assert step_table(data).height > 100


def test_pulsebat_step_tables_give_each_steps_charge_and_energy(real_dataset: Dataset) -> None:
    """The nine NEBULA step files: a long step's charge and energy are the file's counters (a
    CC-CV charge was integrated as a straight ramp, 0.65–2.35× its charge, before 2026-12-07);
    a pulse, which the 0.1 mA·h / 0.1 mW·h counters read as 0–2 counts, is integrated within the
    step. Every cycle's mean charge and discharge voltage (W·h ÷ A·h) lies within that cycle's
    voltage range, and its coulombic efficiency is finite (the counters alone gave 2–8 V, inf,
    and efficiencies of exactly 0 or 1)."""
    from echelon.io import xlsx

    folder = real_dataset("pulsebat") / "workstep_layer"
    files = sorted(folder.glob("*/*.xlsx"))
    assert len(files) == 9
    for path in files:
        frame, _ = read(path)
        table = step_table(frame)
        book = xlsx.open_workbook(path)
        raw, _ = xlsx.sheet_frame(book, book.sheet_names[0], 0)
        raw = raw.filter(pl.col("绝对时间").is_not_null())
        pairs = {
            "charge_ah": "充电容量(Ah)",
            "discharge_ah": "放电容量(Ah)",
            "charge_wh": "充电能量(Wh)",
            "discharge_wh": "放电能量(Wh)",
        }
        for ours, theirs in pairs.items():
            expected = float(raw.get_column(theirs).abs().sum())
            assert table[ours].sum() == pytest.approx(expected, rel=0.01), (path.name, ours)
        cv = table.filter(pl.col("step_type") == "cv_charge")
        assert cv["charge_ah"][0] == pytest.approx(float(raw["充电容量(Ah)"][1]), rel=1e-9)
        summary = cycle_summary(frame)
        for side in ("charge", "discharge"):
            mean = summary.get_column(f"mean_{side}_voltage_v").drop_nulls().drop_nans()
            inside = summary.filter(pl.col(f"mean_{side}_voltage_v").is_not_nan()).select(
                (pl.col(f"mean_{side}_voltage_v") >= pl.col("min_voltage_v") * 0.999)
                & (pl.col(f"mean_{side}_voltage_v") <= pl.col("max_voltage_v") * 1.001)
            )
            assert mean.len() > 0.9 * summary.height, (path.name, side)
            assert inside.to_series().all(), (path.name, side)
        efficiency = summary.get_column("coulombic_efficiency").drop_nulls()
        assert efficiency.is_finite().all(), path.name
        assert ((efficiency > 0.0) & (efficiency != 1.0)).mean() > 0.9, path.name  # type: ignore[operator]


def test_bitrode_discharge_matches_its_own_counter(real_dataset: Dataset) -> None:
    path = real_dataset("nissan_leaf") / "1C-Discharge-Bitrode-data.csv"
    frame, _ = read(path)
    raw = pl.read_csv(path, has_header=False, truncate_ragged_lines=True)
    counter = float(raw.get_column("column_11").min())  # type: ignore[arg-type]  # Capacity(Ah)
    assert discharge_capacity(frame).capacity_ah == pytest.approx(-counter, rel=0.005)


def test_real_impedance_spectra_fit_within_a_few_percent(real_dataset: Dataset) -> None:
    path = real_dataset("eis_zhang2020") / "raw_EIS" / "EIS_state_V_25C01.txt"
    frame, meta = read(path)
    assert meta.reader == "biologic_mpt"
    fits = fit_spectra(frame.filter(pl.col("cycle_count") <= 5))
    assert fits.height == 5
    assert (fits["rms_relative"] < 0.05).all()
    assert (fits["r_squared"] > 0.99).all()


PULSEBAT_DCIR = {
    # step file (workstep_layer/…), its feature workbook (processed_features_W5000/…), nominal
    # A·h, and the file's DCIR [Ω] with its method: −2.5 C, 5 s, at the level nearest 20 % SOC
    "NMC/NMC_C_21_B_6_SOC_5-90_Part_1-2_ID_02LCC02100101A87Y0052124.xlsx": (
        "21Ah NMC/NMC_21Ah_W_5000.xlsx",
        21.0,
        2.832e-3,
        "pulse_dcir_5s_soc20",
    ),
    "LMO/LMO_C_10_B_2_SOC_5-55_Part_1-1_ID_PIP15827A00221240.xlsx": (
        "10Ah LMO/LMO_10Ah_W_5000.xlsx",
        10.0,
        10.44e-3,
        "pulse_dcir_5s_soc17",
    ),
}


@pytest.mark.parametrize("name", sorted(PULSEBAT_DCIR))
def test_pulsebat_step_table_dcir_agrees_with_the_published_turning_points(
    real_dataset: Dataset, name: str
) -> None:
    """ΔV/ΔI of the 5 s, −0.5 C and −1 C pulses of a step table at every SOC level equals the
    authors' U1–U21 of the same cell: (U5 − U7) / 0.5 C and (U13 − U15) / 1 C (U5, U13 the rest
    before the pulse, U7, U15 its end); the file's DCIR is the same reading of its −2.5 C pulse."""
    from echelon.diagnostics import dcir_method, pulse_resistances, reference_pulse
    from echelon.estimation.readers import read_pulsebat_workbook

    root = real_dataset("pulsebat")
    workbook, nominal_ah, dcir, method = PULSEBAT_DCIR[name]
    frame, _ = read(root / "workstep_layer" / name)
    cell_id = name.rsplit("_ID_", 1)[1].removesuffix(".xlsx")
    published = (
        read_pulsebat_workbook(root / "processed_features_W5000" / workbook, sheets=["SOC ALL"])
        .filter(pl.col("cell_id").str.ends_with(f":{cell_id}"))
        .sort("soc_percent")
    )
    assert published.height == 10  # 5 … 50 % SOC
    pulses = pulse_table(frame).filter(pl.col("duration_s") > 4.5)
    for rate_c, (before, end) in ((0.5, ("u5_v", "u7_v")), (1.0, ("u13_v", "u15_v"))):
        ours = pulses.filter(
            (pl.col("current_a") + rate_c * nominal_ah).abs() < 0.05 * rate_c * nominal_ah
        ).head(published.height)
        theirs = (published[before] - published[end]) / (rate_c * nominal_ah)
        assert np.allclose(ours["dcir_end_ohm"], theirs, rtol=2e-3)  # 0.06 % at most (2026-12-07)
        assert np.allclose(ours["voltage_before_v"], published[before], atol=1e-4)
    chosen = reference_pulse(pulse_resistances(frame))
    assert chosen is not None
    assert chosen.end_ohm is not None
    assert chosen.end_ohm == pytest.approx(dcir, rel=1e-3)
    assert dcir_method(chosen) == method


EIS_SOH_FILES = {
    "wett_eis_txt": [
        "Warwick/Cell02_95SOH_25degC_50SOC_9505_60Cycles.txt",
        "Stanford/W8_50SOC_125Cycles.txt",
        "Multisine_EIS_RH/MultiSine_NC0005_10kHz_100mHz_Cyc3.txt",
    ],
    "gamry_dta": ["Experimental_Data_RH/SingleSine_NC0008_10kHz_1mHz_Cyc5_SOC70.txt"],
}


@pytest.mark.parametrize(
    ("reader", "name"), [(r, n) for r, names in EIS_SOH_FILES.items() for n in names]
)
def test_eis_soh_spectra_read_as_tester_files(
    reader: str, name: str, real_dataset: Dataset
) -> None:
    """The eis_soh spectra (PROVENANCE: Warwick, Stanford, Köln) read as the same spectrum by
    the tester reader and by ``echelon soh`` (refused by every tester reader before 2026-12-07)."""
    from echelon.estimation import eis
    from echelon.estimation.eis_readers import read_eis_file
    from echelon.estimation.readers import ReadOptions

    path = real_dataset("eis_soh") / name
    frame, meta = read(path)
    assert meta.reader == reader
    sample = read_eis_file(path, ReadOptions(chemistry="NMC811", nominal_capacity_ah=2.0))
    assert sample is not None
    assert sample.height == 1
    pairs = {"frequency_hertz": eis.FREQUENCY, "real_impedance_ohm": eis.Z_REAL,
             "imaginary_impedance_ohm": eis.Z_IMAG}  # fmt: skip
    for column, listed in pairs.items():
        assert np.allclose(frame[column].to_numpy(), sample.item(0, listed).to_numpy()), column
    assert frame["imaginary_impedance_ohm"].min() < 0 < frame["imaginary_impedance_ohm"].max()


def test_warwick_spectra_in_a_manifest_get_the_soh_of_soh_predict(
    real_dataset: Dataset, tmp_path: Path
) -> None:
    """``eis:`` rows naming Warwick files are taken in as they are (no reader recognised them
    before 2026-12-07) and get the point estimate ``soh predict --model eis-lco-nmc811`` gives."""
    from typer.testing import CliRunner

    from echelon.cli import app
    from echelon.estimation.eis_readers import read_eis_file
    from echelon.estimation.readers import ReadOptions
    from echelon.estimation.zoo import load_model

    root = real_dataset("eis_soh") / "Warwick"
    files = {
        "W02": root / "Cell02_95SOH_25degC_50SOC_9505_60Cycles.txt",
        "W23": root / "Cell23_80SOH_25degC_50SOC_9039_180Cycles.txt",
    }
    rows = "".join(f"{b},cell,NMC811,4.9,3.6,yes,eis:{p}\n" for b, p in files.items())
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "battery_id,level,chemistry,nominal_capacity_ah,ocv_v,has_traceability,test_files\n" + rows
    )
    db = f"sqlite:///{tmp_path / 'r.db'}"
    runner = CliRunner()
    taken = runner.invoke(app, ["intake", str(manifest), "--db", db, "--workers", "0"])
    assert taken.exit_code == 0, taken.output
    listed = runner.invoke(app, ["batteries", "--db", db, "--format", "csv"])
    intake_soh = dict(
        pl.read_csv(listed.stdout.encode()).select("battery_id", "soh_percent").iter_rows()
    )
    model = load_model("eis-lco-nmc811")
    for battery, path in files.items():
        sample = read_eis_file(path, ReadOptions())
        assert sample is not None
        predicted = model.predict(sample.drop("soh_percent")).item(0, "soh_percent")
        assert intake_soh[battery] == pytest.approx(predicted, abs=1e-6)
