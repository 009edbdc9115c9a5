"""The sign of a file's current, checked at read time against what the file itself shows.

BDF current is positive when charging. Some exports are written the other way (positive on
discharge); read as written, every charge would count as a discharge. Two kinds of evidence decide,
each over whole steps, never single rows:

* the file's own step types (Novonix ``Step Type`` codes): a charge step whose current is negative,
  or a discharge step whose current is positive (:func:`step_type_evidence`);
* the voltage over long steps at a substantial rate: a cell's voltage rises while it charges and
  falls while it discharges, so a step of positive current over which the voltage fell by more than
  :data:`MAX_WRONG_WAY_V` is a discharge written positive (:func:`voltage_evidence`).

Only evidence that points one way only inverts the current; mixed or thin evidence leaves it as
written (the capacity diagnostics still check every discharge they measure).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from echelon.io.base import RunMetadata
from echelon.io.bdf import CURRENT, STEP, TIME, VOLTAGE

log = logging.getLogger(__name__)

MAX_WRONG_WAY_V: Final = 0.05
"""A long step of charge (discharge) current over which the voltage falls (rises) by more than
this has its current sign inverted: a cell's voltage falls while it delivers charge. On every real
file Echelon reads in ../shared/datasets (699 files, 2026-12-07), long discharges fell by ≥ 31 mV
and long charges (CV phases included) fell by ≤ 0.5 mV."""
MIN_SIGN_CHARGE_FRACTION: Final = 0.1
"""A step judges the current sign only when its mean current is at least this fraction of the
largest mean current of the file's long steps: a trickle or top-off charge (C/50) right after a CC
charge relaxes the voltage by tens of mV (4.20 → 4.13 V) while it charges, which a charge at a
substantial rate cannot."""
MIN_SIGN_STEP_S: Final = 600.0
"""Steps shorter than 10 min (pulses, the start of a step) do not judge the sign by voltage."""
REST_FRACTION: Final = 0.01
"""|I| below this fraction of the file's largest |I| is rest (as the diagnostics' dead-band)."""
MIN_VOLTAGE_STEPS: Final = 2
"""Long steps that must all show the current inverted, none the other way, before it is inverted
on voltage evidence alone."""


@dataclass(frozen=True)
class SignEvidence:
    """What a file's steps say about the sign of its current.

    Attributes
    ----------
    as_written : int
        Steps whose current has the sign BDF expects (positive on charge).
    inverted : int
        Steps whose current has the opposite sign.
    basis : str
        What the steps were judged by, for the note.
    example : str
        The first step of ``inverted``, described.
    min_steps : int
        Inverted steps needed (with none as written) to invert the current.
    """

    as_written: int
    inverted: int
    basis: str
    example: str = ""
    min_steps: int = 1

    @property
    def decided_inverted(self) -> bool:
        """Whether the evidence points one way only, and that way is "inverted"."""
        return self.inverted >= self.min_steps and self.as_written == 0

    def note(self) -> str:
        """The note kept in the metadata when the current was inverted."""
        return (
            f"current inverted on reading (the file writes it positive on discharge; BDF is "
            f"positive on charge): {self.inverted} step(s) by {self.basis} say so and none "
            f"otherwise, e.g. {self.example}. If that is wrong, read the file with a column map "
            "(docs/readers.md)"
        )


def _rest_band(current: pl.Expr) -> pl.Expr:
    return current.abs() > REST_FRACTION * current.abs().max()


def step_type_evidence(
    lazy: pl.LazyFrame,
    *,
    step_type: str,
    current: str,
    charge: Collection[str],
    discharge: Collection[str],
) -> SignEvidence:
    """Evidence from a step-type column: each run of rows of one charge or discharge type (rest
    rows left out) votes by the sign of its median current.

    Parameters
    ----------
    lazy : pl.LazyFrame
        The file's table before mapping.
    step_type, current : str
        Its step-type and current columns.
    charge, discharge : collection of str
        Step types that are certainly a charge / a discharge (types a tester uses for both are in
        neither).
    """
    kind = pl.col(step_type).cast(pl.String).str.strip_chars()
    runs = (
        lazy.select(kind.alias("kind"), pl.col(current).cast(pl.Float64).alias("i"))
        .with_row_index("row", offset=1)
        .with_columns(pl.col("kind").rle_id().alias("run"))
        .filter(pl.col("kind").is_in([*charge, *discharge]) & _rest_band(pl.col("i")))
        .group_by("run")
        .agg(pl.col("kind").first(), pl.col("i").median(), pl.col("row").first())
        .sort("run")
        .collect()
    )
    expected = pl.when(pl.col("kind").is_in(list(charge))).then(1.0).otherwise(-1.0)
    voted = runs.with_columns((pl.col("i") * expected > 0).alias("ok"))
    wrong = voted.filter(~pl.col("ok"))
    example = ""
    if wrong.height:
        first = wrong.row(0, named=True)
        what = "charge" if first["kind"] in charge else "discharge"
        example = (
            f"the {what} step (type {first['kind']}) from data row {first['row']} has a median "
            f"current of {first['i']:.4g} A"
        )
    return SignEvidence(
        as_written=int(voted.get_column("ok").sum()),
        inverted=wrong.height,
        basis=f"their step type ({step_type})",
        example=example,
    )


def voltage_evidence(lazy: pl.LazyFrame) -> SignEvidence:
    """Evidence from the voltage over whole steps of a BDF frame (the file's steps and, within
    them, runs of one current sign; rest left out): a long step at a substantial rate whose
    voltage moved by more than :data:`MAX_WRONG_WAY_V` votes by the way it moved."""
    names = lazy.collect_schema().names()
    i = pl.col(CURRENT)
    sign = pl.when(~_rest_band(i)).then(0).otherwise(i.sign()).cast(pl.Int8).alias("sign")
    keys = [pl.col(STEP), pl.col("sign")] if STEP in names else [pl.col("sign")]
    steps = (
        lazy.select(TIME, VOLTAGE, CURRENT, *([STEP] if STEP in names else []))
        .with_columns(sign)
        .with_columns(pl.struct(keys).rle_id().alias("run"))
        .filter(pl.col("sign") != 0)
        .group_by("run")
        .agg(
            pl.col("sign").first(),
            pl.col(TIME).first().alias("t0"),
            (pl.col(TIME).last() - pl.col(TIME).first()).alias("duration"),
            (pl.col(VOLTAGE).last() - pl.col(VOLTAGE).first()).alias("dv"),
            pl.col(VOLTAGE).first().alias("v0"),
            pl.col(VOLTAGE).last().alias("v1"),
            i.mean().alias("i"),
        )
        .filter(pl.col("duration") >= MIN_SIGN_STEP_S)
        .sort("run")
        .collect()
    )
    if steps.height:
        largest = float(steps.select(pl.col("i").abs().max()).item())
        steps = steps.filter(pl.col("i").abs() >= MIN_SIGN_CHARGE_FRACTION * largest)
    moved = pl.col("dv") * pl.col("sign")
    wrong = steps.filter(moved < -MAX_WRONG_WAY_V)
    example = ""
    if wrong.height:
        first = wrong.row(0, named=True)
        verb = "fell" if first["dv"] < 0 else "rose"
        example = (
            f"over {first['duration']:.0f} s from t = {first['t0']:g} s at {first['i']:.4g} A the "
            f"voltage {verb} from {first['v0']:.3f} to {first['v1']:.3f} V"
        )
    return SignEvidence(
        as_written=steps.filter(moved > MAX_WRONG_WAY_V).height,
        inverted=wrong.height,
        basis="their voltage (rising on charge, falling on discharge)",
        example=example,
        min_steps=MIN_VOLTAGE_STEPS,
    )


def with_checked_sign(
    path: Path, lazy: pl.LazyFrame, metadata: RunMetadata, evidence: SignEvidence
) -> tuple[pl.LazyFrame, RunMetadata]:
    """``lazy`` with its current negated, and the metadata noting it (``extra["current_sign"]``,
    and a logged warning), when ``evidence`` decides it is inverted; else both unchanged."""
    if not evidence.decided_inverted:
        return lazy, metadata
    note = evidence.note()
    log.warning("%s: %s", path, note)
    extra = {**metadata.extra, "current_sign": note}
    return lazy.with_columns(-pl.col(CURRENT)), metadata.model_copy(update={"extra": extra})
