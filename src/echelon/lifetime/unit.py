"""One unit's second-life forecast with its SOH band (``echelon forecast ID``), packs from blocks.

:func:`forecast_unit` takes what the registry knows about a unit (chemistry, latest SOH with its
interval, manufacture date, origin) and, for an assembly, the same for its blocks (modules of a
pack, cells of a module). A series assembly reaches the threshold when its weakest block does, so
each Monte-Carlo sample of the assembly is the minimum over its blocks' samples, for the years and
for the SOH path (times the catalogue ``pack.life_factor``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from echelon.errors import EstimationError
from echelon.lifetime.duty import Duty
from echelon.lifetime.inputs import resolve_target, threshold_problem, unit_problem
from echelon.lifetime.params import model_for, origin_key, settings
from echelon.lifetime.second_life import (
    UnitInputs,
    duty_shortfall_note,
    family_of,
    life_samples,
    quantiles,
    soh_sd,
    validity_note,
)
from echelon.lifetime.simulator import DAYS_PER_YEAR


@dataclass(frozen=True)
class UnitForecast:
    """Forecast of one unit (or assembly) in one application.

    Attributes
    ----------
    battery_id, application : str
    eol_soh_percent : float
        The application's end-of-life threshold [%].
    years_to_eol, years_to_eol_lower, years_to_eol_upper : float
        Median and 90 % interval [years] (capped at the horizon, see ``notes``).
    horizon_years : float
        The simulation horizon the years are capped at [years].
    capped : tuple of bool
        (lower, median, upper): the value is the horizon, read "``horizon_years`` or more" (the
        threshold is not reached within the horizon).
    soh_after_years : tuple of float
        SOH [%] after ``years`` years: (5 %, 50 %, 95 %).
    years : float
        Horizon of the band.
    band : pl.DataFrame
        ``year``, ``soh_lower_percent``, ``soh_percent``, ``soh_upper_percent``.
    blocks : list of str
        Blocks combined (empty for a single unit).
    blocks_excluded : list of str
        Blocks left out for want of an SOH measurement.
    notes : list of str
    """

    battery_id: str
    application: str
    chemistry: str
    soh_percent: float
    eol_soh_percent: float
    years_to_eol: float
    years_to_eol_lower: float
    years_to_eol_upper: float
    soh_after_years: tuple[float, float, float]
    years: float
    band: pl.DataFrame
    blocks: list[str] = field(default_factory=list)
    blocks_excluded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    horizon_years: float = 40.0
    capped: tuple[bool, bool, bool] = (False, False, False)

    @property
    def beyond_horizon(self) -> bool:
        """The median does not reach the threshold within the horizon."""
        return self.capped[1]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (without the band)."""
        return {
            "battery_id": self.battery_id,
            "application": self.application,
            "chemistry": self.chemistry,
            "soh_percent": self.soh_percent,
            "eol_soh_percent": self.eol_soh_percent,
            "years_to_eol": self.years_to_eol,
            "years_to_eol_lower": self.years_to_eol_lower,
            "years_to_eol_upper": self.years_to_eol_upper,
            "interval": "90 % (5th–95th percentile of the Monte-Carlo samples)",
            "horizon_years": self.horizon_years,
            "beyond_horizon": self.beyond_horizon,
            "capped": dict(
                zip(
                    ("years_to_eol_lower", "years_to_eol", "years_to_eol_upper"),
                    self.capped,
                    strict=True,
                )
            ),
            "years": self.years,
            "soh_after_years_percent": list(self.soh_after_years),
            "blocks": self.blocks,
            "blocks_excluded": self.blocks_excluded,
            "notes": self.notes,
        }


def _age(row: Mapping[str, Any], as_of: dt.date) -> float:
    """Age [years] from ``manufacture_date`` or ``age_years`` (``nan`` when unknown).

    Raises
    ------
    EstimationError
        A manufacture date after ``as_of`` (it used to count as age 0).
    """
    made = row.get("manufacture_date")
    if isinstance(made, str) and made:
        try:
            made = dt.date.fromisoformat(made)
        except ValueError:
            raise EstimationError(
                f"{row.get('battery_id')}: manufacture_date {made!r} is not a YYYY-MM-DD date"
            ) from None
    if isinstance(made, dt.date):
        if made > as_of:
            raise EstimationError(
                f"{row.get('battery_id')}: manufacture_date {made} is after the as-of date "
                f"{as_of} (a typo, or give as_of / --date)"
            )
        return (as_of - made).days / DAYS_PER_YEAR
    age = row.get("age_years")
    return float(age) if age is not None else float("nan")


