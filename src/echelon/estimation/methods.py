"""Estimation methods: which columns of a sample table a method reads and how it makes features.

A method is a small object with a JSON-serialisable configuration (stored inside every model
trained with it). All methods share one model class, one conformal calibration and one domain
check (:mod:`echelon.estimation.model`); they differ only here. Methods are looked up by name in
:data:`METHODS` (``pulse``, ``relaxation``, ``eis``, ``partial_charge``, ``capacity``).

Pulse features follow the PulseBat protocol (S. Tao et al., *Nat. Commun.* 15 (2024),
doi:10.1038/s41467-024-54454-0; ``shared/datasets/pulsebat/PROVENANCE.md``): after a rest, 5 s
current pulses of +a C, rest, −a C, rest at a = 0.5, 1, 1.5 (2, 2.5) C with 75 s rests. ``u1_v``
is the rest voltage before the first pulse (in the published 5 s tables the end of the 45 s rest
that follows the 3 s pulse block, not a 10-minute OCV: it can differ from the fully relaxed OCV
by tens of mV, see docs/soh.md); then for each amplitude eight turning-point voltages: start and end
of the + pulse, start and end of its rest, start and end of the − pulse, start and end of its
rest (``u2_v`` … ``u9_v`` at 0.5 C, ``u10_v`` … ``u17_v`` at 1 C, …). ``u1_v`` … ``u21_v`` is the
published 21-point feature set; ``u41_v`` completes the 2.5 C block.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.errors import EstimationError, Problem, row_problems
from echelon.estimation.samples import NOMINAL, numeric_problems, plausible_problems

Array = npt.NDArray[np.float64]
Regressor = Literal["gp", "identity"]

CELL_VOLTAGE_RANGE_V: Final = (0.5, 5.5)
"""Plausible cell voltage [V]; module or pack voltages must be divided by the series count."""
PULSE_POINTS: Final = (21, 41)


def u_column(i: int) -> str:
    """Name of the ``i``-th PulseBat turning-point voltage column (``u1_v`` …)."""
    return f"u{i}_v"


class Method(ABC):
    """Base of every estimation method."""

    name: ClassVar[str]
    description: ClassVar[str]
    regressor: ClassVar[Regressor] = "gp"

    @abstractmethod
    def required_columns(self) -> tuple[str, ...]:
        """Method columns a sample table must have."""

    @abstractmethod
    def check(self, samples: pl.DataFrame) -> list[Problem]:
        """Every problem in the method's own columns (missing, NaN, absurd, wrong protocol)."""

    @abstractmethod
    def features(self, samples: pl.DataFrame) -> Array:
        """Feature matrix (n, d) of a validated table."""

    @abstractmethod
    def feature_names(self) -> tuple[str, ...]:
        """Names of the feature columns, in order."""

    def config(self) -> dict[str, Any]:
        """JSON-serialisable configuration (stored in the model)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Method:
        """Rebuild a method from :meth:`config`."""
        return cls(**config)

    @classmethod
    def for_samples(cls, samples: pl.DataFrame) -> Method:
        """The richest configuration the table supports (e.g. 41 pulse points if present)."""
        del samples
        return cls()

    def missing_problems(self, samples: pl.DataFrame) -> list[Problem]:
        """A problem naming the method's missing columns, if any."""
        missing = [c for c in self.required_columns() if c not in samples.columns]
        if not missing:
            return []
        return [Problem(f"missing column(s) {missing} needed by the {self.name!r} method")]


def _log_nominal(samples: pl.DataFrame) -> Array:
    out: Array = np.log(samples.get_column(NOMINAL).to_numpy().astype(np.float64))
    return out


class PulseMethod(Method):
    """SOH from bipolar pulse responses (PulseBat turning-point voltages).

    Parameters
    ----------
    n_points : {21, 41}
        ``u1_v`` … ``u21_v`` (±0.5, ±1 C and the start of ±1.5 C; the published feature set) or
        ``u1_v`` … ``u41_v`` (up to ±2.5 C).

    Features are the voltages themselves plus ``log(nominal_capacity_ah)`` (format-awareness
    within a chemistry family).
    """

    name = "pulse"
    description = "bipolar 5 s pulses at ±0.5/1/1.5 C (PulseBat U1–U21), any SOC"

    def __init__(self, n_points: int = 21) -> None:
        if n_points not in PULSE_POINTS:
            raise EstimationError(f"n_points must be one of {PULSE_POINTS} (got {n_points})")
        self.n_points = n_points

    def config(self) -> dict[str, Any]:
        return {"n_points": self.n_points}

    @classmethod
    def for_samples(cls, samples: pl.DataFrame) -> Method:
        columns = [u_column(i) for i in range(1, 42)]
        full = all(c in samples.columns for c in columns) and not any(
            samples.get_column(c).null_count() for c in columns
        )
        return cls(41 if full else 21)

    def points(self) -> tuple[int, ...]:
        """1-based indices of the turning points used."""
        return tuple(range(1, self.n_points + 1))

    def required_columns(self) -> tuple[str, ...]:
        return tuple(u_column(i) for i in self.points())

    def feature_names(self) -> tuple[str, ...]:
        return (*self.required_columns(), "log_nominal_capacity_ah")

    def check(self, samples: pl.DataFrame) -> list[Problem]:
        problems = self.missing_problems(samples)
        if problems:
            return problems
        problems = numeric_problems(
            samples, self.required_columns(), *CELL_VOLTAGE_RANGE_V, required=True
        )
        if problems:
            return [
                *problems,
                Problem(
                    "voltages must be per cell [V]: divide module or pack voltages by the "
                    "series count, and convert mV to V"
                ),
            ]
        return protocol_problems(samples)

    def features(self, samples: pl.DataFrame) -> Array:
        volts = samples.select(self.required_columns()).to_numpy().astype(np.float64)
        return np.column_stack([volts, _log_nominal(samples)])


