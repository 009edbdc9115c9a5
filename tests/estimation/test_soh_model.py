"""SOH models: fit, predict with intervals, domain checks, references, save/load, bad input.

Synthetic rows (tests/estimation/synthetic_pulse.py) only exercise the machinery; accuracy on
measured data is tested in test_soh_real.py and reported in docs/validation.md.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echelon.errors import EstimationError, SchemaError
from echelon.estimation.conformal import conformal_quantile, group_folds, min_calibration_size
from echelon.estimation.evaluate import cross_validate
from echelon.estimation.model import PREDICTION_COLUMNS, SohModel, fit_soh_model
from tests.estimation.synthetic_pulse import pulse_samples


@pytest.fixture(scope="module")
def training() -> pl.DataFrame:
    nmc = pulse_samples(36, seed=0, prefix="N")
    small = pulse_samples(24, seed=3, nominal_capacity_ah=2.0, prefix="S", r_ohm_ah=0.05)
    lfp = pulse_samples(30, chemistry_name="LFP", nominal_capacity_ah=50.0, seed=1, prefix="L")
    return pl.concat([nmc, small, lfp])


@pytest.fixture(scope="module")
def model(training: pl.DataFrame) -> SohModel:
    return fit_soh_model(training, method="pulse", name="test-pulse")


def _mape(pred: pl.DataFrame, truth: pl.DataFrame) -> float:
    est = pred.get_column("soh_percent").to_numpy()
    y = truth.get_column("soh_percent").to_numpy()
    return float(np.nanmean(np.abs(est - y) / y) * 100)


def test_predicts_unseen_cells_with_intervals(model: SohModel) -> None:
    unseen = pulse_samples(12, seed=7, prefix="U")
    pred = model.predict(unseen, coverage=0.9)
    assert pred.columns == list(PREDICTION_COLUMNS)
    assert pred.height == unseen.height
    assert pred.get_column("sample_id").to_list() == unseen.get_column("sample_id").to_list()
    # a noiseless 1-RC relation is easy: well under 2 % (measured data: docs/validation.md)
    assert _mape(pred, unseen) < 2.0
    ok = pred.filter(~pl.col("out_of_domain"))
    assert (ok["soh_lower_percent"] <= ok["soh_percent"]).all()
    assert (ok["soh_percent"] <= ok["soh_upper_percent"]).all()
    assert set(pred.get_column("family")) == {"NMC"}


def test_higher_coverage_gives_wider_intervals(model: SohModel) -> None:
    unseen = pulse_samples(5, seed=8, prefix="U")
    w80 = model.predict(unseen, coverage=0.8)
    w95 = model.predict(unseen, coverage=0.95)
    width = pl.col("soh_upper_percent") - pl.col("soh_lower_percent")
    assert (w95.select(width) >= w80.select(width)).to_series().all()


def test_each_format_is_calibrated_on_its_own_residuals(model: SohModel) -> None:
    nmc = model.families["NMC"]
    assert nmc.summary["format_cells"] == {"NMC622-2.0Ah": 24, "NMC622-20.0Ah": 36}
    own = nmc.calibration_set("NMC622-2.0Ah")
    assert len(own) == 24 * 5  # 24 cells × 5 SOC levels
    assert len(nmc.calibration_set("NMC622-7.0Ah")) == len(nmc.residuals)  # unknown: pooled


def test_unknown_family_gets_no_number(model: SohModel) -> None:
    lmo = pulse_samples(2, chemistry_name="LMO", seed=9, prefix="M")
    pred = model.predict(lmo)
    assert pred.get_column("soh_percent").null_count() == lmo.height
    assert pred.get_column("out_of_domain").all()
    assert "no pulse model for chemistry family LMO" in pred.get_column("reason")[0]


def test_out_of_domain_is_widened_or_refused(model: SohModel) -> None:
    # a different cell design: three times the resistance of anything trained on
    odd = pulse_samples(4, seed=10, prefix="X", r_ohm_ah=0.12)
    widened = model.predict(odd, out_of_domain="widen")
    assert widened.get_column("out_of_domain").all()
    assert widened.get_column("reason").str.contains("beyond the training domain").all()
    # far from training at a trained SOC: not explained by the SOC, so the transfer error
    # (echelon.estimation.shift), even though the rows carry a trained batch's name
    assert widened.get_column("reason").str.contains("widened to the transfer error").all()
    width = (widened["soh_upper_percent"] - widened["soh_lower_percent"]).min()
    inside = model.predict(pulse_samples(4, seed=11, prefix="U")).filter(~pl.col("out_of_domain"))
    assert inside.height
    assert width > (inside["soh_upper_percent"] - inside["soh_lower_percent"]).max()
    refused = model.predict(odd, out_of_domain="refuse")
    assert refused.get_column("soh_percent").null_count() == odd.height


def test_a_batch_never_trained_on_is_out_of_domain_by_name(model: SohModel) -> None:
    # the same format and features as trained cells, but declared as another delivery: the
    # features cannot vouch for another make (docs/validation.md#eis, Warwick -> Stanford)
    unseen = pulse_samples(4, seed=15, prefix="U")
    same = model.predict(unseen)
    inside = ~same.get_column("out_of_domain")
    assert inside.sum() >= 15
    other = model.predict(unseen.with_columns(pl.lit("delivery-9").alias("batch")))
    assert other.get_column("out_of_domain").all()
    reason = other.get_column("reason").filter(inside)
    assert reason.str.contains("batch delivery-9 was not in training").all()
    assert reason.str.contains("widened to the transfer error").all()
    assert other["soh_percent"].to_list() == same["soh_percent"].to_list()  # same estimate


def test_an_empty_batch_cell_is_the_default_batch(model: SohModel) -> None:
    # (an EIS file the reader does not recognise has no batch; an empty CSV cell neither)
    unseen = pulse_samples(2, seed=16, prefix="U")
    blank = unseen.with_columns(
        pl.Series("batch", [None, ""] * (unseen.height // 2), dtype=pl.String)
    )
    pred = model.predict(blank)
    assert pred.equals(model.predict(unseen))
    assert not pred["reason"].fill_null("").str.contains("batch None").any()


def test_soc_outside_trained_range_is_flagged(model: SohModel) -> None:
    high = pulse_samples(2, seed=12, socs=(80.0,), prefix="H")
    pred = model.predict(high)
    assert pred.get_column("out_of_domain").all()
    assert pred.get_column("reason").str.contains("SOC 80 % outside the trained 10–50 %").all()


def test_reference_units_calibrate_a_new_batch(model: SohModel) -> None:
    batch = pulse_samples(25, seed=13, prefix="B", r_ohm_ah=0.12).with_columns(
        pl.lit("delivery-7").alias("batch")
    )
    refs, rest = batch.head(12 * 5), batch.tail(13 * 5)  # 12 reference cells, 13 to estimate
    before = model.predict(rest)
    after = model.predict(rest, references=refs)
    assert before.get_column("out_of_domain").all()
    assert not after.get_column("out_of_domain").any()
    assert after.get_column("reason").str.contains("calibrated on 12 reference units").all()
    assert _mape(after, rest) < _mape(before, rest)
    with pytest.raises(EstimationError, match="measure at least 9 units"):
        model.predict(rest, references=batch.head(5 * 5))


def test_save_and_load_round_trip(model: SohModel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    unseen = pulse_samples(3, seed=14, prefix="U")
    path = model.save(tmp_path / "m.soh.npz")
    loaded = SohModel.load(path)
    assert loaded.card["name"] == "test-pulse"
    assert loaded.method.config() == model.method.config()
    assert loaded.predict(unseen).equals(model.predict(unseen))


def test_corrupt_model_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.soh.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(SchemaError, match="not an Echelon SOH model"):
        SohModel.load(bad)


def test_bad_rows_are_all_reported(model: SohModel) -> None:
    rows = pulse_samples(3, seed=15, prefix="U")
    bad = rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise(pl.col("u5_v")).alias("u5_v"),
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.col("u7_v") * 1000)  # mV by mistake
        .otherwise(pl.col("u7_v"))
        .alias("u7_v"),
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("LPF"))
        .otherwise(pl.col("chemistry"))
        .alias("chemistry"),
    )
    with pytest.raises(SchemaError) as info:
        model.predict(bad, source="batch.csv")
    text = str(info.value)
    assert "batch.csv" in text
    assert "row 3, column 'u5_v'" in text
    assert "row 5, column 'u7_v'" in text
    assert "convert mV to V" in text
    assert "did you mean 'LFP'" in text


def test_missing_columns_and_duplicates() -> None:
    rows = pulse_samples(2, seed=16).drop("u9_v")
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['u9_v'\]"):
        fit_soh_model(rows)
    dup = pulse_samples(3, seed=17)
    dup = dup.with_columns(pl.lit("same").alias("sample_id"))
    with pytest.raises(SchemaError, match="is empty or repeated"):
        fit_soh_model(dup)
    with pytest.raises(SchemaError, match="labels are needed"):
        fit_soh_model(pulse_samples(3, seed=18).drop("soh_percent"))


def test_wrong_protocol_is_refused(model: SohModel) -> None:
    rows = pulse_samples(2, seed=19)
    flipped = rows.with_columns(pl.col("u1_v") + 0.2)  # "+ pulse" below the OCV: not PulseBat
    with pytest.raises(SchemaError, match="breaks the pulse protocol"):
        model.predict(flipped)


def test_conformal_quantile_rank() -> None:
    scores = np.arange(1.0, 10.0)  # 9 residuals: the 90 % quantile is the largest
    assert conformal_quantile(scores, 0.9) == 9.0
    assert conformal_quantile(np.arange(1.0, 20.0), 0.9) == 18.0  # ⌈20 × 0.9⌉ = 18th
    assert min_calibration_size(0.9) == 9
    with pytest.raises(EstimationError, match="need at least 9"):
        conformal_quantile(np.arange(8.0), 0.9)


@settings(max_examples=50, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=12), min_size=2, max_size=30),
    k=st.integers(min_value=2, max_value=10),
)
def test_group_folds_partition_rows_without_splitting_a_group(sizes: list[int], k: int) -> None:
    groups = np.repeat([f"g{i}" for i in range(len(sizes))], sizes)
    folds = group_folds(groups, k, seed=1)
    rows = np.concatenate(folds)
    assert sorted(rows.tolist()) == list(range(len(groups)))
    owner = {g: i for i, fold in enumerate(folds) for g in set(groups[fold])}
    assert sum(len(set(groups[f])) for f in folds) == len(owner)  # each group in one fold


def test_cross_validation_scores_every_row_once(training: pl.DataFrame) -> None:
    nmc = training.filter(pl.col("nominal_capacity_ah") == 20.0).head(20 * 5)  # 20 cells
    cells = cross_validate(nmc, split="cells", n_folds=4)
    assert sorted(cells.predictions["sample_id"]) == sorted(nmc["sample_id"])
    soc = cross_validate(nmc, split="soc", n_folds=3)
    assert sorted(soc.predictions["sample_id"]) == sorted(nmc["sample_id"])
    overall = cells.metrics.filter(pl.col("level") == "all").row(0, named=True)
    assert overall["n_samples"] + overall["n_refused"] == nmc.height
    assert 0.0 <= overall["coverage"] <= 1.0
    assert overall["mape_percent"] < 4.0


def test_leave_one_batch_out_with_references(training: pl.DataFrame) -> None:
    result = cross_validate(training, split="chemistry", references=10)
    by_batch = result.metrics.filter(pl.col("level") == "batch")
    # each held-out batch is scored without its 10 reference cells (5 rows each)
    counts = dict(
        zip(by_batch["group"], by_batch["n_samples"] + by_batch["n_refused"], strict=True)
    )
    assert counts == {"NMC622-20.0Ah": 130, "NMC622-2.0Ah": 70, "LFP-50.0Ah": 100}


def test_a_feature_constant_in_training_does_not_blow_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One rated capacity in training: a new rated capacity gives a finite distance, flags the
    row as another format, and an estimate that still depends on the pulses (it used to be
    the family mean for every row, at a distance of ~1e13)."""
    from echelon.estimation.gp import GaussianProcess

    train = pulse_samples(10, nominal_capacity_ah=10.0, seed=3)  # 50 rows of log(10 Ah)
    assert np.log(train["nominal_capacity_ah"].to_numpy()).std() > 0  # round-off, ~4e-16
    model = fit_soh_model(train, method="pulse", seed=0)
    gp = model.families["NMC"].gp
    assert gp is not None
    assert gp.x_scale[-1] == 1.0  # log(nominal capacity): constant in training, unit scale
    new = pulse_samples(4, nominal_capacity_ah=25.0, seed=9)
    pred = model.predict(new)
    distance = pred["domain_distance"].to_numpy()
    assert np.isfinite(distance).all()
    assert distance.max() < 100
    assert pred["out_of_domain"].all()
    assert "not a format the model was trained on" in pred["reason"][0]
    estimates = model.point_estimates(new)  # (a one-batch model refuses such rows)
    assert np.unique(np.round(estimates, 6)).size > 1
    # a model file written before the fix (round-off scale, shifted training column) loads to
    # the same in-domain estimates and a finite distance for the new format
    arrays = gp.to_arrays("")
    column = np.arange(gp.x_scale.size) == gp.x_scale.size - 1
    arrays["x_scale"] = np.where(column, 3.7e-14, gp.x_scale)
    arrays["x_train"] = np.where(column, -1.0, gp.x_train)
    legacy = GaussianProcess.from_arrays(arrays, "")
    x_in = model.method.features(train.head(20))
    np.testing.assert_allclose(legacy.predict(x_in), gp.predict(x_in), rtol=1e-12)
    x_new = model.method.features(new)
    assert np.isfinite(legacy.predict(x_new)).all()
    np.testing.assert_allclose(legacy.predict(x_new), gp.predict(x_new), rtol=1e-9)


