"""One SOH model class for every method: fit, predict with conformal intervals, domain check, save.

A :class:`SohModel` holds one regressor per chemistry family (``LFP``, ``NMC``, ``LMO`` …: the
pulse response of an LFP cell says nothing about an NMC cell), each with

* the absolute out-of-fold residuals of grouped cross-validation on its training cells — the
  split-conformal calibration set of its intervals (:mod:`echelon.estimation.conformal`);
* a nearest-neighbour domain threshold (:mod:`echelon.estimation.domain`);
* what it was trained on (cells, samples, SOH, nominal capacity and SOC ranges).

The model also keeps *transfer residuals*: errors on a whole batch (one chemistry and format)
left out of training. They size the widened interval of an out-of-domain sample: a new batch
is wrong by about that much, not by the in-domain error.

Models are stored as one ``.npz`` file (arrays + a JSON header with the model card), no pickle.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon._version import __version__
from echelon.errors import EstimationError, SchemaError
from echelon.estimation.conformal import conformal_quantile, min_calibration_size
from echelon.estimation.domain import (
    THRESHOLD_QUANTILE,
    batch_reason,
    format_reasons,
    nearest_trained_soc,
    soc_reasons,
    temperature_reasons,
)
from echelon.estimation.family import (
    CV_FOLDS,
    MIN_FORMAT_CELLS,
    RANGE,
    FamilyModel,
    add_reason,
    clip_to,
    edge_reasons,
    extrapolation_reasons,
    fit_family,
)
from echelon.estimation.gp import GaussianProcess, fit_gp
from echelon.estimation.methods import Method, method_class
from echelon.estimation.model_file import model_arrays, not_a_model
from echelon.estimation.samples import (
    BATCH,
    CELL_ID,
    CHEMISTRY,
    FORMAT,
    NOMINAL,
    SAMPLE_ID,
    SOC,
    SOC_GRID_PERCENT,
    SOH,
    SOH_BOUNDS,
    TEMPERATURE,
    family_of,
    validate_samples,
)
from echelon.estimation.shift import soc_shift_residuals

Array = npt.NDArray[np.float64]
OutOfDomain = Literal["widen", "refuse"]
FORMAT_VERSION: Final = 1
DEFAULT_COVERAGE: Final = 0.9
MIN_SHIFT_RESIDUALS: Final = 10
"""Shift or transfer residuals needed before they size out-of-domain intervals (and at least
:func:`~echelon.estimation.conformal.min_calibration_size` for the coverage asked)."""
BATCH_OOD_FRACTION: Final = 0.5
"""A batch with more than this share of out-of-domain rows is out of domain as a whole."""
PREDICTION_COLUMNS: Final = (
    SAMPLE_ID,
    "soh_percent",
    "soh_lower_percent",
    "soh_upper_percent",
    CELL_ID,
    "coverage",
    "method",
    "family",
    "out_of_domain",
    "domain_distance",
    "reason",
)
"""Columns of :meth:`SohModel.predict`; the first four, in this order, are the CLI's contract
(``predictions.csv``)."""
Progress = Callable[[str], None]
__all__ = [
    "CV_FOLDS",
    "DEFAULT_COVERAGE",
    "MIN_FORMAT_CELLS",
    "PREDICTION_COLUMNS",
    "RANGE",
    "FamilyModel",
    "SohModel",
    "add_reason",
    "clip_to",
    "edge_reasons",
    "extrapolation_reasons",
    "families",
    "fit_family",
    "fit_soh_model",
    "prepare",
]


def prepare(
    samples: pl.DataFrame, method: Method, *, labelled: bool, source: Path | str
) -> pl.DataFrame:
    """Validate a sample table for ``method`` (common and method columns, every problem at once)."""
    return validate_samples(
        samples, feature_problems=method.check(samples), labelled=labelled, source=source
    )


def families(samples: pl.DataFrame) -> npt.NDArray[np.str_]:
    """Chemistry family of every row of a validated table."""
    names = samples.get_column(CHEMISTRY)
    mapping = {n: family_of(n) for n in names.unique().to_list()}
    return np.asarray(names.replace_strict(mapping).to_list(), dtype=str)


def _range(values: pl.Series) -> list[float] | None:
    finite = values.drop_nulls().drop_nans()
    return [float(finite.min()), float(finite.max())] if len(finite) else None  # type: ignore[arg-type]


def _distinct(values: pl.Series) -> list[float] | None:
    """Distinct values rounded to the unit — SOC levels [%], test temperatures [°C] — or
    ``None`` if none is recorded."""
    finite = values.cast(pl.Float64).drop_nulls().drop_nans()
    return sorted({float(round(v)) for v in finite.to_list()}) or None


@dataclass(frozen=True)
class SohModel:
    """A trained state-of-health estimator (see the module docstring).

    Attributes
    ----------
    method : Method
    families : dict of str to FamilyModel
    transfer_residuals : ndarray
        Absolute residuals on batches left out of training (may be empty).
    card : dict
        Model card: name, version, created, data, split, metrics, notes.
    """

    method: Method
    families: dict[str, FamilyModel]
    transfer_residuals: Array
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Model name from its card (``unnamed`` if none)."""
        return str(self.card.get("name", "unnamed"))

    def point_estimates(self, samples: pl.DataFrame) -> Array:
        """The trained regressor's point estimate [%] of every row, with no interval, domain
        check or calibration (``NaN`` for a family the model has none for): for validation
        studies that also score rows :meth:`predict` would widen or refuse."""
        table = prepare(samples, self.method, labelled=False, source="<samples>")
        x = self.method.features(table)
        fam = families(table)
        out = np.full(table.height, np.nan)
        for name, part in self.families.items():
            rows = fam == name
            if rows.any():
                out[rows] = part.mean(x[rows])
        return out

    def predict(
        self,
        samples: pl.DataFrame,
        *,
        coverage: float = DEFAULT_COVERAGE,
        out_of_domain: OutOfDomain = "widen",
        references: pl.DataFrame | None = None,
        source: Path | str = "<samples>",
        references_source: Path | str = "<references>",
    ) -> pl.DataFrame:
        """SOH [%] with an interval at ``coverage`` for every row of a sample table.

        Parameters
        ----------
        samples : pl.DataFrame
            Sample table with the method's columns (labels optional, ignored).
        coverage : float
            Nominal coverage of the interval (split conformal), e.g. 0.9.
        out_of_domain : {"widen", "refuse"}
            For rows outside the training domain (new chemistry family, a batch not trained
            on, another format or temperature, features beyond the domain threshold, an
            untrained SOC, or a batch mostly out of domain): widen the interval — to the
            family's shift error for a trained batch at an untrained SOC, else to the transfer
            error — or refuse (no number).
        references : pl.DataFrame, optional
            Labelled samples of reference units (capacity-tested) from the same batches
            (``batch`` column): rows of those batches are estimated by the calibration of
            :mod:`echelon.estimation.calibration` instead (at least 9 reference units per
            batch for 90 %).
        source, references_source : path-like or str
            Named in validation errors of ``samples`` and ``references``.

        Returns
        -------
        pl.DataFrame
            :data:`PREDICTION_COLUMNS`, one row per sample in input order. Rows without an
            estimate have null SOH columns and a ``reason``.

        Raises
        ------
        SchemaError
            For missing columns or bad values (every problem listed).
        """
        table = prepare(samples, self.method, labelled=False, source=source)
        x = self.method.features(table)
        fam = families(table)
        n = table.height
        point, half, dist = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        raw_all = np.full(n, np.nan)
        ood = np.zeros(n, dtype=bool)
        # out of domain for a reason the shift error does not cover: another batch, format or
        # temperature, or features far from training at a trained SOC (not explained by the SOC)
        foreign = np.zeros(n, dtype=bool)
        reasons: list[str | None] = [None] * n
        batches = np.asarray(table.get_column(BATCH).to_list(), dtype=str)
        keys = np.asarray(table.get_column(FORMAT).to_list(), dtype=str)
        for name in np.unique(fam):
            rows = np.flatnonzero(fam == name)
            model = self.families.get(str(name)) or self.families.get("*")
            if model is None:
                ood[rows] = foreign[rows] = True
                for r in rows:
                    reasons[r] = (
                        f"no {self.method.name} model for chemistry family {name} (trained: "
                        f"{', '.join(self.families)}); calibrate the batch with "
                        "capacity-tested reference units, or run a capacity test"
                    )
                continue
            raw = raw_all[rows] = model.raw_mean(x[rows])
            point[rows] = clip_to(raw, model.summary.get("soh_percent_range"))
            dist[rows] = model.distance(x[rows])
            beyond = dist[rows] > model.threshold
            for r in rows[beyond]:
                reasons[r] = (
                    f"features beyond the training domain of {name} (distance "
                    f"{dist[r]:.2f} > {model.threshold:.2f})"
                )
            ood[rows[beyond]] = foreign[rows[beyond]] = True
            trained = set(model.summary.get("batches") or [])  # (a direct measurement: none)
            named = bool(trained) and model.gp is not None
            untrained = np.array([named and b not in trained for b in batches[rows]], dtype=bool)
            found = {
                check: check(table, rows, model.summary)
                for check in (format_reasons, soc_reasons, temperature_reasons)
            }
            for flagged in found.values():
                for row, why in flagged.items():
                    ood[row] = True
                    add_reason(reasons, row, why)
            # far from training *because* of an untrained SOC — no farther than a change of SOC
            # alone moved the rows of the nested split — the shift error covers it, up to the one
            # grid step that split leaves between a row and the trained levels
            shift_reach = model.summary.get("shift_domain_threshold")  # (none before 2026-12-07)
            reach = -np.inf if shift_reach is None else max(shift_reach, model.threshold)
            for row in found[soc_reasons]:
                foreign[row] = bool(dist[row] > reach)
            soc, nearest = nearest_trained_soc(table, rows, model.summary)
            foreign[rows[np.abs(soc - nearest) > SOC_GRID_PERCENT]] = True
            foreign[[*found[format_reasons], *found[temperature_reasons]]] = True
            foreign[rows] |= untrained
            needed = min_calibration_size(coverage)
            for r in rows[untrained]:  # whatever else is flagged: the batch decides the width
                add_reason(reasons, r, batch_reason(str(batches[r]), trained, needed))
            ood[rows[untrained]] = True
            half[rows] = self._half_width(model, point[rows], keys[rows], coverage)
            for row, why in extrapolation_reasons(model, raw, rows, half[rows]).items():
                ood[row] = foreign[row] = True  # (counts toward the batch check)
                point[row] = np.nan  # no estimate, whatever the out-of-domain policy
                add_reason(reasons, row, why)
        self._batch_check(table, ood, foreign, reasons)
        if references is not None:
            refs = prepare(references, self.method, labelled=True, source=references_source)
            self._calibrate(table, x, refs, coverage, (point, half, ood, reasons))
        for row, why in edge_reasons(self.families, fam, raw_all, ood & np.isfinite(point)).items():
            point[row] = np.nan  # no estimate, whatever the out-of-domain policy
            add_reason(reasons, row, why)
        self._widen(point, half, (ood, foreign, fam, keys), reasons, coverage, out_of_domain)
        lower = np.clip(point - half, *SOH_BOUNDS)
        upper = np.clip(point + half, *SOH_BOUNDS)
        return pl.DataFrame(
            {
                SAMPLE_ID: table.get_column(SAMPLE_ID),
                "soh_percent": point,
                "soh_lower_percent": lower,
                "soh_upper_percent": upper,
                CELL_ID: table.get_column(CELL_ID),
                "coverage": np.full(n, coverage),
                "method": [self.method.name] * n,
                "family": fam.tolist(),
                "out_of_domain": ood,
                "domain_distance": dist,
                "reason": pl.Series(reasons, dtype=pl.String),
            }
        ).with_columns(
            pl.col(c).fill_nan(None) for c in (*PREDICTION_COLUMNS[1:4], "domain_distance")
        )

    def _calibrate(
        self,
        table: pl.DataFrame,
        x: Array,
        references: pl.DataFrame,
        coverage: float,
        state: tuple[Array, Array, npt.NDArray[np.bool_], list[str | None]],
    ) -> None:
        """Re-estimate the rows of every batch that has reference units (``references``:
        validated)."""
        from echelon.estimation.calibration import (
            calibrate_batch,
            reference_batches,
            reference_cells,
        )

        point, half, ood, reasons = state
        refs = references
        x_ref = self.method.features(refs)
        y_ref = refs.get_column(SOH).to_numpy().astype(np.float64)
        fam_ref = families(refs)
        cells = reference_cells(refs)
        batches = np.asarray(table.get_column(BATCH).to_list(), dtype=str)
        for batch, rows_ref in reference_batches(refs).items():
            kinds = set(fam_ref[rows_ref])
            if len(kinds) != 1:
                raise EstimationError(f"reference batch {batch} mixes chemistry families {kinds}")
            model = self.families.get(kinds.pop())
            source = None if model is None else model.mean(x_ref[rows_ref])
            cal = calibrate_batch(
                x_ref[rows_ref],
                y_ref[rows_ref],
                cells[rows_ref],
                source,
                batch=batch,
                coverage=coverage,
            )
            rows = np.flatnonzero(batches == batch)
            if not len(rows):
                continue
            source_rows = None if model is None else model.mean(x[rows])
            point[rows] = cal.predict(x[rows], source_rows)
            half[rows] = width = cal.half_width(coverage)
            ood[rows] = False
            note = cal.describe()
            for r in rows:
                reasons[r] = note
            for i, why in cal.extrapolations(x[rows], source_rows, width).items():
                point[rows[i]] = np.nan
                reasons[rows[i]] = f"{note}; {why}"

    def _half_width(
        self, model: FamilyModel, point: Array, keys: npt.NDArray[Any], coverage: float
    ) -> Array:
        if model.gp is None:  # identity: the capacity test's own uncertainty, relative
            from echelon.estimation.capacity import relative_uncertainty

            return np.abs(point) * relative_uncertainty()
        widths = {k: conformal_quantile(model.calibration_set(str(k)), coverage) for k in set(keys)}
        return np.array([widths[k] for k in keys], dtype=np.float64)

    @staticmethod
    def _batch_check(
        table: pl.DataFrame,
        ood: npt.NDArray[np.bool_],
        foreign: npt.NDArray[np.bool_],
        reasons: list[str | None],
    ) -> None:
        """A batch most of whose rows are out of domain for reasons other than their SOC (which
        says nothing about the batch) is foreign as a whole: all its rows get the transfer error."""
        batches = np.asarray(table.get_column(BATCH).to_list(), dtype=str)
        for batch in np.unique(batches):
            rows = np.flatnonzero(batches == batch)
            alien = ood[rows] & foreign[rows]
            share = alien.mean()
            if len(rows) >= 2 and BATCH_OOD_FRACTION < share < 1.0:
                why = (
                    f"batch {batch} lies outside the training domain ({share:.0%} of its rows "
                    "are beyond it)"
                )
                for r in rows[~alien]:
                    add_reason(reasons, int(r), why)
                foreign[rows] = ood[rows] = True

    def _widen(
        self,
        point: Array,
        half: Array,
        flags: tuple[
            npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.str_], npt.NDArray[np.str_]
        ],
        reasons: list[str | None],
        coverage: float,
        policy: OutOfDomain,
    ) -> None:
        """Widen (or refuse) the out-of-domain rows: a row of a trained batch that is new only
        in its SOC to its family's shift error (of its format, as in-domain intervals), any other
        to the transfer error."""
        ood, foreign, fam, keys = flags
        rows = np.flatnonzero(ood & np.isfinite(point))
        if not len(rows) or policy == "refuse":
            self._widen_to(
                point, half, rows, reasons, None, "refused (out-of-domain policy: refuse)"
            )
            return
        enough = max(MIN_SHIFT_RESIDUALS, min_calibration_size(coverage))
        shifted = rows[~foreign[rows]]
        for family, key in {(str(fam[r]), str(keys[r])) for r in shifted}:
            model = self.families.get(family)
            shift = None if model is None else model.calibration_set(key, shift=True)
            if shift is None or len(shift) < enough:
                continue  # (left to the transfer error)
            these = shifted[(fam[shifted] == family) & (keys[shifted] == key)]
            width = conformal_quantile(shift, coverage)
            self._widen_to(point, half, these, reasons, width, "the shift error")
            rows = np.setdiff1d(rows, these)
        if not len(rows):
            return
        n = len(self.transfer_residuals)
        known = n >= enough
        transfer = conformal_quantile(self.transfer_residuals, coverage) if known else None
        what = (
            "the transfer error"
            if known
            else "no transfer error known to size a wider interval"
            if n < MIN_SHIFT_RESIDUALS
            else f"the transfer error's {n} residuals cannot size a {coverage:.1%} interval"
        )
        self._widen_to(point, half, rows, reasons, transfer, what)

    @staticmethod
    def _widen_to(
        point: Array,
        half: Array,
        rows: npt.NDArray[np.intp],
        reasons: list[str | None],
        width: float | None,
        what: str,
    ) -> None:
        """Widen ``rows`` to ``width`` (``None``: refuse them), saying so with ``what``."""
        if width is None:
            point[rows] = np.nan
            half[rows] = np.nan
            for r in rows:
                add_reason(reasons, int(r), what)
            return
        half[rows] = np.maximum(half[rows], width)
        for r in rows:
            add_reason(reasons, int(r), f"interval widened to {what} ±{width:.1f}")

    def save(self, path: Path | str) -> Path:
        """Write the model to ``path`` (``.npz``; parent folders created)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"transfer_residuals": self.transfer_residuals}
        header: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "echelon_version": __version__,
            "method": self.method.name,
            "method_config": self.method.config(),
            "families": {},
            "card": self.card,
        }
        for i, (name, model) in enumerate(self.families.items()):
            prefix = f"f{i}_"
            arrays[f"{prefix}residuals"] = model.residuals
            arrays[f"{prefix}residual_formats"] = model.residual_formats
            arrays[f"{prefix}shift_residuals"] = model.shift_residuals
            arrays[f"{prefix}shift_formats"] = model.shift_formats
            if model.gp is not None:
                arrays.update(model.gp.to_arrays(prefix))
            header["families"][name] = {
                "prefix": prefix,
                "threshold": model.threshold,
                "identity": model.gp is None,
                "summary": model.summary,
            }
        arrays["header"] = np.array(json.dumps(header))
        with target.open("wb") as handle:
            np.savez_compressed(handle, **arrays)
        return target

    @classmethod
    def load(cls, path: Path | str) -> SohModel:
        """Read a model written by :meth:`save`.

        Raises
        ------
        SchemaError
            If the file is not an Echelon SOH model or is corrupt.
        """
        path = Path(path)
        arrays, header = model_arrays(path)
        found = header.get("format_version")
        if found is None:
            raise SchemaError(path, [not_a_model("its header is not a model's")])
        if found != FORMAT_VERSION:
            raise SchemaError(
                path,
                [
                    f"model format {found} (this Echelon reads {FORMAT_VERSION}): train the "
                    f"model again with `echelon soh train`"
                ],
            )
        try:
            return cls._from_arrays(arrays, header)
        except (KeyError, TypeError, ValueError, AttributeError, EstimationError) as exc:
            raise SchemaError(
                path, [not_a_model(f"its model header is damaged ({type(exc).__name__}: {exc})")]
            ) from exc

    @classmethod
    def _from_arrays(cls, arrays: dict[str, Any], header: dict[str, Any]) -> SohModel:
        method = method_class(header["method"]).from_config(header["method_config"])
        fams = {
            name: FamilyModel(
                family=name,
                gp=None
                if body["identity"]
                else GaussianProcess.from_arrays(arrays, body["prefix"]),
                residuals=np.asarray(arrays[f"{body['prefix']}residuals"], dtype=np.float64),
                residual_formats=np.asarray(arrays[f"{body['prefix']}residual_formats"], dtype=str),
                threshold=float(body["threshold"]),
                summary=body["summary"],
                shift_residuals=np.asarray(  # absent from models written before 2026-12-07
                    arrays.get(f"{body['prefix']}shift_residuals", np.zeros(0)), dtype=np.float64
                ),
                shift_formats=np.asarray(
                    arrays.get(f"{body['prefix']}shift_formats", np.zeros(0)), dtype=str
                ),
            )
            for name, body in header["families"].items()
        }
        return cls(method, fams, np.asarray(arrays["transfer_residuals"]), header["card"])


def fit_soh_model(
    samples: pl.DataFrame,
    *,
    method: str | Method = "pulse",
    n_folds: int = CV_FOLDS,
    transfer: bool = True,
    seed: int = 0,
    name: str | None = None,
    source: Path | str = "<samples>",
    progress: Progress | None = None,
) -> SohModel:
    """Train a SOH model on a labelled sample table.

    Parameters
    ----------
    samples : pl.DataFrame
        Labelled sample table (``soh_percent`` on every row) with the method's columns.
    method : str or Method
        ``pulse``, ``relaxation``, ``eis``, ``partial_charge`` or ``capacity`` (or a configured
        method object).
    n_folds : int
        Folds (grouped by ``cell_id``) of the cross-validation that yields the conformal
        calibration residuals.
    transfer : bool
        Also fit leave-one-batch-out models within each family with ≥ 2 batches, to record the
        transfer error that sizes out-of-domain intervals.
    seed : int
        Seeds the folds and the hyper-parameter subsample.
    name : str, optional
        Model name written in its card.
    source : path-like or str
        Named in validation errors.
    progress : callable, optional
        Called with a short message as each family is fitted.

    Returns
    -------
    SohModel

    Raises
    ------
    SchemaError
        For missing or bad columns / labels.
    EstimationError
        If a family has fewer than two cells.
    """
    if isinstance(method, str):
        method = method_class(method).for_samples(samples)
    table = prepare(samples, method, labelled=True, source=source)
    x = method.features(table)
    y = table.get_column(SOH).to_numpy().astype(np.float64)
    fam = families(table)
    cells = np.asarray(table.get_column(CELL_ID).to_list(), dtype=str)
    batches = np.asarray(table.get_column(BATCH).to_list(), dtype=str)
    formats = np.asarray(table.get_column(FORMAT).to_list(), dtype=str)
    soc = (
        table.get_column(SOC).cast(pl.Float64).fill_null(np.nan).to_numpy()
        if SOC in table.columns
        else None
    )
    fitted: dict[str, FamilyModel] = {}
    transfer_res: list[Array] = []
    for family in np.unique(fam):
        rows = np.flatnonzero(fam == family)
        if progress:
            progress(f"fitting {family}: {len(rows)} samples, {len(set(cells[rows]))} cells")
        summary = {
            "n_samples": len(rows),
            "n_cells": len(set(cells[rows])),
            "batches": sorted(set(batches[rows])),
            "chemistries": sorted(set(table.get_column(CHEMISTRY).to_numpy()[rows])),
            "soh_percent_range": _range(pl.Series(y[rows])),
            "nominal_capacity_ah_range": _range(table.get_column(NOMINAL).gather(rows)),
            "soc_percent_range": _range(table.get_column(SOC).gather(rows))
            if SOC in table.columns
            else None,
            "soc_levels_trained": _distinct(table.get_column(SOC).gather(rows))
            if SOC in table.columns
            else None,
            "temperature_c_trained": _distinct(table.get_column(TEMPERATURE).gather(rows))
            if TEMPERATURE in table.columns
            else None,
            "format_cells": {
                str(k): len(set(cells[rows][formats[rows] == k])) for k in np.unique(formats[rows])
            },
        }
        if method.regressor == "identity":
            residual = np.abs(x[rows, 0] - y[rows])
            fitted[str(family)] = FamilyModel(
                str(family), None, residual, formats[rows], np.inf, summary
            )
            continue
        gp, residuals, threshold = fit_family(
            x[rows], y[rows], cells[rows], n_folds=n_folds, seed=seed
        )
        summary["cross_validation"] = {
            "mape_percent": float(np.mean(residuals / y[rows]) * 100.0),
            "rmse_points": float(np.sqrt(np.mean(residuals**2))),
            "worst_points": float(residuals.max()),
            "half_width_90_points": conformal_quantile(residuals, 0.9),
        }
        shift, moved = soc_shift_residuals(
            x[rows], y[rows], cells[rows], None if soc is None else soc[rows], gp,
            n_folds=n_folds, seed=seed,
        )  # fmt: skip
        kept = np.isfinite(shift)
        if kept.any():  # how far a change of SOC alone moves a row (k-NN distance)
            summary["shift_domain_threshold"] = float(np.quantile(moved[kept], THRESHOLD_QUANTILE))
        fitted[str(family)] = FamilyModel(
            str(family), gp, residuals, formats[rows], threshold, summary,
            shift[kept], formats[rows][kept],
        )  # fmt: skip
        if transfer and method.regressor == "gp":
            transfer_res += _leave_batch_out(x[rows], y[rows], batches[rows], gp)
    card = {
        "name": name or f"{method.name}-custom",
        "method": method.name,
        "method_config": method.config(),
        "created": dt.date.today().isoformat(),
        "echelon_version": __version__,
        "training": {f: m.summary for f, m in fitted.items()},
        "calibration": f"split conformal on {n_folds}-fold cross-validation grouped by cell_id",
    }
    empty = np.zeros(0)
    return SohModel(method, fitted, np.concatenate(transfer_res) if transfer_res else empty, card)


def _leave_batch_out(
    x: Array, y: Array, batches: npt.NDArray[np.str_], gp: GaussianProcess
) -> list[Array]:
    """Absolute residuals of each batch predicted by a model of the family's other batches.

    Predictions are clipped to the other batches' SOH range, as :meth:`FamilyModel.mean` does.
    """
    out: list[Array] = []
    unique = np.unique(batches)
    if len(unique) < 2:
        return out
    for batch in unique:
        test = batches == batch
        other = fit_gp(x[~test], y[~test], log_theta=gp.log_theta)
        bounds = [float(y[~test].min()), float(y[~test].max())]
        out.append(np.abs(clip_to(other.predict(x[test]), bounds) - y[test]))
    return out