def protocol_problems(samples: pl.DataFrame) -> list[Problem]:
    """Rows whose turning points contradict the bipolar protocol (+ pulse first, then −).

    In every PulseBat row the charge pulse starts above the open-circuit voltage and the
    discharge pulse ends below the voltage it started from; a row that breaks this is a
    different protocol (discharge first, swapped columns, a cut pulse) or corrupt.
    """
    out: list[Problem] = []
    checks = (
        (2, 1, ">", "the +0.5 C pulse must start above the OCV u1_v"),
        (7, 6, "<", "the −0.5 C pulse must end below its start u6_v"),
    )
    for a, b, op, what in checks:
        left, right = samples.get_column(u_column(a)), samples.get_column(u_column(b))
        invalid = ~(left > right) if op == ">" else ~(left < right)
        out += row_problems(
            left,
            invalid,
            f"breaks the pulse protocol: {what} (expected PulseBat order: rest, +pulse, rest, "
            "−pulse, rest at each amplitude)",
        )
    return out


class RelaxationMethod(PulseMethod):
    """SOH from the relaxation after each pulse: voltages at the start and end of the 75 s rests.

    Uses ``u1_v`` (OCV) and the rest turning points (``u4_v``, ``u5_v``, ``u8_v``, ``u9_v``,
    ``u12_v``, ``u13_v``, ``u16_v``, ``u17_v`` for 21 points) — what a tester that only logs the
    rests (or a relaxation-only protocol) gives.
    """

    name = "relaxation"
    description = "voltage relaxation in the 75 s rests after the ±0.5/1 C pulses"

    def points(self) -> tuple[int, ...]:
        rests = [b + k for b in range(2, self.n_points - 6, 8) for k in (2, 3, 6, 7)]
        return (1, *rests)

    def check(self, samples: pl.DataFrame) -> list[Problem]:
        problems = self.missing_problems(samples)
        if problems:
            return problems
        return numeric_problems(
            samples, self.required_columns(), *CELL_VOLTAGE_RANGE_V, required=True
        )


class CapacityMethod(Method):
    """The reference: SOH = measured ÷ rated capacity × 100 (no fitting)."""

    name = "capacity"
    description = "full capacity test (the reference; nothing is learnt)"
    regressor = "identity"

    def required_columns(self) -> tuple[str, ...]:
        return ("measured_capacity_ah",)

    def feature_names(self) -> tuple[str, ...]:
        return ("capacity_soh_percent",)

    def check(self, samples: pl.DataFrame) -> list[Problem]:
        problems = self.missing_problems(samples)
        return problems or plausible_problems(
            samples, "measured_capacity_ah", missing="is empty: give the measured capacity [A·h]"
        )

    def features(self, samples: pl.DataFrame) -> Array:
        measured = samples.get_column("measured_capacity_ah").to_numpy().astype(np.float64)
        nominal = samples.get_column(NOMINAL).to_numpy().astype(np.float64)
        return (100.0 * measured / nominal)[:, None]


METHODS: Final[dict[str, str]] = {
    "pulse": "echelon.estimation.methods:PulseMethod",
    "relaxation": "echelon.estimation.methods:RelaxationMethod",
    "eis": "echelon.estimation.eis:EisMethod",
    "partial_charge": "echelon.estimation.partial:PartialChargeMethod",
    "capacity": "echelon.estimation.methods:CapacityMethod",
}
"""Method name → ``module:class``."""


def method_class(name: str) -> type[Method]:
    """The method class registered under ``name``.

    Raises
    ------
    EstimationError
        For an unknown name (listing the known ones).
    """
    if name not in METHODS:
        raise EstimationError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    module, attr = METHODS[name].split(":")
    cls: type[Method] = getattr(importlib.import_module(module), attr)
    return cls
