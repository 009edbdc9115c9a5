"""Gaussian-process regression with a rational-quadratic kernel, in numpy/scipy.

The SOH estimators need a smooth non-linear regressor that works with a few hundred to a few
thousand samples, has three interpretable hyper-parameters, and serialises to plain arrays (no
pickle) so that trained models ship inside the package. A GP with a rational-quadratic (RQ)
kernel on standardised inputs did best on PulseBat among ridge, PLS, extra trees, gradient
boosting, SVR, k-NN and RBF/Matérn GPs in grouped cross-validation (docs/validation.md).

Kernel on standardised inputs ``x`` (zero mean, unit variance per feature)::

    k(x, x') = s² (1 + |x − x'|² / (2 α ℓ²))^(−α) + σ² δ(x, x')

Hyper-parameters ``(s², ℓ, α, σ²)`` maximise the log marginal likelihood (analytic gradient,
L-BFGS-B) on at most ``max_fit_samples`` rows drawn at random; the posterior mean is then solved
on every row. References: C. E. Rasmussen and C. K. I. Williams, *Gaussian Processes for Machine
Learning*, MIT Press (2006), ch. 4–5, ISBN 0-262-18253-X.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import minimize

from echelon.errors import EstimationError

Array = npt.NDArray[np.float64]

LOG_BOUNDS: tuple[tuple[float, float], ...] = (
    (np.log(1e-3), np.log(1e5)),  # signal variance s² (targets are standardised)
    (np.log(1e-2), np.log(1e4)),  # length scale ℓ (inputs are standardised)
    (np.log(1e-3), np.log(1e4)),  # shape α
    (np.log(1e-6), np.log(1e1)),  # noise variance σ²
)
"""Search box of the log hyper-parameters (wide: inputs and targets are standardised)."""
STARTS: tuple[tuple[float, float, float, float], ...] = ((1.0, 1.0, 1.0, 1.0), (1.0, 5.0, 1.0, 0.1))
"""Starting points of the likelihood search (the best optimum is kept)."""


def sq_dist(a: Array, b: Array) -> Array:
    """Squared Euclidean distances between the rows of ``a`` and ``b`` (clipped at 0)."""
    aa = np.einsum("ij,ij->i", a, a)[:, None]
    bb = np.einsum("ij,ij->i", b, b)[None, :]
    out: Array = np.maximum(aa + bb - 2.0 * (a @ b.T), 0.0)
    return out


def _rq(d2: Array, signal: float, length: float, shape: float) -> Array:
    return signal * (1.0 + d2 / (2.0 * shape * length**2)) ** (-shape)


def _nlml(log_theta: Array, d2: Array, y: Array) -> tuple[float, Array]:
    """Negative log marginal likelihood and its gradient (non-finite → a large penalty)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        nll, grad = _nlml_raw(log_theta, d2, y)
    if not (np.isfinite(nll) and np.isfinite(grad).all()):
        return 1e25, np.zeros(4)
    return nll, grad


def _nlml_raw(log_theta: Array, d2: Array, y: Array) -> tuple[float, Array]:
    signal, length, shape, noise = np.exp(log_theta)
    base = 1.0 + d2 / (2.0 * shape * length**2)
    kf = signal * base ** (-shape)
    k = kf + noise * np.eye(len(y))
    try:
        factor = cho_factor(k, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return 1e25, np.zeros(4)
    alpha = cho_solve(factor, y, check_finite=False)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(factor[0])).sum())
    nll += 0.5 * len(y) * np.log(2.0 * np.pi)
    inner = np.outer(alpha, alpha) - cho_solve(factor, np.eye(len(y)), check_finite=False)
    grads = (
        kf,  # ∂K/∂log s²
        signal * base ** (-shape - 1.0) * d2 / length**2,  # ∂K/∂log ℓ
        shape * kf * (-np.log(base) + d2 / (2.0 * shape * length**2 * base)),  # ∂K/∂log α
        noise * np.eye(len(y)),  # ∂K/∂log σ²
    )
    grad = np.array([-0.5 * float(np.einsum("ij,ji->", inner, g)) for g in grads])
    return nll, grad


CONSTANT_RELATIVE_SCALE = 1e-9
"""A feature whose training spread is below this fraction of its magnitude (at least 1) is
constant in training (one rated capacity, say): it gets unit scale instead of its round-off
spread, so a new value of it standardises to its plain difference, not to ~1e13."""


def constant_columns(x_mean: Array, x_scale: Array) -> npt.NDArray[np.bool_]:
    """Which features were constant in training (see :data:`CONSTANT_RELATIVE_SCALE`)."""
    return np.asarray(
        x_scale <= CONSTANT_RELATIVE_SCALE * np.maximum(1.0, np.abs(x_mean)), dtype=bool
    )


