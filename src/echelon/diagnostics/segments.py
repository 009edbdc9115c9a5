"""The segmentation kernel: segment boundaries, charge increments and per-segment reductions as a
handful of vectorised numpy passes (``np.*.reduceat`` over segment starts).

A segment is a maximal run of rows with the same current mode (rest / charge / discharge from the
sign of the current with a dead-band) and, when the file has them, the same step and cycle. Each
reduction is one pass over a column, whatever the number of segments or cycles — the pattern the
peer survey measured 200–300× faster than per-cycle masks (../shared/reference/peer-tools.md §5).
Temporaries are few and reused, so the peak memory stays within about twice the columns read.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray

from echelon._parallel import row_chunks, run_chunks
from echelon.diagnostics import _fused
from echelon.diagnostics._steplevel import counter_totals
from echelon.errors import DiagnosticsError, check_choice
from echelon.io.bdf import CURRENT, CYCLE, STEP, SURFACE_T, TIME, VOLTAGE

Transitions = Literal["hold", "trapezoid", "exclude"]
SEGMENT: Final = "segment"
MODE: Final = "mode"
REST_CURRENT_FRACTION: Final = 0.01
"""|I| below this fraction of the file's peak |I| counts as rest. 1 % sits above the rest noise
of real testers (NASA PCoE rests read up to 6.5 mA at a 2 A peak, 0.33 %) and well below a CV
charge's termination current (C/20 = 5 % of a 1 C peak)."""
MIN_REST_CURRENT_A: Final = 1e-3
PEAK_MIN_SAMPLES: Final = 2
"""The peak current that sets the rest dead-band is the largest |I| that at least this many samples
reach — the fewest a pulse has (a start and an end reading, as in step-layer files): a one-sample
transient (NASA PCoE charge files open with a single −4 A sample before a 1.5 A charge) cannot
widen the dead-band."""
F64 = NDArray[np.float64]


def _top_magnitudes(values: F64, k: int) -> list[float]:
    """The ``k`` largest positive values and the ``k`` largest negative magnitudes of ``values``
    (as magnitudes; each list shorter when ``values`` is), by max/min passes over views with the
    positions already taken left out: no copy of the column."""
    out: list[float] = []
    for sign, pick in ((1.0, np.argmax), (-1.0, np.argmin)):
        taken: list[int] = []
        for _ in range(min(k, values.size)):
            best, where = -np.inf, -1
            for a, b in itertools.pairwise([-1, *sorted(taken), values.size]):
                if b - a > 1:
                    i = a + 1 + int(pick(values[a + 1 : b]))
                    if not sign * values[i] <= best:  # NaN wins, as in values.max()
                        best, where = sign * float(values[i]), i
            taken.append(where)
            out.append(best)
    return out


def rest_threshold(
    current: F64, fraction: float = REST_CURRENT_FRACTION, *, min_samples: int = PEAK_MIN_SAMPLES
) -> float:
    """Current magnitude [A] below which a row is rest: ``fraction`` of the peak |I|, ≥ 1 mA.

    The peak is the ``min_samples``-th largest |I| of the file (the largest that many samples
    reach; the largest when the file is shorter), so a single-sample spike does not set it.
    Computed in threads over row chunks, a few max passes each.
    """
    if current.size == 0:
        return MIN_REST_CURRENT_A
    chunks = run_chunks(
        lambda a, b: _top_magnitudes(current[a:b], min_samples), row_chunks(current.size)
    )
    magnitudes = sorted(itertools.chain.from_iterable(chunks), reverse=True)
    if any(np.isnan(m) for m in magnitudes):
        return float("nan")  # as the max of a column with NaN: no row is rest
    peak = magnitudes[min_samples - 1 if current.size >= min_samples else 0]
    return max(peak * fraction, MIN_REST_CURRENT_A)


Arrays = dict[str, NDArray[Any]]


def column_arrays(frame: pl.DataFrame | Arrays, names: tuple[str, ...]) -> Arrays:
    """The frame's columns as numpy arrays (one contiguous buffer each; zero-copy when the
    column is a single chunk without nulls).

    Raises
    ------
    DiagnosticsError
        When time, voltage or current is missing, or the data is not a frame (naming what to do).
    """
    if isinstance(frame, dict):
        return frame
    if not isinstance(frame, pl.DataFrame):
        raise DiagnosticsError(
            f"expected a BDF frame (polars DataFrame), got {type(frame).__name__}: read the file "
            "with echelon.io.read(path) first"
        )
    missing = [c for c in (TIME, VOLTAGE, CURRENT) if c not in frame.columns]
    if missing:
        raise DiagnosticsError(
            f"the frame has no {', '.join(missing)} column: diagnostics need BDF columns — read "
            "the file with echelon.io.read(path), or rename the columns to their BDF names"
        )
    out = {}
    for name in names:
        if name in frame.columns:
            column = frame.get_column(name)
            out[name] = (column.rechunk() if column.n_chunks() > 1 else column).to_numpy()
    return out


