"""Step-layer ("工步层") workbooks of NEBULA testers (Chinese headers), as in PulseBat.

These exports hold **one row per tester step**, not samples: start and end timestamps, start and
end voltage and current, the step's charge and discharge ampere-hours and watt-hours, start and
end temperature of three probes (``../shared/datasets/pulsebat/PROVENANCE.md``; S. Tao et al.,
Nat. Commun. 2024, doi:10.1038/s41467-024-54454-0). The reader turns each step into two BDF
samples — its start and its end — so the step structure, the capacities (exact for constant-
current steps) and the pulse end voltages survive; what happens *inside* a step is not in the
file, so resistances at times between a step's start and end are interpolations.

Zero-length steps (a pulse cut at once by voltage protection) give one sample. Rows with no time
at all (placeholders the dataset's authors inserted when correcting a missing rest step) cannot
be placed on the time axis; they are counted in the metadata (``steps_without_time``), not
converted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import polars as pl

from echelon.io import bdf, xlsx
from echelon.io.columnmap import ColumnMapReader, ColumnSpec, RawTable, duration_seconds

START: Final = "绝对时间"
END: Final = "结束时间"
DURATION: Final = "持续时间(h:min:s:ms)"
PAUSE_MIN_S: Final = 1.0
"""A step whose wall-clock span exceeds its logged duration by more than this was paused."""
TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S%.f"
STEP_COLUMNS: Final = ("工步序号", "循环", "通道")
EDGES: Final[dict[str, tuple[str, str]]] = {
    # sample column: (value at the step's start, value at its end); "" = zero at the start
    "时间": (START, END),
    "电压(V)": ("起始电压(V)", "结束电压(V)"),
    "电流(A)": ("起始电流(A)", "结束电流(A)"),
    "温度1(℃)": ("开始温度1(℃)", "结束温度1(℃)"),
    "累计充电容量(Ah)": ("", "充电容量(Ah)"),
    "累计放电容量(Ah)": ("", "放电容量(Ah)"),
    "累计充电能量(Wh)": ("", "充电能量(Wh)"),
    "累计放电能量(Wh)": ("", "放电能量(Wh)"),
}
NEBULA_COLUMNS: dict[str, ColumnSpec] = {
    "时间": ColumnSpec(bdf.UNIX_TIME, parse="datetime"),
    "电压(V)": ColumnSpec(bdf.VOLTAGE),
    "电流(A)": ColumnSpec(bdf.CURRENT),
    "温度1(℃)": ColumnSpec(bdf.SURFACE_T),
    "工步序号": ColumnSpec(bdf.STEP),
    "循环": ColumnSpec(bdf.CYCLE),
    "累计充电容量(Ah)": ColumnSpec(bdf.CHARGE_AH),
    "累计放电容量(Ah)": ColumnSpec(bdf.DISCHARGE_AH, scale=-1.0),  # negative in the file
    "累计充电能量(Wh)": ColumnSpec(bdf.CHARGE_WH),
    "累计放电能量(Wh)": ColumnSpec(bdf.DISCHARGE_WH, scale=-1.0),
}
NEBULA_IGNORED = frozenset(
    {"步次", "原始步次", "循环步骤号", "通道", "工步类型", "状态", "结果"}
    | {"相对时间(h:min:s.ms)", "持续时间(h:min:s:ms)", "净放电容量(Ah)", "总容量(Ah)"}
    | {"净放电能量(Wh)", "总能量(Wh)", "恒流容量(Ah)", "恒压容量(Ah)"}
)
"""Step counters, channel (→ metadata), step type and state (→ sign of the current), durations
and net/total capacities (derived from the stored columns); CC and CV capacities (→ the samples
of a CC-CV step, :func:`steps_to_samples`)."""


def _edge_value(column: str, *, end: bool) -> pl.Expr:
    source = EDGES[column][1 if end else 0]
    if source == "":
        return pl.lit(0.0)
    if column == "时间":
        return _timestamp(source)
    return pl.col(source)


def _timestamp(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).str.to_datetime(TIME_FORMAT, strict=False)


def _active_end(names: list[str]) -> pl.Expr:
    """When a step stopped running: its start plus its logged duration, or its end stamp.

    A tester pause inside a step (PulseBat LMO B2, step 2026: 3 min of charge over 2 h 8 min of
    wall clock) stretches the stamps but not the duration."""
    end = _timestamp(END)
    if DURATION not in names:
        return end
    ran = _timestamp(START) + pl.duration(milliseconds=duration_seconds(pl.col(DURATION)) * 1e3)
    return pl.min_horizontal(end, ran).fill_null(end)


CC_AH: Final = "恒流容量(Ah)"
CV_AH: Final = "恒压容量(Ah)"
COUNTERS: Final = tuple(column for column, (start, _) in EDGES.items() if start == "")
"""The cumulative counters: the sample columns that start every step at zero."""
START_EDGE, CORNER_EDGE, KNEE_EDGE, END_EDGE, PAUSE_EDGE = 0, 1, 2, 3, 4
"""Order of a step's samples: start, CC→CV corner, CV knee, end, pause end."""


