"""Electrochemical impedance spectra: Nyquist features and an equivalent-circuit fit.

BDF stores impedance as ``frequency_hertz``, ``real_impedance_ohm`` and
``imaginary_impedance_ohm`` (Im Z itself: negative for the capacitive arc — the opposite sign of
the ``-Im(Z)`` most instruments print). A file may hold several sweeps; they are told apart by
``cycle_count`` or, without it, by the frequency jumping back up.

The circuit is ``R0 + jωL + R1‖CPE(Q, α) + W`` with a semi-infinite Warburg element
``W = σ·ω^(−1/2)·(1 − j)`` (E. Barsoukov, J. R. Macdonald, *Impedance Spectroscopy*, 2nd ed.,
Wiley, 2005, §2.2 and §4.4). It is fitted by bounded least squares on residuals normalised by
``|Z|`` (modulus weighting; B. A. Boukamp, J. Electrochem. Soc. 142 (1995) 1885); standard errors
come from the Jacobian, and goodness of fit is reported as the weighted χ², the relative RMS
residual and R² over both components.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.optimize import least_squares

from echelon.diagnostics.ecm import _standard_errors
from echelon.errors import DiagnosticsError
from echelon.io.bdf import CYCLE, FREQUENCY, Z_IMAG, Z_REAL

SPECTRUM = "spectrum"
PARAMETERS = ("r0_ohm", "l_henry", "r1_ohm", "q_farad_s_alpha", "alpha", "sigma_ohm_s_half")
MIN_POINTS = 8


def spectra(frame: pl.DataFrame) -> pl.DataFrame:
    """The impedance rows of a BDF frame with a ``spectrum`` number (1, 2, …) per sweep.

    Raises
    ------
    DiagnosticsError
        If the frame has no impedance columns.
    """
    missing = [c for c in (FREQUENCY, Z_REAL, Z_IMAG) if c not in frame.columns]
    if missing:
        raise DiagnosticsError(f"no impedance data (missing {', '.join(missing)})")
    rows = frame.filter(pl.col(FREQUENCY).is_not_null() & (pl.col(FREQUENCY) > 0))
    if CYCLE in rows.columns:
        number = pl.col(CYCLE).rank("dense").cast(pl.Int64)
    else:  # a new sweep starts where the frequency jumps back up
        number = (pl.col(FREQUENCY) > pl.col(FREQUENCY).shift(1) * 1.5).fill_null(
            False
        ).cum_sum() + 1
    return rows.select(number.alias(SPECTRUM), FREQUENCY, Z_REAL, Z_IMAG)


def nyquist_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Features of each spectrum read off the Nyquist plot (one group-by, no fit).

    Returns
    -------
    pl.DataFrame
        ``spectrum``, ``n_points``, ``r_ohmic_ohm`` (real part where the curve crosses the
        real axis at high frequency, interpolated; the real part at the highest frequency if it
        never crosses), ``apex_frequency_hz`` and ``apex_minus_imag_ohm`` (top of the
        charge-transfer arc), ``valley_real_ohm`` (real part at the minimum of −Im Z below the
        apex frequency: arc end / diffusion start), ``r_arc_ohm`` = valley − ohmic, and
        ``tail_angle_deg`` (slope angle of the last four points: ≈ 45° for a Warburg tail).
    """
    data = spectra(frame).sort(SPECTRUM, FREQUENCY, descending=[False, True])
    minus_im = -pl.col(Z_IMAG)
    crossing = (minus_im > 0) & (minus_im.shift(1) <= 0)
    # interpolate the real part at −Im = 0 between the crossing point and the one before
    z0 = pl.col(Z_REAL).shift(1) + (pl.col(Z_REAL) - pl.col(Z_REAL).shift(1)) * (
        (-minus_im.shift(1)) / (minus_im - minus_im.shift(1))
    )
    before, after = minus_im.shift(1).over(SPECTRUM), minus_im.shift(-1).over(SPECTRUM)
    marked = data.with_columns(
        pl.when(crossing.over(SPECTRUM)).then(z0.over(SPECTRUM)).alias("_cross"),
        # arc top: the first local maximum of −Im Z going down in frequency; arc end: the
        # first local minimum after it (where the diffusion tail starts)
        ((minus_im > 0) & (minus_im > before) & (minus_im >= after)).fill_null(False).alias("_top"),
        ((minus_im < before) & (minus_im <= after)).fill_null(False).alias("_low"),
    )
    top_f = pl.col(FREQUENCY).filter(pl.col("_top")).first()
    apex_f = pl.coalesce(top_f, pl.col(FREQUENCY).sort_by(minus_im).last())
    valley = pl.col(Z_REAL).filter(pl.col("_low") & (pl.col(FREQUENCY) < apex_f)).first()
    tail_re = pl.col(Z_REAL).tail(4)
    tail_im = minus_im.tail(4)
    return (
        marked.group_by(SPECTRUM, maintain_order=True)
        .agg(
            pl.len().alias("n_points"),
            pl.coalesce(pl.col("_cross").drop_nulls().first(), pl.col(Z_REAL).first()).alias(
                "r_ohmic_ohm"
            ),
            apex_f.alias("apex_frequency_hz"),
            minus_im.filter(pl.col(FREQUENCY) == apex_f).first().alias("apex_minus_imag_ohm"),
            valley.alias("valley_real_ohm"),
            (
                pl.arctan2(tail_im.last() - tail_im.first(), tail_re.last() - tail_re.first())
                * 180.0
                / np.pi
            ).alias("tail_angle_deg"),
        )
        .with_columns((pl.col("valley_real_ohm") - pl.col("r_ohmic_ohm")).alias("r_arc_ohm"))
    )