def _members(
    unit: Mapping[str, Any], blocks: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The members forecast (blocks with an SOH, else the unit itself) and the notes on the
    blocks left out or quarantined.

    Raises
    ------
    EstimationError
        Neither a block nor the unit has an SOH.
    """
    measured = [b for b in blocks if b.get("soh_percent") is not None]
    notes = []
    left_out = [str(b.get("battery_id")) for b in blocks if b.get("soh_percent") is None]
    if measured and left_out:
        notes.append(
            f"{len(left_out)} of {len(blocks)} blocks have no SOH measurement and are left out: "
            f"{', '.join(left_out)} — the weakest block may be among them; test them for a "
            "forecast of the whole assembly"
        )
    derived = [f"{b['battery_id']} from {b['soh_from']}" for b in measured if b.get("soh_from")]
    if derived:
        notes.append(
            "blocks without an SOH of their own take their weakest part's: " + ", ".join(derived)
        )
    quarantined = [str(b.get("battery_id")) for b in measured if b.get("status") == "quarantined"]
    if quarantined:
        notes.append(f"quarantined blocks included with their SOH: {', '.join(quarantined)}")
    if blocks and not measured:
        if unit.get("soh_percent") is None:
            raise EstimationError(
                f"{unit['battery_id']}: none of its {len(blocks)} blocks has an SOH measurement "
                f"({', '.join(left_out)}) and it has none of its own; test the blocks first "
                "(echelon intake)"
            )
        notes.append(
            f"none of its {len(blocks)} blocks has an SOH measurement: the assembly's own SOH "
            "is used"
        )
    members = [{**unit, **{k: v for k, v in b.items() if v is not None}} for b in measured]
    if not members and unit.get("soh_percent") is None:
        raise EstimationError(
            f"{unit['battery_id']}: no SOH measurement; take a capacity test in first "
            "(echelon intake) or give soh_percent"
        )
    return members or [dict(unit)], notes


def _number(value: Any) -> float:
    """``value`` as a float, ``nan`` when missing (0 is a value: a unit never cycled)."""
    return float("nan") if value is None else float(value)


def forecast_unit(
    unit: Mapping[str, Any],
    *,
    application: str | Duty,
    years: float | None = None,
    blocks: Sequence[Mapping[str, Any]] = (),
    as_of: dt.date | None = None,
    eol_soh_percent: float | None = None,
    n_samples: int | None = None,
    catalog_dir: Path | None = None,
) -> UnitForecast:
    """Second-life forecast of a unit, or of an assembly from its blocks.

    Parameters
    ----------
    unit : mapping
        ``battery_id``, ``chemistry``, ``soh_percent``; optional ``soh_lower_percent``,
        ``manufacture_date`` (or ``age_years``), ``origin_application`` (any spelling
        :func:`echelon.domain.parse.parse_origin` reads), ``efc_first_life``.
    application : str or Duty
        Canonical application id or alias, or a user duty (:meth:`Duty.from_summary`,
        :meth:`Duty.from_timeseries`, a catalogue duty :meth:`Duty.with_temperature`) with its
        ``eol_soh_percent`` (or pass ``eol_soh_percent=``).
    years : float, optional
        Horizon of the SOH band [years] (default: the 95 % bound of the years, 5–40); the band
        ends at it exactly.
    blocks : sequence of mapping
        Blocks of a series assembly (same keys as ``unit``, optional ``status`` and
        ``soh_from``: the part a block's SOH was taken from, when it has none of its own); the
        blocks with an SOH are combined (weakest block) instead of using the unit's own SOH, and
        the notes name the blocks left out (no SOH), those whose SOH is a part's, and the
        quarantined ones.
    as_of : date, optional
        Date for ages from ``manufacture_date`` (default: today).
    eol_soh_percent : float, optional
        End-of-life threshold [%] instead of the application's (a warranty's 70 %).

    Raises
    ------
    EstimationError
        Unknown chemistry, application or origin; no SOH measurement (neither a block nor the
        unit); an SOH that is not finite, implausible (a fraction: the message says what to
        write) or above 110 %; a negative age or a manufacture date after ``as_of``; a
        threshold outside 1–100 % or a user duty without one.
    """
    key, target = resolve_target(application, catalog_dir=catalog_dir)
    ref = as_of or dt.date.today()
    members, block_notes = _members(unit, blocks)
    chem = str(unit.get("chemistry") or members[0].get("chemistry"))
    model, proxy = model_for(chem, catalog_dir=catalog_dir)
    family = family_of(chem, catalog_dir=catalog_dir)
    if eol_soh_percent is not None and not 1.0 <= eol_soh_percent <= 100.0:
        raise EstimationError(f"threshold {eol_soh_percent:g} % must be between 1 and 100 %")
    eol = eol_soh_percent if eol_soh_percent is not None else target.eol_for_family(family)
    if eol is None:
        raise EstimationError(str(threshold_problem(target, family)))
    soh = np.array([float(m["soh_percent"]) for m in members])
    age = np.array([_age(m, ref) for m in members])
    for m, value, years_old in zip(members, soh, age, strict=True):
        why = unit_problem(float(value), float(years_old), catalog_dir=catalog_dir)
        if why is not None:
            raise EstimationError(f"{m['battery_id']}: {why}")
    origins = [m.get("origin_application") or unit.get("origin_application") for m in members]
    for o in origins:
        origin_key(o)
    lower = np.array([_number(m.get("soh_lower_percent")) for m in members])
    inputs = UnitInputs(
        soh_percent=soh,
        soh_sd_percent=soh_sd(soh, lower, catalog_dir=catalog_dir),
        age_years=age,
        efc_first_life=np.array([_number(m.get("efc_first_life")) for m in members]),
        origin=origins,
        keys=[str(m["battery_id"]) for m in members],
    )
    memo: dict[str, tuple[Any, ...]] = {}  # both calls share the units' start state
    first = life_samples(inputs, model, target, eol_soh_percent=eol, n_samples=n_samples,
                         catalog_dir=catalog_dir, memo=memo)  # fmt: skip
    factor = float(settings(catalog_dir).pack["life_factor"]) if len(members) > 1 else 1.0
    assembly_years = np.min(first.years, axis=0) * factor
    q_years = quantiles(assembly_years)
    horizon = float(years) if years else float(np.clip(np.ceil(min(q_years[2], 40.0)), 5, 40))
    result = life_samples(inputs, model, target, eol_soh_percent=eol, n_samples=n_samples,
                          band_years=horizon, catalog_dir=catalog_dir, memo=memo)  # fmt: skip
    assert result.soh_paths is not None
    assert result.path_years is not None
    paths = np.min(result.soh_paths, axis=0)  # (samples, records): weakest block per sample
    band_q = quantiles(paths.T)
    band = pl.DataFrame(
        {
            "year": result.path_years,
            "soh_lower_percent": band_q[:, 0],
            "soh_percent": band_q[:, 1],
            "soh_upper_percent": band_q[:, 2],
        }
    )
    weakest = int(np.argmin(soh))
    measured_blocks = any(b.get("soh_percent") is not None for b in blocks)
    notes = [x for x in (proxy, validity_note(model, target)) if x]
    notes += [note for unit_notes in first.notes for note in unit_notes if note not in notes]
    notes += block_notes
    shortfall = duty_shortfall_note(
        target, model, soh_percent=float(soh[weakest]), eol_soh_percent=eol
    )
    if shortfall:
        notes.append(shortfall)
    if len(members) > 1:
        notes.append(
            f"assembly of {len(members)} blocks: each sample is its weakest block "
            f"(× life factor {factor:g}; BLAST-Lite's rule of thumb is 20–30 % shorter pack life)"
        )
    if float(soh.min()) <= eol:
        notes.append(f"SOH {soh.min():.1f} % is already at or below the {eol:g} % threshold")
    capped = np.isinf(q_years)
    if capped.any():
        notes.append(f"beyond the {first.horizon_years:g}-year horizon: capped")
    q_years = np.where(capped, first.horizon_years, q_years)
    return UnitForecast(
        battery_id=str(unit["battery_id"]),
        application=key,
        chemistry=chem,
        soh_percent=float(soh.min()),
        eol_soh_percent=float(eol),
        years_to_eol=float(q_years[1]),
        years_to_eol_lower=float(q_years[0]),
        years_to_eol_upper=float(q_years[2]),
        soh_after_years=(float(band_q[-1, 0]), float(band_q[-1, 1]), float(band_q[-1, 2])),
        years=horizon,
        band=band,
        blocks=[str(m["battery_id"]) for m in members] if measured_blocks else [],
        blocks_excluded=[str(b.get("battery_id")) for b in blocks if b.get("soh_percent") is None],
        notes=notes,
        horizon_years=float(first.horizon_years),
        capped=(bool(capped[0]), bool(capped[1]), bool(capped[2])),
    )
