"""Equivalent-circuit simulation of tester protocols (capacity and pulse tests) for synthetic units.

The cell model is OCV(SOC) + R0 + two RC pairs, scaled to a unit of ``S`` cells in series and ``P``
in parallel. Constant-current phases are integrated exactly (the RC response to a current step is
analytic), so a whole protocol is a few vectorised numpy expressions. For demos and tests only:
never evidence that an estimator works.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from echelon.catalog import OcvTable
from echelon.io import bdf

STEP_START_S = 1e-3
"""Delay of the first logged sample after a current step [s]."""


@dataclass(frozen=True)
class EcmParameters:
    """Electrical parameters of a unit (already scaled to S×P).

    Attributes
    ----------
    capacity_ah : float
        True capacity [A·h].
    r0_ohm, r1_ohm, r2_ohm : float
        Ohmic and RC resistances [Ω].
    tau1_s, tau2_s : float
        RC time constants [s].
    series_count : int
        Cells in series (OCV and voltage limits are per cell × S).
    ocv : OcvTable
        Per-cell OCV–SOC table.
    v_min_v, v_max_v : float
        Unit-level discharge and charge cut-offs [V].
    temperature_c : float
        Ambient temperature [°C].
    thermal_k_per_w : float
        Surface temperature rise per watt of Joule heat [K/W].
    """

    capacity_ah: float
    r0_ohm: float
    r1_ohm: float
    tau1_s: float
    r2_ohm: float
    tau2_s: float
    series_count: int
    ocv: OcvTable
    v_min_v: float
    v_max_v: float
    temperature_c: float = 25.0
    thermal_k_per_w: float = 0.5


@dataclass
class _State:
    time_s: float
    soc: float
    v1: float
    v2: float


class ProtocolRecorder:
    """Runs protocol phases on an ECM and records samples (time, V, I, step, temperature)."""

    def __init__(
        self,
        params: EcmParameters,
        soc0: float,
        rng: np.random.Generator,
        *,
        voltage_noise_v: float = 5e-4,
        current_noise_fraction: float = 2e-4,
    ) -> None:
        self.p = params
        self.state = _State(0.0, float(np.clip(soc0, 0.0, 1.0)), 0.0, 0.0)
        self.rng = rng
        self.voltage_noise_v = voltage_noise_v * np.sqrt(params.series_count)
        self.current_noise_fraction = current_noise_fraction
        self._chunks: list[dict[str, np.ndarray]] = []
        self._step = 0

    def _ocv(self, soc: np.ndarray) -> np.ndarray:
        return self.p.series_count * self.p.ocv.ocv(soc)

    def _constant_current(self, current_a: float, t: np.ndarray) -> tuple[np.ndarray, ...]:
        p, s = self.p, self.state
        soc = s.soc + current_a * t / (3600.0 * p.capacity_ah)
        v1 = p.r1_ohm * current_a + (s.v1 - p.r1_ohm * current_a) * np.exp(-t / p.tau1_s)
        v2 = p.r2_ohm * current_a + (s.v2 - p.r2_ohm * current_a) * np.exp(-t / p.tau2_s)
        voltage = self._ocv(np.clip(soc, 0.0, 1.0)) + current_a * p.r0_ohm + v1 + v2
        return soc, v1, v2, voltage

    def _emit(self, t: np.ndarray, voltage: np.ndarray, current: np.ndarray) -> None:
        heat_w = current**2 * self.p.r0_ohm
        temperature = self.p.temperature_c + self.p.thermal_k_per_w * heat_w
        scale = self.current_noise_fraction * max(float(np.abs(current).max(initial=0.0)), 1.0)
        self._chunks.append(
            {
                bdf.TIME: self.state.time_s + t,
                bdf.VOLTAGE: voltage + self.rng.normal(0.0, self.voltage_noise_v, len(t)),
                bdf.CURRENT: np.where(
                    current == 0.0, 0.0, current + self.rng.normal(0.0, scale, len(t))
                ),
                bdf.STEP: np.full(len(t), self._step, dtype=np.int64),
                bdf.SURFACE_T: temperature + self.rng.normal(0.0, 0.05, len(t)),
            }
        )

    def rest(self, duration_s: float, sample_s: float) -> None:
        """Open circuit for ``duration_s``: RC voltages relax, SOC constant."""
        self._step += 1
        t = np.concatenate([[STEP_START_S], np.arange(sample_s, duration_s + 1e-9, sample_s)])
        soc, v1, v2, voltage = self._constant_current(0.0, t)
        self._emit(t, voltage, np.zeros_like(t))
        self.state = _State(self.state.time_s + t[-1], float(soc[-1]), float(v1[-1]), float(v2[-1]))

    def constant_current(
        self,
        current_a: float,
        *,
        sample_s: float,
        max_s: float,
        stop_below_v: float | None = None,
        stop_above_v: float | None = None,
    ) -> None:
        """Constant current until a voltage limit (exact crossing sample appended) or ``max_s``.

        The first sample is logged 1 ms after the step change (as testers log a record at each
        step start), so the instantaneous ohmic drop is visible.
        """
        self._step += 1
        t = np.concatenate([[STEP_START_S], np.arange(sample_s, max_s + 1e-9, sample_s)])
        soc, v1, v2, voltage = self._constant_current(current_a, t)
        hit = np.zeros(len(t), dtype=bool)
        if stop_below_v is not None:
            hit |= voltage <= stop_below_v
        if stop_above_v is not None:
            hit |= voltage >= stop_above_v
        hit |= (soc <= 0.0) | (soc >= 1.0)
        if hit.any():
            k = int(np.argmax(hit))
            t_prev = t[k - 1] if k > 0 else 0.0
            t_cross = float(t[k])
            if stop_below_v is not None and voltage[k] <= stop_below_v:
                t_cross = self._crossing(t, voltage, k, stop_below_v)
            elif stop_above_v is not None and voltage[k] >= stop_above_v:
                t_cross = self._crossing(t, voltage, k, stop_above_v)
            else:  # empty or full before the voltage limit: stop where SOC reaches the bound
                bound = 0.0 if current_a < 0 else 1.0
                t_cross = (bound - self.state.soc) * 3600.0 * self.p.capacity_ah / current_a
            t = np.append(t[:k], float(np.clip(t_cross, t_prev + 1e-3, t[k])))
            soc, v1, v2, voltage = self._constant_current(current_a, t)
        self._emit(t, voltage, np.full(len(t), current_a))
        self.state = _State(self.state.time_s + t[-1], float(soc[-1]), float(v1[-1]), float(v2[-1]))

    @staticmethod
    def _crossing(t: np.ndarray, voltage: np.ndarray, k: int, limit: float) -> float:
        """Time where the voltage crosses ``limit`` between samples ``k-1`` and ``k`` (linear)."""
        if k == 0 or voltage[k] == voltage[k - 1]:
            return float(t[k])
        return float(
            t[k - 1] + (limit - voltage[k - 1]) * (t[k] - t[k - 1]) / (voltage[k] - voltage[k - 1])
        )

    def constant_voltage_charge(
        self, start_current_a: float, end_current_a: float, *, sample_s: float
    ) -> None:
        """CV hold at the charge limit: current decays exponentially to ``end_current_a``.

        The decay constant is chosen so the charge passed brings the unit to full (SOC 1).
        """
        self._step += 1
        need_as = max(1.0 - self.state.soc, 1e-4) * self.p.capacity_ah * 3600.0
        tau = need_as / max(start_current_a - end_current_a, 1e-6)
        duration = tau * np.log(start_current_a / end_current_a)
        t = np.concatenate(
            [[STEP_START_S], np.arange(sample_s, max(duration, sample_s) + 1e-9, sample_s)]
        )
        current = start_current_a * np.exp(-t / tau)
        charge_as = start_current_a * tau * (1.0 - np.exp(-t / tau))
        soc = np.clip(self.state.soc + charge_as / (3600.0 * self.p.capacity_ah), 0.0, 1.0)
        voltage = np.full(len(t), self.p.v_max_v)
        self._emit(t, voltage, current)
        # RC voltages carry the (decaying) polarisation at the end of the hold
        i_end = float(current[-1])
        self.state = _State(
            self.state.time_s + t[-1], float(soc[-1]), self.p.r1_ohm * i_end, self.p.r2_ohm * i_end
        )

    def frame(self) -> pl.DataFrame:
        """Everything recorded so far as a BDF frame (test time starts at the first sample)."""
        columns = {k: np.concatenate([c[k] for c in self._chunks]) for k in self._chunks[0]}
        return pl.DataFrame(columns).with_columns(pl.lit(1, dtype=pl.Int64).alias(bdf.CYCLE))


def capacity_test(
    params: EcmParameters,
    *,
    soc0: float,
    rate_c: float,
    nominal_capacity_ah: float,
    rng: np.random.Generator,
    sample_s: float = 10.0,
) -> pl.DataFrame:
    """A residual-capacity test: rest, discharge to empty, CC-CV charge, rest, CC discharge.

    Rates are fractions of the *nominal* capacity (as a facility programs its tester).
    """
    current = rate_c * nominal_capacity_ah
    rec = ProtocolRecorder(params, soc0, rng)
    hours = 3.0 / rate_c
    rec.rest(300.0, sample_s)
    rec.constant_current(
        -current, sample_s=sample_s, max_s=hours * 3600, stop_below_v=params.v_min_v
    )
    rec.rest(600.0, sample_s)
    rec.constant_current(
        current, sample_s=sample_s, max_s=hours * 3600, stop_above_v=params.v_max_v
    )
    rec.constant_voltage_charge(current, nominal_capacity_ah / 20.0, sample_s=sample_s)
    rec.rest(600.0, sample_s)
    rec.constant_current(
        -current, sample_s=sample_s, max_s=hours * 3600, stop_below_v=params.v_min_v
    )
    rec.rest(600.0, sample_s)
    return rec.frame()


def pulse_test(
    params: EcmParameters,
    *,
    soc0: float,
    nominal_capacity_ah: float,
    rng: np.random.Generator,
    discharge_c: float = 1.0,
    charge_c: float = 0.75,
    pulse_s: float = 10.0,
    sample_s: float = 0.1,
) -> pl.DataFrame:
    """A DCIR pulse test at the arrival SOC: rest, discharge pulse, rest, charge pulse, rest."""
    rec = ProtocolRecorder(params, soc0, rng)
    rec.rest(30.0, 1.0)
    rec.constant_current(
        -discharge_c * nominal_capacity_ah,
        sample_s=sample_s,
        max_s=pulse_s,
        stop_below_v=params.v_min_v,
    )
    rec.rest(40.0, sample_s)
    rec.constant_current(
        charge_c * nominal_capacity_ah,
        sample_s=sample_s,
        max_s=pulse_s,
        stop_above_v=params.v_max_v,
    )
    rec.rest(40.0, sample_s)
    return rec.frame()