@dataclass(frozen=True)
class EisFit:
    """Equivalent-circuit fit of one spectrum: ``R0 + jωL + R1‖CPE(Q, α) + W(σ)``.

    Attributes
    ----------
    params : dict of str to float
        ``r0_ohm``, ``l_henry``, ``r1_ohm``, ``q_farad_s_alpha`` (CPE magnitude [F·s^(α−1)]),
        ``alpha`` (CPE exponent, 1 = ideal capacitor), ``sigma_ohm_s_half`` (Warburg
        coefficient [Ω·s^−½]).
    stderr : dict of str to float
        Standard error of each parameter: ``inf`` when the spectrum cannot identify it, 0 for
        ``l_henry`` held at 0 (``inductance=False``).
    chi_square : float
        Σ of squared |Z|-normalised residuals (real and imaginary).
    rms_relative : float
        Root-mean-square of the normalised residuals (0.01 = 1 % of |Z|).
    r_squared : float
        Coefficient of determination over both components.
    n_points : int
        Frequencies fitted.
    """

    params: dict[str, float]
    stderr: dict[str, float]
    chi_square: float
    rms_relative: float
    r_squared: float
    n_points: int
    extra: dict[str, float] = field(default_factory=dict)


def circuit_impedance(
    frequency_hz: NDArray[np.float64], params: dict[str, float]
) -> NDArray[np.complex128]:
    """Impedance [Ω] of ``R0 + jωL + R1‖CPE(Q, α) + W(σ)`` at the given frequencies."""
    omega = 2.0 * np.pi * np.asarray(frequency_hz, dtype=float)
    jw = 1j * omega
    arc = params["r1_ohm"] / (
        1.0 + params["r1_ohm"] * params["q_farad_s_alpha"] * jw ** params["alpha"]
    )
    warburg = params["sigma_ohm_s_half"] * (1.0 - 1j) / np.sqrt(omega)
    return params["r0_ohm"] + jw * params["l_henry"] + arc + warburg


def _initial(f: NDArray[np.float64], z: NDArray[np.complex128]) -> list[float]:
    order = np.argsort(-f)
    f, z = f[order], z[order]
    minus_im = -z.imag
    capacitive = np.where(minus_im > 0)[0]
    r0 = float(z.real[capacitive[0]]) if capacitive.size else float(z.real[0])
    apex = int(capacitive[np.argmax(minus_im[capacitive])]) if capacitive.size else len(f) // 2
    r1 = max(2.0 * (float(z.real[apex]) - r0), 1e-6)
    alpha = 0.85
    q = 1.0 / (r1 * (2.0 * np.pi * f[apex]) ** alpha)
    low = -min(4, len(f))
    sigma = max(float(np.median(minus_im[low:] * np.sqrt(2.0 * np.pi * f[low:]))), 1e-9)
    return [max(r0, 1e-9), 1e-9, r1, q, alpha, sigma]


