"""Train the SOH models shipped in ``src/echelon/estimation/models/`` from the measured datasets.

Run from the repository root (needs ``../shared/datasets`` or ``ECHELON_SHARED_DATASETS``)::

    .venv/bin/python tools/estimation/train_default_models.py [pulse-u21 relaxation-u21 …]

Each model's card records its data (dataset, repository, commit, licence), the calibration
(split conformal on 5-fold cross-validation grouped by physical cell), the cross-validated
metrics per chemistry family and the date. Validation on other splits: docs/validation.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl

from echelon.estimation.methods import PulseMethod, RelaxationMethod
from echelon.estimation.model import SohModel, fit_soh_model
from echelon.estimation.validation import pulse_samples
from echelon.estimation.zoo import MODELS_DIR, SUFFIX

ROOT = Path(__file__).resolve().parents[2]
PULSEBAT_DATA = [
    "pulsebat: terencetaothucb/Pulse-Voltage-Response-Generation @ 92aeb9b (MIT); S. Tao et al., "
    "Nat. Commun. 15 (2024), doi:10.1038/s41467-024-54454-0 — LMO 10 Ah (95 cells), NMC 2.1 Ah "
    "(12 cells, 67 ageing states), NMC 21 Ah (52 cells); 5 s pulses, SOC 5–50 %",
    "pulsebat_lfp: terencetaothucb/pulse-excitation-informativeness-for-battery-capacity-"
    "diagnosis @ ea2dde5 (MIT); Tao, Xia & Zou (2026), doi:10.5281/zenodo.21008092 — LFP 20 Ah "
    "(102 cells), 35 Ah (56), 68 Ah (96); 5 s pulses, SOC 5–90 % (grid sheets only; the "
    "random-SOC sheets are kept for validation)",
]
NOTES = (
    "Retired cells of five cell models only. A batch of another make or model lies outside the "
    "domain: its rows are flagged and their interval widened to the leave-one-batch-out error, "
    "or calibrate the batch with ≥ 9 capacity-tested reference units (--references). PulseBat "
    "names the cathode only 'NMC' (entered as NMC622). U1 is the voltage after the rest that "
    "precedes the 5 s pulses (in the published tables the end of a 45 s rest), not a 10-minute "
    "OCV. Rows of these five cell models at a SOC level not trained (more than 2.5 points from "
    "every trained level, up to 5 points) are widened to the shift error instead (docs/soh.md)."
)


def _datasets() -> Path:
    override = os.environ.get("ECHELON_SHARED_DATASETS")
    return Path(override) if override else ROOT.parent / "shared" / "datasets"


def _pulse_family(method: PulseMethod, name: str) -> Callable[[], SohModel]:
    def train() -> SohModel:
        samples = pulse_samples(_datasets(), collection="pulsebat+lfp")
        model = fit_soh_model(samples, method=method, name=name, progress=print)
        model.card.update(
            {"data": PULSEBAT_DATA, "notes": NOTES, "validation": "docs/validation.md"}
        )
        return model

    return train


EIS_DATA = [
    "eis_zhang2020: battery-data-commons/mrs-sp22-tutorial @ 64b420d (MIT); Y. Zhang et al., Nat. "
    "Commun. 11, 1706 (2020), doi:10.1038/s41467-020-15235-7 — Eunicell LR2032 LCO coin cells, "
    "8 cells, 1343 state-V spectra at 25 °C; SOH relative to each cell's first-cycle capacity",
    "eis_soh: chrisw-17/rapid-SOH-prediction @ dab41f2 (MIT) — Warwick: 24 LG M50 21700 cells "
    "(NMC811, re-distributed from Faraji-Niri et al., J. Energy Storage 58 (2023) 106295) at "
    "15/25/35 °C and 5 SOC levels; Stanford: 3 LG M50T cells (Pozzato et al., Data in Brief 41 "
    "(2022) 107995) at 3 SOC levels; SOH as stated in the files",
]
EIS_NOTES = (
    "Two cell models only (a coin cell and a 21700 NMC811 cell). Cells of another make or "
    "another laboratory's set-up are out of domain (docs/validation.md: Warwick → Köln RMSE "
    "6.5 points): calibrate with reference units. A measurement temperature not seen in "
    "training triples the error. Rows of the trained cells at an untrained SOC level (up to 5 "
    "points from a trained one) are widened to the shift error (docs/soh.md)."
)


def _eis() -> SohModel:
    from echelon.estimation.validation_eis import eis_soh_samples, zhang_samples

    root = _datasets()
    samples = pl.concat(
        [
            zhang_samples(root),
            eis_soh_samples(root, "Warwick"),
            eis_soh_samples(root, "Stanford"),
        ],
        how="diagonal_relaxed",
    )
    model = fit_soh_model(samples, method="eis", name="eis-lco-nmc811", progress=print)
    model.card.update({"data": EIS_DATA, "notes": EIS_NOTES, "validation": "docs/validation.md"})
    return model


TRAINERS: dict[str, Callable[[], SohModel]] = {
    "pulse-u21": _pulse_family(PulseMethod(21), "pulse-u21"),
    "relaxation-u21": _pulse_family(RelaxationMethod(21), "relaxation-u21"),
    "eis-lco-nmc811": _eis,
}


def _version(created: str, previous: Path) -> str:
    """``YYYY.MM.DD`` of the training date, with ``.2``, ``.3`` … when a model was already
    shipped under that date (a version names one file)."""
    base = created.replace("-", ".")
    if not previous.is_file():
        return base
    old = str(SohModel.load(previous).card.get("version", ""))
    if old != base and not old.startswith(base + "."):
        return base
    shipped = int(old[len(base) + 1 :] or 1)  # "2026.12.07" is the first, ".2" the second
    return f"{base}.{shipped + 1}"


def main(names: list[str]) -> None:
    """Train and write the named models (all when none are named)."""
    for name in names or list(TRAINERS):
        model = TRAINERS[name]()
        target = MODELS_DIR / f"{name}{SUFFIX}"
        model.card["version"] = _version(model.card["created"], target)
        path = model.save(target)
        rows = [
            {"family": f, **m.summary.get("cross_validation", {}), "cells": m.summary["n_cells"]}
            for f, m in model.families.items()
        ]
        print(pl.DataFrame(rows))
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    main(sys.argv[1:])
