"""Layouts of real tester exports seen in peer projects' test data, each reproduced by a small
fixture written here (no third-party file is copied): where the layout was seen is cited."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import pytest

from echelon.errors import ReaderError
from echelon.io import detect_reader, read
from echelon.io.bdf import AMBIENT_T, CURRENT, SURFACE_T, TIME, UNIX_TIME, VOLTAGE

# Arbin MITS Pro CSV export with spaced column names, a byte-order mark, CRLF line ends and a tab
# before each timestamp (layout described in battery-data-alliance/battery-data-format,
# arbin_sample_files.md, "Format A").
ARBIN_SPACED = (
    "\ufeffData Point,Date Time,Test Time (s),Step Time (s),Cycle Index,Step Index,TC_Counter1,"
    "Current (A),Voltage (V),Power (W),Charge Capacity (Ah),Discharge Capacity (Ah),"
    "Charge Energy (Wh),Discharge Energy (Wh),ACR (Ohm),dV/dt (V/s),Internal Resistance (Ohm),"
    "Aux_Temperature_1 (C)\r\n"
    "1,\t10/10/2023 16:09:14.661,0,0,1,1,0,0,3.6012,0,0,0,0,0,0,0,0,24.1\r\n"
    "2,\t10/10/2023 16:09:24.661,10,10,1,1,0,0,3.6013,0,0,0,0,0,0,0,0,24.1\r\n"
    "3,\t10/10/2023 16:09:34.912,20.251,0,1,2,0,-1.25,3.5101,-4.39,0,0.0001,0,0,0.02,0,0.021,"
    "24.2\r\n"
)


def test_arbin_mits_pro_spaced_names(tmp_path: Path) -> None:
    path = tmp_path / "cell_Channel_1.csv"
    path.write_bytes(ARBIN_SPACED.encode("utf-8"))
    assert detect_reader(path).name == "arbin_csv"
    frame, meta = read(path)
    assert frame[TIME].to_list() == [0.0, 10.0, 20.251]
    assert frame[VOLTAGE].to_list() == [3.6012, 3.6013, 3.5101]
    assert frame[CURRENT].to_list() == [0.0, 0.0, -1.25]
    assert frame[SURFACE_T].to_list() == [24.1, 24.1, 24.2]
    assert frame["internal_resistance_ohm"][2] == pytest.approx(0.021)
    # the fractional seconds of "Date Time" are kept (the format was not among the guessed ones)
    start = dt.datetime(2023, 10, 10, 16, 9, 14, 661000, tzinfo=dt.UTC).timestamp()
    assert frame[UNIX_TIME].to_list() == pytest.approx([start, start + 10.0, start + 20.251])
    assert meta.start_time == dt.datetime(2023, 10, 10, 16, 9, 14, 661000)
    # names reported as the file writes them
    assert meta.unmapped_columns == ["TC_Counter1", "ACR (Ohm)"]
    assert "Step Time (s)" in str(meta.extra["not_stored"])


def test_arbin_workbook_style_names_without_cycle_index(tmp_path: Path) -> None:
    # Arbin exports without Cycle_Index and with "Internal Resistance(Ohm)" / "Surface_Temp(degC)"
    # (battery-data-alliance/battery-data-format, arbin_sample_files.md, "Format B", A123 files)
    path = tmp_path / "a123.csv"
    path.write_text(
        "Date_Time,Test_Time(s),Step_Time(s),Step_Index,Voltage(V),Current(A),"
        "Internal Resistance(Ohm),Surface_Temp(degC)\n"
        "2021-03-01 10:00:00,0,0,1,3.3,0,0.01,25.0\n"
        "2021-03-01 10:00:01,1,1,1,3.29,-2.3,0.01,25.1\n"
    )
    frame, meta = read(path)
    assert meta.reader == "arbin_csv"
    assert frame[SURFACE_T].to_list() == [25.0, 25.1]
    assert frame["internal_resistance_ohm"].to_list() == [0.01, 0.01]
    assert meta.unmapped_columns == []


# A MIMS text export under the test's numbered name, with the one-line preamble of BEEP's Maccor
# files (TRI-AMDD/beep, beep/tests/test_files/PreDiag_000229_000229_truncated.034).
MACCOR_NUMBERED = (
    "Today's Date 09/01/2020  Date of Test:\t12/16/2019\t Filename:\tE:\\data\\Cell_000229.034 "
    "Procedure: Cell_000229.000\tComment/Barcode: 000229\n"
    "Rec#\tCyc#\tStep\tTest (Sec)\tStep (Sec)\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\tES\tDPt Time\t"
    "WF Chg Cap\tVAR1\n"
    "1\t0\t1\t0.0000\t0.0000\t0.0\t0.0\t0.0000\t3.4592\tR\t0\t12/16/2019 14:03:25\tN/A\t0.0\n"
    "2\t0\t1\t30.0000\t30.0000\t0.0\t0.0\t0.0000\t3.4591\tR\t1\t12/16/2019 14:03:55\tN/A\t0.0\n"
    "3\t0\t2\t31.0000\t1.0000\t0.0003\t0.001\t1.0000\t3.4012\tD\t0\t12/16/2019 14:03:56\tN/A\t0.0\n"
)


def test_maccor_export_with_a_numbered_suffix(tmp_path: Path) -> None:
    path = tmp_path / "Cell_000229.034"
    path.write_text(MACCOR_NUMBERED)
    assert detect_reader(path).name == "maccor_txt"
    frame, meta = read(path)
    assert frame[TIME].to_list() == [0.0, 30.0, 31.0]
    assert frame[CURRENT].to_list() == [0.0, 0.0, -1.0]  # D: discharge, negative in BDF
    assert meta.extra["procedure"] == "Cell_000229.000"


def test_maccor_binary_raw_file_says_to_export_text(tmp_path: Path) -> None:
    path = tmp_path / "Cell_000229.001"
    path.write_bytes(b"MACCOR\x00\x01\x02" * 64)
    with pytest.raises(ReaderError, match=r"Maccor raw data file.*export the test from MIMS"):
        detect_reader(path)


def test_neware_bts8_with_cumulative_time(tmp_path: Path) -> None:
    # BTS 8 record table whose test time is "Cumulative Time" and which logs specific capacities
    # per direction (jepegit/cellpy, testdata/data/neware_uio.csv)
    path = tmp_path / "neware.csv"
    path.write_text(
        "DataPoint,Cycle Index,Step Index,Step Type,Time,Cumulative Time,Current(A),Voltage(V),"
        "Chg. Cap.(Ah),Chg. Spec. Cap.(mAh/g),DChg. Cap.(Ah),Date,Contact resistance(mO)\n"
        "1,1,1,Rest,00:00:00,00:00:00,0.00000000,2.9170,0,0.00,0,2022-05-18 16:27:52,0\n"
        "2,1,1,Rest,00:01:00,00:01:00,0.00000000,2.9176,0,0.00,0,2022-05-18 16:28:52,0\n"
        "3,1,2,CC Chg,00:00:30,00:01:30,0.50000000,3.1010,0.0042,1.20,0,2022-05-18 16:29:22,0\n"
    )
    assert detect_reader(path).name == "neware_csv"
    frame, meta = read(path)
    assert frame[TIME].to_list() == [0.0, 60.0, 90.0]
    assert frame[CURRENT].to_list() == [0.0, 0.0, 0.5]
    assert meta.unmapped_columns == ["Contact resistance(mO)"]


def test_battery_archive_time_series(tmp_path: Path) -> None:
    # batteryarchive.org time series: no step index, ambient and cell temperature (header as in
    # the Battery Archive schema audits of peer projects, e.g. celljar's BatteryArchive tests)
    path = tmp_path / "SNL_18650_LFP_25C_0-100_0.5-1C_a_timeseries.csv"
    path.write_text(
        "Date_Time,Test_Time (s),Cycle_Index,Current (A),Voltage (V),Charge_Capacity (Ah),"
        "Discharge_Capacity (Ah),Charge_Energy (Wh),Discharge_Energy (Wh),"
        "Environment_Temperature (C),Cell_Temperature (C)\n"
        "2018-08-28 11:41:22,0.0,1,0.0,3.2953,0.0,0.0,0.0,0.0,25.1,25.6\n"
        "2018-08-28 11:41:32,10.0,1,0.55,3.3421,0.0015,0.0,0.005,0.0,25.1,25.6\n"
    )
    assert detect_reader(path).name == "battery_archive_csv"
    frame, meta = read(path)
    assert frame[CURRENT].to_list() == [0.0, 0.55]
    assert frame[AMBIENT_T].to_list() == [25.1, 25.1]
    assert frame[SURFACE_T].to_list() == [25.6, 25.6]
    assert meta.unmapped_columns == []


def test_maccor_start_time_written_out_or_as_a_date_only(tmp_path: Path) -> None:
    # "Date of Test:" with the month written out (jepegit/cellpy, testdata/data/maccor_001.txt,
    # whose elapsed times read "  0d 00:00:5.05") and as a date only (BEEP's .034 above): the start
    # is the stated instant, or the first sample's wall clock on the stated day
    header = (
        "Rec#\tCyc#\tStep\tTestTime\tStepTime\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\tES\tDPt Time\n"
    )
    rows = (
        "1\t0\t1\t  0d 00:00:0\t  0d 00:00:0\t0.0\t0.0\t0.0\t3.4625\tR\t0\t12/11/2020 12:22:12\n"
        "2\t0\t2\t  0d 00:00:5.05\t  0d 00:00:0.05\t0.0\t0.0\t0.504\t3.4162\tD\t0\t"
        "12/11/2020 12:22:17\n"
    )
    spelled = tmp_path / "spelled.txt"
    spelled.write_text(
        "Today's Date:\t14 December 2020\tDate of Test:\t11 December 2020, 12:22:10 PM\n"
        "Filename:\tM50_0deg_01\tTester Channel:\t1\nProcedure:\tM50.000\tDescription:\t\n"
        + header
        + rows
    )
    frame, meta = read(spelled)
    assert frame[TIME].to_list() == [0.0, 5.05]
    assert meta.start_time == dt.datetime(2020, 12, 11, 12, 22, 10)  # the preamble's, not 12:22:12
    assert meta.extra["procedure"] == "M50.000"
    date_only = tmp_path / "date_only.txt"
    date_only.write_text("Today's Date 12/14/2020  Date of Test:\t12/11/2020\n" + header + rows)
    assert read(date_only)[1].start_time == dt.datetime(2020, 12, 11, 12, 22, 12)


def test_maccor_export_with_bracketed_names_and_decimal_commas(tmp_path: Path) -> None:
    # the MIMS export whose columns read "Rec, Cycle P, Cycle C, …, Current [A], Voltage [V], Md,
    # ES, DPT Time", written with decimal commas in Latin-1 after a preamble (jepegit/cellpy,
    # cellpy/readers/instruments/configurations/maccor_txt_four.py, "data from KIT")
    preamble = "".join(f"Zeile {i}:\tÜbersicht\n" for i in range(1, 12))
    text = (
        preamble
        + "Rec\tCycle P\tCycle C\tStep\tTestTime\tStepTime\tCap. [Ah]\tEner. [Wh]\tCurrent [A]\t"
        "Voltage [V]\tMd\tES\tDPT Time\n"
        "1\t0\t0\t1\t0,000\t0,000\t0,0000\t0,0000\t0,0000\t3,6011\tR\t0\t21.04.2021 10:00:00\n"
        "2\t0\t0\t1\t10,000\t10,000\t0,0000\t0,0000\t0,0000\t3,6012\tR\t1\t21.04.2021 10:00:10\n"
        "3\t0\t1\t2\t11,000\t1,000\t0,0006\t0,0021\t2,0000\t3,5102\tD\t0\t21.04.2021 10:00:11\n"
    )
    path = tmp_path / "KIT_cell.txt"
    path.write_bytes(text.encode("latin-1"))
    assert detect_reader(path).name == "maccor_txt"
    frame, meta = read(path)
    assert frame[TIME].to_list() == [0.0, 10.0, 11.0]
    assert frame[VOLTAGE].to_list() == [3.6011, 3.6012, 3.5102]
    assert frame[CURRENT].to_list() == [0.0, 0.0, -2.0]  # Md "D": discharge
    assert frame["cycle_count"].to_list() == [0, 0, 1]  # from "Cycle C"
    assert meta.start_time == dt.datetime(2021, 4, 21, 10, 0, 0)
    assert meta.unmapped_columns == []


def test_biologic_cell_voltage_is_ewe_minus_ece_when_ece_is_recorded(tmp_path: Path) -> None:
    # EC-Lab v11.61 GCPL with "Record Ece": Ewe/V (working electrode vs reference) comes before
    # Ewe-Ece/V (the cell) and the current is only "<I>/mA" (dgbowl/yadg,
    # tests/test_x_eclab/gcpl.issue_226.I.mpt)
    path = tmp_path / "gcpl_C02.mpt"
    path.write_text(
        "EC-Lab ASCII FILE\nNb header lines : 6\n\nGalvanostatic Cycling with Potential "
        "Limitation\n\n"
        "mode\tNs\ttime/s\tEwe/V\tEce/V\t<I>/mA\tcycle number\tEwe-Ece/V\t\n"
        "1\t1\t4.8200E-002\t-5.0306384E-002\t-9.4320464E-001\t0.0000000E+000\t0\t8.9289826E-001\n"
        "1\t1\t1.0048E+001\t-1.3842598E-003\t-9.8784536E-001\t1.2000817E-001\t0\t9.8646110E-001\n",
        encoding="cp1252",
    )
    frame, meta = read(path)
    assert frame[VOLTAGE].to_list() == [0.89289826, 0.9864611]
    assert frame[CURRENT].to_list() == pytest.approx([0.0, 1.2000817e-4])
    assert meta.unmapped_columns == ["Ewe/V", "Ece/V"]


MACCOR_GROUPED = (
    "Today's Date 09/01/2020  Date of Test:\t12/19/2019\tFilename:\tC:\\data\\WMG_07.034\n"
    "Rec#\tCyc#\tStep\tTest (Sec)\tStep (Sec)\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\tES\tDPt Time\n"
    "1,233\t12\t5\t262,923.5000\t600.0000\t1.2345\t4.1234\t1.0000\t3.9123\tC\t0\t"
    "12/19/2019 3:05:28 PM\n"
    "1,234\t12\t5\t262,933.5000\t610.0000\t1.2373\t4.1334\t1.0000\t3.9133\tC\t0\t"
    "12/19/2019 3:05:38 PM\n"
    "1,235\t12\t6\t{time}\t1.0000\t1,001.5\t4.1334\t1,000.0000\t3.8133\tD\t0\t"
    "12/19/2019 3:05:39 PM\n"
)


def test_numbers_with_thousands_separators(tmp_path: Path) -> None:
    # Maccor text exported under an English Windows locale writes "262,923.5000" (jepegit/cellpy,
    # cellpy/readers/instruments/configurations/maccor_txt_three.py: thousands=",", WMG/UBham)
    path = tmp_path / "WMG_07.txt"
    path.write_text(MACCOR_GROUPED.format(time="262,934.5000"))
    frame, _ = read(path)
    assert frame[TIME].to_list() == [262923.5, 262933.5, 262934.5]
    assert frame[CURRENT].to_list() == [1.0, 1.0, -1000.0]
    bad = tmp_path / "WMG_08.txt"
    bad.write_text(MACCOR_GROUPED.format(time="262,93x.5000"))
    with pytest.raises(ReaderError, match=r"row 3, column 'Test \(Sec\)': '262,93x.5000' is not"):
        read(bad)


def test_bdf_csv_labels_in_other_units(tmp_path: Path) -> None:
    # a BDF CSV written by another tool: test time in hours, "Charge Capacity / Ah" for
    # "Charging Capacity / Ah", label columns BDF does not define (jepegit/cellpy,
    # testdata/data/batmo_bdf.csv); a current in mA is converted the same way
    path = tmp_path / "batmo_bdf.csv"
    path.write_text(
        "Test Time / h,Current / mA,Voltage / V,Step Type / 1,Cycle Count / 1,Step Index / 1,"
        "Charge Capacity / Ah,Discharge Capacity / Ah\n"
        "0.5,-6.05,3.3112,discharge,1,1,0,0.0030\n"
        "1.0,0,3.3105,rest,1,2,0,0.0030\n"
    )
    assert detect_reader(path).name == "bdf_csv"
    frame, meta = read(path)
    assert frame[TIME].to_list() == [1800.0, 3600.0]
    assert frame[CURRENT].to_list() == pytest.approx([-0.00605, 0.0])
    assert frame["discharging_capacity_ah"].to_list() == [0.003, 0.003]
    assert meta.unmapped_columns == ["Step Type / 1"]


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        # Arbin MITS Pro .res: a Microsoft Access database (galvani reads these with mdbtools)
        ("cell.res", b"\x00\x01\x00\x00Standard Jet DB\x00" + bytes(200), "Arbin MITS Pro .res"),
        # Neware export with cycle, step and record levels in one table (jepegit/cellpy,
        # testdata/data/nw_regular_export_ife_example.csv)
        (
            "levels.csv",
            b"Cycle Index,Chg. Cap.(Ah),DChg. Cap.(Ah)\n,Step Index,Step Number,Step Type\n"
            b",,DataPoint,Time,Total Time,Current(A),Voltage(V)\n1,0.02,0.33,1,1,Rest\n"
            b",,1,00:00:00,00:00:00,0.0,4.3185\n",
            "export the record level alone",
        ),
        # the BTS 7 spelling of the same nested layout
        (
            "levels7.csv",
            b"Cycle ID,,,,\n,Step ID,,,\n,,Record ID,Time(h:min:s.ms),Voltage(V)\n1,,,,\n"
            b",1,,,\n,,1,0:00:01.0,3.20\n",
            "export the record level alone",
        ),
        # the same exported tab-separated (it got the generic "no reader" message)
        (
            "levels7.txt",
            b"Cycle ID\t\t\t\t\n\tStep ID\t\t\t\n\t\tRecord ID\tTime(h:min:s.ms)\tVoltage(V)\n"
            b"1\t\t\t\t\n\t1\t\t\t\n\t\t1\t0:00:01.0\t3.20\n",
            "export the record level alone",
        ),
    ],
)
def test_known_unread_kinds_say_what_to_export(
    tmp_path: Path, name: str, content: bytes, says: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReaderError, match=says):
        detect_reader(path)


def test_novonix_file_with_quoted_lines(tmp_path: Path) -> None:
    # Novonix HPC data file: summary and protocol blocks, then a table whose every line is one
    # quoted string, run time in hours (TRI-AMDD/beep,
    # beep/tests/test_files/raw/test_Nova_Form-CH01-01_short.csv); it was refused before
    path = tmp_path / "Form-CH01-01.csv"
    path.write_text(
        "[Summary]\nNovonix HPC data file\nNovonix\nChannel: 01\nCell: Form-CH01-01.csv\n"
        "Protocol: Formation.pro1\nStarted: 2022-04-11 10:58:07 AM\nVersion: 2.2.1.6\n"
        "[End Summary]\n[Protocol]\n"
        '"   [During CC, Save data when Δt > 1 minutes or when ΔV > 0.005 V]"\n'
        "[End Protocol]\n[Data]\n"
        '"Date and Time,Cycle Number,Step Type,Run Time (h),Step Time (h),Current (A),'
        "Potential (V),Capacity (Ah),Temperature (°C),Circuit Temperature (°C),Energy (Wh),"
        'dVdt (I/h),dIdt (V/h),Step Number,Step position"\n'
        '"2022-04-11 10:58:07 AM,1,0,0.0000000,0.0000000,0.0000000000,3.1373641,0.0,38.929,23.366,'
        '0.0,0.0,0.0,1,0"\n'
        '"2022-04-11 01:00:07 PM,1,1,2.0333333,0.0333333,0.2400000000,3.5112345,0.008,39.101,23.4,'
        '0.028,0.0,0.0,2,1"\n',
        encoding="utf-8",
    )
    assert detect_reader(path).name == "novonix_csv"
    frame, meta = read(path)
    assert frame[TIME].to_list() == pytest.approx([0.0, 7320.0])
    assert frame[VOLTAGE].to_list() == [3.1373641, 3.5112345]
    assert frame[CURRENT].to_list() == [0.0, 0.24]
    start = dt.datetime(2022, 4, 11, 10, 58, 7)
    assert frame[UNIX_TIME][1] - frame[UNIX_TIME][0] == 7320.0  # 01:00:07 PM is 13:00:07
    assert (meta.start_time, meta.channel, meta.instrument) == (start, "01", "Novonix")
    assert meta.unmapped_columns == []


NOVONIX_SHORT = (
    "[Summary]\nNovonix\nChannel: 01\nStarted: 2022-04-11 10:58:07 AM\n[End Summary]\n[Data]\n"
    '"Date and Time,Cycle Number,Step Type,Run Time (h),Current (A),Potential (V),Step Number"\n'
    '"2022-04-11 10:58:07 AM,1,0,0.0,0.0,3.1,1"\n'
    '"2022-04-11 10:58:08 AM,1,0,0.0002778,{current},3.2,{step}"\n'
)
"""A Novonix table whose lines are quoted whole (layout of TRI-AMDD/beep,
beep/tests/test_files/raw/test_Nova_Form-CH01-01_short.csv), its second row's current and step
left to fill."""


@pytest.mark.parametrize(
    ("current", "step", "column", "value"),
    [("0.1x", "2", "Current (A)", "0.1x"), ("0.1", "2?", "Step Number", "2?")],
)
def test_bad_value_in_a_quoted_line_is_located(
    tmp_path: Path, current: str, step: str, column: str, value: str
) -> None:
    # the lines are unquoted before the typed scan; until 2026-12-07 the scan that locates a
    # failed value read them quoted, as one field, and the error named no row or column
    path = tmp_path / "bad.csv"
    path.write_text(NOVONIX_SHORT.format(current=current, step=step), encoding="utf-8")
    said = rf"row 2, column '{re.escape(column)}': '{re.escape(value)}' is not a number \(line 9 "
    with pytest.raises(ReaderError, match=said):
        read(path)


def test_placeholders_and_padded_numbers_are_read(tmp_path: Path) -> None:
    # Neware BTS 7 writes a tab and "-" where it has no DCIR (TRI-AMDD/beep's Neware reader
    # replaces "\t-" before parsing); numbers padded with blanks are numbers too
    path = tmp_path / "record_file.csv"
    path.write_text(
        "Record ID,Realtime,Time(h:min:s.ms),Step ID,Cycle ID,Current(mA),Voltage(V),"
        "Capacitance_Chg(mAh),Capacitance_DChg(mAh),Engy_Chg(mWh),Engy_DChg(mWh),DCIR(O)\n"
        "1,2019-05-08 10:00:00,0:00:00.000,1,1,0.0 ,3.5012,0,0,0,0,\t-\n"
        "2,2019-05-08 10:00:10,0:00:10.000,2,1,1000.0,3.6112 ,2.7,0,9.8,0,0.0213\n"
    )
    frame, meta = read(path)
    assert meta.reader == "neware_bts7_csv"
    assert frame[VOLTAGE].to_list() == [3.5012, 3.6112]
    assert frame[CURRENT].to_list() == [0.0, 1.0]
    assert frame["internal_resistance_ohm"].to_list() == [None, 0.0213]


def test_biologic_device_without_its_serial_number(tmp_path: Path) -> None:
    # EC-Lab v11 writes "Device : VMP3 (SN 0858)" and "Run on channel : 2 (SN 21643)"
    # (dgbowl/yadg, tests/test_x_eclab/gcpl.issue_226.I.mpt)
    path = tmp_path / "gcpl_C02.mpt"
    path.write_text(
        "EC-Lab ASCII FILE\nNb header lines : 7\n\nRun on channel : 2 (SN 21643)\n"
        "Device : VMP3 (SN 0858)\nAcquisition started on : 08/04/2025 09:35:26.748\n"
        "mode\ttime/s\tEcell/V\tI/mA\n1\t0.0\t3.2\t0.0\n1\t1.0\t3.21\t0.1\n"
    )
    _, meta = read(path)
    assert (meta.instrument, meta.channel) == ("VMP3", "2")
    assert meta.start_time == dt.datetime(2025, 8, 4, 9, 35, 26, 748000)


def _mpt(path: Path, started: str, *, decimal_comma: bool) -> Path:
    """A short EC-Lab ``.mpt`` (layout of dgbowl/yadg, tests/test_x_eclab/gcpl.issue_226.I.mpt)
    started on ``started``, its numbers with decimal commas or points."""
    rows = "1\t0.0\t3.2\t0.0\n1\t1.0\t3.21\t0.1\n"
    path.write_text(
        "EC-Lab ASCII FILE\nNb header lines : 7\n\nRun on channel : 2 (SN 21643)\n"
        f"Device : VMP3 (SN 0858)\nAcquisition started on : {started}\n"
        "mode\ttime/s\tEcell/V\tI/mA\n" + (rows.replace(".", ",") if decimal_comma else rows)
    )
    return path


@pytest.mark.parametrize(
    ("started", "decimal_comma", "expected"),
    [
        # a French-locale export: day-first, decimal commas in the data
        ("12/03/2024 10:15:00.123", True, dt.datetime(2024, 3, 12, 10, 15, 0, 123000)),
        # a German-locale export: points between the parts are day-first
        ("12.03.2024 10:15:00", False, dt.datetime(2024, 3, 12, 10, 15)),
        ("12.03.2024 10:15:00,5", True, dt.datetime(2024, 3, 12, 10, 15, 0, 500000)),
        # a part above 12 decides, whatever the data
        ("25/03/2024 10:15:00.000", False, dt.datetime(2024, 3, 25, 10, 15)),
        ("03/25/2024 10:15:00.000", True, dt.datetime(2024, 3, 25, 10, 15)),
        # an English (US) export
        ("11/22/2026 08:00:00.000", False, dt.datetime(2026, 11, 22, 8)),
    ],
)
def test_biologic_start_date_in_the_order_the_file_shows(
    tmp_path: Path, started: str, decimal_comma: bool, expected: dt.datetime
) -> None:
    # until 2026-12-07 a date with both parts ≤ 12 was read month-first whatever the locale,
    # and one with points between its parts was not read at all
    _, meta = read(_mpt(tmp_path / "a.mpt", started, decimal_comma=decimal_comma))
    assert meta.start_time == expected
    assert "start_time_note" not in meta.extra


def test_biologic_ambiguous_start_date_is_read_month_first_and_noted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # day and month both ≤ 12, decimal points: nothing in the file tells the order
    path = _mpt(tmp_path / "a.mpt", "12/03/2024 10:15:00.123", decimal_comma=False)
    with caplog.at_level(logging.WARNING, logger="echelon.io"):
        _, meta = read(path)
    assert meta.start_time == dt.datetime(2024, 12, 3, 10, 15, 0, 123000)
    note = str(meta.extra["start_time_note"])
    assert "ambiguous" in note
    assert "2024-12-03" in note
    assert "2024-03-12" in note
    assert note in caplog.text


def test_header_after_a_long_protocol_block(tmp_path: Path) -> None:
    # a Novonix protocol of 80 steps, four lines each, puts the table's header past line 300
    steps = "".join(
        f"[{i}: Constant_current_charge: 5 C/xx to 4.2 V]\n   [End step when voltage > 4.2 V]\n"
        f"   [Save data when Δt > 1 seconds]\n   [StepLimits 0 60 0 50]\n"
        for i in range(80)
    )
    path = tmp_path / "long.csv"
    path.write_text(
        "[Summary]\nNovonix\nChannel: 02\nStarted: 2022-04-11 10:58:07 AM\n[End Summary]\n"
        "[Protocol]\n" + steps + "[End Protocol]\n[Data]\n"
        "Date and Time,Cycle Number,Run Time (h),Current (A),Potential (V),Step Number\n"
        "2022-04-11 10:58:07 AM,1,0.0,0.0,3.1,1\n2022-04-11 10:58:08 AM,1,0.0002778,0.1,3.2,2\n",
        encoding="utf-8",
    )
    assert detect_reader(path).name == "novonix_csv"
    assert read(path)[0][VOLTAGE].to_list() == [3.1, 3.2]


NEWARE_BTS7_HEADER = (
    "Record ID,Realtime,Time(h:min:s.ms),Step ID,Cycle ID,Current(mA),Voltage(V),"
    "Capacitance_Chg(mAh),Capacitance_DChg(mAh),Engy_Chg(mWh),Engy_DChg(mWh),DCIR(O)\n"
)


def _neware_rows(n: int, last_dcir: str) -> str:
    rows = [
        f"{i},2019-05-08 10:{i // 60:02d}:{i % 60:02d},0:{i // 60:02d}:{i % 60:02d}.000,1,1,"
        f"1000.0,{3.5 + i * 1e-4:.4f},{i * 0.28:.2f},0,{i:.1f},0,0.0213\n"
        for i in range(1, n)
    ]
    rows.append(f"{n},2019-05-08 11:00:00,1:00:00.000,2,1,0.0,3.6000,0,0,0,0,{last_dcir}\n")
    return NEWARE_BTS7_HEADER + "".join(rows)


def test_a_placeholder_first_seen_deep_in_the_file_is_a_missing_value(tmp_path: Path) -> None:
    """The head layout detection reads shows clean numbers, so the fast typed scan is used; a
    Neware "-" DCIR on row 3,000 made it fail and the file was refused (row and column named).
    The file is read again with its number cells cleaned, by read and by convert alike."""
    from echelon.io.convert import convert_to_bdf

    path = tmp_path / "record_file.csv"
    path.write_text(_neware_rows(3000, "\t-"))
    frame, meta = read(path)
    assert meta.reader == "neware_bts7_csv"
    assert frame.height == 3000
    assert frame["internal_resistance_ohm"][-1] is None
    assert frame["internal_resistance_ohm"][0] == pytest.approx(0.0213)
    done = convert_to_bdf(path, tmp_path / "out.bdf.parquet")
    assert done.n_rows == 3000


def test_a_bad_number_deep_in_the_file_is_still_located(tmp_path: Path) -> None:
    path = tmp_path / "record_file.csv"
    path.write_text(_neware_rows(3000, "0.02x1"))
    with pytest.raises(ReaderError, match=r"row 3000, column 'DCIR\(O\)': '0.02x1' is not"):
        read(path)


def test_thousands_separators_first_seen_past_the_head(tmp_path: Path) -> None:
    """A Maccor test under an English locale reaches '1,000.0000' s on row 101 at 10 s steps:
    the head showed no grouped number, the fast scan failed on it and the file was refused."""
    lines = [
        "Today's Date 09/01/2020  Date of Test:\t12/19/2019\tFilename:\tC:\\data\\WMG_09.034\n",
        "Rec#\tCyc#\tStep\tTest (Sec)\tStep (Sec)\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\tES\n",
    ]
    for i in range(150):
        t = f"{10.0 * i:,.4f}"
        lines.append(f"{i + 1:,}\t1\t1\t{t}\t{t}\t0.0\t0.0\t1.0000\t3.9000\tC\t0\n")
    path = tmp_path / "WMG_09.txt"
    path.write_text("".join(lines))
    frame, _ = read(path)
    assert frame.height == 150
    assert frame[TIME][-1] == pytest.approx(1490.0)


def test_a_bdf_csv_placeholder_is_located(tmp_path: Path) -> None:
    """The BDF CSV reader scans numbers as written: an 'N/A' voltage is located by row and
    column (since the text readers learnt to clean placeholders the locator skipped it)."""
    path = tmp_path / "cell.bdf.csv"
    path.write_text("Test Time / s,Current / A,Voltage / V\n0,0,3.30\n1,1.0,N/A\n2,1.0,3.31\n")
    with pytest.raises(ReaderError, match=r"row 2, column 'Voltage / V': 'N/A' is not"):
        read(path)


def test_a_file_malformed_beyond_cleaning_is_refused_as_a_reader_error(tmp_path: Path) -> None:
    """An unclosed quote opening a data row fails the fast scan, and the text scan of the
    retry fails too: the first failure is reported as a ReaderError (the retry's polars error
    escaped; found by the fuzz test of tests/io/test_bad_input.py)."""
    path = tmp_path / "fuzz.csv"
    header = "Data_Point,Test_Time(s),Step_Index,Cycle_Index,Current(A),Voltage(V)\n"
    rows = "".join(f"{i},{i}.0,1,1,0.0,3.75\n" for i in range(2, 200))
    path.write_text(header + '"1,0.0,1,1,0.0,3.75\n' + rows)
    with pytest.raises(ReaderError, match="arbin_csv"):
        read(path, reader="arbin_csv")