@dataclass(frozen=True)
class GaussianProcess:
    """A fitted GP regressor (posterior mean only; intervals come from conformal calibration).

    Attributes
    ----------
    x_mean, x_scale : ndarray, shape (d,)
        Input standardisation.
    y_mean, y_scale : float
        Target standardisation.
    x_train : ndarray, shape (n, d)
        Standardised training inputs.
    weights : ndarray, shape (n,)
        ``(K + σ² I)⁻¹ y`` on standardised targets.
    log_theta : ndarray, shape (4,)
        Log hyper-parameters ``(s², ℓ, α, σ²)``.
    """

    x_mean: Array
    x_scale: Array
    y_mean: float
    y_scale: float
    x_train: Array
    weights: Array
    log_theta: Array

    def predict(self, x: Array, *, chunk: int = 4096) -> Array:
        """Posterior mean at ``x`` (shape (m, d)), in the target's units."""
        z = (np.asarray(x, dtype=np.float64) - self.x_mean) / self.x_scale
        signal, length, shape, _ = np.exp(self.log_theta)
        out = np.empty(len(z))
        for start in range(0, len(z), chunk):
            block = z[start : start + chunk]
            kx = _rq(sq_dist(block, self.x_train), signal, length, shape)
            out[start : start + chunk] = kx @ self.weights
        return self.y_mean + self.y_scale * out

    def to_arrays(self, prefix: str) -> dict[str, Any]:
        """Arrays to store (``prefix`` namespaces several models in one file)."""
        return {
            f"{prefix}x_mean": self.x_mean,
            f"{prefix}x_scale": self.x_scale,
            f"{prefix}y": np.array([self.y_mean, self.y_scale]),
            f"{prefix}x_train": self.x_train,
            f"{prefix}weights": self.weights,
            f"{prefix}log_theta": self.log_theta,
        }

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str) -> GaussianProcess:
        """Inverse of :meth:`to_arrays`."""
        y = np.asarray(arrays[f"{prefix}y"], dtype=np.float64)
        x_mean = np.asarray(arrays[f"{prefix}x_mean"], dtype=np.float64)
        x_scale = np.asarray(arrays[f"{prefix}x_scale"], dtype=np.float64)
        x_train = np.array(arrays[f"{prefix}x_train"], dtype=np.float64)
        # files written before 2026-12-07 kept a round-off scale (~1e-14) for a feature constant
        # in training: a new value of it standardised to ~1e13. Its training column is constant,
        # so giving it unit scale and centring it changes no distance between training rows.
        constant = constant_columns(x_mean, x_scale)
        x_scale = np.where(constant, 1.0, x_scale)
        x_train[:, constant] = 0.0
        return cls(
            x_mean=x_mean,
            x_scale=x_scale,
            y_mean=float(y[0]),
            y_scale=float(y[1]),
            x_train=x_train,
            weights=np.asarray(arrays[f"{prefix}weights"], dtype=np.float64),
            log_theta=np.asarray(arrays[f"{prefix}log_theta"], dtype=np.float64),
        )


def fit_gp(
    x: Array,
    y: Array,
    *,
    max_fit_samples: int = 800,
    seed: int = 0,
    log_theta: Array | None = None,
) -> GaussianProcess:
    """Fit a rational-quadratic GP.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        Inputs (any units; standardised internally).
    y : ndarray, shape (n,)
        Targets.
    max_fit_samples : int
        Hyper-parameters are learnt on at most this many rows (random, seeded); the posterior
        mean uses all rows. Bounds the O(n³) cost of each likelihood evaluation.
    seed : int
        Seed of that subsample.
    log_theta : ndarray, optional
        Skip the search and use these log hyper-parameters (e.g. from a model fitted on more
        data; cross-validation refits reuse them).

    Returns
    -------
    GaussianProcess

    Raises
    ------
    EstimationError
        Fewer than 3 rows, non-finite values, or a singular kernel.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(y) or len(y) < 3:
        raise EstimationError(f"need ≥ 3 training rows with matching x and y (got {len(y)})")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise EstimationError("training inputs contain NaN or infinite values")
    x_mean = x.mean(axis=0)
    x_scale = x.std(axis=0)
    x_scale = np.where(constant_columns(x_mean, x_scale), 1.0, x_scale)
    y_mean = float(y.mean())
    y_scale = float(y.std()) or 1.0
    z = (x - x_mean) / x_scale
    t = (y - y_mean) / y_scale
    if log_theta is None:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(t), size=min(len(t), max_fit_samples), replace=False)
        d2 = sq_dist(z[rows], z[rows])
        best = None
        for start in STARTS:
            result = minimize(
                _nlml,
                np.log(start),
                args=(d2, t[rows]),
                jac=True,
                method="L-BFGS-B",
                bounds=LOG_BOUNDS,
            )
            if best is None or result.fun < best.fun:
                best = result
        assert best is not None
        log_theta = np.asarray(best.x, dtype=np.float64)
    signal, length, shape, noise = np.exp(log_theta)
    k = _rq(sq_dist(z, z), signal, length, shape) + noise * np.eye(len(t))
    try:
        factor = cho_factor(k, lower=True, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise EstimationError(f"kernel matrix is singular ({exc}); remove duplicate rows") from exc
    weights = cho_solve(factor, t, check_finite=False)
    return GaussianProcess(x_mean, x_scale, y_mean, y_scale, z, weights, np.asarray(log_theta))
