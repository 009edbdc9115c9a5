"""Every vendor reader through one contract: detection, values, units, metadata, unknown columns."""

from __future__ import annotations

import inspect
import logging
import sys
import types
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echelon.errors import ColumnMapError, ReaderError
from echelon.io import available_readers, detect_reader, get_reader, read
from echelon.io.bdf import CURRENT, CYCLE, STEP, SURFACE_T, TIME, UNIX_TIME, VOLTAGE
from echelon.io.generic import load_column_map
from tests.io import formats
from tests.io.test_readers import sample_frame

VENDOR = sorted(formats.WRITERS)
TOLERANCE = {  # absolute tolerance of what the layout keeps (decimals written)
    TIME: 2e-3,  # Neware writes elapsed time in milliseconds
    VOLTAGE: 1e-4,  # Bitrode keeps 4 decimals
    CURRENT: 1e-4,
}


def write(name: str, folder: Path, frame: pl.DataFrame | None = None) -> Path:
    filename, writer = formats.WRITERS[name]
    path = folder / f"{name}_{filename}"
    writer(sample_frame() if frame is None else frame, path)
    return path


@pytest.mark.parametrize("name", VENDOR)
def test_vendor_reader_contract(name: str, tmp_path: Path) -> None:
    path = write(name, tmp_path)
    reader = get_reader(name)
    assert reader.can_read(path)
    assert detect_reader(path).name == name
    lazy, meta = reader.read(path)
    assert isinstance(lazy, pl.LazyFrame)
    assert meta.reader == name
    assert len(meta.source_sha256) == 64
    data, meta = read(path)
    original = sample_frame()
    if name == "nebula_steps_xlsx":  # a step table: each step's first and last sample survive
        steps = original.group_by(STEP, maintain_order=True).agg(
            pl.col(VOLTAGE).first().alias("v0"), pl.col(VOLTAGE).last().alias("v1")
        )
        assert data.height == 2 * steps.height
        got = data.get_column(VOLTAGE).to_numpy()
        assert np.allclose(got[0::2], steps["v0"].to_numpy(), atol=1e-6)
        assert np.allclose(got[1::2], steps["v1"].to_numpy(), atol=1e-6)
        return
    assert data.height == original.height
    for column, atol in TOLERANCE.items():
        expected = original.get_column(column).to_numpy()
        if column == TIME:
            expected = expected - (
                expected[0] if name in ("nasa_pcoe_csv", "neware_bts7_csv") else 0
            )
        assert np.allclose(data.get_column(column).to_numpy(), expected, atol=atol), column


@pytest.mark.parametrize("name", VENDOR)
def test_no_other_reader_claims_a_vendor_file(name: str, tmp_path: Path) -> None:
    path = write(name, tmp_path)
    claimed = [r.name for r in available_readers() if r.can_read(path)]
    assert claimed == [name]


def test_maccor_current_is_signed_from_the_state_column(tmp_path: Path) -> None:
    data, meta = read(write("maccor_txt", tmp_path))
    assert (data.get_column(CURRENT) < 0).any()
    assert (data.get_column(CURRENT) > 0).any()
    assert meta.instrument == "Maccor"
    assert meta.start_time is not None
    assert meta.start_time.year == 2026
    assert meta.extra["procedure"] == "capacity.000"
    assert "Amp-hr" in str(meta.extra["not_stored"])


def test_arbin_workbook_joins_channel_sheets_and_reads_info(tmp_path: Path) -> None:
    data, meta = read(write("arbin_xlsx", tmp_path))
    assert data.height == sample_frame().height
    assert meta.channel == "1-001"
    assert meta.extra["schedule"] == "capacity.sdu"
    assert meta.extra["sheets_read"] == "Channel_1-001, Channel_1-001_2"
    assert meta.extra["sheets_not_read"] == "Statistics_1-001"
    assert data.get_column(UNIX_TIME)[0] == pytest.approx(
        formats.START.replace(tzinfo=__import__("datetime").UTC).timestamp(), abs=1.0
    )


def test_neware_units_and_elapsed_time_text(tmp_path: Path) -> None:
    data, _ = read(write("neware_csv", tmp_path))
    original = sample_frame()
    # written in mA and mAh, read back in A (and the h:mm:ss.fff clock parsed to seconds)
    assert data.get_column(CURRENT).abs().max() == pytest.approx(
        original.get_column(CURRENT).abs().max(), rel=1e-6
    )
    assert data.get_column(TIME)[-1] == pytest.approx(original.get_column(TIME)[-1], abs=1e-3)
    assert data.get_column(SURFACE_T)[0] == pytest.approx(original.get_column(SURFACE_T)[0])