def take_arrays(frame: pl.DataFrame) -> Arrays:
    """All columns of a frame the caller gives up, as contiguous numpy arrays, converted one
    column at a time and dropped from the frame as it goes: a multi-chunk frame (as read from
    Parquet) never exists twice in memory."""
    out = {}
    for name in frame.columns:
        column = frame.get_column(name)
        out[name] = (column.rechunk() if column.n_chunks() > 1 else column).to_numpy()
        frame = frame.drop(name)
        del column
    return out


@dataclass(frozen=True)
class Segmentation:
    """Row-level result of :func:`segment`.

    Attributes
    ----------
    starts : int array
        First row of each segment.
    mode : int8 array
        Current mode of every row (−1 discharge, 0 rest, 1 charge).
    first : bool array
        Whether a row starts a segment.
    dq_ah, de_wh : float arrays
        Charge [A·h] and energy [W·h] of the interval ending at each row (positive = charge).
    threshold_a : float
        Rest dead-band used [A].
    """

    starts: NDArray[np.int64]
    mode: NDArray[np.int8]
    first: NDArray[np.bool_]
    dq_ah: F64
    de_wh: F64
    threshold_a: float


def segment(
    frame: pl.DataFrame | Arrays,
    *,
    rest_fraction: float = REST_CURRENT_FRACTION,
    transitions: Transitions = "hold",
    keys: tuple[str, ...] = (STEP, CYCLE),
    threshold_a: float | None = None,
) -> Segmentation:
    """Segment boundaries and per-row charge/energy increments of a BDF frame.

    Within a segment the increments are trapezoidal. The interval that ends at a segment's
    first row — from the previous segment's last sample — is integrated according to
    ``transitions``:

    ``hold`` (default)
        at the new segment's first current and voltage: the step changed right after the
        previous sample, as with testers that log a point when a step ends (Arbin, Maccor,
        Neware, Bitrode). Matches Arbin's own counters (CALCE validation, docs/validation.md).
    ``trapezoid``
        a linear ramp between the two samples (the step changed somewhere in between).
    ``exclude``
        not counted: a segment holds only the charge between its own samples.

    Under each rule the segments' increments add up to the file's integral under that rule.
    ``threshold_a``, when given, is the rest dead-band already computed from ``rest_fraction``
    (:func:`rest_threshold`), not computed again.
    """
    check_choice("transitions", transitions, Transitions)
    arrays = column_arrays(frame, (TIME, VOLTAGE, CURRENT, *keys))
    t, v, i = arrays[TIME], arrays[VOLTAGE], arrays[CURRENT]
    n = t.size
    threshold = rest_threshold(i, rest_fraction) if threshold_a is None else threshold_a
    key_values = [arrays[key] for key in keys if key in arrays]
    mode = np.empty(n, dtype=np.int8)
    first = np.empty(n, dtype=bool)
    dq = np.empty(n)  # becomes A·h per interval; only two row-sized float temporaries
    de = np.empty(n)  # becomes W·h per interval

    def modes(a: int, b: int) -> None:
        np.greater(i[a:b], threshold, out=mode[a:b].view(bool))
        mode[a:b] -= (i[a:b] < -threshold).view(np.int8)

    def increments(a: int, b: int) -> NDArray[np.int64]:
        """Boundaries and increments of rows [a, b) (reads row a − 1): the chunk's starts."""
        if a == 0 and n:
            first[0], dq[0], de[0] = True, 0.0, 0.0  # row 0 has no interval
        lo = max(a, 1)
        np.not_equal(mode[lo:b], mode[lo - 1 : b - 1], out=first[lo:b])
        for values in key_values:
            first[lo:b] |= values[lo:b] != values[lo - 1 : b - 1]
        dq_, de_ = dq[lo:b], de[lo:b]
        np.subtract(t[lo:b], t[lo - 1 : b - 1], out=dq_)  # dt
        np.add(i[lo:b], i[lo - 1 : b - 1], out=de_)
        de_ *= 0.5 / 3600.0  # mean current of each interval [A/3600]
        dq_ *= de_  # A·h per interval (trapezoid)
        np.add(v[lo:b], v[lo - 1 : b - 1], out=de_)
        de_ *= 0.5  # mean voltage of each interval
        starts = np.flatnonzero(first[a:b]) + a
        later = starts[starts > 0]  # intervals that end at a segment's first row
        if transitions == "hold":
            dq[later] = i[later] * (t[later] - t[later - 1]) / 3600.0
            de[later] = v[later]
        elif transitions == "exclude":
            dq[later] = 0.0
        de_ *= dq_  # W·h = V × A·h
        return starts

    chunks = row_chunks(n)  # rows split over threads: numpy releases the GIL in these passes
    run_chunks(modes, chunks)  # every mode first: a chunk's boundary reads its predecessor's
    starts = np.concatenate(run_chunks(increments, chunks)) if n else np.empty(0, np.int64)
    return Segmentation(starts, mode, first, dq, de, threshold)


