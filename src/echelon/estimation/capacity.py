"""State of health from a capacity test (the reference method)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from echelon.catalog import load_table
from echelon.domain.plausible import PLAUSIBLE
from echelon.errors import EstimationError


@dataclass(frozen=True)
class SohEstimate:
    """A state-of-health estimate with its interval.

    Attributes
    ----------
    soh_percent : float
        Point estimate [%] (measured ÷ rated capacity × 100).
    soh_lower_percent, soh_upper_percent : float
        Interval bounds [%] at ``coverage``.
    coverage : float
        Nominal coverage of the interval (e.g. 0.9).
    method : str
        Estimator name (``capacity_test``, …).
    out_of_domain : bool
        The input lies outside the estimator's validated domain (interval widened).
    """

    soh_percent: float
    soh_lower_percent: float
    soh_upper_percent: float
    coverage: float
    method: str
    out_of_domain: bool = False


def relative_uncertainty(*, catalog_dir: Path | None = None) -> float:
    """Half-width of the capacity test's 90 % SOH interval, as a fraction of the reading.

    From catalogue table ``soh_capacity_test`` (engineering assumption with its sources).
    """
    table = load_table("soh_capacity_test", catalog_dir=catalog_dir)
    return float(table["relative_uncertainty"]["value"])


def soh_from_capacity(
    measured_capacity_ah: float,
    nominal_capacity_ah: float,
    *,
    catalog_dir: Path | None = None,
) -> SohEstimate:
    """SOH [%] = measured ÷ rated capacity × 100, with the capacity test's uncertainty.

    Parameters
    ----------
    measured_capacity_ah : float
        Capacity from a capacity test [A·h].
    nominal_capacity_ah : float
        Rated capacity [A·h].
    catalog_dir : Path, optional
        Catalogue override folder (the uncertainty lives in table ``soh_capacity_test``).

    Returns
    -------
    SohEstimate
        Interval = point × (1 ± relative uncertainty), from the catalogue.

    Raises
    ------
    EstimationError
        For non-positive or non-finite capacities, and for a measured capacity so far above the
        rated one that the SOH is implausible (above ``PLAUSIBLE["soh_percent"]``, 150 %): a
        tester file logged in mA or mAh, or the wrong rated capacity — never a confident SOH.
    """
    if not (measured_capacity_ah >= 0 and nominal_capacity_ah > 0):
        raise EstimationError(
            f"capacities must be finite, measured ≥ 0 and rated > 0 (got measured "
            f"{measured_capacity_ah} Ah, rated {nominal_capacity_ah} Ah)"
        )
    relative = relative_uncertainty(catalog_dir=catalog_dir)
    coverage = float(
        load_table("soh_capacity_test", catalog_dir=catalog_dir)["relative_uncertainty"]["coverage"]
    )
    soh = 100.0 * measured_capacity_ah / nominal_capacity_ah
    low, high = PLAUSIBLE["soh_percent"].low, PLAUSIBLE["soh_percent"].high
    if soh > high:
        hint = ""
        if low <= soh / 1000.0 <= high:
            hint = (
                f" — a current logged in mA or a capacity in mA·h would give this (÷ 1000: "
                f"{measured_capacity_ah / 1000.0:g} A·h, SOH {soh / 1000.0:.1f} %): check the "
                "tester file's units (a column map declares them: docs/readers.md)"
            )
        raise EstimationError(
            f"the measured capacity {measured_capacity_ah:g} A·h is {soh:.0f} % of the rated "
            f"{nominal_capacity_ah:g} A·h, above the plausible {high:g} %{hint}; or the rated "
            "capacity in the manifest is wrong"
        )
    return SohEstimate(
        soh_percent=soh,
        soh_lower_percent=soh * (1.0 - relative),
        soh_upper_percent=soh * (1.0 + relative),
        coverage=coverage,
        method="capacity_test",
    )
