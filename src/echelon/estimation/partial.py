"""SOH from a partial constant-current charge or discharge: capacity in a voltage window, dQ/dV.

A full capacity test moves the whole capacity twice (2.5–8 h per cell); a partial test only moves
the charge between two voltages of a constant-current (CC) segment. Within a cell the capacity
moved between two fixed voltages shrinks in proportion to the lost capacity, and the main
incremental-capacity (dQ/dV) peak shrinks and moves as lithium inventory and active material are
lost (M. Dubarry, C. Truchot, B. Y. Liaw, *J. Power Sources* 219 (2012) 204–216,
doi:10.1016/j.jpowsour.2012.07.016). Partial-charge health indicators of this kind estimated the
SOH of second-life Nissan Leaf modules with an RMSE of 0.6–0.8 % at 85 % less test time (E. Braco
et al., UPNA; ``shared/reference/second-life-domain.md`` §2, [S29]).

Sample table (one CC segment per row; :mod:`echelon.estimation.samples` for the common columns):

================  ==========  ======================================================================
column            type        meaning
================  ==========  ======================================================================
``voltage_v``     list[f64]   cell voltage [V] along the segment, in time order (per cell: divide
                              module or pack voltages by the series count)
``capacity_ah``   list[f64]   charge moved since the segment started [A·h], ≥ 0, non-decreasing
                              (the magnitude, also for a discharge)
``direction``     str         ``charge`` or ``discharge``
``current_a``     f64         the CC current [A] (magnitude, or BDF sign); needed by the ``rate``
                              feature only
================  ==========  ======================================================================

List columns may also be text (``"[3.61, 3.62, …]"`` or ``"3.61;3.62;…"``), as in a CSV file.

Features, for the voltage window ``[low, high]`` of the row's chemistry family and direction:

``window``  capacity moved across the window ÷ rated capacity (``q_window_per_nominal``);
``bins``    the same in ``n_bins`` equal voltage sub-windows (``q_bin1_per_nominal`` …);
``peak``    position [V] and height ÷ rated capacity [1/V] of the highest dQ/dV point in the window
            (5 mV grid, 10 mV Gaussian smoothing as :mod:`echelon.diagnostics.ica`);
``rate``    the C-rate of the segment [1/h] (``current ÷ rated capacity``).

``direction_sign`` (+1 charge, −1 discharge) is always appended: a model trained on discharges
sees a charge as out of domain. Windows are part of the method's configuration (stored in every
model): defaults per family below, or chosen from the training segments by :meth:`for_samples`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.ndimage import gaussian_filter1d

from echelon.diagnostics.ica import SMOOTHING_V, VOLTAGE_STEP_V
from echelon.errors import (
    MAX_ROW_PROBLEMS,
    EstimationError,
    Problem,
    ReaderError,
    SchemaError,
    row_problems,
)
from echelon.estimation.methods import CELL_VOLTAGE_RANGE_V, Method
from echelon.estimation.samples import (
    CELL_ID,
    CHEMISTRY,
    NOMINAL,
    SAMPLE_ID,
    SOURCE,
    family_of,
    numeric_problems,
)

if TYPE_CHECKING:
    from echelon.estimation.readers import ReadOptions

Array = npt.NDArray[np.float64]
Direction = Literal["charge", "discharge"]
FeatureGroup = Literal["window", "bins", "peak", "rate"]

VOLTAGE: Final = "voltage_v"
CAPACITY: Final = "capacity_ah"
DIRECTION: Final = "direction"
CURRENT: Final = "current_a"
DIRECTIONS: Final[tuple[Direction, ...]] = ("charge", "discharge")
FEATURE_GROUPS: Final[tuple[FeatureGroup, ...]] = ("window", "bins", "peak", "rate")
DEFAULT_FEATURES: Final[tuple[FeatureGroup, ...]] = ("bins",)
"""Chosen by grouped cross-validation on NASA PCoE and CALCE CS2 (:func:`echelon.estimation.
validation_partial.feature_selection`): within 0.4 SOH points of the best set on every dataset."""
DEFAULT_BINS: Final = 3
MIN_POINTS: Final = 10
"""Fewest samples of a usable segment (as :data:`echelon.diagnostics.ica.MIN_POINTS`)."""
CC_FRACTION: Final = 0.9
"""A segment's CC part ends where |current| first drops below this share of its start value."""
MIN_WINDOW_V: Final = 0.05
"""Narrowest window [V] :meth:`PartialChargeMethod.for_samples` accepts from the data."""
COVER_TOLERANCE_V: Final = 0.002
"""A segment covers a window edge it misses by at most this much [V] (tester resolution)."""
CAPACITY_BACKSTEP_AH: Final = 1e-6
"""Largest decrease of ``capacity_ah`` between samples taken as rounding, not an error [A·h]."""
DEFAULT_WINDOWS_V: Final[dict[str, dict[Direction, tuple[float, float]]]] = {
    # LCO: chosen by grouped CV on CALCE CS2 (LCO, 0.5 C charges, 1 C discharges) and NASA PCoE
    # (4.2 V 18650, 2 A discharges); validation_partial, docs/_drafts/soh_partial.md, 2026-12-06.
    "LCO": {"charge": (3.85, 4.05), "discharge": (3.6, 3.9)},
    # NCA, NMC: the LCO windows [assumption: same 4.2 V range; at rest 3.85–4.05 V is 68–87 %
    # SOC (NCA) and 72–94 % (NMC622) on the catalogue OCV tables]
    "NCA": {"charge": (3.85, 4.05), "discharge": (3.6, 3.9)},
    "NMC": {"charge": (3.85, 4.05), "discharge": (3.6, 3.9)},
    # [assumption, not validated: no LMO or LFP curves with capacity labels in shared/datasets]
    # placed on the catalogue OCV tables: LMO 3.9–4.1 V ≈ 46–93 % SOC at rest, 3.7–4.0 V ≈
    # 12–72 %; LFP 3.30–3.45 V the upper plateau step (3.30 V ≈ 62 % SOC at rest, lower under
    # charge current), 3.1–3.3 V the lower plateau.
    "LMO": {"charge": (3.9, 4.1), "discharge": (3.7, 4.0)},
    "LMO-NMC": {"charge": (3.9, 4.1), "discharge": (3.7, 4.0)},
    "LFP": {"charge": (3.3, 3.45), "discharge": (3.1, 3.3)},
}
"""Default voltage window [V] per chemistry family and direction (cell level, at 0.5–1 C)."""
LIST_SPLIT: Final = re.compile(r"[;,\s]+")


