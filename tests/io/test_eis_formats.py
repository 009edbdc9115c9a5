"""Impedance text formats read as tester files: detection, values, Im Z sign, metadata.

Fixtures are written here from the layouts documented in ../shared/datasets/eis_soh/PROVENANCE.md
("Columns / formats"): the Warwick/Stanford/Köln multisine tab-separated spectra and the Köln
single-sine Gamry ``.DTA`` text (decimal commas). No dataset file is copied.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from echelon.errors import ReaderError
from echelon.io import available_readers, detect_reader, read
from echelon.io.bdf import CYCLE, FREQUENCY, Z_IMAG, Z_REAL
from tests.io import formats
from tests.io.test_formats import write

FREQUENCIES_HZ = np.logspace(4, -2, 13)


def randles_ohm(f_hz: np.ndarray) -> np.ndarray:
    """R0 + L + R1 ∥ C: inductive (Im Z > 0) at the top, a capacitive arc (Im Z < 0) below."""
    w = 2 * np.pi * f_hz
    return 0.025 + 1j * w * 2e-7 + 0.01 / (1 + 1j * w * 0.005)


def wett_txt(path: Path, *, labels: bool = True) -> np.ndarray:
    """A Warwick-layout spectrum: ``Freq(Hz) Zmod(Ohm) Zphz(Deg) Zreal(Ohm) Zimag(Ohm)
    [Capacity(Ah) SOH]``, tab-separated, high to low frequency; returns the impedance."""
    z = randles_ohm(FREQUENCIES_HZ)
    header = ["Freq(Hz)", "Zmod(Ohm)", "Zphz(Deg)", "Zreal(Ohm)", "Zimag(Ohm)"]
    header += ["Capacity(Ah)", "SOH"] if labels else []
    rows = [
        [f"{f}", f"{abs(zi)}", f"{np.degrees(np.angle(zi))}", f"{zi.real}", f"{zi.imag}"]
        + (["4.62258", "95.05"] if labels else [])
        for f, zi in zip(FREQUENCIES_HZ, z, strict=True)
    ]
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    return z


def gamry_dta(path: Path, *, tables: int = 1) -> np.ndarray:
    """A Gamry galvanostatic EIS ``.DTA`` text with decimal commas (``tables`` ZCURVE tables,
    each followed by a non-indented line); returns the impedance of one table."""
    z = randles_ohm(FREQUENCIES_HZ)
    head = [
        "EXPLAIN",
        "TAG\tGALVEIS",
        "TITLE\tLABEL\tGalvanostatic EIS\tTest Identifier",
        "DATE\tLABEL\t23.8.2023\tDate",
        "TIME\tLABEL\t18:18:45\tTime",
        "PSTAT\tPSTAT\tREF3000-12345\tPotentiostat",
        "FREQINIT\tQUANT\t1,00000E+004\tInitial Freq. (Hz)",
    ]
    table = [
        "ZCURVE\tTABLE",
        "\tPt\tTime\tFreq\tZreal\tZimag\tZsig\tZmod\tZphz\tIdc\tVdc\tIERange",
        "\t#\ts\tHz\tohm\tohm\tV\tohm\t°\tA\tV\t#",
    ]
    for i, (f, zi) in enumerate(zip(FREQUENCIES_HZ, z, strict=True)):
        cells = [i, 2 * i, f"{f:.6g}", f"{zi.real:.7f}", f"{zi.imag:.7f}", 1, f"{abs(zi):.7f}"]
        cells += [0, "-0.0001", "3.5129", 11]
        table.append("\t" + "\t".join(map(str, cells)).replace(".", ","))
    lines = head + [
        line for _ in range(tables) for line in [*table, "EXPERIMENTABORTED\tTOGGLE\tF"]
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return z


def test_wett_spectrum_is_detected_and_read_with_im_z_as_written(tmp_path: Path) -> None:
    path = tmp_path / "Cell02_95SOH_25degC_50SOC_9505_60Cycles.txt"
    z = wett_txt(path)
    assert detect_reader(path).name == "wett_eis_txt"
    data, meta = read(path)
    assert data.columns == [FREQUENCY, Z_REAL, Z_IMAG]
    assert np.allclose(data[FREQUENCY], FREQUENCIES_HZ)
    assert np.allclose(data[Z_REAL], z.real)
    # Zimag is Im Z itself (PROVENANCE: > 0 inductive, < 0 capacitive), BDF's sign: not flipped
    assert np.allclose(data[Z_IMAG], z.imag)
    assert data[Z_IMAG][0] > 0 > data[Z_IMAG].min()
    assert meta.unmapped_columns == []
    assert (meta.extra["capacity_ah"], meta.extra["soh_percent"]) == (4.62258, 95.05)


def test_wett_spectrum_without_labels_is_read(tmp_path: Path) -> None:
    path = tmp_path / "spectrum.tsv"
    wett_txt(path, labels=False)
    data, meta = read(path)
    assert data.height == len(FREQUENCIES_HZ)
    assert "soh_percent" not in meta.extra


def test_gamry_dta_is_detected_and_read_with_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "SingleSine_NC0003_10kHz_1mHz_Cyc1_SOC20.txt"
    z = gamry_dta(path)
    assert detect_reader(path).name == "gamry_dta"
    data, meta = read(path)
    assert data.columns == [FREQUENCY, Z_REAL, Z_IMAG]
    assert np.allclose(data[FREQUENCY], FREQUENCIES_HZ, rtol=1e-5)
    assert np.allclose(data[Z_REAL], z.real, atol=1e-7)
    assert np.allclose(data[Z_IMAG], z.imag, atol=1e-7)
    assert meta.instrument == "Gamry REF3000-12345"
    assert meta.start_time is not None
    assert meta.start_time.isoformat() == "2023-08-23T18:18:45"


def test_gamry_tables_are_numbered_as_sweeps(tmp_path: Path) -> None:
    path = tmp_path / "run.DTA"
    gamry_dta(path, tables=2)
    data, _ = read(path)
    assert data.height == 2 * len(FREQUENCIES_HZ)
    assert data[CYCLE].to_list() == [1] * len(FREQUENCIES_HZ) + [2] * len(FREQUENCIES_HZ)


def test_gamry_row_that_does_not_parse_is_located(tmp_path: Path) -> None:
    path = tmp_path / "run.DTA"
    gamry_dta(path)
    text = path.read_text(encoding="latin-1").replace("\t0\t0\t10000", "\t0\t0\tabc", 1)
    path.write_text(text, encoding="latin-1")
    with pytest.raises(ReaderError, match="line 11: unreadable ZCURVE row"):
        read(path)


@pytest.mark.parametrize("writer", [wett_txt, gamry_dta])
def test_no_other_reader_claims_an_impedance_text(writer: object, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    writer(path)  # type: ignore[operator]
    claimed = [r.name for r in available_readers() if r.can_read(path)]
    assert claimed == ["wett_eis_txt" if writer is wett_txt else "gamry_dta"]


@pytest.mark.parametrize("name", ["maccor_txt", "biologic_mpt", "neware_csv"])
def test_impedance_readers_claim_no_vendor_file(name: str, tmp_path: Path) -> None:
    path = write(name, tmp_path)
    assert not {"wett_eis_txt", "gamry_dta"} & {
        r.name for r in available_readers() if r.can_read(path)
    }


def test_biologic_eis_file_is_still_biologic(tmp_path: Path) -> None:
    path = tmp_path / "peis.txt"
    formats.biologic_eis_mpt(path)
    assert detect_reader(path).name == "biologic_mpt"