def fit_circuit(
    frequency_hz: NDArray[np.float64],
    z_real_ohm: NDArray[np.float64],
    z_imag_ohm: NDArray[np.float64],
    *,
    inductance: bool = True,
) -> EisFit:
    """Fit ``R0 + jωL + R1‖CPE + W`` to one spectrum (Im Z negative on the capacitive arc).

    Raises
    ------
    DiagnosticsError
        With fewer than 8 frequencies.
    """
    f = np.asarray(frequency_hz, dtype=float)
    z = np.asarray(z_real_ohm, dtype=float) + 1j * np.asarray(z_imag_ohm, dtype=float)
    if f.size < MIN_POINTS:
        raise DiagnosticsError(f"an impedance fit needs ≥ {MIN_POINTS} frequencies, got {f.size}")
    modulus = np.abs(z)
    x0 = np.array(_initial(f, z))
    lower = np.array([0.0, 0.0, 0.0, 1e-12, 0.3, 0.0])
    upper = np.array([np.inf, np.inf if inductance else 1e-30, np.inf, np.inf, 1.0, np.inf])
    x0 = np.clip(x0, lower, np.where(np.isinf(upper), x0 * 10 + 1, upper))
    scale = np.abs(x0) + 1e-12

    def residual(u: NDArray[np.float64]) -> NDArray[np.float64]:
        model = circuit_impedance(f, dict(zip(PARAMETERS, u * scale, strict=True)))
        diff = (model - z) / modulus
        return np.concatenate([diff.real, diff.imag])

    result = least_squares(
        residual, x0 / scale, bounds=(lower / scale, upper / scale), method="trf"
    )
    values = result.x * scale
    free = np.array([inductance or name != "l_henry" for name in PARAMETERS])
    n_res, p = 2 * f.size, int(free.sum())
    rss = float(result.fun @ result.fun)
    errors = np.zeros(len(PARAMETERS))  # a parameter held fixed has no error
    errors[free] = np.array(_standard_errors(result.jac[:, free], rss, n_res, p)) * scale[free]
    stacked = np.concatenate([z.real, z.imag]) / np.concatenate([modulus, modulus])
    total = float(np.sum((stacked - stacked.mean()) ** 2))
    return EisFit(
        params=dict(zip(PARAMETERS, (float(v) for v in values), strict=True)),
        stderr=dict(zip(PARAMETERS, (float(e) for e in errors), strict=True)),
        chi_square=rss,
        rms_relative=float(np.sqrt(rss / n_res)),
        r_squared=1.0 - rss / total if total > 0 else float("nan"),
        n_points=int(f.size),
    )


def fit_spectra(frame: pl.DataFrame, *, inductance: bool = True) -> pl.DataFrame:
    """:func:`fit_circuit` for every spectrum of a frame (each sweep is its own fit).

    Returns
    -------
    pl.DataFrame
        ``spectrum``, each parameter and its ``<name>_stderr``, ``chi_square``,
        ``rms_relative``, ``r_squared``, ``n_points``.
    """
    rows = []
    for part in spectra(frame).partition_by(SPECTRUM, maintain_order=True):
        fit = fit_circuit(
            part.get_column(FREQUENCY).to_numpy(),
            part.get_column(Z_REAL).to_numpy(),
            part.get_column(Z_IMAG).to_numpy(),
            inductance=inductance,
        )
        rows.append(
            {
                SPECTRUM: int(part.get_column(SPECTRUM)[0]),
                **fit.params,
                **{f"{k}_stderr": v for k, v in fit.stderr.items()},
                "chi_square": fit.chi_square,
                "rms_relative": fit.rms_relative,
                "r_squared": fit.r_squared,
                "n_points": fit.n_points,
            }
        )
    return pl.DataFrame(rows)
