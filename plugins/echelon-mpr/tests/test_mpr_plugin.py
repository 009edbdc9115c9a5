"""The ``.mpr`` plug-in on files built in the layout galvani parses (no real ``.mpr`` file is in
the shared datasets; see the plug-in README)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

galvani = pytest.importorskip(
    "galvani.BioLogic",
    reason="the GPL .mpr plug-in is not installed: pip install plugins/echelon-mpr",
)
pytest.importorskip("echelon_mpr", reason="pip install plugins/echelon-mpr")

from echelon.errors import ReaderError  # noqa: E402
from echelon.io import read  # noqa: E402
from echelon.io.bdf import CURRENT, CYCLE, FREQUENCY, STEP, TIME, VOLTAGE, Z_IMAG, Z_REAL  # noqa: E402

START = dt.datetime(2026, 12, 6, 9, 30, 0)
OLE_EPOCH = dt.datetime(1899, 12, 30)
CYCLING_IDS = [1, 2, 4, 6, 8, 9, 131, 24, 498, 499]  # mode, ox/red, time, Ewe, I, Ece, Ns, …
IMPEDANCE_IDS = [4, 32, 6, 37, 38, 36]  # time, freq, Ewe, Re(Z), -Im(Z), |Z|


def _module(short: bytes, data: bytes, *, version: int = 0, date: bytes = b"12/06/26") -> bytes:
    header = np.zeros(
        1,
        dtype=[("s", "S10"), ("l", "S25"), ("len", "<u4"), ("ver", "<u4"), ("date", "S8")],
    )
    header["s"], header["l"], header["len"], header["ver"], header["date"] = (
        short,
        b"synthetic module",
        len(data),
        version,
        date,
    )
    return b"MODULE" + header.tobytes() + data


def write_mpr(
    path: Path,
    column_ids: list[int],
    fill: dict[str, np.ndarray],
    *,
    version: int = 2,
    log: bool = True,
) -> np.ndarray:
    """An ``.mpr`` file with the given column IDs; ``fill`` sets record fields by galvani name."""
    dtype, flags = galvani.VMPdata_dtype_from_colIDs(column_ids)
    n = len(next(iter(fill.values())))
    records = np.zeros(n, dtype=dtype)
    for name, values in fill.items():
        if name in flags:
            mask, _ = flags[name]
            shift = int(np.log2(int(mask) & -int(mask)))
            records["flags"] |= (np.asarray(values, dtype=np.uint8) << shift) & mask
        else:
            records[name] = values
    head = np.uint32(n).tobytes() + np.uint8(len(column_ids)).tobytes()
    head += np.asarray(column_ids, dtype="<u2").tobytes()
    size = 406 if version == 3 else 405
    head = head.ljust(405, b"\x00") + (b"\x01" if version == 3 else b"")
    assert len(head) == size
    body = galvani.MPR_MAGIC
    body += _module(b"VMP Set   ", b"\x00" * 64)
    body += _module(b"VMP data  ", head + records.tobytes(), version=version)
    if log:
        days = (START - OLE_EPOCH).total_seconds() / 86400.0
        body += _module(b"VMP LOG   ", b"\x00" * 465 + np.float64(days).tobytes() + b"\x00" * 200)
    path.write_bytes(body)
    return records


def _cycling(n: int = 200) -> dict[str, np.ndarray]:
    t = np.arange(n, dtype=np.float64) * 10.0
    current_ma = np.where(np.arange(n) < n // 2, 500.0, -500.0)
    return {
        "mode": np.ones(n, dtype=np.uint8),
        "time/s": t,
        "Ewe/V": np.linspace(3.4, 4.1, n),
        "I/mA": current_ma,
        "Ece/V": np.zeros(n),
        "Ns": (np.arange(n) >= n // 2).astype(np.uint16),
        "cycle number": np.zeros(n),
        "Q charge/mA.h": np.cumsum(np.clip(current_ma, 0, None)) * 10.0 / 3600.0,
        "Q discharge/mA.h": np.cumsum(np.clip(-current_ma, 0, None)) * 10.0 / 3600.0,
    }


@pytest.mark.parametrize("version", [2, 3])
def test_a_cycling_file_reads_into_bdf(tmp_path: Path, version: int) -> None:
    path = tmp_path / "cell.mpr"
    records = write_mpr(path, CYCLING_IDS, _cycling(), version=version)
    frame, meta = read(path)  # detected through the echelon.readers entry point
    assert meta.reader == "biologic_mpr"
    assert meta.start_time == START
    assert "Ece/V" in meta.unmapped_columns  # listed, not silently dropped
    np.testing.assert_array_equal(frame[TIME].to_numpy(), records["time/s"])
    np.testing.assert_allclose(frame[CURRENT].to_numpy(), records["I/mA"] / 1000.0)
    np.testing.assert_allclose(frame[VOLTAGE].to_numpy(), records["Ewe/V"], rtol=1e-7)
    assert frame[STEP].unique().sort().to_list() == [0, 1]
    assert frame[CYCLE].unique().to_list() == [0]


def test_an_impedance_file_flips_the_imaginary_sign(tmp_path: Path) -> None:
    path = tmp_path / "eis.mpr"
    freq = np.logspace(4, -1, 30)
    fill = {
        "time/s": np.arange(30.0),
        "freq/Hz": freq,
        "Ewe/V": np.full(30, 3.7),
        "Re(Z)/Ohm": 0.02 + 0.01 * np.arange(30) / 30,
        "-Im(Z)/Ohm": np.linspace(-0.002, 0.01, 30),
        "|Z|/Ohm": np.ones(30),
    }
    write_mpr(path, IMPEDANCE_IDS, fill, log=False)
    frame, meta = read(path)
    np.testing.assert_allclose(frame[FREQUENCY].to_numpy(), freq.astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(frame[Z_IMAG].to_numpy(), -fill["-Im(Z)/Ohm"], rtol=1e-6)
    np.testing.assert_allclose(frame[Z_REAL].to_numpy(), fill["Re(Z)/Ohm"], rtol=1e-6)
    assert meta.start_time == dt.datetime(2026, 12, 6)  # settings date when there is no LOG


def test_a_truncated_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "cut.mpr"
    write_mpr(path, CYCLING_IDS, _cycling())
    path.write_bytes(path.read_bytes()[:700])
    with pytest.raises(ReaderError) as info:
        read(path)
    assert "cut.mpr" in str(info.value)
    assert "galvani could not decode" in str(info.value)


def test_a_foreign_file_with_the_suffix_is_not_claimed(tmp_path: Path) -> None:
    from echelon_mpr import MprReader

    path = tmp_path / "notes.mpr"
    path.write_text("time/s\tEwe/V\n0\t3.7\n")
    assert not MprReader().can_read(path)
    with pytest.raises(ReaderError):
        read(path)