def test_an_estimate_beyond_the_trained_soh_range_is_refused(
    model: SohModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clipping an extrapolated estimate to the trained range gives every such cell the range's
    edge (a batch unlike any trained one all at 100.9 %): beyond the range by more than the
    interval, there is no estimate, whatever the out-of-domain policy."""
    from echelon.estimation.gp import GaussianProcess

    low, high = model.families["NMC"].summary["soh_percent_range"]
    rows = pulse_samples(3, seed=11).head(3)  # a trained batch (its format's name)
    fake = {"values": np.zeros(0)}
    monkeypatch.setattr(GaussianProcess, "predict", lambda self, x, **kw: fake["values"])
    for policy in ("widen", "refuse"):
        # separate calls: two extrapolating rows out of three would flag their batch as a whole
        fake["values"] = np.array([high - 1.0])
        inside = model.predict(rows.head(1), out_of_domain=policy)  # type: ignore[arg-type]
        assert inside["soh_percent"][0] == pytest.approx(high - 1.0)
        assert not inside["out_of_domain"][0]
        fake["values"] = np.array([high + 40.0, low - 40.0])
        pred = model.predict(rows.tail(2), out_of_domain=policy)  # type: ignore[arg-type]
        assert pred["soh_percent"].is_null().all()
        assert pred["out_of_domain"].all()
        assert all("the model extrapolates" in r for r in pred["reason"])
        assert not pred["reason"].str.contains("was not in training").any()


def test_an_out_of_domain_estimate_clipped_to_the_trained_edge_is_refused(
    model: SohModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of domain, an estimate past the trained SOH range by less than its interval was
    clipped to the edge (EB-00013: 100.9 %, lower bound 82.6 %, true SOH 60 %): refused now; in
    domain the same value is clipped as before."""
    from echelon.estimation.gp import GaussianProcess

    high = model.families["NMC"].summary["soh_percent_range"][1]
    rows = pulse_samples(3, seed=11).head(1)
    monkeypatch.setattr(GaussianProcess, "predict", lambda self, x, **kw: np.array([high + 0.5]))
    inside = model.predict(rows)
    assert not inside["out_of_domain"][0]
    assert inside["soh_percent"][0] == pytest.approx(high)
    new = rows.with_columns(batch=pl.lit("new-delivery"))
    for policy in ("widen", "refuse"):
        pred = model.predict(new, out_of_domain=policy)  # type: ignore[arg-type]
        assert pred["out_of_domain"][0]
        assert pred["soh_percent"][0] is None
        assert pred["soh_lower_percent"][0] is None
        assert "extrapolates out of its domain" in pred["reason"][0]
    monkeypatch.setattr(GaussianProcess, "predict", lambda self, x, **kw: np.array([high - 1.0]))
    kept = model.predict(new)
    assert kept["soh_percent"][0] == pytest.approx(high - 1.0)


def test_grouped_conformal_quantile_counts_groups_not_scores() -> None:
    """Dunn et al. (2023) pooled CDF: every group weighs the same however many scores it has, and
    the finite-sample rank ⌈(K + 1)c⌉/K counts the K groups."""
    from echelon.estimation.conformal import grouped_conformal_quantile

    # ten groups of one score each: the ordinary rank, ⌈11 · 0.9⌉ = 10th of 10
    one_each = np.arange(1.0, 11.0)
    assert grouped_conformal_quantile(one_each, np.arange(10), 0.9) == 10.0
    assert conformal_quantile(one_each, 0.9) == 10.0
    # one group repeating a small score 100 times does not pull the quantile down
    scores = np.r_[np.full(100, 0.5), np.arange(2.0, 11.0)]
    groups = np.r_[np.zeros(100), np.arange(1, 10)]
    assert grouped_conformal_quantile(scores, groups, 0.9) == 10.0
    assert conformal_quantile(scores, 0.9) < 10.0  # counted one by one, it would
    with pytest.raises(EstimationError, match="cannot give a 90% interval"):
        grouped_conformal_quantile(np.arange(8.0), np.arange(8), 0.9)