def test_biologic_decimal_comma_and_preamble(tmp_path: Path) -> None:
    path = tmp_path / "comma.mpt"
    formats.biologic_mpt(sample_frame(), path, decimal_comma=True)
    data, meta = read(path)
    assert np.allclose(data[VOLTAGE].to_numpy(), sample_frame()[VOLTAGE].to_numpy(), atol=1e-6)
    assert meta.channel == "3"
    assert meta.instrument == "VMP3"
    assert meta.start_time is not None
    assert meta.start_time.day == 22
    assert "ox/red" in str(meta.extra["not_stored"])


def test_biologic_windows_1252_temperature_is_read(tmp_path: Path) -> None:
    """EC-Lab writes Windows-1252: ``Temperature/°C`` must not be decoded as GB18030 (where
    ``°C`` is one Chinese character) and left unmapped."""
    path = tmp_path / "cp1252.mpt"
    formats.biologic_mpt(sample_frame(), path)
    assert "Temperature/°C".encode("cp1252") in path.read_bytes()
    data, meta = read(path)
    assert meta.unmapped_columns == []
    assert np.allclose(data[SURFACE_T].to_numpy(), sample_frame()[SURFACE_T].to_numpy(), atol=1e-4)


def test_biologic_impedance_file_keeps_im_z_sign(tmp_path: Path) -> None:
    path = tmp_path / "peis.mpt"
    table = formats.biologic_eis_mpt(path)
    data, _ = read(path)
    # BDF stores Im Z (negative on the capacitive arc); EC-Lab prints −Im(Z)
    assert np.allclose(data["imaginary_impedance_ohm"], -table["-Im(Z)/Ohm"].to_numpy(), atol=1e-6)
    assert data[CYCLE].n_unique() == 2


@pytest.mark.parametrize("header", [True, False])
def test_bitrode_with_and_without_header(tmp_path: Path, header: bool) -> None:
    path = tmp_path / "bitrode.csv"
    formats.bitrode_csv(sample_frame(), path, header=header)
    data, meta = read(path)
    assert meta.reader == "bitrode_csv"
    assert data.height == sample_frame().height
    assert "Loop" in str(meta.extra["not_stored"])


def test_nasa_names_the_columns_it_does_not_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named in a warning once per process (a batch of files from one tester would repeat it),
    and in every file's metadata."""
    import echelon.io.base

    monkeypatch.setattr(echelon.io.base, "_UNMAPPED_WARNED", set())
    path = write("nasa_pcoe_csv", tmp_path)
    with caplog.at_level(logging.WARNING):
        _, meta = read(path)
    assert meta.unmapped_columns == ["current_load", "voltage_load", "ic"]
    assert "current_load, voltage_load, ic" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _, again = read(path)
    assert again.unmapped_columns == meta.unmapped_columns
    assert "current_load" not in caplog.text