def segment_ids(seg: Segmentation) -> NDArray[np.int64]:
    """Segment number (0, 1, …) of every row."""
    return np.cumsum(seg.first, dtype=np.int64) - 1


def _split_reduce(values: F64, starts: NDArray[np.int64]) -> tuple[F64, F64]:
    """(sum of positive parts, sum of negative parts as a positive number) per segment.

    Overwrites ``values`` with its magnitude (no row-sized temporary).
    """
    net = np.add.reduceat(values, starts)
    np.abs(values, out=values)
    magnitude = np.add.reduceat(values, starts)
    return (magnitude + net) * 0.5, (magnitude - net) * 0.5


def _midpoint_voltage(t: F64, v: F64, starts: NDArray[np.int64], last: NDArray[np.int64]) -> F64:
    """Voltage at the middle of each segment's duration — at half its charge for a constant
    current (a binary search on the sorted time, no pass over the rows)."""
    index = np.searchsorted(t, 0.5 * (t[starts] + t[last]), side="left")
    return v[np.clip(index, starts, last)]


def _temperature_reductions(temp: F64, starts: NDArray[np.int64]) -> dict[str, F64]:
    """Per-segment min, max, sum and count of the temperature samples that were logged: a
    missing sample (NaN, a null in the frame) is skipped; a segment without any has NaN extremes
    and a count of 0."""
    total = np.add.reduceat(temp, starts)
    if not np.isnan(total).any():  # the common case: nothing missing, no extra pass
        return {
            "min_temperature_c": np.minimum.reduceat(temp, starts),
            "max_temperature_c": np.maximum.reduceat(temp, starts),
            "_temperature_sum": total,
            "_temperature_count": np.diff(np.append(starts, temp.size)).astype(np.float64),
        }
    missing = np.isnan(temp)
    return {
        "min_temperature_c": np.fmin.reduceat(temp, starts),
        "max_temperature_c": np.fmax.reduceat(temp, starts),
        "_temperature_sum": np.add.reduceat(np.where(missing, 0.0, temp), starts),
        "_temperature_count": np.add.reduceat(~missing, starts, dtype=np.float64),
    }


