"""Typed records produced along the pipeline: test runs, measurements, decisions and events."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from echelon.domain.enums import TestKind

JsonScalar = str | int | float | bool | None
SOH_OUT_OF_DOMAIN_TAG: Final = "+out-of-domain"
"""Ending of an ``soh_percent`` measurement's method when its model flagged the input out of
its domain (``pulse:pulse-u21+out-of-domain``): the registry's record of ``soh_out_of_domain``."""


class TestRun(BaseModel):
    """One tester file taken in for a battery, converted to BDF and stored by content hash.

    Attributes
    ----------
    battery_id : str
        The battery tested.
    kind : TestKind
        Capacity test, pulse test, HPPC, EIS, …
    source_path : str
        Path of the raw file as given in the manifest (informational; the file may move).
    source_sha256 : str
        SHA-256 of the raw file bytes; the raw copy is kept in the store under this hash.
    bdf_sha256 : str
        SHA-256 of the stored ``.bdf.parquet`` file.
    reader, reader_version : str
        Reader plugin that converted the file and its version.
    n_rows : int
        Rows in the time series.
    duration_s : float
        Test duration [s].
    metadata : dict
        Instrument, channel, start time and other key-value metadata from the file.
    """

    __test__ = False  # not a pytest test class
    model_config = ConfigDict(frozen=True)

    battery_id: str
    kind: TestKind
    source_path: str
    source_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bdf_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    reader: str
    reader_version: str
    n_rows: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    metadata: dict[str, JsonScalar] = Field(default_factory=dict)


class Measurement(BaseModel):
    """A scalar result for a battery; the quantity name carries the unit (``capacity_ah``).

    Attributes
    ----------
    battery_id : str
    quantity : str
        Unit-bearing name, e.g. ``capacity_ah``, ``dcir_1s_ohm``, ``soh_percent``, ``ocv_v``.
    value : float
        Point value in the unit of ``quantity``.
    lower, upper : float or None
        Interval bounds (same unit) when the value is an estimate.
    method : str
        How it was obtained (``capacity_test``, ``pulse_dcir``, ``manifest``, ``estimator:<name>``).
    source_sha256 : str or None
        Raw file the value was derived from, for traceability.
    """

    model_config = ConfigDict(frozen=True)

    battery_id: str
    quantity: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    value: float
    lower: float | None = None
    upper: float | None = None
    method: str
    source_sha256: str | None = None

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("measurement value must be finite")
        return value


class Reason(BaseModel):
    """One rule evaluated for a decision: what was compared, with what, and the result.

    Attributes
    ----------
    rule : str
        Rule id in the profile (e.g. ``gate.visual_damage``, ``grade.A.soh``).
    passed : bool
        Whether the unit satisfied the rule.
    message : str
        Human-readable sentence with the numbers (e.g. "SOH lower bound 78.2 % < 80 % for grade A").
    field : str or None
        Input field compared.
    observed : float, str, bool or None
        The input value.
    limit : float, str or None
        The threshold.
    """

    model_config = ConfigDict(frozen=True)

    rule: str
    passed: bool
    message: str
    field: str | None = None
    observed: JsonScalar = None
    limit: JsonScalar = None

    @property
    def detail(self) -> str:
        """The message without a leading ``"<rule>: "`` (for displays that name the rule)."""
        return self.message.removeprefix(f"{self.rule}: ")


class Decision(BaseModel):
    """A typed, explainable decision (gate, grade or route) with the profile that produced it.

    Attributes
    ----------
    battery_id : str
    kind : {"gate", "grade", "route"}
    outcome : str
        ``pass``/``quarantine``, ``A``…``D``, or a route name.
    reasons : list of Reason
        Every rule evaluated (fired and passed), so the decision can be explained and reproduced.
    profile, profile_version : str
        Rule table name and version used.
    inputs : dict
        The input values the rules saw.
    """

    model_config = ConfigDict(frozen=True)

    battery_id: str
    kind: Literal["gate", "grade", "route"]
    outcome: str
    reasons: tuple[Reason, ...] = ()
    profile: str
    profile_version: str
    inputs: dict[str, JsonScalar] = Field(default_factory=dict)

    @property
    def fired(self) -> tuple[Reason, ...]:
        """Reasons whose rule did not pass (the ones that drove the outcome)."""
        return tuple(r for r in self.reasons if not r.passed)


class Event(BaseModel):
    """One entry of a battery's append-only, hash-chained event log.

    Attributes
    ----------
    battery_id : str
    seq : int
        0-based position in the battery's chain.
    kind : str
        Event type (``received``, ``test_run_recorded``, ``graded``, …).
    payload : dict
        JSON-serialisable body.
    recorded_at : datetime
        UTC timestamp.
    prev_hash, hash : str
        SHA-256 of the predecessor (64 zeros for the first event) and of this event.
    """

    model_config = ConfigDict(frozen=True)

    battery_id: str
    seq: int = Field(ge=0)
    kind: str
    payload: dict[str, Any]
    recorded_at: dt.datetime
    prev_hash: str
    hash: str
