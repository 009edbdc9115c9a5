"""Shift residuals (cells and SOC levels left out together) and the SOC-gap domain check.

Synthetic rows (tests/estimation/synthetic_pulse.py) exercise the machinery only; what the
shift error does on measured cells is in docs/validation.md (unseen SOC levels).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import polars as pl
import pytest

from echelon.estimation.conformal import conformal_quantile, group_folds
from echelon.estimation.domain import knn_distance
from echelon.estimation.gp import fit_gp
from echelon.estimation.methods import PulseMethod
from echelon.estimation.model import SohModel, fit_soh_model, prepare
from echelon.estimation.shift import soc_level_groups, soc_shift_residuals
from tests.estimation.synthetic_pulse import pulse_samples


@pytest.fixture(scope="module")
def gapped() -> pl.DataFrame:
    # trained at 10, 20, 30, 40 and 50 % SOC: 15 % lies in a gap between trained levels
    return pulse_samples(30, seed=31, prefix="G")


@pytest.fixture(scope="module")
def model(gapped: pl.DataFrame) -> SohModel:
    return fit_soh_model(gapped, method="pulse", name="gapped")


def test_soc_levels_are_dealt_interleaved() -> None:
    soc = np.array([5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 31.0, 49.0])
    assert soc_level_groups(soc, 3).tolist() == [0, 1, 2, 0, 1, 2, 2, 0]


def test_shift_residuals_leave_the_cell_and_its_soc_level_out(gapped: pl.DataFrame) -> None:
    method = PulseMethod(21)
    table = prepare(gapped, method, labelled=True, source="<t>")
    x = method.features(table)
    y = table.get_column("soh_percent").to_numpy()
    cells = table.get_column("cell_id").to_numpy().astype(str)
    soc = table.get_column("soc_percent").to_numpy().astype(np.float64)
    gp = fit_gp(x, y, seed=0)
    res, moved = soc_shift_residuals(x, y, cells, soc, gp, n_folds=4, seed=0)
    groups = soc_level_groups(soc, 4)
    folds = group_folds(cells, 4, seed=0)
    diagonal = np.zeros(len(y), dtype=bool)
    for j, rows in enumerate(folds):
        diagonal[rows[groups[rows] == j]] = True
    assert np.array_equal(np.isfinite(res), diagonal)  # one residual per diagonal row
    assert np.array_equal(np.isfinite(moved), diagonal)
    # a residual is the error of a posterior that saw neither its cell nor its SOC level
    r = int(np.flatnonzero(diagonal)[0])
    j = next(i for i, rows in enumerate(folds) if r in rows)
    train = np.ones(len(y), dtype=bool)
    train[folds[j]] = False
    train &= groups != j
    assert cells[r] not in set(cells[train])
    assert soc[r] not in set(soc[train])
    refit = fit_gp(x[train], y[train], log_theta=gp.log_theta)
    expected = abs(np.clip(refit.predict(x[[r]])[0], y[train].min(), y[train].max()) - y[r])
    assert res[r] == pytest.approx(expected)
    # its distance: to the kept rows, in the family GP's standardised features
    z = (x - gp.x_mean) / gp.x_scale
    assert moved[r] == pytest.approx(knn_distance(z[[r]], z[train])[0])
    # one SOC level (or a missing one): nothing to leave out, no residuals
    for bad in (np.full(len(y), 30.0), np.where(np.arange(len(y)) == 0, np.nan, soc)):
        nothing = soc_shift_residuals(x, y, cells, bad, gp, n_folds=4)
        assert all(np.isnan(part).all() for part in nothing)


def test_a_soc_between_trained_levels_is_flagged(model: SohModel) -> None:
    assert model.families["NMC"].summary["soc_levels_trained"] == [10.0, 20.0, 30.0, 40.0, 50.0]
    gap = model.predict(pulse_samples(3, seed=32, socs=(15.0,), prefix="Q"))
    assert gap.get_column("out_of_domain").all()
    expected = "SOC 15 % was not trained (nearest trained level 10 %)"
    assert gap.get_column("reason").str.contains(expected, literal=True).fill_null(False).all()
    near = model.predict(pulse_samples(3, seed=33, socs=(22.0,), prefix="R"))
    assert not near.get_column("reason").str.contains("was not trained").any()


def test_a_trained_batch_is_widened_to_its_shift_error_a_new_one_to_the_transfer_error(
    model: SohModel, gapped: pl.DataFrame
) -> None:
    small = pulse_samples(24, seed=34, nominal_capacity_ah=2.0, prefix="S", r_ohm_ah=0.05)
    two = fit_soh_model(pl.concat([gapped, small]), method="pulse", name="two-batches")
    assert len(two.transfer_residuals) >= 10
    nmc = two.families["NMC"]
    assert len(nmc.shift_residuals) == len(nmc.shift_formats) > 0
    rows = pulse_samples(3, seed=35, socs=(15.0,), prefix="Q")  # batch NMC622-20.0Ah: trained
    known = two.predict(rows)
    assert (
        known.get_column("reason")
        .str.contains("interval widened to the shift error")
        .fill_null(False)
        .all()
    )
    other = two.predict(rows.with_columns(pl.lit("delivery-9").alias("batch")))
    # the batch is named whatever else is flagged: it, not the SOC, decides the width
    assert other["reason"].fill_null("").str.contains("batch delivery-9 was not in training").all()
    assert (
        other.get_column("reason")
        .str.contains("interval widened to the transfer error")
        .fill_null(False)
        .all()
    )
    # each widened to its own error, never below the in-domain interval of the format
    key = "NMC622-20.0Ah"
    in_domain = conformal_quantile(nmc.calibration_set(key), 0.9)
    shift = conformal_quantile(nmc.calibration_set(key, shift=True), 0.9)
    transfer = conformal_quantile(two.transfer_residuals, 0.9)
    assert f"shift error ±{shift:.1f}" in known.get_column("reason")[0]
    assert f"transfer error ±{transfer:.1f}" in other.get_column("reason")[0]
    width = (pl.col("soh_upper_percent") - pl.col("soh_lower_percent")).alias("w")
    assert known.select(width)["w"].to_numpy() == pytest.approx(2 * max(in_domain, shift))
    assert other.select(width)["w"].to_numpy() == pytest.approx(2 * max(in_domain, transfer))
    # the nested split measures one grid step (5 points) from the trained levels, not more
    for soc, error in ((55.0, "shift error"), (70.0, "transfer error")):
        beyond = two.predict(pulse_samples(2, seed=38, socs=(soc,), prefix="Y"))
        assert beyond.get_column("out_of_domain").all()
        reason = beyond.get_column("reason").fill_null("")
        assert reason.str.contains(f"SOC {soc:.0f} % outside the trained 10–50 %").all()
        answered = beyond.filter(pl.col("soh_percent").is_not_null()).get_column("reason")
        assert len(answered)  # (a row whose estimate extrapolates the SOH range is refused)
        assert answered.fill_null("").str.contains(error).all()
    refused = two.predict(rows, out_of_domain="refuse")
    assert refused.get_column("soh_percent").null_count() == rows.height


def test_shift_residuals_survive_save_and_load(model: SohModel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    loaded = SohModel.load(model.save(tmp_path / "g.soh.npz"))
    before, after = model.families["NMC"], loaded.families["NMC"]
    assert np.array_equal(before.shift_residuals, after.shift_residuals)
    assert np.array_equal(before.shift_formats, after.shift_formats)
    rows = pulse_samples(2, seed=36, socs=(15.0,), prefix="Q")
    assert loaded.predict(rows).equals(model.predict(rows))


@pytest.fixture(scope="module")
def two(gapped: pl.DataFrame) -> SohModel:
    small = pulse_samples(24, seed=34, nominal_capacity_ah=2.0, prefix="S", r_ohm_ah=0.05)
    return fit_soh_model(pl.concat([gapped, small]), method="pulse", name="two-batches")


def test_an_unusual_row_keeps_the_transfer_error_off_the_soc_grid(
    two: SohModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # features farther from training than a change of SOC alone moved any nested row: the SOC
    # does not explain them, so the transfer error, whatever SOC the row says it was tested at
    from echelon.estimation.gp import GaussianProcess

    reach = two.families["NMC"].summary["shift_domain_threshold"]
    assert reach > two.families["NMC"].threshold
    normal = pulse_samples(3, seed=40, socs=(15.0,), prefix="N")
    odd = pulse_samples(3, seed=40, socs=(15.0,), prefix="X", r_ohm_ah=0.2)
    # (this GP extrapolates such rows out of the SOH range and refuses them; an in-range
    # estimate isolates the interval rule from that)
    monkeypatch.setattr(GaussianProcess, "predict", lambda self, x, **kw: np.full(len(x), 80.0))
    pred = two.predict(pl.concat([normal, odd]))
    assert pred.filter(pl.col("sample_id").str.starts_with("X"))["domain_distance"].min() > reach
    reason = pred.get_column("reason").fill_null("")
    assert reason[:3].str.contains("shift error").all()
    assert reason[3:].str.contains("features beyond the training domain").all()
    assert reason[3:].str.contains("SOC 15 % was not trained").all()  # both reasons kept
    assert reason[3:].str.contains("transfer error").all()


def test_soc_rows_do_not_make_their_trained_batch_foreign(two: SohModel) -> None:
    # 3 units at an untrained level, 2 at a trained one, one delivery of a trained batch: the
    # SOC says nothing about the batch, so no batch-level flag and no inverted intervals
    rows = pl.concat(
        [
            pulse_samples(3, seed=41, socs=(15.0,), prefix="P"),
            pulse_samples(2, seed=42, socs=(30.0,), prefix="T"),
        ]
    )
    pred = two.predict(rows)
    reason = pred.get_column("reason").fill_null("")
    assert not reason.str.contains("lies outside the training domain").any()
    assert not pred["out_of_domain"][3:].any()  # the units at 30 %: in domain, own interval
    assert reason[:3].str.contains("shift error").all()
    width = pred["soh_upper_percent"] - pred["soh_lower_percent"]
    assert width[3:].max() <= width[:3].min()


def test_a_coverage_the_shift_error_cannot_size_falls_back_not_over(two: SohModel) -> None:
    # 0.99 needs 99 residuals: the shift set (54) cannot, the transfer set (270) can — no crash
    assert len(two.families["NMC"].shift_residuals) < 99 <= len(two.transfer_residuals)
    rows = pulse_samples(2, seed=43, socs=(15.0,), prefix="Q")
    assert two.predict(rows)["reason"].fill_null("").str.contains("shift error").all()
    wider = two.predict(rows, coverage=0.99).get_column("reason").fill_null("")
    assert wider.str.contains("widened to the transfer error").all()
    # with too few transfer residuals as well: no number, and the reason says why
    few = dataclasses.replace(two, transfer_residuals=two.transfer_residuals[:50])
    pred = few.predict(rows, coverage=0.99)
    assert pred["soh_percent"].null_count() == rows.height
    reason = pred.get_column("reason").fill_null("")
    assert reason.str.contains("transfer error's 50 residuals cannot size a 99.0% interval").all()


def test_a_model_file_without_shift_residuals_widens_to_the_transfer_error(
    two: SohModel, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # files written before 2026-12-07: no shift arrays, no trained SOC levels, no shift reach
    path = two.save(tmp_path / "new.soh.npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if "shift_" not in k}
    header = json.loads(str(arrays["header"]))
    for body in header["families"].values():
        for key in ("soc_levels_trained", "shift_domain_threshold"):
            body["summary"].pop(key, None)
    arrays["header"] = np.array(json.dumps(header))
    old_path = tmp_path / "old.soh.npz"
    with old_path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    old = SohModel.load(old_path)
    assert len(old.families["NMC"].shift_residuals) == 0
    rows = pulse_samples(2, seed=44, socs=(55.0, 15.0), prefix="Q")
    pred = old.predict(rows)
    reason = pred.get_column("reason").fill_null("")
    assert reason.str.contains("outside the trained 10–50 %").any()  # the 55 % rows
    assert not reason.str.contains("was not trained").any()  # levels unknown: no gap check
    answered = pred.filter(pl.col("out_of_domain") & pl.col("soh_percent").is_not_null())
    assert answered.height
    assert answered.get_column("reason").str.contains("transfer error").all()
