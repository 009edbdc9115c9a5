"""Equivalent-circuit (1-RC / 2-RC Thevenin) fits of current pulses, with parameter uncertainty.

For a constant current ``I`` (positive = charge) applied at ``t = 0`` from rest at ``V_before``,
the Thevenin model with ``n`` RC pairs gives

    V(t) = V_before + I·R0 + I·Σ_k R_k·(1 − exp(−t/τ_k)) + s·t,

where the optional slope ``s`` absorbs the open-circuit-voltage drift of the charge moved during
the pulse (G. L. Plett, *Battery Management Systems, Vol. I*, Artech House, 2015, ch. 2). The fit
is a bounded non-linear least-squares problem (``scipy.optimize.least_squares``, trust-region
reflective); standard errors come from the Jacobian at the optimum, ``cov = s²·(JᵀJ)⁻¹`` with
``s² = RSS / (n − p)`` — the usual asymptotic estimate, optimistic when residuals are correlated
(they are, with sensor quantisation), so read it as a lower bound. The inverse is taken through
the SVD of the column-scaled Jacobian: a combination of parameters the pulse cannot separate (a
slow τ₂ against the drift on a short pulse) gives those parameters a huge or infinite error, never
the near-zero one an unscaled pseudo-inverse returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.optimize import least_squares

from echelon.diagnostics.resistance import pulse_table
from echelon.diagnostics.steps import SEGMENT, step_table, with_segments
from echelon.errors import DiagnosticsError
from echelon.io.bdf import TIME, VOLTAGE

Order = Literal[1, 2]
MIN_POINTS = 6
UNIDENTIFIABLE_RCOND: Final = 1e-7
"""A direction of the column-scaled Jacobian whose singular value is below this fraction of the
largest is not identified by the data (well above the ≈ 1.5e-8 relative noise of a
finite-difference Jacobian)."""
NULL_LOADING: Final = 1e-4
"""A parameter loading more than this on an unidentified direction has an infinite error."""


@dataclass(frozen=True)
class EcmFit:
    """Result of a Thevenin-model fit to one pulse.

    Attributes
    ----------
    order : int
        Number of RC pairs (1 or 2).
    r0_ohm : float
        Series (ohmic) resistance [Ω].
    r_ohm, tau_s : tuple of float
        Resistance [Ω] and time constant [s] of each RC pair, fastest first.
    c_farad : tuple of float
        Capacitance of each pair, ``τ / R`` [F].
    drift_v_per_s : float
        Fitted OCV slope during the pulse [V/s] (0 when not fitted).
    stderr : dict of str to float
        Standard error of each parameter (``r0_ohm``, ``r1_ohm``, ``tau1_s``, …); ``inf`` for a
        parameter the pulse cannot identify (see :func:`_standard_errors`). An error larger than
        its value means the same in practice: the data do not pin the parameter down.
    rmse_v : float
        Root-mean-square residual [V].
    r_squared : float
        Coefficient of determination of the voltage response.
    n_points : int
        Samples fitted.
    current_a : float
        Pulse current [A].
    at_bound : tuple of str
        Parameters that ended on a bound of the fit (a resistance at 0, a time constant at its
        floor or at 20 × the pulse duration): the optimum lies outside the model's range, and
        their standard errors do not describe it.
    pulse : int or None
        Number of the fitted pulse in the file (``pulse`` of
        :func:`~echelon.diagnostics.pulse_table` and :func:`~echelon.diagnostics.hppc_table`);
        ``None`` from :func:`fit_thevenin`.
    start_s : float or None
        Test time of the fitted pulse's first sample [s] (``start_s`` of those tables).
    current_varies : bool
        The pulse's current was not constant (the model assumes it is): read the fit with care.
    """

    order: int
    r0_ohm: float
    r_ohm: tuple[float, ...]
    tau_s: tuple[float, ...]
    c_farad: tuple[float, ...]
    drift_v_per_s: float
    rmse_v: float
    r_squared: float
    n_points: int
    current_a: float
    stderr: dict[str, float] = field(default_factory=dict)
    at_bound: tuple[str, ...] = ()
    pulse: int | None = None
    start_s: float | None = None
    current_varies: bool = False


def thevenin_voltage(
    t_s: NDArray[np.float64],
    *,
    v_before_v: float,
    current_a: float,
    r0_ohm: float,
    r_ohm: tuple[float, ...],
    tau_s: tuple[float, ...],
    drift_v_per_s: float = 0.0,
) -> NDArray[np.float64]:
    """Voltage response [V] of the Thevenin model to a current step at ``t = 0``."""
    polar = sum(
        (r * (1.0 - np.exp(-t_s / tau)) for r, tau in zip(r_ohm, tau_s, strict=True)),
        start=np.zeros_like(t_s),
    )
    return v_before_v + current_a * (r0_ohm + polar) + drift_v_per_s * t_s


def fit_thevenin(
    t_s: NDArray[np.float64],
    v_v: NDArray[np.float64],
    *,
    current_a: float,
    v_before_v: float,
    order: Order = 2,
    drift: bool = True,
) -> EcmFit:
    """Fit the Thevenin model to one constant-current pulse.

    Parameters
    ----------
    t_s : array
        Time since the pulse started [s] (first sample at or just after 0).
    v_v : array
        Terminal voltage [V].
    current_a : float
        Pulse current [A], positive on charge.
    v_before_v : float
        Resting voltage before the pulse [V].
    order : {1, 2}
        RC pairs.
    drift : bool
        Fit a linear OCV drift.

    Returns
    -------
    EcmFit

    Raises
    ------
    DiagnosticsError
        With fewer than 6 samples or a zero current.
    """
    t = np.asarray(t_s, dtype=float)
    v = np.asarray(v_v, dtype=float)
    if t.size < MIN_POINTS or current_a == 0.0:
        raise DiagnosticsError(f"a pulse fit needs ≥ {MIN_POINTS} samples and a current")
    duration = float(max(t[-1], 1e-3))
    dt_min = float(np.min(np.diff(t))) if t.size > 1 else 1e-3
    r_total = (v[-1] - v_before_v) / current_a
    r0_guess = max((v[0] - v_before_v) / current_a, 0.0)
    rest = max(r_total - r0_guess, 1e-6)
    taus = [duration / 20.0, duration / 3.0][:order]
    x0 = [r0_guess, *[x for k in range(order) for x in (rest / order, taus[k])]]
    lower = [0.0, *[x for _ in range(order) for x in (0.0, max(dt_min / 4, 1e-4))]]
    upper = [np.inf, *[x for _ in range(order) for x in (np.inf, 20.0 * duration)]]
    if drift:
        x0.append(0.0)
        lower.append(-np.inf)
        upper.append(np.inf)

    def unpack(x: NDArray[np.float64]) -> tuple[float, tuple[float, ...], tuple[float, ...], float]:
        rs = tuple(float(x[1 + 2 * k]) for k in range(order))
        ts = tuple(float(x[2 + 2 * k]) for k in range(order))
        return float(x[0]), rs, ts, float(x[-1]) if drift else 0.0

    def residual(x: NDArray[np.float64]) -> NDArray[np.float64]:
        r0, rs, ts, slope = unpack(x)
        model = thevenin_voltage(
            t,
            v_before_v=v_before_v,
            current_a=current_a,
            r0_ohm=r0,
            r_ohm=rs,
            tau_s=ts,
            drift_v_per_s=slope,
        )
        return np.asarray(model - v, dtype=float)

    x0 = np.clip(np.asarray(x0, dtype=float), lower, np.where(np.isinf(upper), np.inf, upper))
    result = least_squares(residual, x0, bounds=(lower, upper), method="trf", x_scale="jac")
    r0, rs, ts, slope = unpack(result.x)
    order_idx = np.argsort(ts)
    rs = tuple(rs[i] for i in order_idx)
    ts = tuple(ts[i] for i in order_idx)
    residuals = result.fun
    n, p = t.size, result.x.size
    rss = float(residuals @ residuals)
    stderr = _standard_errors(result.jac, rss, n, p)
    names = ["r0_ohm"]
    for k in range(order):
        names += [f"r{k + 1}_ohm", f"tau{k + 1}_s"]
    if drift:
        names.append("drift_v_per_s")
    if order == 2 and order_idx[0] == 1:  # pairs were swapped: swap their names too
        names[1:5] = ["r2_ohm", "tau2_s", "r1_ohm", "tau1_s"]
    errors = dict(zip(names, stderr, strict=True))
    at_bound = tuple(sorted(name for name, a in zip(names, result.active_mask, strict=True) if a))
    total = float(np.sum((v - v.mean()) ** 2))
    return EcmFit(
        order=order,
        r0_ohm=r0,
        r_ohm=rs,
        tau_s=ts,
        c_farad=tuple(tau / r if r > 0 else float("inf") for r, tau in zip(rs, ts, strict=True)),
        drift_v_per_s=slope,
        rmse_v=float(np.sqrt(rss / n)),
        r_squared=1.0 - rss / total if total > 0 else float("nan"),
        n_points=n,
        current_a=current_a,
        stderr=errors,
        at_bound=at_bound,
    )


def _standard_errors(jac: NDArray[np.float64], rss: float, n: int, p: int) -> list[float]:
    """Asymptotic standard errors ``sqrt(diag(s²·(JᵀJ)⁻¹))`` of a least-squares fit, ``inf`` for
    a parameter the data cannot identify.

    The Jacobian's columns are scaled to unit norm before the SVD, so parameters in different
    units (Ω, s, V/s) do not make the problem look singular, and a direction whose scaled
    singular value is below :data:`UNIDENTIFIABLE_RCOND` of the largest — zero but for the
    finite-difference noise of the Jacobian — gets an infinite variance, not the zero a
    pseudo-inverse would give it. A parameter with a loading above :data:`NULL_LOADING` on such a
    direction (or whose column is zero: it does not change the model) has ``inf`` error.
    """
    dof = max(n - p, 1)
    norms = np.linalg.norm(jac, axis=0)
    scale = np.where(norms > 0, norms, 1.0)
    try:
        _, singular, vt = np.linalg.svd(jac / scale, full_matrices=False)
    except np.linalg.LinAlgError:
        return [float("nan")] * p
    if singular.size == 0 or not np.all(np.isfinite(singular)) or singular[0] == 0:
        return [float("inf")] * p
    null = singular < UNIDENTIFIABLE_RCOND * singular[0]
    v = vt.T  # columns: right singular vectors
    variance = (v[:, ~null] ** 2) @ (1.0 / singular[~null] ** 2) * (rss / dof) / scale**2
    unidentified = np.any(np.abs(v[:, null]) > NULL_LOADING, axis=1) | (norms == 0)
    errors = np.where(unidentified, np.inf, np.sqrt(variance))
    return [float(e) for e in errors]


def pulse_ecm(
    frame: pl.DataFrame,
    *,
    pulse: int = 1,
    order: Order = 2,
    drift: bool = True,
    steps: pl.DataFrame | None = None,
) -> EcmFit:
    """Fit the Thevenin model to pulse number ``pulse`` of a file (1-based, file order: the
    ``pulse`` column of :func:`~echelon.diagnostics.pulse_table` and
    :func:`~echelon.diagnostics.hppc_table`; the fit says which in ``pulse`` and ``start_s``).

    Time is counted from the pulse's onset, its last resting sample (as in
    :func:`~echelon.diagnostics.pulse_table`), so the first pulse sample sits at its true delay.

    Raises
    ------
    DiagnosticsError
        If the file has fewer pulses, or the pulse too few samples.
    """
    steps = steps if steps is not None else step_table(frame)
    pulses = pulse_table(frame, times_s=(), steps=steps)
    if not 1 <= pulse <= pulses.height:
        raise DiagnosticsError(f"pulse {pulse} asked for, the file has {pulses.height}")
    chosen = pulses.row(pulse - 1, named=True)  # pulse_table's rows are pulses 1, 2, … in order
    samples = _segment_rows(frame, steps, int(chosen[SEGMENT]))
    t = samples.get_column(TIME).to_numpy() - float(chosen["onset_s"])  # the hold rule's step
    fit = fit_thevenin(
        t,
        samples.get_column(VOLTAGE).to_numpy(),
        current_a=float(chosen["current_a"]),
        v_before_v=float(chosen["voltage_before_v"]),
        order=order,
        drift=drift,
    )
    return replace(
        fit,
        pulse=int(chosen["pulse"]),
        start_s=float(chosen["start_s"]),
        current_varies=bool(chosen["current_varies"]),
    )


def _segment_rows(frame: pl.DataFrame, steps: pl.DataFrame, segment: int) -> pl.DataFrame:
    """The rows of ``segment``: a slice of the frame, at the rows the step table counts before
    it (``n_points``, file order), not a second segmentation of the file. A step table whose
    counts do not add up to the frame's rows (not this frame's) is not trusted: the frame is
    segmented again."""
    counts = steps.select(
        pl.col("n_points").cast(pl.Int64).sum().alias("all"),
        pl.col("n_points").filter(pl.col(SEGMENT) < segment).cast(pl.Int64).sum().alias("before"),
        pl.col("n_points").filter(pl.col(SEGMENT) == segment).cast(pl.Int64).sum().alias("own"),
    ).row(0, named=True)
    if counts["all"] != frame.height:
        return with_segments(frame).filter(pl.col(SEGMENT) == segment)
    return frame.slice(counts["before"], counts["own"])