def _reductions(
    seg: Segmentation, i: F64, v: F64, temperature: NDArray[Any] | None
) -> dict[str, F64]:
    """Per-segment sums and extremes, computed by threads over whole-segment row ranges.

    Overwrites ``seg.dq_ah`` and ``seg.de_wh`` with their magnitudes (see :func:`_split_reduce`).
    """
    starts, n = seg.starts, i.size
    row_edges = [a for a, _ in row_chunks(n)[1:]]
    edges = np.unique(np.concatenate([[0], np.searchsorted(starts, row_edges), [starts.size]]))
    temp = None if temperature is None else temperature.astype(np.float64, copy=False)

    def reduce(s0: int, s1: int) -> dict[str, F64]:
        r0, r1 = int(starts[s0]), int(starts[s1]) if s1 < starts.size else n
        local = starts[s0:s1] - r0
        out: dict[str, F64] = {}
        out["charge_ah"], out["discharge_ah"] = _split_reduce(seg.dq_ah[r0:r1], local)
        out["charge_wh"], out["discharge_wh"] = _split_reduce(seg.de_wh[r0:r1], local)
        out["_current_sum"] = np.add.reduceat(i[r0:r1], local)
        out["min_voltage_v"] = np.minimum.reduceat(v[r0:r1], local)
        out["max_voltage_v"] = np.maximum.reduceat(v[r0:r1], local)
        if temp is not None:
            out.update(_temperature_reductions(temp[r0:r1], local))
        return out

    parts = run_chunks(reduce, list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True)))
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def segment_table(
    frame: pl.DataFrame | Arrays,
    *,
    rest_fraction: float = REST_CURRENT_FRACTION,
    transitions: Transitions = "hold",
    keys: tuple[str, ...] = (STEP, CYCLE),
    threshold_a: float | None = None,
) -> pl.DataFrame:
    """One row per segment, in file order (see :func:`echelon.diagnostics.step_table`);
    ``threshold_a`` as in :func:`segment`."""
    check_choice("transitions", transitions, Transitions)
    arrays = column_arrays(frame, (TIME, VOLTAGE, CURRENT, SURFACE_T, *keys))
    t, v, i = arrays[TIME], arrays[VOLTAGE], arrays[CURRENT]
    temperature = arrays.get(SURFACE_T)
    if t.size == 0:
        return pl.DataFrame()
    if len(keys) <= 2 and _fused.use_fused(t.size):
        starts, modes, sums = _fused.fused_reductions(
            arrays,
            keys=keys,
            threshold=rest_threshold(i, rest_fraction) if threshold_a is None else threshold_a,
            transitions=transitions,
        )
    else:
        seg = segment(
            arrays,
            rest_fraction=rest_fraction,
            transitions=transitions,
            keys=keys,
            threshold_a=threshold_a,
        )
        starts, modes = seg.starts, seg.mode[seg.starts]
        sums = _reductions(seg, i, v, temperature)
    sums.update(counter_totals(frame, arrays, starts, keys))  # step-level: the tester's counters
    counts = np.diff(np.append(starts, t.size))
    last = starts + counts - 1
    end_s = t[last]
    columns: dict[str, object] = {
        SEGMENT: np.arange(starts.size, dtype=np.int64),
        MODE: modes,
        "start_s": t[starts],
        "end_s": end_s,
        "n_points": counts.astype(np.uint32),
        "mean_current_a": sums.pop("_current_sum") / counts,
        "start_current_a": i[starts],
        "end_current_a": i[last],
        "start_voltage_v": v[starts],
        "end_voltage_v": v[last],
        "min_voltage_v": sums.pop("min_voltage_v"),
        "max_voltage_v": sums.pop("max_voltage_v"),
        "midpoint_voltage_v": _midpoint_voltage(t, v, starts, last),
        **{k: sums.pop(k) for k in ("charge_ah", "discharge_ah", "charge_wh", "discharge_wh")},
        # a segment starts where the previous one ended: its duration spans the gap
        "duration_s": end_s - np.concatenate([t[:1], end_s[:-1]]),
    }
    cycle = arrays.get(CYCLE) if CYCLE in keys else None
    if cycle is not None:
        columns[CYCLE] = cycle[starts]
    if temperature is not None:
        logged = sums.pop("_temperature_count")
        columns["min_temperature_c"] = sums.pop("min_temperature_c")
        columns["max_temperature_c"] = sums.pop("max_temperature_c")
        columns["mean_temperature_c"] = sums.pop("_temperature_sum") / np.maximum(logged, 1.0)
        columns["n_temperature_points"] = logged.astype(np.uint32)
    table = pl.DataFrame(columns)
    if temperature is not None:  # a segment without any temperature sample: null, not NaN
        table = table.with_columns(
            pl.when(pl.col("n_temperature_points") > 0).then(pl.col(name)).alias(name)
            for name in ("min_temperature_c", "max_temperature_c", "mean_temperature_c")
        )
    return table.with_columns(pl.col("end_voltage_v").shift(1).alias("voltage_before_v"))


def segment_rows(
    frame: pl.DataFrame,
    *,
    rest_fraction: float = REST_CURRENT_FRACTION,
    transitions: Transitions = "hold",
    keys: tuple[str, ...] = (STEP, CYCLE),
) -> pl.DataFrame:
    """The frame's rows with ``segment``, ``mode`` and the increments ``_dq`` [A·h] and ``_de``
    [W·h]."""
    seg = segment(frame, rest_fraction=rest_fraction, transitions=transitions, keys=keys)
    return frame.with_columns(
        pl.Series(SEGMENT, segment_ids(seg)),
        pl.Series(MODE, seg.mode),
        pl.Series("_dq", seg.dq_ah),
        pl.Series("_de", seg.de_wh),
    )
