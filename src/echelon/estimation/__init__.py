"""State-of-health estimators with calibrated intervals: capacity test (the reference), pulse,
relaxation, EIS and partial charge; one model class, grouped evaluation, batch calibration.

See docs/soh.md. Nothing is loaded at import time (shipped models load on first use).
"""

from echelon.estimation.capacity import SohEstimate, soh_from_capacity
from echelon.estimation.evaluate import Evaluation, cross_validate
from echelon.estimation.model import SohModel, fit_soh_model
from echelon.estimation.readers import read_samples
from echelon.estimation.zoo import available_models, load_model

__all__ = [
    "Evaluation",
    "SohEstimate",
    "SohModel",
    "available_models",
    "cross_validate",
    "fit_soh_model",
    "load_model",
    "read_samples",
    "soh_from_capacity",
]
