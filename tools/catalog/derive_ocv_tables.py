"""Regenerate the OCV–SOC tables of ``src/echelon/catalog/data/chemistries.toml``.

Maintainer tool: it is not imported by the package and not run by the tests. It prints one
``[chemistry.<key>.ocv]`` TOML table per chemistry (21 points, SOC 0.00, 0.05, …, 1.00), or writes
them into the catalogue file in place (``--write``), or compares the file against a fresh derivation
(``--check``). Diagnostics go to standard error.

Requirements
------------
PyBaMM (with its numpy, scipy and casadi), installed in a throw-away virtual environment outside the
repository; ``openpyxl`` only for ``--validate``::

    python3 -m venv /tmp/pybamm-venv
    /tmp/pybamm-venv/bin/pip install pybamm==26.10.1.1 openpyxl

The published tables were derived on 2026-11-22 with Python 3.11.7, pybamm 26.10.1.1, numpy 2.4.6,
scipy 1.17.1 and casadi 3.8.1. The PyBaMM version in use is written into every ``source`` string.

Usage (from the repository root)::

    /tmp/pybamm-venv/bin/python tools/catalog/derive_ocv_tables.py            # print the tables
    /tmp/pybamm-venv/bin/python tools/catalog/derive_ocv_tables.py --write    # update the TOML
    /tmp/pybamm-venv/bin/python tools/catalog/derive_ocv_tables.py --check    # exit 1 on drift
    /tmp/pybamm-venv/bin/python tools/catalog/derive_ocv_tables.py --validate # vs measured data

Method
------
Intercalation chemistries (PyBaMM parameter sets). The OCV limits of the parameter set are
replaced by the catalogue window (``discharge_cutoff_v`` → "Open-circuit voltage at 0% SOC [V]",
``charge_cutoff_v`` → "… at 100% SOC [V]"); ``pybamm.lithium_ion.get_min_max_stoichiometries``
(electrode-SOH solver, cyclable lithium from the set's initial concentrations) gives the
stoichiometry limits x0, x100 (negative) and y0, y100 (positive); then at 298.15 K::

    OCV(s) = U_p(y0 + s (y100 - y0)) - U_n(x0 + s (x100 - x0)),   s = 0, 0.05, ..., 1

so SOC 0 and 1 sit exactly on the cut-offs. Sets used (PyBaMM names, papers):

* LFP: ``Prada2013`` (A123 LFP/graphite; Prada et al., J. Electrochem. Soc. 160 (2013) A616,
  doi:10.1149/2.053304jes; LFP OCP of Afshar et al., arXiv:1709.03970) with its negative OCP
  replaced by the pure-graphite OCP of ``Mohtat2020`` [assumption]. Prada2013 borrows the LG M50
  graphite–SiOx OCP of Chen2020, whose SiOx slope puts the unmodified curve 0.27 V below measured
  rest OCVs of retired LFP cells at 6 % SOC (see ``--validate``); with the graphite OCP the
  deviation is <= 0.03 V between 6 and 59 % SOC.
* NMC811: ``Chen2020`` (LG M50 NMC811 / graphite–SiOx; doi:10.1149/1945-7111/ab9050).
* NMC532: ``Mohtat2020`` (NMC532/graphite pouch; doi:10.1149/1945-7111/aba5d1).
* NMC111: ``Mohtat2020`` as the closest documented set [assumption: no NMC111 set in PyBaMM].
* NMC622: ``MSMR_Example`` (graphite and NMC622 MSMR thermodynamics of Verbrugge et al.,
  J. Electrochem. Soc. 164 (2017) E3243, doi:10.1149/2.0341708jes; LG M50 geometry from Chen2020;
  example electrode balance). U(x) is obtained by inverting the MSMR x(U) relations.
* NCA: ``NCA_Kim2011`` (doi:10.1149/1.3597614).
* LCO: ``Ai2020`` (Enertech LCO/graphite pouch; Ai et al., J. Electrochem. Soc. 167 (2020) 013512,
  doi:10.1149/2.0122001JES; OCP data after Rieger et al. 2016). ``Ramadass2004`` (flagged by PyBaMM
  as a patchwork set) is printed as a comparison in the diagnostics.
* unknown: ``Chen2020`` over the union window [estimate: generic NMC-like curve].

Li-metal: lithium-metal negative at 0 V vs Li/Li+ in excess, so the window is set by the positive
alone: OCV(s) = U_p(y0 + s (y100 - y0)) with U_p(y0) = discharge cut-off and U_p(y100) = charge
cut-off, using the NMC532 OCP of the ``Xu2019`` set (Li-metal / NMC532; Xu et al., J. Electrochem.
Soc. 166 (2019) A3456; the OCP is the Mohtat2020 fit) [estimate].

Li-S: equilibrium (zero-current) voltage of the zero-dimensional model of Marinescu, Zhang and
Offer, Phys. Chem. Chem. Phys. 18 (2016) 584, doi:10.1039/C5CP05755H, with the parameters of its
PyBaMM port (pybamm-team/PyBaMM @ 4492886217ff9a16e1dfb32017d96f6346af52ec,
``pybamm/input/parameters/lithium_sulfur/parameters.csv``; copied below because that branch is not
in the released package). At a voltage V both Nernst equations (2a, 2b) equal V; sulfur mass is
conserved; S2^2- and S^2- (dissolved + precipitated Li2S) are formed 1:2 by the low-plateau
reaction; Li2S precipitates once dissolved S^2- exceeds its saturation mass. SOC is the remaining
charge between the cut-offs [estimate].

LMO and LMO-NMC: measured C/15 quasi-OCV of a 2013 Nissan Leaf cell (LiMn2O4 + LiNiO2 / graphite,
33.1 Ah), ``NissanLeaf-cell-Cycling-10C-24C-40C.csv`` of batterysim/nissan-leaf-data @
b2222ed14a678424c1ba4cd07b4adea38b9d08b0 (Wiggins, Allu, Wang, ORNL, doi:10.5281/zenodo.2580327),
read in place from ``../shared/datasets/nissan_leaf``. Bitrode columns, current positive on charge.
The file has no temperature column; cycles 2–6 (five identical consecutive C/15 cycles) are taken
as the 24 °C block [assumption]. The cycler voltage includes a series resistance of ~0.11 Ω
(instantaneous step at every current switch; the cell's own HPPC resistance is ~2 mΩ), and the
charge ends with a constant-voltage taper, so each branch is first corrected with V - I R (R per
cycle from the three current switches around it) and then charge and discharge branches are
averaged on a common SOC axis (discharge: 1 - Ah_out / Ah_total; charge: Ah_in / Ah_total), then
over the five cycles. Without the correction the plain average would be 0.11 V low at SOC 1
(constant-voltage phase).

Tables are rounded to 0.1 mV, only so that the flat LFP plateau stays strictly increasing; this is
no statement about accuracy.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib
import itertools
import math
import re
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

AS_OF = "2026-11-22"
SOC_GRID: FloatArray = np.round(np.linspace(0.0, 1.0, 21), 2)
T_REF_K = 298.15
ENDPOINT_TOLERANCE_V = 0.1
DECIMALS = 4

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TOML = REPO_ROOT / "src" / "echelon" / "catalog" / "data" / "chemistries.toml"
DEFAULT_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
LEAF_CYCLING = Path("nissan_leaf") / "NissanLeaf-cell-Cycling-10C-24C-40C.csv"
LEAF_HPPC_25C = Path("nissan_leaf") / "NissanLeaf-cell-Low-Current-HPPC-25C-2.csv"
PULSEBAT_LFP = Path("pulsebat") / "processed_features_W5000" / "35Ah LFP" / "LFP_35Ah_W_5000.xlsx"
LEAF_24C_CYCLES = ("2", "3", "4", "5", "6")
LEAF_REF = (
    "batterysim/nissan-leaf-data @ b2222ed14a678424c1ba4cd07b4adea38b9d08b0, "
    "data/NissanLeaf-cell-Cycling-10C-24C-40C.csv (Wiggins, Allu, Wang, ORNL, "
    "doi:10.5281/zenodo.2580327) [S51]"
)

# Catalogue windows (discharge_cutoff_v, charge_cutoff_v) [V]; they must equal the values in
# chemistries.toml (``--check`` verifies it). Sources are given there.
WINDOWS: dict[str, tuple[float, float]] = {
    "LFP": (2.5, 3.65),
    "NMC111": (2.7, 4.2),
    "NMC532": (2.7, 4.2),
    "NMC622": (2.7, 4.2),
    "NMC811": (2.7, 4.2),
    "NCA": (2.7, 4.2),
    "LMO": (3.0, 4.2),
    "LCO": (2.7, 4.2),
    "LMO-NMC": (3.0, 4.2),
    "Li-metal": (3.0, 4.3),
    "Li-S": (1.7, 2.8),
    "unknown": (2.5, 4.2),
}
# A record's source may quote the SOC-averaged OCV of its table; ``--check`` verifies the number.
QUOTED_MEAN = re.compile(
    r"SOC-averaged (?:equilibrium )?OCV of the (?:generic )?table below is ([0-9.]+) V"
)

# Marinescu et al. 2016 zero-dimensional Li-S model, parameters of the PyBaMM port (see docstring).
LIS_T_K = 298.0  # "Reference temperature [K]"
LIS_E_H0_V = 2.35  # "Standard Potential H [V]"
LIS_E_L0_V = 2.195  # "Standard Potential L [V]"
LIS_M_S_G_PER_MOL = 32.0  # "Molar mass of S8 [g.mol-1]" (used per S atom in the model)
LIS_SULFUR_G = 2.7  # "Mass of active sulfur per cell [g]"
LIS_ELECTROLYTE_L = 0.0114  # "Electrolyte volume per cell [L]"
LIS_S_SAT_G = 1e-4  # "S saturation mass [g]"
FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)


@dataclasses.dataclass(frozen=True)
class Derived:
    """One derived table with its provenance text and diagnostics."""

    key: str
    ocv_v: FloatArray
    source: str
    notes: tuple[str, ...] = ()


def _pybamm() -> Any:
    try:
        return importlib.import_module("pybamm")
    except ModuleNotFoundError:
        sys.exit(
            "pybamm is needed: python3 -m venv /tmp/pybamm-venv && "
            "/tmp/pybamm-venv/bin/pip install pybamm==26.10.1.1"
        )


def _pybamm_tag() -> str:
    return f"PyBaMM {_pybamm().__version__}"


def _evaluate(pv: Any, expr: Any) -> FloatArray:
    return np.asarray(pv.evaluate(expr), dtype=np.float64).ravel()


def _electrode_ocp(pv: Any, param: Any, electrode: str, sto: FloatArray) -> FloatArray:
    pb = _pybamm()
    domain = param.p if electrode == "positive" else param.n
    return _evaluate(pv, domain.prim.U(pb.Vector(sto), pb.Scalar(T_REF_K)))


def _with_window(pv: Any, window: tuple[float, float]) -> Any:
    v_min, v_max = window
    pv.update(
        {
            "Open-circuit voltage at 0% SOC [V]": v_min,
            "Open-circuit voltage at 100% SOC [V]": v_max,
            "Lower voltage cut-off [V]": v_min,
            "Upper voltage cut-off [V]": v_max,
        }
    )
    return pv


def full_cell_ocv(
    parameter_set: str,
    window: tuple[float, float],
    *,
    negative_ocp_from: str | None = None,
    soc: FloatArray = SOC_GRID,
) -> tuple[FloatArray, tuple[float, float, float, float]]:
    """Full-cell OCV [V] over ``soc`` and (x0, x100, y0, y100) for a PyBaMM parameter set."""
    pb = _pybamm()
    pv = pb.ParameterValues(parameter_set)
    if negative_ocp_from is not None:
        donor = pb.ParameterValues(negative_ocp_from)
        pv.update({"Negative electrode OCP [V]": donor["Negative electrode OCP [V]"]})
    _with_window(pv, window)
    x0, x100, y100, y0 = (float(v) for v in pb.lithium_ion.get_min_max_stoichiometries(pv))
    param = pb.LithiumIonParameters()
    u_p = _electrode_ocp(pv, param, "positive", y0 + soc * (y100 - y0))
    u_n = _electrode_ocp(pv, param, "negative", x0 + soc * (x100 - x0))
    return u_p - u_n, (x0, x100, y0, y100)


def msmr_full_cell_ocv(
    window: tuple[float, float], *, soc: FloatArray = SOC_GRID
) -> tuple[FloatArray, tuple[float, float, float, float]]:
    """Full-cell OCV [V] of PyBaMM ``MSMR_Example`` (graphite / NMC622, Verbrugge et al. 2017)."""
    pb = _pybamm()
    options = {
        "open-circuit potential": "MSMR",
        "particle": "MSMR",
        "number of MSMR reactions": ("6", "4"),
        "intercalation kinetics": "MSMR",
    }
    pv = _with_window(pb.ParameterValues("MSMR_Example"), window)
    x0, x100, y100, y0 = (
        float(v) for v in pb.lithium_ion.get_min_max_stoichiometries(pv, options=options)
    )
    param = pb.LithiumIonParameters(options)
    temp = pb.Scalar(T_REF_K)
    u_n_grid = np.linspace(-0.2, 1.5, 40001)
    u_p_grid = np.linspace(2.0, 5.5, 40001)
    x_n = _evaluate(pv, param.n.prim.x(pb.Vector(u_n_grid), temp))
    x_p = _evaluate(pv, param.p.prim.x(pb.Vector(u_p_grid), temp))
    # x(U) decreases with U; invert by interpolation on the reversed (increasing) arrays.
    u_n = np.interp(x0 + soc * (x100 - x0), x_n[::-1], u_n_grid[::-1])
    u_p = np.interp(y0 + soc * (y100 - y0), x_p[::-1], u_p_grid[::-1])
    return u_p - u_n, (x0, x100, y0, y100)


def li_metal_ocv(
    window: tuple[float, float], *, soc: FloatArray = SOC_GRID
) -> tuple[FloatArray, tuple[float, float]]:
    """OCV [V] of a Li-metal / NMC532 cell (PyBaMM ``Xu2019`` positive OCP, Li at 0 V)."""
    pb = _pybamm()
    pv = pb.ParameterValues("Xu2019")
    param = pb.LithiumIonParameters({"working electrode": "positive"})
    y_grid = np.linspace(1e-6, 1.0 - 1e-6, 200001)
    u_grid = _electrode_ocp(pv, param, "positive", y_grid)
    if np.any(np.diff(u_grid) >= 0):
        raise RuntimeError("Xu2019 positive OCP is not monotonic on the grid")
    v_min, v_max = window
    y0 = float(np.interp(v_min, u_grid[::-1], y_grid[::-1]))
    y100 = float(np.interp(v_max, u_grid[::-1], y_grid[::-1]))
    return _electrode_ocp(pv, param, "positive", y0 + soc * (y100 - y0)), (y0, y100)


def _lis_discharged_ah(voltage_v: float) -> float:
    """Charge [Ah] passed from the all-S8 state to equilibrium at ``voltage_v`` (Marinescu 2016)."""
    brentq: Callable[..., float] = importlib.import_module("scipy.optimize").brentq
    a = GAS_CONSTANT * LIS_T_K / (4.0 * FARADAY)
    ln_k_h = (voltage_v - LIS_E_H0_V) / a  # c8 / c4^2
    ln_k_l = (voltage_v - LIS_E_L0_V) / a  # c4 / (c2 c1^2)
    mv = LIS_M_S_G_PER_MOL * LIS_ELECTROLYTE_L  # concentration [mol/L] = mass / (n_atoms * mv)

    def ln_conc(ln_c1: float, ln_c2: float) -> tuple[float, float, float, float]:
        ln_c4 = ln_k_l + ln_c2 + 2.0 * ln_c1
        return ln_k_h + 2.0 * ln_c4, ln_c4, ln_c2, ln_c1  # ln c8, c4, c2, c1

    def ln_total_mass(terms: Sequence[tuple[float, float]]) -> float:  # log-sum-exp of n*mv*c
        logs = [math.log(n * mv) + ln_c for n, ln_c in terms]
        top = max(logs)
        return top + math.log(sum(math.exp(v - top) for v in logs))

    def masses(ln_c1: float, ln_c2: float) -> tuple[float, float, float]:  # m(S4), m(S2), m(S)
        _, ln_c4, ln_c2, ln_c1 = ln_conc(ln_c1, ln_c2)
        return (
            4.0 * mv * math.exp(ln_c4),
            2.0 * mv * math.exp(ln_c2),
            mv * math.exp(ln_c1),
        )

    def residual_dissolved(ln_c1: float) -> float:  # no Li2S: m(S) = m(S2) so c2 = c1 / 2
        c8, c4, c2, c1 = ln_conc(ln_c1, ln_c1 - math.log(2.0))
        return ln_total_mass([(8, c8), (4, c4), (2, c2), (1, c1)]) - math.log(LIS_SULFUR_G)

    ln_c1 = brentq(residual_dissolved, -800.0, 10.0, xtol=1e-12)
    m4, m2, m1 = masses(ln_c1, ln_c1 - math.log(2.0))
    m_precip = 0.0
    if m1 > LIS_S_SAT_G:  # saturated: dissolved S^2- pinned, Li2S precipitates (m1 + mp = m2)
        ln_c1_sat = math.log(LIS_S_SAT_G / mv)

        def residual_saturated(ln_c2: float) -> float:  # S8 + S4 + S2 + (S + Li2S = S2)
            c8, c4, c2, _ = ln_conc(ln_c1_sat, ln_c2)
            return ln_total_mass([(8, c8), (4, c4), (4, c2)]) - math.log(LIS_SULFUR_G)

        ln_c2 = brentq(residual_saturated, -800.0, 10.0, xtol=1e-12)
        m4, m2, m1 = masses(ln_c1_sat, ln_c2)
        m_precip = m2 - m1
    electrons_mol = (0.5 * m4 + 1.0 * m2 + 2.0 * (m1 + m_precip)) / LIS_M_S_G_PER_MOL
    return electrons_mol * FARADAY / 3600.0


def li_s_ocv(
    window: tuple[float, float], *, soc: FloatArray = SOC_GRID
) -> tuple[FloatArray, float]:
    """Equilibrium OCV [V] of the Marinescu 2016 Li-S model and its capacity [Ah] in ``window``."""
    brentq: Callable[..., float] = importlib.import_module("scipy.optimize").brentq
    v_min, v_max = window
    q_full, q_empty = _lis_discharged_ah(v_max), _lis_discharged_ah(v_min)
    capacity = q_empty - q_full

    def soc_at(voltage_v: float) -> float:
        return (q_empty - _lis_discharged_ah(voltage_v)) / capacity

    out = np.empty_like(soc)
    for i, s in enumerate(soc):
        if s <= 0.0:
            out[i] = v_min
        elif s >= 1.0:
            out[i] = v_max
        else:
            out[i] = brentq(lambda v, s=s: soc_at(v) - s, v_min, v_max, xtol=1e-9)
    return out, capacity


@dataclasses.dataclass(frozen=True)
class LeafCycle:
    """One C/15 discharge + charge pair of the Nissan Leaf cycling file."""

    cycle: str
    start_row: int
    resistance_ohm: float
    discharge_ah: float
    charge_ah: float
    ocv_v: FloatArray


def _read_bitrode(path: Path) -> dict[str, list[str]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    wanted = ("Time(s)", "Cycle", "Step", "Current(A)", "Voltage(V)", "Capacity(Ah)", "Mode")
    index = {name: header.index(name) for name in wanted}  # the three 'Loop' columns are unused
    return {name: [row[i] for row in rows[1:]] for name, i in index.items()}


def leaf_cycles(path: Path, *, soc: FloatArray = SOC_GRID) -> list[LeafCycle]:
    """IR-corrected, branch-averaged OCV of every full C/15 cycle in the Leaf cycling file."""
    cols = _read_bitrode(path)
    current = np.array(cols["Current(A)"], dtype=np.float64)
    voltage = np.array(cols["Voltage(V)"], dtype=np.float64)
    capacity = np.array(cols["Capacity(Ah)"], dtype=np.float64)
    keys = list(zip(cols["Cycle"], cols["Step"], cols["Mode"], strict=True))
    bounds = [0, *[i for i in range(1, len(keys)) if keys[i] != keys[i - 1]], len(keys)]
    segments = list(itertools.pairwise(bounds))

    def step_resistance(i: int) -> float:  # instantaneous ΔV/ΔI at a current switch (1 s apart)
        return float((voltage[i] - voltage[i - 1]) / (current[i] - current[i - 1]))

    def on_grid(soc_raw: FloatArray, values: FloatArray) -> FloatArray:
        order = np.argsort(soc_raw, kind="stable")
        return np.interp(soc, soc_raw[order], values[order])

    cycles: list[LeafCycle] = []
    for k, (a, b) in enumerate(segments):
        if keys[a][2] != "DCHG" or abs(capacity[b - 1]) < 25.0 or k + 2 >= len(segments):
            continue
        c_a, c_b = segments[k + 2]
        if keys[c_a][2] != "CHRG" or keys[segments[k + 1][0]][2] != "REST":
            continue
        r = float(np.mean([step_resistance(a), step_resistance(b), step_resistance(c_a)]))
        q_out = np.abs(capacity[a:b])
        q_in = capacity[c_a:c_b]
        discharge = on_grid(1.0 - q_out / q_out[-1], voltage[a:b] - current[a:b] * r)
        charge = on_grid(q_in / q_in[-1], voltage[c_a:c_b] - current[c_a:c_b] * r)
        cycles.append(
            LeafCycle(
                cycle=keys[a][0],
                start_row=a + 2,  # 1-based file line (header is line 1)
                resistance_ohm=r,
                discharge_ah=float(q_out[-1]),
                charge_ah=float(q_in[-1]),
                ocv_v=0.5 * (discharge + charge),
            )
        )
    return cycles


def leaf_table(datasets: Path) -> tuple[FloatArray, list[str]]:
    """24 °C quasi-OCV table of the Leaf cell and diagnostic lines."""
    cycles = leaf_cycles(datasets / LEAF_CYCLING)
    chosen = [c for c in cycles if c.cycle in LEAF_24C_CYCLES]
    if [c.cycle for c in chosen] != list(LEAF_24C_CYCLES):
        raise RuntimeError(f"expected one full cycle each for {LEAF_24C_CYCLES}, got {chosen}")
    stack = np.vstack([c.ocv_v for c in chosen])
    table = stack.mean(axis=0)
    notes = [
        f"cycle {c.cycle} (line {c.start_row}): R = {c.resistance_ohm:.4f} ohm, "
        f"Q_dis = {c.discharge_ah:.2f} Ah, Q_chg = {c.charge_ah:.2f} Ah"
        for c in cycles
    ]
    spread = (stack.max(axis=0) - stack.min(axis=0)) * 1000.0
    notes.append(f"spread over cycles 2-6: max {spread.max():.1f} mV")
    for other in cycles:
        if other.cycle not in LEAF_24C_CYCLES:
            dev = (other.ocv_v - table) * 1000.0
            notes.append(
                f"cycle {other.cycle} (line {other.start_row}) minus table: "
                f"SOC 0.05-0.95 within [{dev[1:-1].min():+.1f}, {dev[1:-1].max():+.1f}] mV, "
                f"SOC 0 {dev[0]:+.1f} mV, SOC 1 {dev[-1]:+.1f} mV"
            )
    notes.extend(_leaf_hppc_check(datasets / LEAF_HPPC_25C, table))
    return table, notes


def _leaf_hppc_check(path: Path, table: FloatArray) -> list[str]:
    """Compare with the 1-h rest voltages of the 25 °C HPPC test (discharge direction)."""
    if not path.is_file():
        return [f"HPPC check skipped: {path} not found"]
    cols = _read_bitrode(path)
    time = np.array(cols["Time(s)"], dtype=np.float64)
    current = np.array(cols["Current(A)"], dtype=np.float64)
    voltage = np.array(cols["Voltage(V)"], dtype=np.float64)
    dt = np.diff(time, prepend=time[0])
    charge_ah = np.cumsum(current * dt) / 3600.0
    rests: list[tuple[float, float]] = []
    run = 0.0
    for i in range(1, len(current)):
        if abs(current[i]) < 0.05:
            run += dt[i]
        else:
            if run >= 3000.0:
                rests.append((float(charge_ah[i - 1]), float(voltage[i - 1])))
            run = 0.0
    full = max(rests)[0]
    empty = float(charge_ah.min())
    devs = []
    for q, v in rests:
        s = (q - empty) / (full - empty)
        if 0.0 < s < 1.0:
            devs.append((s, (v - float(np.interp(s, SOC_GRID, table))) * 1000.0))
    pairs = ", ".join(f"{s:.2f}:{d:+.0f}" for s, d in devs)
    return [f"HPPC 25 C 1-h rest OCV minus table (SOC:mV): {pairs}"]


def validate_lfp(datasets: Path, tables: dict[str, FloatArray]) -> list[str]:
    """Compare LFP tables with PulseBat retired 35 Ah LFP rest OCVs (U1, 10-min rest)."""
    path = datasets / PULSEBAT_LFP
    try:
        openpyxl = importlib.import_module("openpyxl")
    except ModuleNotFoundError:
        return ["LFP validation skipped: pip install openpyxl"]
    if not path.is_file():
        return [f"LFP validation skipped: {path} not found"]
    sheet = openpyxl.load_workbook(path, read_only=True, data_only=True)["SOC ALL"]
    rows = list(sheet.iter_rows(values_only=True))
    head = list(rows[0])
    i_soc, i_socr, i_soh, i_u1 = (head.index(n) for n in ("SOC", "SOCR", "SOH", "U1"))
    lines = [
        "PulseBat LFP 35 Ah (terencetaothucb/Pulse-Voltage-Response-Generation @ 92aeb9b): "
        "median U1 vs table at SOC = SOCR / SOH"
    ]
    for planned in sorted({float(r[i_soc]) for r in rows[1:]}):
        sel = [r for r in rows[1:] if float(r[i_soc]) == planned]
        s = float(np.median([float(r[i_socr]) / float(r[i_soh]) for r in sel]))
        u1 = float(np.median([float(r[i_u1]) for r in sel]))
        devs = "  ".join(
            f"{name} {(float(np.interp(s, SOC_GRID, t)) - u1) * 1000:+5.0f} mV"
            for name, t in tables.items()
        )
        lines.append(f"  SOC {s:.3f}  U1 {u1:.3f} V  {devs}")
    return lines


def _ps(name: str, paper: str) -> str:
    return f"PyBaMM parameter set {name} ({paper})"


def derive_all(datasets: Path) -> tuple[list[Derived], list[str]]:
    """Derive every table; returns the tables and diagnostic lines."""
    tag = _pybamm_tag()
    method = (
        f"full-cell OCV = U_p(y) - U_n(x) at 298.15 K, stoichiometry limits from "
        f"pybamm.lithium_ion.get_min_max_stoichiometries with OCV limits set to the catalogue "
        f"cut-offs ({tag}); tools/catalog/derive_ocv_tables.py"
    )
    chen = _ps("Chen2020", "LG M50 NMC811/graphite-SiOx, doi:10.1149/1945-7111/ab9050")
    mohtat = _ps("Mohtat2020", "NMC532/graphite pouch, doi:10.1149/1945-7111/aba5d1")
    out: list[Derived] = []
    diag: list[str] = []

    def add(key: str, ocv: FloatArray, source: str, *notes: str) -> None:
        out.append(Derived(key, ocv, source, tuple(notes)))

    lfp, sto = full_cell_ocv("Prada2013", WINDOWS["LFP"], negative_ocp_from="Mohtat2020")
    lfp_raw, _ = full_cell_ocv("Prada2013", WINDOWS["LFP"])
    add(
        "LFP",
        lfp,
        _ps(
            "Prada2013",
            "A123 LFP/graphite, doi:10.1149/2.053304jes; LFP OCP Afshar et al. arXiv:1709.03970",
        )
        + " with the negative OCP replaced by the pure-graphite OCP of Mohtat2020 [assumption: "
        "Prada2013 borrows the LG M50 graphite-SiOx OCP, which puts the curve 0.27 V below "
        "measured rest OCVs of retired LFP cells at 6 % SOC; with graphite the deviation is "
        "<= 0.03 V at 6-59 % SOC, PulseBat 35 Ah LFP U1 [S25]]; " + method,
        f"stoichiometry x0, x100, y0, y100 = {np.round(sto, 4).tolist()}",
        f"unmodified Prada2013 minus table [mV]: {np.round((lfp_raw - lfp) * 1000).tolist()}",
    )
    nmc811, sto = full_cell_ocv("Chen2020", WINDOWS["NMC811"])
    add("NMC811", nmc811, f"{chen}; {method}", f"stoichiometry {np.round(sto, 4).tolist()}")
    nmc532, sto = full_cell_ocv("Mohtat2020", WINDOWS["NMC532"])
    add("NMC532", nmc532, f"{mohtat}; {method}", f"stoichiometry {np.round(sto, 4).tolist()}")
    nmc111, _ = full_cell_ocv("Mohtat2020", WINDOWS["NMC111"])
    add(
        "NMC111",
        nmc111,
        f"NMC111 approximated by {mohtat} [assumption: PyBaMM ships no NMC111 set; NMC532 is the "
        f"closest documented layered-oxide composition]; {method}",
    )
    nmc622, sto = msmr_full_cell_ocv(WINDOWS["NMC622"])
    add(
        "NMC622",
        nmc622,
        _ps(
            "MSMR_Example",
            "graphite and NMC622 MSMR thermodynamics of Verbrugge et al. 2017, "
            "doi:10.1149/2.0341708jes; LG M50 geometry of Chen2020",
        )
        + " [assumption: example electrode balance, not a measured cell; graphite is nearly full "
        "at 100 % SOC, hence the steep last 5 %]; U(x) by inverting the MSMR x(U) relations; "
        + method,
        f"stoichiometry {np.round(sto, 4).tolist()}",
    )
    nca, sto = full_cell_ocv("NCA_Kim2011", WINDOWS["NCA"])
    add(
        "NCA",
        nca,
        _ps("NCA_Kim2011", "NCA/graphite pouch, doi:10.1149/1.3597614") + f"; {method}",
        f"stoichiometry {np.round(sto, 4).tolist()}",
    )
    lco, sto = full_cell_ocv("Ai2020", WINDOWS["LCO"])
    lco_ramadass, _ = full_cell_ocv("Ramadass2004", WINDOWS["LCO"])
    add(
        "LCO",
        lco,
        _ps(
            "Ai2020",
            "Enertech LCO/graphite pouch, doi:10.1149/2.0122001JES; OCP data after "
            "Rieger et al. 2016",
        )
        + f"; {method}",
        f"stoichiometry {np.round(sto, 4).tolist()}",
        f"Ramadass2004 minus table [mV]: {np.round((lco_ramadass - lco) * 1000).tolist()}",
    )
    leaf, leaf_notes = leaf_table(datasets)
    leaf_source = (
        "measured C/15 quasi-OCV of a 2013 Nissan Leaf cell (LiMn2O4 + LiNiO2 / graphite, "
        f"33.1 Ah) at 24 C, {LEAF_REF}: cycles 2-6 taken as the 24 C block [assumption: the file "
        "has no temperature column]; each branch corrected by V - I*R with the ~0.11 ohm series "
        "resistance seen at every current switch (the constant-voltage end of charge would bias "
        "a plain average by up to 0.11 V), then charge and discharge branches averaged vs SOC "
        "(Ah-counted, 0 = C/15 discharge to 3.0 V, 1 = CC-CV charge to 4.2 V) and over the five "
        "cycles; SOC 0 rests at 3.25 V, above the 3.0 V cut-off, because the cut-off was reached "
        "under load; tools/catalog/derive_ocv_tables.py"
    )
    add("LMO", leaf, leaf_source, *leaf_notes)
    add(
        "LMO-NMC",
        leaf,
        "LMO-NMC blend approximated by the Nissan Leaf spinel + nickelate blend cell "
        "[assumption: closest documented measured blend]; same table as LMO: " + leaf_source,
    )
    li_metal, sto_p = li_metal_ocv(WINDOWS["Li-metal"])
    add(
        "Li-metal",
        li_metal,
        _ps(
            "Xu2019",
            "Li-metal/NMC532, Xu et al., J. Electrochem. Soc. 166 (2019) A3456; "
            "positive OCP = Mohtat2020 NMC532 fit",
        )
        + f" [estimate]: OCV = U_p(y), Li at 0 V in excess, y limits where U_p equals the "
        f"catalogue cut-offs (the fit is extrapolated slightly above 4.2 V); {tag}; "
        "tools/catalog/derive_ocv_tables.py",
        f"positive stoichiometry y0, y100 = {np.round(sto_p, 4).tolist()}",
    )
    li_s, q_li_s = li_s_ocv(WINDOWS["Li-S"])
    add(
        "Li-S",
        li_s,
        "[estimate] equilibrium (zero-current) voltage of the zero-dimensional Li-S model of "
        "Marinescu, Zhang, Offer, Phys. Chem. Chem. Phys. 18 (2016) 584, doi:10.1039/C5CP05755H, "
        "parameters of its PyBaMM port (pybamm-team/PyBaMM @ "
        "4492886217ff9a16e1dfb32017d96f6346af52ec, pybamm/input/parameters/lithium_sulfur/"
        "parameters.csv: E_H0 = 2.35 V, E_L0 = 2.195 V, 2.7 g S, 0.0114 L, S saturation 1e-4 g, "
        "298 K); SOC = remaining charge between the cut-offs. At equilibrium the model's low "
        "plateau sits at ~2.28-2.31 V, above the ~2.1 V seen in slow discharges, which the "
        "model attributes to precipitation kinetics; tools/catalog/derive_ocv_tables.py",
        f"model capacity between cut-offs {q_li_s:.3f} Ah (75 % of 2 e-/S)",
    )
    unknown, _ = full_cell_ocv("Chen2020", WINDOWS["unknown"])
    add(
        "unknown",
        unknown,
        f"[estimate] generic NMC-like curve: {chen} over the union window of the Li-ion "
        f"entries; {method}",
    )
    diag.append(f"derived with {tag}")
    return out, diag


def check_table(key: str, ocv: FloatArray) -> tuple[list[str], list[str]]:
    """Hard failures and warnings for one rounded table."""
    errors: list[str] = []
    warnings: list[str] = []
    if ocv.shape != SOC_GRID.shape:
        errors.append(f"{key}: {ocv.size} points, need {SOC_GRID.size}")
    if np.any(np.diff(ocv) <= 0):
        errors.append(f"{key}: OCV not strictly increasing after rounding")
    v_min, v_max = WINDOWS[key]
    for label, value, cutoff in (("SOC 0", ocv[0], v_min), ("SOC 1", ocv[-1], v_max)):
        if abs(value - cutoff) > ENDPOINT_TOLERANCE_V:
            warnings.append(f"{key}: {label} OCV {value:.3f} V is {value - cutoff:+.3f} V off")
    if key == "LFP":
        flat = ocv[(SOC_GRID >= 0.3) & (SOC_GRID <= 0.9)]
        if flat.min() < 3.2 or flat.max() > 3.35:
            warnings.append(f"LFP: SOC 0.3-0.9 spans {flat.min():.3f}-{flat.max():.3f} V")
    return errors, warnings


def _toml_array(values: Sequence[float], fmt: str, per_line: int = 7) -> str:
    items = [fmt.format(v) for v in values]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "[\n    " + ",\n    ".join(lines) + ",\n]"


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(table: Derived) -> str:
    """The ``[chemistry.<key>.ocv]`` TOML table."""
    return (
        f"[chemistry.{table.key}.ocv]\n"
        f"soc = {_toml_array(SOC_GRID.tolist(), '{:.2f}')}\n"
        f"ocv_v = {_toml_array(table.ocv_v.tolist(), '{:.4f}')}\n"
        f"source = {_toml_string(table.source)}\n"
        f'as_of = "{AS_OF}"\n'
    )


def write_into(path: Path, tables: list[Derived]) -> None:
    """Replace every ``[chemistry.<key>.ocv]`` table of ``path`` by the derived one."""
    text = path.read_text(encoding="utf-8")
    for table in tables:
        header = re.escape(f"[chemistry.{table.key}.ocv]")  # all keys are valid bare TOML keys
        pattern = re.compile(rf"^{header}\n.*?(?=^\[|^#|\Z)", re.S | re.M)
        match = pattern.search(text)
        if match is None:
            raise SystemExit(f"{path}: no [chemistry.{table.key}.ocv] table to replace")
        text = text[: match.start()] + render(table) + "\n" + text[match.end() :]
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def check_file(path: Path, tables: list[Derived]) -> list[str]:
    """Differences between ``path`` and the derived tables (empty when consistent)."""
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    problems: list[str] = []
    for table in tables:
        record = doc.get("chemistry", {}).get(table.key)
        if record is None:
            problems.append(f"{table.key}: missing")
            continue
        window = (record["discharge_cutoff_v"], record["charge_cutoff_v"])
        if window != WINDOWS[table.key]:
            problems.append(f"{table.key}: window {window} != script {WINDOWS[table.key]}")
        ocv = record.get("ocv", {})
        if list(ocv.get("soc", [])) != SOC_GRID.tolist():
            problems.append(f"{table.key}: soc grid differs")
        stored = np.asarray(ocv.get("ocv_v", []), dtype=np.float64)
        if stored.shape != table.ocv_v.shape or np.max(np.abs(stored - table.ocv_v)) > 5e-4:
            problems.append(f"{table.key}: ocv_v differs from the derivation by > 0.5 mV")
        quoted = QUOTED_MEAN.search(record.get("source", ""))
        mean = float(np.trapezoid(table.ocv_v, SOC_GRID))
        if quoted is not None and abs(float(quoted.group(1)) - mean) > 0.005:
            problems.append(
                f"{table.key}: source quotes mean OCV {quoted.group(1)}, got {mean:.3f}"
            )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="update the OCV tables in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if the file has drifted")
    parser.add_argument("--toml", type=Path, default=DEFAULT_TOML, help="catalogue file")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="shared datasets")
    parser.add_argument("--validate", action="store_true", help="compare LFP with PulseBat data")
    args = parser.parse_args(argv)

    derived, diag = derive_all(args.datasets)
    rounded = [dataclasses.replace(t, ocv_v=np.round(t.ocv_v, DECIMALS)) for t in derived]
    errors: list[str] = []
    for table in rounded:
        errs, warns = check_table(table.key, table.ocv_v)
        errors += errs
        mean = float(np.trapezoid(table.ocv_v, SOC_GRID))
        diag.append(f"{table.key}: SOC-averaged OCV {mean:.3f} V")
        diag += [f"  note: {n}" for n in table.notes] + [f"  WARNING: {w}" for w in warns]
    if args.validate:
        lfp_raw, _ = full_cell_ocv("Prada2013", WINDOWS["LFP"], soc=SOC_GRID)
        lfp = next(t.ocv_v for t in rounded if t.key == "LFP")
        diag += validate_lfp(args.datasets, {"table": lfp, "Prada2013 unmodified": lfp_raw})
    sys.stderr.write("\n".join(diag) + "\n")
    if errors:
        sys.stderr.write("\n".join(f"ERROR: {e}" for e in errors) + "\n")
        return 1
    if args.write:
        write_into(args.toml, rounded)
        sys.stderr.write(f"wrote {len(rounded)} tables into {args.toml}\n")
    elif args.check:
        problems = check_file(args.toml, rounded)
        sys.stderr.write("\n".join(problems or [f"{args.toml}: consistent"]) + "\n")
        return 1 if problems else 0
    else:
        sys.stdout.write("\n".join(render(t) for t in rounded))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