def window_key(family: str, direction: str) -> str:
    """Key of a window in the configuration: ``"<family>/<direction>"`` (``LCO/charge``)."""
    return f"{family}/{direction}"


def default_windows() -> dict[str, tuple[float, float]]:
    """:data:`DEFAULT_WINDOWS_V` flattened to ``{"LCO/charge": (low, high), …}``."""
    return {
        window_key(f, d): w for f, by_dir in DEFAULT_WINDOWS_V.items() for d, w in by_dir.items()
    }


# --- curves ------------------------------------------------------------------------------------


def parse_curve(value: object) -> Array | None:
    """A list cell (list, array or text ``"[3.6, 3.7]"`` / ``"3.6;3.7"``) as floats, or ``None``.

    Returns ``None`` for an empty cell or text that is not numbers (the caller reports it).
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().strip("[]()").strip()
        if not text:
            return None
        try:
            return np.asarray([float(t) for t in LIST_SPLIT.split(text) if t], dtype=np.float64)
        except ValueError:
            return None
    if isinstance(value, pl.Series):
        value = value.to_list()
    try:
        out = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    return out if out.size else None


def curve_column(samples: pl.DataFrame, column: str) -> list[Array | None]:
    """Every cell of a list (or text) column parsed by :func:`parse_curve`."""
    series = samples.get_column(column)
    if series.dtype == pl.String or isinstance(series.dtype, pl.List | pl.Array):
        return [parse_curve(v) for v in series.to_list()]
    return [None] * samples.height


def monotone_curve(
    voltage_v: Array, capacity_ah: Array, direction: Direction
) -> tuple[Array, Array]:
    """``(v, q)`` with ``v`` strictly ascending, for interpolating capacity at voltages.

    The voltage is made monotone in time first (running max on a charge, running min on a
    discharge), which removes the back-steps of sensor noise as :mod:`echelon.diagnostics.ica`
    does; a voltage held over several samples keeps the capacity at which it was first reached.
    """
    accumulate = np.maximum if direction == "charge" else np.minimum
    held = accumulate.accumulate(voltage_v)
    v, first = np.unique(held, return_index=True)
    return v, capacity_ah[first]


def covered_range_v(voltage_v: Array, direction: Direction) -> tuple[float, float]:
    """Voltage range [V] a segment passes through after monotonisation (start to extreme)."""
    if direction == "charge":
        return float(voltage_v[0]), float(voltage_v.max())
    return float(voltage_v.min()), float(voltage_v[0])


def covers(voltage_v: Array, direction: Direction, window_v: tuple[float, float]) -> bool:
    """Whether the segment passes through the whole window (within :data:`COVER_TOLERANCE_V`)."""
    low, high = covered_range_v(voltage_v, direction)
    return low <= window_v[0] + COVER_TOLERANCE_V and high >= window_v[1] - COVER_TOLERANCE_V


def segment_problem(
    voltage_v: Array | None,
    capacity_ah: Array | None,
    direction: str | None,
    window_v: tuple[float, float] | None,
) -> tuple[str, str] | None:
    """What is wrong with one segment, as ``(column, message)``, or ``None``.

    ``direction`` ``None`` skips the checks that need it (a bad direction or chemistry is
    reported with its own column); ``window_v`` ``None`` with a direction means the method has
    no window for the row's family and direction.
    """
    v, q = voltage_v, capacity_ah
    for name, values in ((VOLTAGE, v), (CAPACITY, q)):
        if values is None:
            return name, "is empty or not a list of numbers: give the segment's samples"
        if not np.isfinite(values).all():
            k = int(np.flatnonzero(~np.isfinite(values))[0]) + 1
            return name, f"holds NaN or infinity at sample {k}: drop or interpolate that sample"
    assert v is not None  # for mypy: checked above
    assert q is not None
    if len(v) != len(q):
        return VOLTAGE, f"has {len(v)} samples but {CAPACITY} has {len(q)}: they must pair up"
    if len(v) < MIN_POINTS:
        return VOLTAGE, f"has {len(v)} samples, fewer than {MIN_POINTS}: log more densely"
    lo, hi = CELL_VOLTAGE_RANGE_V
    if v.min() < lo or v.max() > hi:
        return VOLTAGE, (
            f"reaches {v.min():.4g}–{v.max():.4g} V, outside {lo}–{hi} V: give per-cell "
            "voltages [V] (divide module or pack voltages by the series count; mV → V)"
        )
    back = np.flatnonzero(np.diff(q) < -CAPACITY_BACKSTEP_AH)
    if q[0] < -CAPACITY_BACKSTEP_AH or back.size:
        k = 1 if q[0] < -CAPACITY_BACKSTEP_AH else int(back[0]) + 2
        return CAPACITY, (
            f"is negative or decreases at sample {k}: give the charge moved since the segment "
            "start as a positive, non-decreasing number (a discharge counter's magnitude)"
        )
    if direction is None:
        return None
    trend = float(v[-1] - v[0])
    if (direction == "charge") != (trend > 0):
        what = "falls" if trend < 0 else "rises" if trend > 0 else "stays flat"
        return VOLTAGE, f"{what} over a {direction} segment: check the direction column"
    if window_v is None:
        return DIRECTION, f"no voltage window for {direction} segments"
    if not covers(v, cast(Direction, direction), window_v):
        low, high = covered_range_v(v, cast(Direction, direction))
        side = "below" if direction == "charge" else "above"
        return VOLTAGE, (
            f"covers {low:.3f}–{high:.3f} V, not the {direction} window {window_v[0]:.3f}–"
            f"{window_v[1]:.3f} V: start {side} the window and run through it, or drop the row"
        )
    return None


def window_features(
    voltage_v: Array,
    capacity_ah: Array,
    *,
    direction: Direction,
    window_v: tuple[float, float],
    n_bins: int,
) -> tuple[Array, float, float]:
    """Capacity per sub-window [A·h] and the main dQ/dV peak of one segment.

    Parameters
    ----------
    voltage_v, capacity_ah : ndarray
        The segment in time order: cell voltage [V], charge moved since its start [A·h].
    direction : {"charge", "discharge"}
    window_v : (float, float)
        ``(low, high)`` voltage window [V]; the segment must cover it.
    n_bins : int
        Equal voltage sub-windows.

    Returns
    -------
    bins_ah : ndarray, shape (n_bins,)
        Capacity moved across each sub-window [A·h] (low to high voltage).
    peak_v : float
        Voltage of the highest smoothed dQ/dV point in the window [V].
    peak_ah_per_v : float
        Its height [A·h/V].
    """
    v, q = monotone_curve(voltage_v, capacity_ah, direction)
    low, high = window_v
    edges = np.linspace(low, high, n_bins + 1)
    bins_ah = np.abs(np.diff(np.interp(edges, v, q)))
    n_grid = max(2, round((high - low) / VOLTAGE_STEP_V))
    grid = np.linspace(low, high, n_grid + 1)
    dq_dv = np.abs(np.diff(np.interp(grid, v, q))) / (grid[1] - grid[0])
    smoothed = gaussian_filter1d(dq_dv, SMOOTHING_V / (grid[1] - grid[0]), mode="nearest")
    k = int(np.argmax(smoothed))
    return bins_ah, float(0.5 * (grid[k] + grid[k + 1])), float(smoothed[k])


# --- the method --------------------------------------------------------------------------------


class PartialChargeMethod(Method):
    """SOH from a partial CC charge or discharge in a voltage window (see the module docstring).

    Parameters
    ----------
    windows_v : mapping of str to (float, float), optional
        Voltage window [V] per ``"<family>/<direction>"`` (``{"LCO/charge": (3.85, 4.05)}``);
        default :data:`DEFAULT_WINDOWS_V`. Rows of a family and direction without a window are
        a problem in :meth:`check`.
    n_bins : int
        Equal sub-windows of the ``bins`` feature group.
    features : sequence of {"window", "bins", "peak", "rate"}
        Feature groups (``direction_sign`` is always added).
    """

    name = "partial_charge"
    description = "partial CC charge/discharge: capacity in a voltage window and the dQ/dV peak"

    def __init__(
        self,
        windows_v: Mapping[str, Sequence[float]] | None = None,
        n_bins: int = DEFAULT_BINS,
        features: Sequence[str] = DEFAULT_FEATURES,
    ) -> None:
        unknown = [f for f in features if f not in FEATURE_GROUPS]
        if unknown or not features:
            raise EstimationError(
                f"features must be a non-empty subset of {FEATURE_GROUPS} (got {list(features)})"
            )
        if not 1 <= n_bins <= 20:
            raise EstimationError(f"n_bins must be between 1 and 20 (got {n_bins})")
        source = default_windows() if windows_v is None else windows_v
        windows: dict[str, tuple[float, float]] = {}
        for key, pair in source.items():
            low, high = (float(x) for x in pair)
            if not (CELL_VOLTAGE_RANGE_V[0] <= low < high <= CELL_VOLTAGE_RANGE_V[1]):
                raise EstimationError(
                    f"window {key!r} must be low < high within {CELL_VOLTAGE_RANGE_V} V "
                    f"(got {low}, {high})"
                )
            windows[key] = (low, high)
        self.windows_v = windows
        self.n_bins = int(n_bins)
        self.feature_groups = tuple(f for f in FEATURE_GROUPS if f in features)

    def config(self) -> dict[str, Any]:
        return {
            "windows_v": {k: list(w) for k, w in sorted(self.windows_v.items())},
            "n_bins": self.n_bins,
            "features": list(self.feature_groups),
        }

    @classmethod
    def for_samples(cls, samples: pl.DataFrame) -> Method:
        """Windows that every training segment covers (see :func:`choose_windows`)."""
        return cls(windows_v=choose_windows(samples))

    def required_columns(self) -> tuple[str, ...]:
        base = (VOLTAGE, CAPACITY, DIRECTION)
        return (*base, CURRENT) if "rate" in self.feature_groups else base

    def feature_names(self) -> tuple[str, ...]:
        names: list[str] = []
        if "window" in self.feature_groups:
            names.append("q_window_per_nominal")
        if "bins" in self.feature_groups:
            names += [f"q_bin{k}_per_nominal" for k in range(1, self.n_bins + 1)]
        if "peak" in self.feature_groups:
            names += ["ica_peak_v", "ica_peak_per_nominal_per_v"]
        if "rate" in self.feature_groups:
            names.append("c_rate_per_h")
        return (*names, "direction_sign")

    def window_for(self, family: str, direction: str) -> tuple[float, float] | None:
        """The window [V] of a family and direction, if configured."""
        return self.windows_v.get(window_key(family, direction))

    def check(self, samples: pl.DataFrame) -> list[Problem]:
        problems = self.missing_problems(samples)
        if problems:
            return problems
        direction = pl.Series(_directions(samples), dtype=pl.String)
        invalid = ~direction.is_in(DIRECTIONS) | direction.is_null()
        problems += row_problems(
            samples.get_column(DIRECTION), invalid, "is not a direction: write charge or discharge"
        )
        if CURRENT in self.required_columns():
            problems += numeric_problems(samples, [CURRENT], -1e5, 1e5, required=True)
            current = samples.get_column(CURRENT).cast(pl.Float64, strict=False)
            problems += row_problems(samples.get_column(CURRENT), current == 0, "is zero")
        families = _row_families(samples)
        curves = zip(
            curve_column(samples, VOLTAGE),
            curve_column(samples, CAPACITY),
            direction.to_list(),
            families,
            strict=True,
        )
        for row, (v, q, d, fam) in enumerate(curves, start=1):
            window = None if fam is None or d is None else self.window_for(fam, d)
            found = segment_problem(v, q, d if d in DIRECTIONS and fam else None, window)
            if found is not None and found[0] == DIRECTION:
                known = ", ".join(sorted(self.windows_v)) or "none"
                found = (DIRECTION, f"{found[1]} for {fam} (windows: {known})")
            if found is not None:
                problems.append(Problem(found[1], row=row, column=found[0]))
            if len(problems) >= MAX_ROW_PROBLEMS:
                break
        return problems

    def features(self, samples: pl.DataFrame) -> Array:
        nominal = samples.get_column(NOMINAL).cast(pl.Float64).to_numpy()
        directions, families = _directions(samples), _row_families(samples)
        volts, amp_hours = curve_column(samples, VOLTAGE), curve_column(samples, CAPACITY)
        current = (
            np.abs(samples.get_column(CURRENT).cast(pl.Float64).to_numpy())
            if "rate" in self.feature_groups
            else np.zeros(samples.height)
        )
        rows = []
        for i, (v, q, d, fam) in enumerate(
            zip(volts, amp_hours, directions, families, strict=True)
        ):
            window = self.window_for(str(fam), str(d))
            if v is None or q is None or window is None:
                raise EstimationError(f"row {i + 1}: run check() first (no curve or window)")
            bins_ah, peak_v, peak_ah_per_v = window_features(
                v, q, direction=cast(Direction, d), window_v=window, n_bins=self.n_bins
            )
            row: list[float] = []
            if "window" in self.feature_groups:
                row.append(bins_ah.sum() / nominal[i])
            if "bins" in self.feature_groups:
                row += list(bins_ah / nominal[i])
            if "peak" in self.feature_groups:
                row += [peak_v, peak_ah_per_v / nominal[i]]
            if "rate" in self.feature_groups:
                row.append(current[i] / nominal[i])
            row.append(1.0 if d == "charge" else -1.0)
            rows.append(row)
        return np.asarray(rows, dtype=np.float64).reshape(samples.height, len(self.feature_names()))


def _directions(samples: pl.DataFrame) -> list[str | None]:
    """The ``direction`` column stripped and lower-cased."""
    column = samples.get_column(DIRECTION).cast(pl.String)
    return column.str.strip_chars().str.to_lowercase().to_list()


def _row_families(samples: pl.DataFrame) -> list[str | None]:
    """Chemistry family of every row (``None`` where the chemistry is missing or unknown)."""
    if CHEMISTRY not in samples.columns:
        return [None] * samples.height
    names = samples.get_column(CHEMISTRY).cast(pl.String)
    mapping: dict[str, str | None] = {}
    for name in names.unique().drop_nulls().to_list():
        try:
            mapping[name] = family_of(name)
        except ValueError:
            mapping[name] = None
    return [None if n is None else mapping[n] for n in names.to_list()]


def choose_windows(
    samples: pl.DataFrame, *, defaults: Mapping[str, tuple[float, float]] | None = None
) -> dict[str, tuple[float, float]]:
    """A window per family and direction present in ``samples`` that every segment covers.

    For each ``family/direction``: the default window if all its segments cover it; otherwise
    the default (or, with no default, the range of 0.3 V) moved inside the range every segment
    covers, shrunk to that range if narrower, as long as it stays ≥ :data:`MIN_WINDOW_V`;
    otherwise the default is kept and :meth:`PartialChargeMethod.check` will name the rows that
    do not cover it. Defaults of families absent from ``samples`` are kept. Unparseable rows
    are ignored (``check`` reports them).
    """
    windows = dict(default_windows() if defaults is None else defaults)
    if not {VOLTAGE, DIRECTION, CHEMISTRY} <= set(samples.columns):
        return windows
    families, directions = _row_families(samples), _directions(samples)
    ranges: dict[str, list[tuple[float, float]]] = {}
    for v, d, fam in zip(curve_column(samples, VOLTAGE), directions, families, strict=True):
        if (
            v is None
            or fam is None
            or d not in DIRECTIONS
            or not np.isfinite(v).all()
            or len(v) < 2
        ):
            continue
        ranges.setdefault(window_key(fam, d), []).append(covered_range_v(v, d))
    for key, spans in ranges.items():
        common_low = max(s[0] for s in spans)
        common_high = min(s[1] for s in spans)
        default = windows.get(key)
        if default is not None and common_low <= default[0] and default[1] <= common_high:
            continue
        width = default[1] - default[0] if default else 0.3
        if common_high - common_low < MIN_WINDOW_V:
            continue
        start = default[0] if default else common_low
        low = min(max(start, common_low), common_high - min(width, common_high - common_low))
        windows[key] = (round(low, 4), round(min(low + width, common_high), 4))
    return windows


# --- raw tester files → samples ----------------------------------------------------------------


def segment_samples(
    frame: pl.DataFrame,
    *,
    chemistry: str,
    nominal_capacity_ah: float,
    cell_id: str,
    source: str = "<frame>",
    directions: Sequence[Direction] = DIRECTIONS,
    min_points: int = MIN_POINTS,
) -> pl.DataFrame:
    """One sample per constant-current charge or discharge segment of a BDF frame.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame (:func:`echelon.io.read`).
    chemistry : str
        Catalogue chemistry of the unit.
    nominal_capacity_ah : float
        Rated capacity [A·h].
    cell_id : str
        The physical unit.
    source : str
        File named in ``source`` and in the sample ids.
    directions : sequence of {"charge", "discharge"}
        Which segments to keep.
    min_points : int
        Shortest segment kept [samples].

    Returns
    -------
    pl.DataFrame
        Sample table: ``sample_id`` (``<stem>:seg<n>``), ``cell_id``, ``chemistry``,
        ``nominal_capacity_ah``, ``direction``, ``current_a`` (mean, BDF sign), ``voltage_v``
        and ``capacity_ah`` (lists; capacity integrated from the segment's own samples,
        trapezoidal, from 0), ``segment``, ``cycle_count`` (when the file has cycles),
        ``start_s``, ``duration_s``, ``mean_temperature_c`` (when logged), ``source``.
        Segments are the charge and discharge steps of :func:`echelon.diagnostics.step_table`
        cut where the current first falls below :data:`CC_FRACTION` of its starting value, so
        a CC-CV charge logged without step numbers (one segment) gives its CC part; parts that
        move the voltage by less than :data:`MIN_WINDOW_V` (a CV hold), pulses and rests are not
        samples.
    """
    from echelon.diagnostics.segments import SEGMENT, segment_rows
    from echelon.diagnostics.steps import step_table
    from echelon.io.bdf import CURRENT as BDF_CURRENT
    from echelon.io.bdf import CYCLE, TIME
    from echelon.io.bdf import VOLTAGE as BDF_VOLTAGE

    kinds = {"charge": ("cc_charge", "cv_charge"), "discharge": ("cc_discharge",)}
    wanted = [kind for d in directions for kind in kinds[d]]
    steps = step_table(frame).filter(
        pl.col("step_type").is_in(wanted) & (pl.col("n_points") >= min_points)
    )
    if steps.height == 0:
        return pl.DataFrame()
    amps = pl.col(BDF_CURRENT).abs()
    start_amps = amps.head(min_points).median().over(SEGMENT)
    rows = (
        segment_rows(frame, transitions="exclude")
        .filter(pl.col(SEGMENT).is_in(steps.get_column(SEGMENT).implode()))
        .filter((amps >= CC_FRACTION * start_amps).cast(pl.Int8).cum_min().over(SEGMENT) == 1)
    )
    curves = rows.group_by(SEGMENT, maintain_order=True).agg(
        pl.col(BDF_VOLTAGE).alias(VOLTAGE),
        pl.col("_dq").abs().cum_sum().alias(CAPACITY),
        pl.col(BDF_CURRENT).mean().alias(CURRENT),
        pl.col(TIME).first().alias("start_s"),
        (pl.col(TIME).last() - pl.col(TIME).first()).alias("duration_s"),
    )
    extra = [c for c in (CYCLE, "mean_temperature_c") if c in steps.columns]
    table = steps.select(SEGMENT, "step_type", *extra).join(curves, on=SEGMENT)
    span = pl.col(VOLTAGE).list.max() - pl.col(VOLTAGE).list.min()
    moving = (pl.col(VOLTAGE).list.len() >= min_points) & (span >= MIN_WINDOW_V)
    return (
        table.filter(moving)
        .sort(SEGMENT)
        .select(
            (pl.lit(f"{Path(source).stem}:seg") + pl.col(SEGMENT).cast(pl.String)).alias(SAMPLE_ID),
            pl.lit(cell_id).alias(CELL_ID),
            pl.lit(chemistry).alias(CHEMISTRY),
            pl.lit(float(nominal_capacity_ah)).alias(NOMINAL),
            pl.when(pl.col("step_type") == "cc_discharge")
            .then(pl.lit("discharge"))
            .otherwise(pl.lit("charge"))
            .alias(DIRECTION),
            CURRENT,
            VOLTAGE,
            CAPACITY,
            SEGMENT,
            *extra,
            "start_s",
            "duration_s",
            pl.lit(source).alias(SOURCE),
        )
    )


def read_partial_samples(path: Path, options: ReadOptions) -> pl.DataFrame | None:
    """Sample reader for ``echelon soh``: the CC segments of a raw tester file, on request only.

    A raw capacity test or pulse test also holds CC segments, so this reader answers only when
    the user asked for the partial-charge method (``options.method == "partial_charge"``);
    otherwise it returns ``None`` and the file goes to the reader meant for it.

    Parameters
    ----------
    path : Path
        Any tester file :func:`echelon.io.read` reads.
    options : ReadOptions
        ``chemistry`` and ``nominal_capacity_ah`` are required (raw files carry neither);
        ``method`` must be ``"partial_charge"``.

    Returns
    -------
    pl.DataFrame or None
        :func:`segment_samples` of the file (cell id = file stem), or ``None`` when not asked
        for or not a tester file.

    Raises
    ------
    SchemaError
        Chemistry or rated capacity not given, or no CC segment in the file.
    """
    if getattr(options, "method", None) != PartialChargeMethod.name:
        return None
    from echelon.io import read

    try:
        frame, _ = read(path)
    except ReaderError:
        return None
    chemistry, nominal = options.chemistry, options.nominal_capacity_ah
    if chemistry is None or nominal is None:
        raise SchemaError(
            path,
            [
                "a raw tester file states no chemistry or rated capacity: pass --chemistry "
                "and --nominal-capacity-ah"
            ],
        )
    samples = segment_samples(
        frame, chemistry=chemistry, nominal_capacity_ah=nominal, cell_id=path.stem, source=str(path)
    )
    if samples.height == 0:
        raise SchemaError(
            path,
            [
                f"no constant-current charge or discharge segment of ≥ {MIN_POINTS} samples: "
                "a partial-charge test needs one"
            ],
        )
    return samples


def coverage_mask(method: PartialChargeMethod, samples: pl.DataFrame) -> npt.NDArray[np.bool_]:
    """Rows whose segment covers the method's window for their family and direction."""
    families, directions = _row_families(samples), _directions(samples)
    out = np.zeros(samples.height, dtype=bool)
    for i, (v, d, fam) in enumerate(
        zip(curve_column(samples, VOLTAGE), directions, families, strict=True)
    ):
        window = None if fam is None or d is None else method.window_for(fam, d)
        if v is not None and window is not None and d in DIRECTIONS and np.isfinite(v).all():
            out[i] = covers(v, d, window)
    return out