def test_nebula_step_table_capacities(tmp_path: Path) -> None:
    from echelon.diagnostics import step_table

    frame = sample_frame()
    path = tmp_path / "steps.xlsx"
    steps = formats.nebula_steps_xlsx(frame, path)
    data, meta = read(path)
    assert meta.channel == "7"
    assert data.get_column("discharging_capacity_ah").max() == pytest.approx(
        float(steps["放电容量(Ah)"].abs().max()), rel=1e-9
    )
    # a constant-current step's two samples integrate to its charge exactly
    table = step_table(data)
    assert table["discharge_ah"].max() == pytest.approx(
        float(steps["放电容量(Ah)"].abs().max()), rel=1e-3
    )


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_generic_column_map_converts_units(tmp_path: Path, suffix: str) -> None:
    mapping = tmp_path / f"acme{suffix}"
    mapping.write_text(formats.GENERIC_MAP_YAML if suffix == ".yaml" else formats.GENERIC_MAP_TOML)
    path = tmp_path / "acme.csv"
    formats.generic_csv(sample_frame(), path)
    data, meta = read(path, column_map=mapping)
    original = sample_frame()
    assert meta.reader == "acme_9000"
    assert meta.instrument == "Acme 9000"
    assert meta.unmapped_columns == ["Comment"]
    # minutes → s, mV → V, discharge-positive mA → BDF A, °F → °C
    for column in (TIME, VOLTAGE, CURRENT, SURFACE_T):
        assert np.allclose(data[column].to_numpy(), original[column].to_numpy(), atol=1e-6), column


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('columns:\n  "U [mV]": {bdf: voltage_volt, unit: mAh}\n', "is a charge"),
        ('columns:\n  "U [mV]": {bdf: volts, unit: mV}\n', "unknown BDF column"),
        ('columns:\n  "U [mV]": {bdf: voltage_volt, unit: parsec}\n', "unknown unit"),
        ("columns: [1, 2]\n", "columns"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_column_maps_are_explained(tmp_path: Path, body: str, match: str) -> None:
    mapping = tmp_path / "bad.yaml"
    mapping.write_text(body)
    with pytest.raises(ColumnMapError, match=match):
        load_column_map(mapping)


def test_header_unit_contradicting_the_map_is_mixed_units(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        formats.GENERIC_MAP_YAML.replace(
            "{bdf: voltage_volt, unit: mV}", "{bdf: voltage_volt, unit: V}"
        )
    )
    path = tmp_path / "acme.csv"
    formats.generic_csv(sample_frame(), path)
    with pytest.raises(ReaderError, match=r"column 'U \[mV\]': mixed units"):
        read(path, column_map=mapping)


def test_neware_binary_needs_the_optional_decoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.nda"
    path.write_bytes(b"NEWARE" + bytes(100))
    for module in ("fastnda", "NewareNDA"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails
    with pytest.raises(ReaderError, match=r"echelon\[neware\]"):
        read(path)
    # with a decoder installed, its columns go through the Neware map (mA → A)
    fake = types.ModuleType("fastnda")
    frame = sample_frame()

    def fake_read(file: str, cycle_mode: str) -> pl.DataFrame:
        del file, cycle_mode
        return frame.select(
            pl.col(TIME).alias("total_time_s"),
            pl.col(VOLTAGE).alias("voltage_V"),
            (pl.col(CURRENT) * 1000).alias("current_mA"),
            pl.col(STEP).alias("step_count"),
            pl.lit("CC_DChg").alias("step_type"),
        )

    fake.read = fake_read  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fastnda", fake)
    data, meta = read(path)
    assert meta.reader == "neware_nda"
    assert np.allclose(data[CURRENT].to_numpy(), frame[CURRENT].to_numpy())


def _as_bdf(samples: pl.DataFrame) -> pl.DataFrame:
    """NEBULA samples (before the column map) as the BDF columns a step table needs."""
    return samples.select(
        ((pl.col("时间") - pl.col("时间").first()).dt.total_milliseconds() / 1e3).alias(TIME),
        pl.col("电压(V)").alias(VOLTAGE),
        pl.col("电流(A)").alias(CURRENT),
        pl.col("工步序号").cast(pl.Int64).alias("step_id"),
    )


def test_nebula_step_paused_by_the_tester_ends_after_its_duration() -> None:
    """A 180 s, 10 A charge whose stamps span 2 h (a tester pause, as PulseBat LMO B2 step 2026)
    integrates to 0.5 A·h, not 20 A·h: the step ends after its logged duration and the pause
    becomes a zero-current sample at the end stamp."""
    from echelon.diagnostics import step_table
    from echelon.io.nebula import NEBULA_COLUMNS, steps_to_samples

    steps = pl.LazyFrame(
        {
            "工步序号": [1.0, 2.0],
            "循环": [1.0, 1.0],
            "绝对时间": ["2026-01-01 00:00:00.000", "2026-01-01 02:00:00.000"],
            "结束时间": ["2026-01-01 02:00:00.000", "2026-01-01 02:10:00.000"],
            "持续时间(h:min:s:ms)": ["00:03:00.000", "00:10:00.000"],
            "起始电压(V)": [3.60, 3.70],
            "结束电压(V)": [3.68, 3.69],
            "起始电流(A)": [10.0, 0.0],
            "结束电流(A)": [10.0, 0.0],
            "充电容量(Ah)": [0.5, 0.0],
            "放电容量(Ah)": [0.0, 0.0],
        }
    )
    samples = steps_to_samples(steps).collect()
    assert samples.height == 5  # start, end after 180 s, pause; start and end of the rest
    assert samples["电流(A)"].to_list() == [10.0, 10.0, 0.0, 0.0, 0.0]
    stamps = samples["时间"].to_list()
    assert (stamps[1] - stamps[0]).total_seconds() == 180.0
    assert (stamps[2] - stamps[0]).total_seconds() == 7200.0
    assert "持续时间(h:min:s:ms)" not in NEBULA_COLUMNS  # read, never stored
    assert step_table(_as_bdf(samples))["charge_ah"].sum() == pytest.approx(0.5, rel=1e-9)


def test_nebula_gap_between_steps_integrates_nothing() -> None:
    """A 10 A, 60 s charge that starts 1 h after the previous step ended (PulseBat has gaps of
    hours to days where placeholder steps have no time): the gap ends with a zero-current sample of
    the earlier step, so the file integrates to 10 A × 60 s, not 10 A × 3,660 s."""
    from echelon.diagnostics import step_table
    from echelon.io.nebula import steps_to_samples

    steps = pl.LazyFrame(
        {
            "工步序号": [1.0, 2.0],
            "绝对时间": ["2026-01-01 00:00:00.000", "2026-01-01 01:10:00.000"],
            "结束时间": ["2026-01-01 00:10:00.000", "2026-01-01 01:11:00.000"],
            "起始电压(V)": [3.60, 3.62],
            "结束电压(V)": [3.61, 3.70],
            "起始电流(A)": [0.0, 10.0],
            "结束电流(A)": [0.0, 10.0],
        }
    )
    samples = steps_to_samples(steps).collect()
    assert samples["电流(A)"].to_list() == [0.0, 0.0, 0.0, 10.0, 10.0]
    assert samples["工步序号"].to_list() == [1.0, 1.0, 1.0, 2.0, 2.0]  # the gap closes step 1
    assert samples["电压(V)"][2] == 3.62  # at the next step's start voltage
    charge_ah = step_table(_as_bdf(samples))["charge_ah"].sum()
    assert charge_ah == pytest.approx(10.0 * 60.0 / 3600.0, rel=1e-4)


def test_neware_column_map_covers_the_installed_decoder() -> None:
    """Every column fastnda returns by default (its ``DTYPE_MAP``) is mapped to BDF or knowingly
    ignored, so a real ``.nda``/``.ndax`` loses nothing silently. (No real Neware binary file is
    available to these tests; the decoding itself is fastnda's.)"""
    dicts = pytest.importorskip("fastnda.dicts", reason="fastnda not installed (echelon[neware])")
    from echelon.io.neware import NDA_COLUMNS, NDA_IGNORED

    assert set(dicts.DTYPE_MAP) <= set(NDA_COLUMNS) | NDA_IGNORED
    assert {"total_time_s", "voltage_V", "current_mA"} <= set(NDA_COLUMNS)
    import fastnda

    assert "raw" in str(inspect.signature(fastnda.read).parameters["cycle_mode"].annotation)


def test_nebula_cc_cv_step_integrates_to_its_charge() -> None:
    """A CC-CV charge (25 A → 1.25 A over 3,543 s, 1.6597 A·h CC + 4.3919 A·h CV, PulseBat LMO
    B101 step 2) integrates to its 6.0516 A·h, not to the 12.9 A·h of a straight ramp between
    its start and end: the CC→CV corner comes after 1.6597 A·h at 25 A, at the CV voltage."""
    from echelon.diagnostics import step_table
    from echelon.io.nebula import steps_to_samples

    steps = pl.LazyFrame(
        {
            "工步序号": [1.0],
            "绝对时间": ["2026-01-01 00:00:00.000"],
            "结束时间": ["2026-01-01 00:59:03.000"],
            "起始电压(V)": [4.0072],
            "结束电压(V)": [4.1999],
            "起始电流(A)": [25.0004],
            "结束电流(A)": [1.2493],
            "充电容量(Ah)": [6.0516],
            "放电容量(Ah)": [0.0],
            "恒流容量(Ah)": [1.6597],
            "恒压容量(Ah)": [4.3919],
        }
    )
    samples = steps_to_samples(steps).collect()
    assert samples.height == 4  # start, CC→CV corner, CV knee, end
    stamps = samples["时间"].to_list()
    assert (stamps[1] - stamps[0]).total_seconds() == pytest.approx(1.6597 * 3600 / 25.0004)
    assert samples["电压(V)"].to_list()[1:] == [4.1999] * 3
    assert samples["电流(A)"][1] == 25.0004
    assert samples["累计充电容量(Ah)"][1] == pytest.approx(1.6597, rel=1e-9)
    table = step_table(_as_bdf(samples))
    assert table["step_type"].to_list() == ["cv_charge"]
    assert table["charge_ah"][0] == pytest.approx(6.0516, rel=1e-6)
