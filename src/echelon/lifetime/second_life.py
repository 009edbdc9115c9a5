"""Second-life forecasts from one state-of-health measurement, for the duty a unit will serve.

A retired unit has one SOH (with its interval), a chemistry, often an age and an origin, rarely a
throughput. The forecaster (Monte Carlo, vectorised over units × samples):

1. samples the unit's first-life state — its *ageing speed* ``a`` (the factor on time and
   throughput relative to the chemistry model's cell), age and throughput — from their posterior
   given the measured SOH (:mod:`echelon.lifetime.posterior`: priors by origin from the
   ``lifetime_forecasting`` table, a known age or throughput used as given); the first-life
   calendar and cycle losses become the initial states (models fitted on second-life cells, basis
   ``second_life_start``, draw ``a`` from its log-normal prior and start from the SOH draw);
2. perturbs ``a`` for the change of duty (``transfer_log_sd``) and continues the states under the
   new duty (:mod:`echelon.lifetime.simulator`) until the SOH reaches the application's threshold.

The spread of the resulting years is the forecast interval. A series pack reaches its threshold with
its weakest block: :func:`pack_life_years` combines block samples by their minimum.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.catalog import chemistry, load_table
from echelon.errors import EstimationError
from echelon.lifetime.duty import DayStressors, Duty
from echelon.lifetime.inputs import resolve_target, threshold_problem, unit_problem
from echelon.lifetime.params import (
    AgeingModel,
    first_life_prior,
    model_for,
    model_table,
    origin_key,
    settings,
)
from echelon.lifetime.posterior import SPEED_RANGE, FirstLifeState, first_life_state
from echelon.lifetime.simulator import (
    DAYS_PER_YEAR,
    aggregate,
    day_rates,
    simulate,
    years_to_loss,
)

Array = npt.NDArray[np.float64]
QUANTILES = (0.05, 0.5, 0.95)
"""Lower bound, median and upper bound of every interval (90 % central interval)."""
Z90 = 1.6448536269514722


@dataclass(frozen=True)
class UnitInputs:
    """Per-unit inputs of a group of units that share a model and a duty (arrays of length n).

    Attributes
    ----------
    soh_percent, soh_sd_percent : array
        Measured SOH [%] and its standard uncertainty [%].
    age_years : array
        Calendar age at the start of the second life [years]; ``nan`` = unknown (prior used).
    efc_first_life : array
        Equivalent full cycles of the first life; ``nan`` = unknown (prior used).
    origin : list of str or None
        First-life origin application (selects the prior).
    keys : list of str, optional
        A name per unit (its battery id) that seeds the unit's own random stream, so its samples
        do not depend on the other units of the call or its position among them (default: the
        position).
    """

    soh_percent: Array
    soh_sd_percent: Array
    age_years: Array
    efc_first_life: Array
    origin: list[str | None]
    keys: list[str] | None = None

    @property
    def n(self) -> int:
        """Number of units."""
        return int(self.soh_percent.shape[0])

    def take(self, rows: npt.NDArray[np.intp] | list[int]) -> UnitInputs:
        """The units at ``rows`` (keys default to their positions in ``self``)."""
        idx = np.asarray(rows, dtype=np.intp)
        keys = self.keys or [f"#{i}" for i in range(self.n)]
        return UnitInputs(
            soh_percent=self.soh_percent[idx],
            soh_sd_percent=self.soh_sd_percent[idx],
            age_years=self.age_years[idx],
            efc_first_life=self.efc_first_life[idx],
            origin=[self.origin[i] for i in idx],
            keys=[keys[i] for i in idx],
        )


@dataclass(frozen=True)
class LifeSamples:
    """Monte-Carlo samples of the years to the threshold, per unit.

    Attributes
    ----------
    years : array (n, samples)
        Years until the SOH first reaches the threshold (``inf`` beyond the horizon).
    eol_soh_percent : float
    horizon_years : float
    path_years : array (records,) or None
        When paths were requested: the times of ``soh_paths`` [years].
    soh_paths : array (n, samples, records) or None
        SOH [%] of every sample over ``path_years`` (floored at 0 %; it starts at the sample's true
        SOH, which may exceed 100 % for a unit measured above its rating).
    notes : list of list of str
        Notes of each unit (its own samples only).
    """

    years: Array
    eol_soh_percent: float
    horizon_years: float
    path_years: Array | None = None
    soh_paths: Array | None = None
    notes: list[list[str]] = field(default_factory=list)


def quantiles(samples: Array, qs: tuple[float, ...] = QUANTILES) -> Array:
    """Order-statistic quantiles along the last axis (robust to ``inf`` samples)."""
    ordered = np.sort(samples, axis=-1)
    n = ordered.shape[-1]
    idx = np.clip(np.round(np.asarray(qs) * (n - 1)).astype(int), 0, n - 1)
    return np.asarray(ordered[..., idx], dtype=np.float64)


def soh_sd(soh: Array, lower: Array, *, catalog_dir: Path | None) -> Array:
    doc = load_table("soh_capacity_test", catalog_dir=catalog_dir)
    rel = float(doc["relative_uncertainty"]["value"])
    default = soh * rel / Z90
    given = (soh - lower) / Z90
    return np.where(np.isfinite(given) & (given > 0), given, default)


def _first_life_rates(
    model: AgeingModel, origin: str | None, *, catalog_dir: Path | None
) -> tuple[float, float, dict[str, Any]]:
    prior = first_life_prior(origin, catalog_dir=catalog_dir)
    summary = Duty.from_summary(
        efc_per_year=float(prior["efc_per_year_median"]),
        mean_soc=float(prior["mean_soc"]),
        dod=float(prior["dod"]),
        temperature_celsius=float(prior["temperature_celsius"]),
    )
    rates = day_rates(model, summary.stressors(), model_table(catalog_dir).anode_potential)
    k_cyc = float(rates.k_cyc_base[0] + rates.k_cyc_dod[0] * rates.dod[0])
    return float(rates.k_cal[0]), k_cyc, prior


SOH_DRAW_PERCENT = (1.0, 100.0)
"""Range of the SOH draws [%]: a draw above nominal would be a negative fade."""


def unit_rng(key: str, seed: int, stream: int = 0) -> np.random.Generator:
    """The random generator of one unit: seeded by ``seed``, its key (BLAKE2b of the key) and a
    stream number, so the same unit gets the same draws in any batch."""
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, digest, stream])


def unit_normals(keys: list[str], samples: int, seed: int, rows: int = 4) -> Array:
    """Standard normal draws ``(units, rows, samples)``, each unit's from its own stream
    (:func:`unit_rng`)."""
    out = np.empty((len(keys), rows, samples))
    for i, key in enumerate(keys):
        out[i] = unit_rng(key, seed).standard_normal((rows, samples))
    return out


def _lognormal(z: Array, median: float, gsd: float) -> Array:
    return np.asarray(median * np.exp(z * np.log(gsd)), dtype=np.float64)


def _at_times(time: Array, values: Array, grid: Array) -> Array:
    """``values`` (last axis along ``time``) linearly interpolated at ``grid`` (within ``time``)."""
    j = np.clip(np.searchsorted(time, grid, side="right") - 1, 0, time.size - 2)
    w = (grid - time[j]) / (time[j + 1] - time[j])
    return np.asarray(values[..., j] * (1 - w) + values[..., j + 1] * w, dtype=np.float64)


def _first_life(
    inputs: UnitInputs,
    model: AgeingModel,
    z: Array,
    samples: int,
    *,
    seed: int,
    catalog_dir: Path | None,
) -> FirstLifeState:
    """Posterior first-life state of each unit (:mod:`echelon.lifetime.posterior`).

    ``z`` holds the unit's standard normals ``(n, 7, candidates)``: rows 0 SOH, 2 age, 3
    throughput rate, 4 speed, 5 start capacity, 6 (first column) the resampling offset; the
    chi-square draws of the speed prior's upper tail come from stream 1 of each unit's
    :func:`unit_rng` with ``seed``. ``inputs.keys`` must be set.
    """
    cfg = settings(catalog_dir).single_soh
    n, m = inputs.n, z.shape[2]
    dof = float(cfg["speed_prior_upper_dof"])
    k_cal1 = np.empty(n)
    k_cyc1 = np.empty(n)
    age = np.empty((n, m))
    efc = np.empty((n, m))
    for origin in sorted(set(inputs.origin), key=str):
        rows = np.array([o == origin for o in inputs.origin])
        kc, ky, prior = _first_life_rates(model, origin, catalog_dir=catalog_dir)
        k_cal1[rows], k_cyc1[rows] = kc, ky
        drawn_age = _lognormal(z[rows, 2], prior["age_years_median"], prior["age_years_gsd"])
        known_age = inputs.age_years[rows][:, None]
        age[rows] = np.where(np.isfinite(known_age), known_age, drawn_age)
        rate = _lognormal(z[rows, 3], prior["efc_per_year_median"], prior["efc_per_year_gsd"])
        known_efc = inputs.efc_first_life[rows][:, None]
        efc[rows] = np.where(np.isfinite(known_efc), known_efc, rate * age[rows])
    start = cfg["start_capacity"]
    return first_life_state(
        inputs.soh_percent / 100.0,
        inputs.soh_sd_percent / 100.0,
        model=model,
        k_cal=k_cal1,
        k_cyc=k_cyc1,
        days=np.maximum(age, 1e-3) * DAYS_PER_YEAR,
        throughput=efc * model.cycle.throughput_per_efc,
        start_capacity=(float(start["mean"]), float(start["sd"])),
        z_speed=z[:, 4],
        z_soh=z[:, 0],
        z_start=z[:, 5],
        u=np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in z[:, 6, 0]]) % 1.0,
        speed_log_sd=float(cfg["acceleration_log_sd"]),
        samples=samples,
        upper_tail_dof=dof,
        chi2=np.stack([unit_rng(k, seed, 1).chisquare(dof, m) for k in inputs.keys or []]),
    )


def _first_life_with_retry(
    inputs: UnitInputs, model: AgeingModel, z: Array, samples: int, *, seed: int,
    catalog_dir: Path | None,
) -> tuple[FirstLifeState, list[list[str]]]:  # fmt: skip
    """:func:`_first_life`, again with ``posterior_retry_factor`` × the candidates (fresh draws
    from each unit's stream) for units whose effective sample size is under
    ``min_effective_share`` of the samples; notes for units the model cannot explain (misfit
    over ``max_misfit_sd``, or samples crowding at a speed limit) and for units still under
    ``min_effective_samples``."""
    cfg = settings(catalog_dir).single_soh
    state = _first_life(inputs, model, z, samples, seed=seed, catalog_dir=catalog_dir)
    low = np.nonzero(state.effective_samples < float(cfg["min_effective_share"]) * samples)[0]
    if low.size:
        sub = inputs.take(low)
        more = z.shape[2] * int(cfg["posterior_retry_factor"])
        z_more = unit_normals(sub.keys or [], more, seed + 1, rows=7)
        again = _first_life(sub, model, z_more, samples, seed=seed + 1, catalog_dir=catalog_dir)
        for name in ("speed", "soh", "loss_cal", "loss_cyc", "effective_samples", "misfit_sd"):
            getattr(state, name)[low] = getattr(again, name)
    lo, hi = SPEED_RANGE
    at_limit = np.mean((state.speed < 1.5 * lo) | (state.speed > hi / 1.5), axis=1)
    notes: list[list[str]] = [[] for _ in range(inputs.n)]
    misfit = state.misfit_sd
    for i in np.nonzero((misfit > float(cfg["max_misfit_sd"])) | (at_limit > 0.2))[0]:
        notes[i].append(
            f"SOH {inputs.soh_percent[i]:.1f} % is not explained by the {model.key} model with "
            f"the age/throughput prior of its origin and an ageing speed within {lo:g}–{hi:g}× "
            f"the model's cell ({misfit[i]:.1f} standard deviations from the nearest fade it "
            f"produces; {at_limit[i]:.0%} of samples at a speed limit): check age, origin and "
            "chemistry"
        )
    for i in np.nonzero(state.effective_samples < float(cfg["min_effective_samples"]))[0]:
        notes[i].append(
            f"the first-life state rests on {state.effective_samples[i]:.0f} effective samples: "
            "the interval is rough"
        )
    return state, notes


def _start_key(inputs: UnitInputs, model: AgeingModel, samples: int, seed: int) -> str:
    """A digest of everything the start state of :func:`_start` depends on."""
    h = hashlib.blake2b(digest_size=16)
    for arr in (inputs.soh_percent, inputs.soh_sd_percent, inputs.age_years, inputs.efc_first_life):
        h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    h.update(repr((inputs.origin, inputs.keys, model.key, samples, seed)).encode())
    return h.hexdigest()


def _start(
    inputs: UnitInputs, model: AgeingModel, samples: int, *, seed: int, catalog_dir: Path | None
) -> tuple[Array, Array, Array, Array, Array, list[list[str]]]:
    """The units' draws ``z`` and start state (SOH, ageing speed, calendar and cycle losses
    [fractions], notes) at the start of the second life: drawn around the measured SOH for a
    model fitted on second-life cells, else the first-life posterior."""
    cfg = settings(catalog_dir).single_soh
    shape = (inputs.n, samples)
    if model.basis == "second_life_start":
        z = unit_normals(inputs.keys or [], samples, seed, rows=3)
        soh = np.clip(
            inputs.soh_percent[:, None] + inputs.soh_sd_percent[:, None] * z[:, 0],
            *SOH_DRAW_PERCENT,
        ) / 100.0  # fmt: skip
        speed = np.exp(float(cfg["acceleration_log_sd"]) * z[:, 2])
        notes: list[list[str]] = [[] for _ in range(inputs.n)]
        return z, soh, speed, np.zeros(shape), np.zeros(shape), notes
    z = unit_normals(inputs.keys or [], samples * int(cfg["posterior_candidates"]), seed, rows=7)
    state, notes = _first_life_with_retry(
        inputs, model, z, samples, seed=seed, catalog_dir=catalog_dir
    )
    return z, state.soh, state.speed, state.loss_cal, state.loss_cyc, notes


def life_samples(
    inputs: UnitInputs,
    model: AgeingModel,
    target: Duty,
    *,
    eol_soh_percent: float,
    n_samples: int | None = None,
    horizon_years: float | None = None,
    band_years: float | None = None,
    seed: int | None = None,
    catalog_dir: Path | None = None,
    memo: dict[str, tuple[Any, ...]] | None = None,
) -> LifeSamples:
    """Years to ``eol_soh_percent`` for units sharing ``model`` and duty ``target``.

    Parameters
    ----------
    inputs : UnitInputs
        The units' measured SOH and history.
    model : AgeingModel
        Chemistry family model.
    target : Duty
        The second-life duty.
    eol_soh_percent : float
        Application threshold [% of nominal].
    n_samples, horizon_years, seed : optional
        Monte-Carlo size, simulation horizon [years] and seed (catalogue defaults).
    band_years : float, optional
        Also return every sample's SOH path over this many years (monthly).
    memo : dict, optional
        Start states (draws and first-life state) already computed, by their inputs: calls for
        the same units under several duties share them (the start does not depend on the duty;
        the results are those of separate calls).

    Returns
    -------
    LifeSamples
    """
    cfg = settings(catalog_dir).single_soh
    s = int(n_samples or cfg["n_samples"])
    horizon = float(horizon_years or cfg["horizon_years"])
    n = inputs.n
    shape = (n, s)
    keys = inputs.keys or [f"#{i}" for i in range(n)]
    inputs = replace(inputs, keys=keys)
    seed_ = int(cfg["seed"] if seed is None else seed)
    fingerprint = _start_key(inputs, model, s, seed_)
    if memo is not None and fingerprint in memo:
        z, soh, speed, loss_cal0, loss_cyc0, notes = memo[fingerprint]
    else:
        z, soh, speed, loss_cal0, loss_cyc0, notes = _start(
            inputs, model, s, seed=seed_, catalog_dir=catalog_dir
        )
        if memo is not None:
            memo[fingerprint] = (z, soh, speed, loss_cal0, loss_cyc0, notes)
    notes = [list(x) for x in notes]
    if model.basis == "second_life_start":
        max_loss = 1.0 - (eol_soh_percent / 100.0) / soh
    else:
        max_loss = loss_cal0 + loss_cyc0 + (soh - eol_soh_percent / 100.0)
    transfer = np.exp(float(cfg["transfer_log_sd"]) * z[:, 1, :s])
    anode = model_table(catalog_dir).anode_potential
    rates = aggregate(
        day_rates(model, target.stressors(), anode),
        int(settings(catalog_dir).single_soh["step_days"]),
    )
    speed2 = speed * transfer
    years = years_to_loss(
        rates,
        model,
        max_loss=max_loss.ravel(),
        horizon_years=horizon,
        acceleration=speed2.ravel(),
        loss_cal0=loss_cal0.ravel(),
        loss_cyc0=loss_cyc0.ravel(),
    ).reshape(shape)
    years = np.where(np.isnan(years), np.inf, years)
    if band_years is None:
        return LifeSamples(years, eol_soh_percent, horizon, notes=notes)
    traj = simulate(
        rates,
        model,
        years=band_years,
        acceleration=speed2.ravel(),
        loss_cal0=loss_cal0.ravel(),
        loss_cyc0=loss_cyc0.ravel(),
    )
    loss = (traj.loss_cal + traj.loss_cyc).reshape(n, s, -1)
    if model.basis == "second_life_start":
        paths = soh[:, :, None] * (1.0 - loss)
    else:
        paths = soh[:, :, None] - (loss - loss[:, :, :1])
    # the simulation runs whole steps: end the record at band_years exactly
    grid = np.append(traj.time_years[traj.time_years < band_years], band_years)
    paths = _at_times(traj.time_years, np.maximum(paths, 0.0), grid)
    return LifeSamples(years, eol_soh_percent, horizon, grid, paths * 100.0, notes)


def duty_shortfall_note(
    target: Duty,
    model: AgeingModel,
    *,
    soh_percent: float,
    eol_soh_percent: float,
    stress: DayStressors | None = None,
) -> str | None:
    """Whether the unit stops delivering the duty's energy before its end of life, or ``None``.

    The duty's daily depth of discharge is a share of the capacity the model's fade is counted
    on (nominal; for a second-life model, the capacity at the start of the second life). With
    conserved throughput a faded unit swings deeper; once the day's swing exceeds its capacity
    it can only deliver part of that day's energy, and the undelivered part does not age it
    (:func:`echelon.lifetime.simulator._coupling`). The forecast's *life* still ends at the
    application's SOH threshold (the choice documented in docs/lifetime.md), so a deeper duty
    can show a longer life; this note says when that happens and how much energy the unit
    still delivers at its end of life.
    """
    stress = target.stressors() if stress is None else stress  # a batch passes it once
    dod = np.asarray(stress.dod, dtype=np.float64).ravel()
    efc = np.asarray(stress.efc, dtype=np.float64).ravel()
    scale = soh_percent / 100.0 if model.basis == "second_life_start" else 1.0
    end = eol_soh_percent / 100.0 / scale  # capacity at the end of life on the model's basis
    deepest = float(dod.max()) if dod.size else 0.0
    if deepest <= end or not efc.sum() > 0:
        return None
    share = float((efc * np.minimum(1.0, end / np.maximum(dod, 1e-12))).sum() / efc.sum())
    below = deepest * scale * 100.0  # the SOH under which the deepest day is not met
    when = (
        "from the start"
        if below >= soh_percent
        else f"once its SOH falls below {below:.0f} % (before its {eol_soh_percent:g} % threshold)"
    )
    basis = (
        "of its capacity at the start of its second life"
        if model.basis == "second_life_start"
        else "of nominal capacity"
    )
    return (
        f"duty not fully met: its deepest daily swing ({deepest * 100:.0f} % {basis}) exceeds "
        f"the unit's capacity {when}; at its end of life it delivers {share * 100:.1f} % of the "
        "duty's yearly energy, and the years are for that reduced duty (energy not delivered "
        "does not age the unit)"
    )


def validity_note(model: AgeingModel, target: Duty) -> str | None:
    """A note when the duty's mean temperature is outside the model's tested range."""
    stats = target.stats()
    t = stats["mean_temperature_celsius"]
    lo, hi = model.validity_temperature_celsius
    if not lo <= t <= hi:
        return (
            f"duty mean temperature {t:.0f} °C is outside the {model.key} model's tested "
            f"{lo:.0f}–{hi:.0f} °C (extrapolation)"
        )
    return None


# --------------------------------------------------------------------------------------------------
# Vectorised contract for the router


LIFE_COLUMNS = {
    "battery_id": pl.String(),
    "years_to_eol": pl.Float64(),
    "years_to_eol_lower": pl.Float64(),
    "years_to_eol_upper": pl.Float64(),
    "eol_soh_percent": pl.Float64(),
    "knee_risk": pl.String(),
    "lifetime_note": pl.String(),
}


def _column_or(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Series:
    if name in frame.columns:
        return frame.get_column(name).cast(dtype, strict=False)
    return pl.Series(name, [None] * frame.height, dtype=dtype)


def _age_years(frame: pl.DataFrame, as_of: dt.date | None) -> Array:
    age = _column_or(frame, "age_years", pl.Float64()).to_numpy().astype(np.float64)
    if "manufacture_date" in frame.columns:
        ref = as_of or dt.date.today()
        made = frame.get_column("manufacture_date").cast(pl.String).str.to_date(strict=False)
        from_date = ((pl.lit(ref) - made).dt.total_days() / DAYS_PER_YEAR).alias("a")
        derived = frame.select(from_date.fill_null(float("nan"))).to_series().to_numpy()
        age = np.where(np.isfinite(age), age, derived.astype(np.float64))
    return np.asarray(age, dtype=np.float64)


def _knee_risk(soh_percent: float, family: str, *, catalog_dir: Path | None) -> str:
    onset = settings(catalog_dir).knee.get("soh_onset_percent", {}).get(family)
    if onset is None or not np.isfinite(soh_percent):
        return "unknown"
    return "elevated" if soh_percent < float(onset) else "low"


def expected_life_years(
    units: pl.DataFrame,
    *,
    application: str | Duty | None = None,
    n_samples: int | None = None,
    horizon_years: float | None = None,
    as_of: dt.date | None = None,
    catalog_dir: Path | None = None,
) -> pl.DataFrame:
    """Expected second-life years of many units to their application's end-of-life SOH.

    Parameters
    ----------
    units : pl.DataFrame
        One row per unit: ``battery_id``, ``chemistry``, ``soh_percent``; optional
        ``soh_lower_percent`` (lower bound of the SOH's 90 % interval; default: capacity-test
        uncertainty), ``application`` (canonical id per row), ``age_years`` or ``manufacture_date``,
        ``origin_application``, ``efc_first_life``.
    application : str or Duty, optional
        Application for every unit (``ess``, ``ups``, ``telecom``, ``fcr``, ``ebike``, ``auto12v``,
        ``lsv``, ``ev_reman``; route-table names accepted), or a user duty
        (:meth:`Duty.from_summary`, :meth:`Duty.from_timeseries`, :meth:`Duty.with_temperature`)
        with its ``eol_soh_percent``; overrides the ``application`` column.
    n_samples : int, optional
        Monte-Carlo samples per unit (catalogue default 256).
    horizon_years : float, optional
        Simulation horizon [years] (catalogue default); longer lives are capped at it (noted).
        A caller that only needs lives up to some cap can pass a short horizon: the cost of a
        forecast is proportional to it.
    as_of : date, optional
        Date for ages from ``manufacture_date`` (default: today).

    Returns
    -------
    pl.DataFrame
        ``battery_id``, ``years_to_eol`` (median), ``years_to_eol_lower`` / ``_upper`` (5 % / 95 %),
        ``eol_soh_percent``, ``knee_risk`` (``low``/``elevated``/``unknown``) and ``lifetime_note``
        (why a value is missing or capped). Units without a usable chemistry, SOH or application,
        or with an invalid input (an SOH that is not finite, implausible — a fraction — or above
        110 %, a negative age or a manufacture date after ``as_of``, an unknown origin spelling)
        get null years and the reason; years beyond the horizon are capped at it (noted). A
        unit's samples and notes do not depend on the other units of the call (each unit has its
        own random stream, seeded from its ``battery_id``).

    Raises
    ------
    EstimationError
        Neither ``application`` nor an ``application`` column given, or missing required columns.
    """
    missing = [c for c in ("battery_id", "chemistry", "soh_percent") if c not in units.columns]
    if missing:
        raise EstimationError(
            f"expected_life_years: units frame lacks {', '.join(missing)} (needs battery_id, "
            "chemistry, soh_percent)"
        )
    if application is None and "application" not in units.columns:
        raise EstimationError(
            "expected_life_years: give application= or an 'application' column (ess, ups, "
            "telecom, fcr, ebike, auto12v, lsv, ev_reman)"
        )
    n = units.height
    soh = _column_or(units, "soh_percent", pl.Float64()).to_numpy().astype(np.float64)
    lower = _column_or(units, "soh_lower_percent", pl.Float64()).to_numpy().astype(np.float64)
    apps: list[Any] = (
        [application] * n
        if application is not None
        else _column_or(units, "application", pl.String()).to_list()
    )
    chems = _column_or(units, "chemistry", pl.String()).to_list()
    ids = units.get_column("battery_id").cast(pl.String).to_list()
    inputs_all = UnitInputs(
        soh_percent=soh,
        soh_sd_percent=soh_sd(soh, lower, catalog_dir=catalog_dir),
        age_years=_age_years(units, as_of),
        efc_first_life=_column_or(units, "efc_first_life", pl.Float64()).to_numpy().astype(float),
        origin=_column_or(units, "origin_application", pl.String()).to_list(),
        keys=[str(k) for k in ids],
    )
    out: dict[str, list[Any]] = {k: [None] * n for k in LIFE_COLUMNS if k != "battery_id"}
    groups: dict[tuple[str, str, float], list[int]] = {}
    targets: dict[str, Duty] = {}
    families: list[str] = [""] * n
    for i in range(n):
        try:
            if apps[i] is None:
                raise EstimationError("no application given")
            key_app, target = resolve_target(apps[i], catalog_dir=catalog_dir)
            if chems[i] is None:
                raise EstimationError("no chemistry given")
            model, proxy = model_for(str(chems[i]), catalog_dir=catalog_dir)
            if not np.isfinite(soh[i]):
                raise EstimationError("no SOH measurement")
            why = unit_problem(soh[i], inputs_all.age_years[i], catalog_dir=catalog_dir)
            if why is not None:
                raise EstimationError(why)
            origin_key(inputs_all.origin[i])
            families[i] = family_of(str(chems[i]), catalog_dir=catalog_dir)
            why = threshold_problem(target, families[i])
            if why is not None:
                raise EstimationError(why)
        except EstimationError as exc:
            out["lifetime_note"][i] = str(exc)
            continue
        eol = target.eol_for_family(families[i])
        assert eol is not None
        targets[key_app] = target
        groups.setdefault((model.key, key_app, eol), []).append(i)
        out["lifetime_note"][i] = proxy
    table = model_table(catalog_dir)
    memo: dict[str, tuple[Any, ...]] = {}  # the same units under several applications
    for (model_key, key_app, eol), rows in groups.items():
        model = table.models[model_key]
        target = targets[key_app]
        sub = inputs_all.take(rows)
        result = life_samples(
            sub,
            model,
            target,
            eol_soh_percent=eol,
            n_samples=n_samples,
            horizon_years=horizon_years,
            catalog_dir=catalog_dir,
            memo=memo,
        )
        q = quantiles(result.years)
        validity = validity_note(model, target)
        stress = target.stressors()
        for j, i in enumerate(rows):
            shortfall = duty_shortfall_note(
                target, model, soh_percent=float(soh[i]), eol_soh_percent=eol, stress=stress
            )
            notes = [x for x in (out["lifetime_note"][i], validity, *result.notes[j], shortfall)
                     if x]  # fmt: skip
            if soh[i] <= eol:
                notes.append(f"SOH {soh[i]:.1f} % is already at or below the {eol:g} % threshold")
            capped = np.isinf(q[j])
            if capped.any():
                notes.append(f"beyond the {result.horizon_years:g}-year horizon: capped")
            qj = np.where(capped, result.horizon_years, q[j])
            out["years_to_eol_lower"][i] = float(qj[0])
            out["years_to_eol"][i] = float(qj[1])
            out["years_to_eol_upper"][i] = float(qj[2])
            out["eol_soh_percent"][i] = float(eol)
            out["knee_risk"][i] = _knee_risk(float(soh[i]), families[i], catalog_dir=catalog_dir)
            out["lifetime_note"][i] = "; ".join(notes) or None
    return pl.DataFrame(
        {"battery_id": units.get_column("battery_id").cast(pl.String), **out},
        schema=LIFE_COLUMNS,
    )


def family_of(chem: str, *, catalog_dir: Path | None = None) -> str:
    """Chemistry family of a spelling (the spelling itself when not a catalogue chemistry)."""
    try:
        return chemistry(chem, catalog_dir=catalog_dir).family
    except ValueError:
        return chem


def pack_life_years(block_years: Array, *, catalog_dir: Path | None = None) -> Array:
    """Years to threshold of a series pack from its blocks' samples (weakest block wins).

    Parameters
    ----------
    block_years : array (blocks, samples)
        Independent Monte-Carlo samples of each block's years to the threshold.

    Returns
    -------
    array (samples,)
        The pack's samples: minimum over blocks × the catalogue ``pack.life_factor``.
    """
    factor = float(settings(catalog_dir).pack["life_factor"])
    return np.asarray(np.min(np.atleast_2d(block_years), axis=0) * factor, dtype=np.float64)
