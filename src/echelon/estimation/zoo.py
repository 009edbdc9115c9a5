"""Trained default models shipped inside the package, loaded by name.

Each ``models/<name>.soh.npz`` was written by ``tools/estimation/train_default_models.py`` from
the measured datasets named in its model card (data, split, metrics, date). ``capacity`` is the
reference method and needs no file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from echelon.errors import Problem, SchemaError, UsageError
from echelon.estimation.family import FamilyModel
from echelon.estimation.methods import CapacityMethod
from echelon.estimation.model import SohModel

MODELS_DIR: Final = Path(__file__).parent / "models"
SUFFIX: Final = ".soh.npz"
ANY_FAMILY: Final = "*"
"""Family key of a model that applies to every chemistry (the capacity test)."""


@dataclass(frozen=True)
class ModelInfo:
    """A model available by name."""

    name: str
    path: Path | None
    card: dict[str, Any]


def capacity_model() -> SohModel:
    """The reference estimator: SOH = measured ÷ rated capacity, interval from the catalogue."""
    empty = np.zeros(0)
    family = FamilyModel(ANY_FAMILY, None, empty, np.zeros(0, dtype=str), np.inf, {})
    card = {
        "name": "capacity",
        "method": "capacity",
        "created": "built in",
        "calibration": "relative uncertainty of catalogue table soh_capacity_test",
    }
    return SohModel(CapacityMethod(), {ANY_FAMILY: family}, empty, card)


@functools.lru_cache(maxsize=1)
def _shipped() -> dict[str, Path]:
    return {p.name[: -len(SUFFIX)]: p for p in sorted(MODELS_DIR.glob(f"*{SUFFIX}"))}


def available_models() -> list[ModelInfo]:
    """Every model loadable by name (the shipped files and ``capacity``)."""
    out = [ModelInfo(name, path, SohModel.load(path).card) for name, path in _shipped().items()]
    return [*out, ModelInfo("capacity", None, capacity_model().card)]


@functools.lru_cache(maxsize=8)
def _load_shipped(name: str) -> SohModel:
    return SohModel.load(_shipped()[name])


def load_model(name_or_path: str | Path) -> SohModel:
    """A shipped model by name (``pulse-u21``, ``capacity`` …) or a model file by path.

    Raises
    ------
    UsageError
        If it is neither (listing the names available).
    SchemaError
        If the file is not an Echelon SOH model (saying how to get one, and the names).
    """
    text = str(name_or_path)
    if text == "capacity":
        return capacity_model()
    if text in _shipped():
        return _load_shipped(text)
    path = Path(name_or_path)
    names = ", ".join([*_shipped(), "capacity"])
    if path.is_file():
        try:
            return SohModel.load(path)
        except SchemaError as exc:
            shipped = f", or give a shipped model's name: {names} (`echelon soh models`)"
            hinted = [Problem(p.message + shipped, p.row, p.column) for p in exc.problems]
            raise SchemaError(path, hinted) from exc
    raise UsageError(
        f"no SOH model named or stored at {text!r}; shipped models: {names} "
        "(or train one with `echelon soh train`)"
    )
