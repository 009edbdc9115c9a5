"""Choice among the reference-unit estimators (one-standard-error rule)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from echelon.estimation.calibration import calibrate_batch, choose

Array = npt.NDArray[np.float64]


def _batch(seed: int) -> tuple[Array, Array, npt.NDArray[np.str_], Array]:
    """Ten reference cells, two tests each: the trained model reads 4 points high with a
    2-point spread per cell; six features carry nothing."""
    rng = np.random.default_rng(seed)
    cells = np.repeat(np.array([f"c{i}" for i in range(10)]), 2)
    truth = rng.uniform(70, 95, 10).repeat(2)
    source = truth + rng.normal(0, 2, 10).repeat(2) - 4 + rng.normal(0, 0.5, 20)
    return rng.normal(size=(20, 6)), truth, cells, source


def test_a_flexible_candidate_only_slightly_better_by_chance_is_not_kept() -> None:
    x, y, cells, source = _batch(9)  # a draw where the line beats the offset by 0.02 points
    fitted, maes = choose(x, y, cells, source)
    assert maes["source+linear"] < maes["source+offset"]
    assert fitted.kind == "source+offset"
    assert abs(fitted.offset - float(np.mean(y - source))) < 1e-12


def test_the_simple_correction_is_kept_on_most_draws() -> None:
    kinds = [choose(*_batch(seed))[0].kind for seed in range(30)]
    assert kinds.count("source+offset") >= 24
    assert "references" not in kinds


def test_a_clearly_better_flexible_candidate_is_kept() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    y = 85 + 5 * x[:, 0] - 3 * x[:, 1] + rng.normal(0, 0.3, 40)
    cells = np.repeat(np.array([f"c{i}" for i in range(20)]), 2)
    source = rng.uniform(70, 95, 40)  # a trained model with no skill on this batch
    fitted, maes = choose(x, y, cells, source)
    assert fitted.kind == "references"
    assert maes["references"] < 1.0 < maes["source+offset"]


def test_a_ridge_on_the_references_never_answers_outside_their_soh_range() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 3))
    y = 85 + 4 * x[:, 0] + rng.normal(0, 0.3, 20)
    cells = np.array([f"c{i}" for i in range(20)])
    cal = calibrate_batch(x, y, cells, None, batch="new", coverage=0.9)
    assert cal.kind == "references"
    assert cal.fitted.bounds == (float(y.min()), float(y.max()))
    unlike = np.array([[-40.0, 0.0, 0.0], [0.0, 0.0, 0.0], [float(x[:, 0].max()) + 0.05, 0.0, 0.0]])
    raw = cal.fitted.predict(unlike, None)
    assert raw[0] < 0  # what the ridge would say: a negative SOH
    point = cal.predict(unlike, None)
    assert np.all((point >= y.min()) & (point <= y.max()))
    half = cal.half_width(0.9)
    refused = cal.extrapolations(unlike, None, half)
    assert list(refused) == [0]  # the middle unit is inside; the third only just beyond
    assert "extrapolates" in refused[0]
    # the margin: the interval, or how far a left-out reference lay beyond the others (here more)
    ordered = np.sort(y)
    reach = max(ordered[1] - ordered[0], ordered[-1] - ordered[-2])
    assert cal.reach_points == pytest.approx(reach)
    assert f"by more than {max(half, reach):.1f} points" in refused[0]


def test_drawing_more_references_than_a_group_has_is_an_error_not_a_crash() -> None:
    import polars as pl
    import pytest

    from echelon.errors import EstimationError
    from echelon.estimation.validation import _draw_references

    rows = pl.DataFrame({"group": ["a"] * 12 + ["b"] * 5, "rank": list(range(12)) + list(range(5))})
    rng = np.random.default_rng(0)
    drawn = _draw_references(rows.filter(pl.col("group") == "a"), 10, rng)
    assert drawn.height == 10
    assert drawn["rank"].is_unique().all()
    with pytest.raises(EstimationError, match="group b has 5 rows outside the fold"):
        _draw_references(rows, 10, rng)
    with pytest.raises(EstimationError, match="use 2 or more folds"):
        _draw_references(rows.clear(), 10, rng)
    assert _draw_references(rows, 0, rng).is_empty()