def _seconds(expr: pl.Expr) -> pl.Expr:
    return expr.dt.total_milliseconds() / 1e3


def _cv_shape(active_end: pl.Expr) -> dict[str, pl.Expr]:
    """Where a CC-CV step's constant-voltage phase starts and where its knee sits [s from start].

    The CC phase runs at the start current for ``恒流容量 / |I|``; the CV phase then holds the end
    voltage while the current falls to the end current. Its charge (``恒压容量``) fixes one knee
    of a two-piece linear current: a ramp to the end current, then flat (or flat at the start
    current, then a ramp, in the unusual case of a CV charge above the straight ramp's), so the
    step's samples integrate (trapezoid) to the file's charge. Null where the file has no such
    phase or its numbers cannot be reproduced this way.
    """
    start_a, end_a = pl.col("起始电流(A)").abs(), pl.col("结束电流(A)").abs()
    cc_ah, cv_ah = pl.col(CC_AH).fill_null(0.0), pl.col(CV_AH).fill_null(0.0)
    span_s = _seconds(active_end - _timestamp(START))
    corner_s = cc_ah * 3600.0 / start_a
    cv_s = span_s - corner_s
    cv_as = cv_ah * 3600.0
    ramp_as = 0.5 * (start_a + end_a) * cv_s
    drop_a = start_a - end_a
    below = cv_as <= ramp_as  # a convex decay: ramp down to the end current, then flat
    knee_s = pl.when(below).then(cv_as - end_a * cv_s).otherwise(cv_as - ramp_as) * 2.0 / drop_a
    valid = (
        (cc_ah > 0)
        & (cv_ah > 0)
        & (start_a > 0)
        & (drop_a > 0)
        & (cv_s > 0)
        & (cv_as >= end_a * cv_s)
        & (cv_as <= start_a * cv_s)
    )
    knee_ah = pl.when(below).then(0.5 * (start_a + end_a)).otherwise(start_a) * knee_s / 3600.0
    return {
        "valid": valid,
        "corner_s": corner_s,
        "knee_s": corner_s + knee_s,
        "knee_current": pl.when(below).then(pl.col("结束电流(A)")).otherwise(pl.col("起始电流(A)")),
        "corner_fraction": cc_ah / (cc_ah + cv_ah),
        "knee_fraction": (cc_ah + knee_ah) / (cc_ah + cv_ah),
    }


