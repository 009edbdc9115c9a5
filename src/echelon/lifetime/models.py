"""Rate laws of the semi-empirical ageing models and their exact state-form update.

Each model is capacity loss = calendar part + cycle part, both power laws ``q = k x^p`` of their
driving variable ``x`` (time in days; throughput in equivalent full cycles or reference-cell
ampere-hours) with a rate ``k`` set by the stressors (temperature, state of charge / anode
potential / open-circuit voltage, depth of discharge, C-rate). When the stressors change, the loss
is carried over in *state form*: the equivalent ``x`` that gives the present loss at the new rate is
advanced by the step. For rates constant over each step this has a closed form — ``q^(1/p)``
accumulates ``k^(1/p) · a · Δx``:

``q(x_n)^(1/p) = q(x_0)^(1/p) + Σ_i k_i^(1/p) · a · Δx_i``,

exact where BLAST-Lite integrates the same state equation with a forward-Euler step [S65]. ``a`` is
an acceleration factor (1 for the catalogue cell): a unit that ages faster than the reference cell
runs through time and throughput faster.

References
----------
P. Gasper et al., NREL BLAST-Lite 1.1.1, blast/models/degradation_model.py (BSD-3-Clause).

J. Schmalstieg et al., J. Power Sources 257 (2014) 325, doi:10.1016/j.jpowsour.2014.02.012.

M. Safari, C. Delacourt, J. Electrochem. Soc. 158 (2011) A562, doi:10.1149/1.3567007.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from echelon.lifetime.params import AgeingModel, AnodePotential

Array = npt.NDArray[np.float64]
KELVIN = 273.15


def anode_potential_v(soc: Array, curve: AnodePotential) -> Array:
    """Graphite potential vs Li/Li+ [V] at cell state of charge ``soc`` (0–1)."""
    xa = curve.x_min + np.asarray(soc, dtype=np.float64) * (curve.x_max - curve.x_min)
    out = curve.c0 + curve.c1 * np.exp(curve.c2 * xa)
    for amp, centre, width in zip(
        curve.tanh_amplitude, curve.tanh_centre, curve.tanh_width, strict=True
    ):
        out = out + amp * np.tanh((xa - centre) / width)
    return np.asarray(out, dtype=np.float64)


_UA_GRID = np.linspace(0.0, 1.0, 4001)


@functools.lru_cache(maxsize=4)
def _anode_table(curve: AnodePotential) -> Array:
    return anode_potential_v(_UA_GRID, curve)


def anode_potential_fast_v(soc: Array, curve: AnodePotential) -> Array:
    """:func:`anode_potential_v` by interpolation in a 4001-point table (|error| < 0.1 mV)."""
    return np.asarray(np.interp(soc, _UA_GRID, _anode_table(curve)), dtype=np.float64)


def ocv_v(soc: Array, model: AgeingModel) -> Array:
    """Open-circuit voltage [V] of the model's reference cell at ``soc`` (0–1)."""
    if model.ocv is None:
        raise ValueError(f"model {model.key} has no OCV table")
    return np.asarray(
        np.interp(np.asarray(soc, dtype=np.float64), model.ocv.soc, model.ocv.ocv_v),
        dtype=np.float64,
    )


def calendar_rate(
    model: AgeingModel, temperature_k: Array, soc: Array, anode: AnodePotential
) -> Array:
    """Calendar rate ``k_cal`` [loss per day^p] at each (temperature [K], SOC) sample.

    Forms: ``arrhenius_soc`` k = A exp(B/T) exp(C SOC/T); ``arrhenius_anode_potential``
    k = |A| exp(B/T) exp(C Ua/T); ``linear_ocv_arrhenius`` k = (A V + B) · scale · exp(C/T).
    """
    law = model.calendar
    c = law.coefficients
    t = np.asarray(temperature_k, dtype=np.float64)
    if law.form == "arrhenius_soc":
        out = c["a"] * np.exp((c["b_kelvin"] + c["c_kelvin"] * soc) / t)
    elif law.form == "arrhenius_anode_potential":
        ua = anode_potential_fast_v(soc, anode)
        out = abs(c["a"]) * np.exp((c["b_kelvin"] + c["c_kelvin_per_volt"] * ua) / t)
    else:  # linear_ocv_arrhenius
        volt = ocv_v(soc, model)
        out = (c["a_per_volt"] * volt + c["b"]) * c["scale"] * np.exp(c["c_kelvin"] / t)
    return np.maximum(np.asarray(out, dtype=np.float64), 0.0)


def cycle_temperature_factor(model: AgeingModel, temperature_k: Array) -> Array:
    """Temperature factor of the cycle law (``exp(D/T) + exp(−E/T)``; 1 for other forms)."""
    law = model.cycle
    t = np.asarray(temperature_k, dtype=np.float64)
    if law.form != "dod_crate_temperature":
        return np.ones_like(t)
    c = law.coefficients
    return np.asarray(np.exp(c["d_kelvin"] / t) + np.exp(-c["e_kelvin"] / t), dtype=np.float64)


def cycle_rate(
    model: AgeingModel,
    *,
    dod: Array,
    c_rate: Array,
    temperature_factor: Array,
    vrms_v: Array,
) -> Array:
    """Cycle rate ``k_cyc`` [loss per (throughput unit)^p].

    Parameters
    ----------
    dod : array
        Depth of discharge of the cycling (0–1).
    c_rate : array
        Mean absolute C-rate while cycling [1/h].
    temperature_factor : array
        Time average of :func:`cycle_temperature_factor` over the period.
    vrms_v : array
        RMS open-circuit voltage over the period [V] (``vrms_dod`` form only).
    """
    law = model.cycle
    c = law.coefficients
    if law.form == "dod_crate_temperature":
        out = (c["a"] + c["b_crate"] * c_rate + c["c_dod"] * dod) * temperature_factor
    elif law.form == "vrms_dod":
        out = c["a_per_volt2"] * (vrms_v - c["b_volt"]) ** 2 + c["c"] + c["d_dod"] * dod
    else:  # constant
        out = np.full(np.broadcast(dod, c_rate).shape, c["a"])
    return np.maximum(np.asarray(out, dtype=np.float64), 0.0)


def power_state_step(loss: Array, rate: Array, exponent: float, step: Array) -> Array:
    """Advance a power-law loss state ``q = k x^p`` by ``step`` at rate ``k`` (exact).

    ``q ← (q^(1/p) + k^(1/p) · step)^p``: the same as re-deriving the equivalent ``x`` at ``k``.

    Parameters
    ----------
    loss : array
        Present loss (fraction of capacity).
    rate : array
        Rate ``k`` during the step (≥ 0).
    exponent : float
        Power ``p``.
    step : array
        Increment of the driving variable (days or throughput), already multiplied by the
        unit's acceleration factor.

    Returns
    -------
    array
        Loss at the end of the step.
    """
    inv = 1.0 / exponent
    z = np.power(np.maximum(loss, 0.0), inv) + np.power(np.maximum(rate, 0.0), inv) * step
    return np.asarray(np.power(z, exponent), dtype=np.float64)
