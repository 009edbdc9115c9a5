"""SOH from an impedance spectrum (EIS): the ``eis`` estimation method.

A spectrum is one row of a sample table (:mod:`echelon.estimation.samples`) with three list
columns of equal length, one entry per frequency:

======================  ==========  ======================================================
column                  type        meaning
======================  ==========  ======================================================
``frequency_hz``        list[f64]   excitation frequency [Hz] (> 0; any order)
``z_real_ohm``          list[f64]   Re Z [Ω]
``z_imag_ohm``          list[f64]   Im Z [Ω]: Z = Re + j·Im, so **negative** on the
                                    capacitive arc (the BDF convention; instruments that
                                    print −Im Z must be sign-flipped, see
                                    :mod:`echelon.diagnostics.eis`)
``temperature_c``       f64         cell temperature during the sweep [°C] (optional)
======================  ==========  ======================================================

Features (default): log10 |Z| [log10 Ω] and the phase of Z [°], interpolated (linearly in
log-frequency, never extrapolated) onto a fixed grid of frequencies stored in the method's
configuration — 3 points per decade over 0.1 Hz–1 kHz, 26 features. The grid is chosen at
training time as the part of the default band (:data:`DEFAULT_BAND_HZ`) that every training
spectrum covers; a spectrum that does not cover the grid is rejected by
:meth:`EisMethod.check` (row, column and what to do), never extrapolated. Alternatives kept
as options: Re Z and −Im Z (``re_im``), equivalent-circuit parameters (``ecm``), impedances
multiplied by the nominal capacity (Ω·A·h, ``per_ah``) and the temperature as an extra
feature. The choice was made by cross-validation grouped by cell with the project's GP
(:func:`echelon.estimation.validation_eis.feature_choice`; docs/validation.md, EIS section),
RMSE in SOH points, 2026-12-06:

=============================  ======  =======  =========  =========  =======
features                       Zhang   Warwick  Warwick →  Stanford   Warwick
                               LOCO    6-fold   Stanford   → Warwick  → Köln
=============================  ======  =======  =========  =========  =======
log|Z|/phase, 0.1–1 kHz (kept) 9.42    1.59     3.87       7.01       6.46
Re/−Im, 0.1–1 kHz              9.50    1.71     3.91       7.20       6.57
Re/−Im, 0.1–10 kHz             8.70    2.17     2.96       7.38       6.60
log|Z|/phase, 0.1–10 kHz       8.88    2.00     2.92       7.31       6.57
log|Z|/phase in Ω·Ah, 0.1–1k   10.69   1.67     4.55       7.00       6.54
ECM parameters, 0.1–1 kHz      9.67    1.26     5.59       7.08       7.69
=============================  ======  =======  =========  =========  =======

log |Z| and phase over 0.1 Hz–1 kHz is never worse than Re/−Im on the same grid; extending the
band to 10 kHz helps the coin cells and the Stanford transfer but costs 0.5 point on unseen
Warwick cells (plausibly because the inductive high-frequency end reflects the cabling); the
circuit parameters win on unseen Warwick cells but lose 1.7 points when the model meets another
laboratory's cells; Ω·Ah normalisation (multiplying by the nominal capacity) only added the
spread of the reference capacities. Densities of 1, 2, 3 and 5 points per decade (Re/−Im,
Ω·Ah, Warwick) gave 1.96, 1.81, 1.78 and 1.76; 3 was kept. Adding the temperature as a
feature made pooled Warwick worse (4.6 vs 1.8; the spectra already vary with temperature).

Sample tables are read from files by :func:`read_eis_samples` (formats listed in
:mod:`echelon.estimation.eis_readers`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, get_args

import numpy as np
import polars as pl

from echelon.diagnostics.eis import fit_circuit
from echelon.errors import MAX_ROW_PROBLEMS, DiagnosticsError, EstimationError, Problem
from echelon.estimation.methods import Array, Method
from echelon.estimation.samples import NOMINAL, TEMPERATURE, numeric_problems

if TYPE_CHECKING:
    from echelon.estimation.readers import ReadOptions

FREQUENCY: Final = "frequency_hz"
Z_REAL: Final = "z_real_ohm"
Z_IMAG: Final = "z_imag_ohm"
SPECTRUM_COLUMNS: Final = (FREQUENCY, Z_REAL, Z_IMAG)

Representation = Literal["mod_phase", "re_im", "ecm"]
REPRESENTATIONS: Final = get_args(Representation)

DEFAULT_BAND_HZ: Final = (0.1, 1000.0)
"""Band the grid is drawn from [Hz], chosen by grouped cross-validation (module docstring): it
spans the charge-transfer arc and the start of the diffusion tail in every dataset seen, and a
sweep over it takes a few minutes."""
DEFAULT_POINTS_PER_DECADE: Final = 3
"""Grid density [points per decade of frequency]."""
MIN_POINTS: Final = 5
"""Fewest frequencies a spectrum needs."""
MIN_ECM_POINTS: Final = 8
"""Fewest frequencies inside the grid band for the ``ecm`` representation (the circuit fit)."""
MAX_GAP_DECADES: Final = 0.75
"""Largest gap between measured frequencies inside the grid [decades]; wider gaps would make
the interpolation meaningless."""
COVERAGE_TOLERANCE: Final = 0.03
"""Relative slack on the grid ends: a sweep that stops at 0.0995 Hz covers a 0.1 Hz grid end."""
FREQUENCY_RANGE_HZ: Final = (1e-6, 1e7)
IMPEDANCE_MAX_OHM: Final = 1e3
"""Largest plausible |Z| of a single cell [Ω]; larger values usually mean mΩ written as Ω or a
broken contact."""
TEMPERATURE_RANGE_C: Final = (-40.0, 80.0)
ECM_FEATURES: Final = ("r0", "r1", "log10_q", "alpha", "sigma")


def log_grid(low_hz: float, high_hz: float, points_per_decade: int) -> list[float]:
    """Frequencies [Hz] spaced evenly in log10 from ``low_hz`` to ``high_hz`` (both included).

    Parameters
    ----------
    low_hz, high_hz : float
        Grid ends [Hz], ``0 < low_hz < high_hz``.
    points_per_decade : int
        Density; the spacing is rounded so that both ends are grid points.

    Returns
    -------
    list of float
        Ascending frequencies [Hz], at least 2.
    """
    if not 0.0 < low_hz < high_hz:
        raise EstimationError(f"grid ends must satisfy 0 < low < high (got {low_hz}, {high_hz})")
    decades = math.log10(high_hz / low_hz)
    n = max(2, round(decades * points_per_decade) + 1)
    return [float(f) for f in np.logspace(math.log10(low_hz), math.log10(high_hz), n)]


def spectrum_arrays(
    frequency_hz: Sequence[float], z_real_ohm: Sequence[float], z_imag_ohm: Sequence[float]
) -> tuple[Array, Array, Array]:
    """One spectrum sorted by ascending frequency, repeated frequencies averaged."""
    f = np.asarray(frequency_hz, dtype=np.float64)
    re = np.asarray(z_real_ohm, dtype=np.float64)
    im = np.asarray(z_imag_ohm, dtype=np.float64)
    unique, inverse = np.unique(f, return_inverse=True)
    if len(unique) == len(f):
        order = np.argsort(f)
        return f[order], re[order], im[order]
    counts = np.bincount(inverse).astype(np.float64)
    return (
        unique,
        np.bincount(inverse, weights=re) / counts,
        np.bincount(inverse, weights=im) / counts,
    )


def interpolate_spectrum(
    grid_hz: Array, frequency_hz: Array, z_real_ohm: Array, z_imag_ohm: Array
) -> tuple[Array, Array]:
    """Re Z and Im Z [Ω] at ``grid_hz``, linear in log10 frequency (sorted input, no
    extrapolation: the caller has checked coverage; ends are clamped within the tolerance)."""
    x = np.log10(frequency_hz)
    g = np.clip(np.log10(grid_hz), x[0], x[-1])
    return np.interp(g, x, z_real_ohm), np.interp(g, x, z_imag_ohm)


def _row_lists(samples: pl.DataFrame, i: int) -> tuple[Any, Any, Any]:
    return tuple(samples.get_column(c)[i] for c in SPECTRUM_COLUMNS)


def _as_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, pl.Series):
        return value.to_list()
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    return None


def _finite(values: list[Any]) -> Array | None:
    try:
        arr = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr


class EisMethod(Method):
    """SOH from an impedance spectrum (see the module docstring).

    Parameters
    ----------
    grid_hz : sequence of float, optional
        Frequencies [Hz] the spectrum is interpolated onto. Default: the
        :data:`DEFAULT_BAND_HZ` band at :data:`DEFAULT_POINTS_PER_DECADE` (training narrows
        it to what every training spectrum covers, :meth:`for_samples`).
    representation : {"mod_phase", "re_im", "ecm"}
        ``mod_phase``: log10 |Z| and the phase [°] at each grid frequency; ``re_im``: Re Z and
        −Im Z; ``ecm``: the parameters of ``R0 + jωL + R1‖CPE + W`` fitted on the measured
        points inside the grid band (:func:`echelon.diagnostics.eis.fit_circuit`).
    per_ah : bool
        Multiply impedances by ``nominal_capacity_ah`` (features in Ω·A·h; off by default:
        it did not help in cross-validation).
    temperature : bool
        Add ``temperature_c`` as a feature (the column is then required).
    """

    name = "eis"
    description = "impedance spectrum: log |Z| and phase at 3 points per decade, 0.1 Hz–1 kHz"
    grid_tolerance: ClassVar[float] = COVERAGE_TOLERANCE

    def __init__(
        self,
        grid_hz: Sequence[float] | None = None,
        *,
        representation: Representation = "mod_phase",
        per_ah: bool = False,
        temperature: bool = False,
    ) -> None:
        if representation not in REPRESENTATIONS:
            raise EstimationError(
                f"representation must be one of {REPRESENTATIONS} (got {representation!r})"
            )
        grid = (
            list(grid_hz)
            if grid_hz is not None
            else log_grid(*DEFAULT_BAND_HZ, DEFAULT_POINTS_PER_DECADE)
        )
        if len(grid) < 2 or any(not (f > 0 and math.isfinite(f)) for f in grid):
            raise EstimationError(f"grid_hz needs ≥ 2 positive frequencies (got {grid})")
        self.grid_hz = sorted(float(f) for f in grid)
        self.representation: Representation = representation
        self.per_ah = per_ah
        self.temperature = temperature

    def config(self) -> dict[str, Any]:
        return {
            "grid_hz": self.grid_hz,
            "representation": self.representation,
            "per_ah": self.per_ah,
            "temperature": self.temperature,
        }

    @classmethod
    def for_samples(cls, samples: pl.DataFrame) -> Method:
        """The default band narrowed to the frequencies every spectrum of ``samples`` covers."""
        band = common_band(samples)
        low, high = DEFAULT_BAND_HZ
        if band is not None:
            low, high = max(low, band[0]), min(high, band[1])
        if not low < high:
            return cls()  # check() will name the spectra that do not cover the default band
        return cls(log_grid(low, high, DEFAULT_POINTS_PER_DECADE))

    def required_columns(self) -> tuple[str, ...]:
        return (*SPECTRUM_COLUMNS, TEMPERATURE) if self.temperature else SPECTRUM_COLUMNS

    def feature_names(self) -> tuple[str, ...]:
        unit = "ohm_ah" if self.per_ah else "ohm"
        if self.representation == "ecm":
            names = [f"{p}_{unit}" if p in ("r0", "r1", "sigma") else p for p in ECM_FEATURES]
        else:
            first, second = (
                ("re", "minus_im") if self.representation == "re_im" else ("log10_mod", "phase")
            )
            names = [f"{first}_{unit}_{f:.4g}hz" for f in self.grid_hz]
            names += [
                f"{second}_{unit if second == 'minus_im' else 'deg'}_{f:.4g}hz"
                for f in self.grid_hz
            ]
        return (*names, TEMPERATURE) if self.temperature else tuple(names)

    def check(self, samples: pl.DataFrame) -> list[Problem]:
        problems = self.missing_problems(samples)
        if problems:
            return problems
        problems = spectrum_problems(
            samples,
            self.grid_hz,
            tolerance=self.grid_tolerance,
            min_points_in_grid=MIN_ECM_POINTS if self.representation == "ecm" else 0,
        )
        if self.temperature:
            problems += numeric_problems(
                samples, [TEMPERATURE], *TEMPERATURE_RANGE_C, required=True
            )
        return problems[:MAX_ROW_PROBLEMS]

    def features(self, samples: pl.DataFrame) -> Array:
        grid = np.asarray(self.grid_hz)
        scale = (
            samples.get_column(NOMINAL).to_numpy().astype(np.float64)
            if self.per_ah
            else np.ones(samples.height)
        )
        rows = []
        for i in range(samples.height):
            f, re, im = spectrum_arrays(*_row_lists(samples, i))
            rows.append(self._row_features(grid, f, re, im, float(scale[i])))
        x = np.asarray(rows, dtype=np.float64)
        if self.temperature:
            t = samples.get_column(TEMPERATURE).cast(pl.Float64).to_numpy()
            x = np.column_stack([x, t])
        return x

    def _row_features(self, grid: Array, f: Array, re: Array, im: Array, scale: float) -> Array:
        if self.representation == "ecm":
            inside = (f >= grid[0] * (1 - self.grid_tolerance)) & (
                f <= grid[-1] * (1 + self.grid_tolerance)
            )
            try:
                fit = fit_circuit(f[inside], re[inside], im[inside]).params
            except DiagnosticsError as exc:
                raise EstimationError(f"equivalent-circuit fit failed: {exc}") from exc
            return np.array(
                [
                    fit["r0_ohm"] * scale,
                    fit["r1_ohm"] * scale,
                    math.log10(max(fit["q_farad_s_alpha"], 1e-30)),
                    fit["alpha"],
                    fit["sigma_ohm_s_half"] * scale,
                ]
            )
        re_g, im_g = interpolate_spectrum(grid, f, re, im)
        if self.representation == "re_im":
            return np.concatenate([re_g * scale, -im_g * scale])
        modulus = np.hypot(re_g, im_g) * scale
        return np.concatenate([np.log10(modulus), np.degrees(np.arctan2(im_g, re_g))])


def common_band(samples: pl.DataFrame) -> tuple[float, float] | None:
    """``(low, high)`` [Hz] covered by every spectrum of ``samples`` (``None`` if unreadable)."""
    if FREQUENCY not in samples.columns:
        return None
    try:
        freq = samples.get_column(FREQUENCY).cast(pl.List(pl.Float64))
        lows = freq.list.eval(pl.element().filter(pl.element() > 0)).list.min()
        highs = freq.list.max()
    except pl.exceptions.PolarsError:
        return None
    if lows.null_count() or highs.null_count() or not len(lows):
        return None
    low, high = lows.max(), highs.min()
    if low is None or high is None:
        return None
    return float(low), float(high)  # type: ignore[arg-type]


def spectrum_problems(
    samples: pl.DataFrame,
    grid_hz: Sequence[float],
    *,
    tolerance: float = COVERAGE_TOLERANCE,
    min_points_in_grid: int = 0,
) -> list[Problem]:
    """Every problem in the spectrum columns of a sample table (1-based rows).

    Checks, per row: the three lists are present, numeric, of equal length with at least
    :data:`MIN_POINTS` entries; no NaN/inf; frequencies within :data:`FREQUENCY_RANGE_HZ`
    (so > 0); |Z| ≤ :data:`IMPEDANCE_MAX_OHM` and Re Z ≥ 0; and the spectrum covers
    ``grid_hz`` (ends within ``tolerance``, no gap wider than :data:`MAX_GAP_DECADES`, at
    least ``min_points_in_grid`` measured frequencies inside it).
    """
    problems: list[Problem] = []
    low, high = min(grid_hz), max(grid_hz)
    for i in range(samples.height):
        if len(problems) >= MAX_ROW_PROBLEMS:
            break
        problems += _row_problems(samples, i, (low, high), tolerance, min_points_in_grid)
    return problems


def _row_problems(
    samples: pl.DataFrame, i: int, band: tuple[float, float], tolerance: float, min_inside: int
) -> list[Problem]:
    row = i + 1
    arrays: dict[str, Array] = {}
    out: list[Problem] = []
    for column, value in zip(SPECTRUM_COLUMNS, _row_lists(samples, i), strict=True):
        values = _as_list(value)
        if not values:
            out.append(Problem("is empty: give one value per frequency", row=row, column=column))
            continue
        arr = _finite(values)
        if arr is None:
            out.append(Problem("holds non-numeric values", row=row, column=column))
            continue
        if not np.isfinite(arr).all():
            k = int(np.flatnonzero(~np.isfinite(arr))[0])
            out.append(
                Problem(
                    f"is NaN, missing or infinite at point {k + 1} of {len(arr)}: remove the "
                    "point or re-export the spectrum",
                    row=row,
                    column=column,
                )
            )
            continue
        arrays[column] = arr
    if out:
        return out
    f, re, im = (arrays[c] for c in SPECTRUM_COLUMNS)
    if not len(f) == len(re) == len(im):
        return [
            Problem(
                f"lengths differ ({FREQUENCY}: {len(f)}, {Z_REAL}: {len(re)}, {Z_IMAG}: "
                f"{len(im)}): one Re and one Im value per frequency",
                row=row,
                column=FREQUENCY,
            )
        ]
    if len(f) < MIN_POINTS:
        return [
            Problem(f"has {len(f)} frequencies, need ≥ {MIN_POINTS}", row=row, column=FREQUENCY)
        ]
    lo_ok, hi_ok = FREQUENCY_RANGE_HZ
    bad_f = (f <= lo_ok) | (f > hi_ok)
    if bad_f.any():
        return [
            Problem(
                f"frequency {f[bad_f][0]:g} Hz is outside ({lo_ok:g}, {hi_ok:g}] Hz: frequencies "
                "must be positive and in Hz (not kHz, not rad/s)",
                row=row,
                column=FREQUENCY,
            )
        ]
    modulus = np.hypot(re, im)
    if (modulus > IMPEDANCE_MAX_OHM).any():
        out.append(
            Problem(
                f"|Z| reaches {modulus.max():g} Ω, implausible for one cell (≤ "
                f"{IMPEDANCE_MAX_OHM:g} Ω): give impedances in Ω, not mΩ",
                row=row,
                column=Z_REAL,
            )
        )
    if (re < 0).any():
        out.append(
            Problem(
                f"Re Z is negative ({re.min():g} Ω): check the column mapping",
                row=row,
                column=Z_REAL,
            )
        )
    return out or _coverage_problems(f, row, band, tolerance, min_inside)


def _coverage_problems(
    f: Array, row: int, band: tuple[float, float], tolerance: float, min_inside: int
) -> list[Problem]:
    low, high = band
    f_min, f_max = float(f.min()), float(f.max())
    span = f"the model's grid needs {low:.4g}–{high:.4g} Hz"
    advice = (
        "measure the missing frequencies, or train a model on spectra of this range "
        "(the grid is chosen from the training spectra); values are never extrapolated"
    )
    if f_min > low * (1 + tolerance) or f_max < high * (1 - tolerance):
        return [
            Problem(
                f"spectrum covers {f_min:.4g}–{f_max:.4g} Hz but {span}: {advice}",
                row=row,
                column=FREQUENCY,
            )
        ]
    inside = np.sort(np.log10(f[(f >= low * (1 - tolerance)) & (f <= high * (1 + tolerance))]))
    if len(inside) < min_inside:
        return [
            Problem(
                f"has {len(inside)} frequencies inside {low:.4g}–{high:.4g} Hz; the circuit fit "
                f"needs ≥ {min_inside}: measure more points per decade",
                row=row,
                column=FREQUENCY,
            )
        ]
    edges = np.concatenate([[math.log10(low)], inside, [math.log10(high)]])
    gap = float(np.max(np.diff(edges)))
    if gap > MAX_GAP_DECADES:
        return [
            Problem(
                f"has a {gap:.2f}-decade gap between measured frequencies inside {low:.4g}–"
                f"{high:.4g} Hz (≤ {MAX_GAP_DECADES} allowed): measure more points per decade",
                row=row,
                column=FREQUENCY,
            )
        ]
    return []


def read_eis_samples(path: Path, options: ReadOptions) -> pl.DataFrame | None:
    """Sample table of an impedance file, or ``None`` if ``path`` holds no impedance spectra.

    The formats and their metadata are described in :mod:`echelon.estimation.eis_readers`.

    Raises
    ------
    SchemaError
        For an impedance file whose chemistry or nominal capacity is unknown (naming the
        ``--chemistry`` / ``--nominal-capacity-ah`` option to pass) or that is malformed.
    """
    from echelon.estimation.eis_readers import read_eis_file

    return read_eis_file(Path(path), options)