def steps_to_samples(steps: pl.LazyFrame) -> pl.LazyFrame:
    """Two samples per step (start, end), in file order; other columns carried for reporting.

    A CC-CV step (``恒流容量`` and ``恒压容量`` both positive) gets two more samples: the CC→CV
    corner, after ``恒流容量 / |start current|`` at the end voltage, and a knee of the CV
    current (:func:`_cv_shape`), so that its samples integrate to the step's charge instead of a
    straight ramp from the CC current to the end current (PulseBat LMO B101: 6.05 A·h, not
    12.9 A·h). The counters at these samples are the step's totals times the charge fraction.

    A step paused by the tester (wall-clock span longer than its duration by more than
    :data:`PAUSE_MIN_S`) ends after its duration and gets a sample at its end stamp with
    zero current — the pause is a rest, so nothing is integrated over it. Likewise a gap of more
    than :data:`PAUSE_MIN_S` between one step's end and the next step's start (hours to days in
    PulseBat, where the authors' placeholder rows have no time) ends with a zero-current sample
    of the earlier step 1 ms before the next starts, at the next step's start voltage: a sample
    integration rule that holds the next step's current back over the gap (``hold``) then counts
    nothing there.
    """
    names = steps.collect_schema().names()
    present = [c for c, pair in EDGES.items() if all(s in names for s in pair if s)]
    edge_sources = {s for c in present for s in EDGES[c] if s}
    carried = [c for c in names if c not in edge_sources]
    timed = steps.with_row_index("_row").filter(pl.col(START).is_not_null())
    active_end = _active_end(names)

    def side(edge: int) -> pl.LazyFrame:
        values = {c: _edge_value(c, end=edge > START_EDGE) for c in present}
        frame = timed
        if "时间" in values and edge == END_EDGE:
            values["时间"] = active_end
        if edge == PAUSE_EDGE:
            if "电流(A)" in values:
                values["电流(A)"] = pl.lit(0.0)
            paused = _seconds(_timestamp(END) - active_end) > PAUSE_MIN_S
            frame = timed.filter(paused)
        if edge in (CORNER_EDGE, KNEE_EDGE):
            shape = _cv_shape(active_end)
            at = "corner" if edge == CORNER_EDGE else "knee"
            offset_s, fraction = shape[f"{at}_s"], shape[f"{at}_fraction"]
            values["时间"] = _timestamp(START) + pl.duration(milliseconds=offset_s * 1e3)
            values["电流(A)"] = pl.col("起始电流(A)") if at == "corner" else shape["knee_current"]
            for column in COUNTERS:
                if column in values:
                    values[column] = _edge_value(column, end=True) * fraction
            if "温度1(℃)" in values:
                share = offset_s / _seconds(active_end - _timestamp(START))
                start_c, end_c = (pl.col(s) for s in EDGES["温度1(℃)"])
                values["温度1(℃)"] = start_c + (end_c - start_c) * share
            frame = timed.filter(shape["valid"].fill_null(False))
        return frame.select(
            pl.col("_row"),
            pl.lit(edge, dtype=pl.Int8).alias("_edge"),
            *(value.alias(c) for c, value in values.items()),
            *carried,
        )

    def gap_side() -> pl.LazyFrame:
        gap = _timestamp(START) - _timestamp(END).shift(1)
        values = {c: pl.col(EDGES[c][1]).shift(1) if EDGES[c][0] == "" else None for c in present}
        values["时间"] = _timestamp(START) - pl.duration(milliseconds=1)
        for column in ("电压(V)", "温度1(℃)"):
            if column in present:
                values[column] = pl.col(EDGES[column][0])
        if "电流(A)" in present:
            values["电流(A)"] = pl.lit(0.0)
        return (
            timed.with_columns(gap.dt.total_milliseconds().alias("_gap_ms"))
            .select(
                pl.col("_row"),
                pl.lit(-1, dtype=pl.Int8).alias("_edge"),
                pl.col("_gap_ms"),
                *(value.alias(c) for c, value in values.items() if value is not None),
                *(pl.col(c).shift(1) for c in carried),
            )
            .filter(pl.col("_gap_ms") > PAUSE_MIN_S * 1e3)
            .drop("_gap_ms")
        )

    edges = [START_EDGE, END_EDGE, PAUSE_EDGE]
    if {"时间", "电流(A)"} <= set(present) and {CC_AH, CV_AH} <= set(names):
        edges += [CORNER_EDGE, KNEE_EDGE]
    parts = [side(edge) for edge in edges]
    if "时间" in present:
        parts.append(gap_side().select(parts[0].collect_schema().names()))
    samples = pl.concat(parts).sort("_row", "_edge")
    # a zero-length step ends where it starts: keep its start only
    later = pl.col("时间") > pl.col("时间").shift(1)
    keep = (pl.col("_edge") == START_EDGE) | later.fill_null(True)
    return samples.filter(keep).drop("_row", "_edge")


def nebula_info(path: Path, raw: RawTable) -> dict[str, object]:
    """Channel, and how many step rows had no time (placeholders, not converted)."""
    del raw
    book = xlsx.open_workbook(path)
    frame, _ = xlsx.sheet_frame(book, book.sheet_names[0], 0)
    out: dict[str, object] = {}
    if "通道" in frame.columns and frame.height:
        channel = frame.get_column("通道").drop_nulls()
        if channel.len():
            value = channel[0]
            out["channel"] = str(int(value)) if isinstance(value, float) else str(value)
    missing = int(frame.get_column(START).is_null().sum()) if START in frame.columns else 0
    if missing:
        out["steps_without_time"] = missing
    return out


def NebulaStepXlsxReader() -> ColumnMapReader:  # noqa: N802
    """Reader for NEBULA step-layer workbooks (one row per step → two samples per step)."""
    return ColumnMapReader(
        name="nebula_steps_xlsx",
        columns=NEBULA_COLUMNS,
        signature=frozenset({START, END, "起始电压(V)", "结束电压(V)", "起始电流(A)"}),
        suffixes=(".xlsx", ".xls"),
        format="xlsx",
        ignored=NEBULA_IGNORED,
        instrument="NEBULA",
        transform=steps_to_samples,
        metadata_hook=nebula_info,
    )
