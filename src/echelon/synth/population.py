"""A seeded, deterministic population of incoming retired units (packs, modules, cells).

Archetypes and defect rates are catalogue data (table ``synth_archetypes``). Every unit carries its
hidden truth (SOH, resistances, arrival SOC) so tests can compare the pipeline's estimates with it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echelon.catalog import chemistry, load_table
from echelon.domain import Battery, Level, VisualFlag
from echelon.synth.ecm import EcmParameters

CALENDAR_LIFE_YEARS = 15
"""OEM calendar life assumed for synthetic units (years) — a simulation setting."""
NO_REUSE_TEST = frozenset({"Li-metal", "Li-S"})


@dataclass(frozen=True)
class SynthUnit:
    """One simulated unit with its manifest fields and hidden truth.

    Attributes
    ----------
    battery : Battery
        What the manifest says.
    archetype : str
    tested : bool
        Whether the facility ran a capacity and a pulse test (not for visibly damaged, 0 V or
        recycle-only units, nor for dismantled packs).
    tester : str
        ``arbin_csv`` or ``bdf_csv``: the export format of its test files.
    rate_c : float
        Capacity-test rate [1/h of nominal capacity].
    true_soh : float
        Hidden state of health (fraction of nominal capacity).
    arrival_soc : float
        State of charge on arrival (fraction).
    ecm : EcmParameters or None
        Electrical model (``None`` for untested units).
    measured : dict
        Intake measurements for the manifest (``ocv_v``, ``self_discharge_mv_per_day``,
        ``insulation_mohm``).
    defects : tuple of str
        Injected defects (for the truth file).
    corrupt_file : bool
        One of its test files will be written truncated.
    short_test_only : bool
        Tested with the short pulse test only (no full capacity test).
    seed : int
        Seed for its own noise (independent of generation order).
    """

    battery: Battery
    archetype: str
    tested: bool
    tester: str
    rate_c: float
    true_soh: float
    arrival_soc: float
    ecm: EcmParameters | None
    measured: dict[str, float] = field(default_factory=dict)
    defects: tuple[str, ...] = ()
    corrupt_file: bool = False
    seed: int = 0
    short_test_only: bool = False


def _archetypes(catalog_dir: Path | None) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    doc = load_table("synth_archetypes", catalog_dir=catalog_dir)
    return doc["archetype"], doc["defects"] | doc.get("testing", {})


def _dates(rng: np.random.Generator, arrival: dt.date, expired: bool) -> tuple[dt.date, dt.date]:
    age_days = int(rng.uniform(5, 14) * 365.25)
    made = arrival - dt.timedelta(days=age_days)
    life_days = int(CALENDAR_LIFE_YEARS * 365.25)
    if expired:
        life_days = age_days - int(rng.uniform(30, 365))
    return made, made + dt.timedelta(days=life_days)


def _ecm(
    arch: dict[str, Any], soh: float, rng: np.random.Generator, catalog_dir: Path | None
) -> EcmParameters:
    rec = chemistry(arch["chemistry"], catalog_dir=catalog_dir)
    s, p = int(arch["series"]), int(arch["parallel"])
    cell_r0_new = float(arch["cell_r0_new_ohm_ah"]) / float(arch["cell_capacity_ah"])
    growth = (1.0 + 2.5 * (1.0 - soh)) * float(np.exp(rng.normal(0.0, 0.1)))
    r0 = cell_r0_new * growth * s / p * 1.05
    return EcmParameters(
        capacity_ah=soh * float(arch["cell_capacity_ah"]) * p,
        r0_ohm=r0,
        r1_ohm=0.6 * r0,
        tau1_s=2.0,
        r2_ohm=0.8 * r0,
        tau2_s=60.0,
        series_count=s,
        ocv=rec.ocv,
        v_min_v=rec.discharge_cutoff_v * s,
        v_max_v=rec.charge_cutoff_v * s,
    )


def simulate_population(
    n: int,
    *,
    seed: int = 0,
    arrival_date: dt.date | None = None,
    region: str = "EU",
    catalog_dir: Path | None = None,
) -> list[SynthUnit]:
    """Simulate ``n`` manifest rows of an incoming batch.

    Parameters
    ----------
    n : int
        Number of units (manifest rows, packs included).
    seed : int
        Random seed; the same seed, date and catalogue give the same batch.
    arrival_date : date, optional
        Intake date (default: today); manufacture and expiry dates are relative to it.
    region : str
        Region of the receiving facility (``EU``, ``CN``, ``US``).
    catalog_dir : Path, optional
        Catalogue override folder.

    Returns
    -------
    list of SynthUnit
        Parents (packs) precede their modules.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    arrival = arrival_date or dt.date.today()
    archetypes, defects = _archetypes(catalog_dir)
    names = sorted(archetypes)
    # an archetype arriving as packs brings modules_per_pack units per draw: divide its weight so
    # that the expected share of *units* matches the table's weights
    weights = np.array(
        [
            archetypes[k]["weight"] / max(1, int(archetypes[k].get("modules_per_pack", 0)))
            for k in names
        ],
        dtype=float,
    )
    rng = np.random.default_rng(seed)
    countries = ["DE", "FR", "NL", "CN", "US", "JP", "KR", "GB", "NO", "IT"]
    units: list[SynthUnit] = []
    counters: dict[str, int] = {}
    while len(units) < n:
        name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        arch = archetypes[name]
        counters[name] = counters.get(name, 0) + 1
        prefix = str(arch["id_prefix"])
        modules = int(arch.get("modules_per_pack", 0))
        parent_id = None
        if modules > 0 and len(units) < n - 1:
            parent_id = f"{prefix}-P{counters[name]:04d}"
            units.append(
                _pack_unit(
                    parent_id, arch, name, modules, rng, arrival, region, countries, catalog_dir
                )
            )
            count = min(modules, n - len(units))
            ids = [f"{parent_id}-M{k + 1:02d}" for k in range(count)]
        else:
            ids = [f"{prefix}-{counters[name]:05d}"]
        for bid in ids:
            units.append(
                _unit(
                    bid,
                    parent_id,
                    arch,
                    name,
                    defects,
                    rng,
                    arrival,
                    region,
                    countries,
                    catalog_dir,
                )
            )
    return units


def _nameplate(
    arch: dict[str, Any],
    series: int,
    parallel: int,
    rng: np.random.Generator,
    region: str,
    countries: list[str],
    made: dt.date,
    expiry: dt.date,
    catalog_dir: Path | None,
) -> dict[str, Any]:
    """Battery fields shared by packs and their units: chemistry, maker, rating, origin, dates."""
    rec = chemistry(arch["chemistry"], catalog_dir=catalog_dir)
    return {
        "chemistry": arch["chemistry"],
        "manufacturer": arch["manufacturer"],
        "format": arch["format"],
        "nominal_capacity_ah": float(arch["cell_capacity_ah"]) * parallel,
        "nominal_voltage_v": round(rec.nominal_voltage_v * series, 2),
        "series_count": series,
        "parallel_count": parallel,
        "origin_application": arch["origin"],
        "region": region,
        "country": countries[int(rng.integers(len(countries)))],
        "manufacture_date": made,
        "calendar_expiry_date": expiry,
    }


def _pack_unit(
    bid: str,
    arch: dict[str, Any],
    name: str,
    modules: int,
    rng: np.random.Generator,
    arrival: dt.date,
    region: str,
    countries: list[str],
    catalog_dir: Path | None,
) -> SynthUnit:
    rec = chemistry(arch["chemistry"], catalog_dir=catalog_dir)
    s = int(arch["series"]) * modules
    p = int(arch["parallel"])
    made, expiry = _dates(rng, arrival, expired=False)
    soc = float(rng.uniform(0.1, 0.6))
    battery = Battery(
        battery_id=bid,
        level=Level.PACK,
        model=arch["pack_model"],
        has_traceability=True,
        **_nameplate(arch, s, p, rng, region, countries, made, expiry, catalog_dir),
    )
    measured = {
        "ocv_v": round(float(rec.ocv.ocv(soc)) * s, 3),
        "insulation_mohm": round(float(np.exp(rng.normal(np.log(300.0), 0.8))), 2),
    }
    return SynthUnit(
        battery=battery,
        archetype=name,
        tested=False,
        tester=arch["tester"],
        rate_c=float(arch["rate_c"]),
        true_soh=float("nan"),
        arrival_soc=soc,
        ecm=None,
        measured=measured,
        seed=int(rng.integers(2**31)),
    )


def _unit(
    bid: str,
    parent_id: str | None,
    arch: dict[str, Any],
    name: str,
    defects: dict[str, float],
    rng: np.random.Generator,
    arrival: dt.date,
    region: str,
    countries: list[str],
    catalog_dir: Path | None,
) -> SynthUnit:
    rec = chemistry(arch["chemistry"], catalog_dir=catalog_dir)
    s, p = int(arch["series"]), int(arch["parallel"])
    lo, hi, a, b = arch["soh"]
    soh = float(lo + (hi - lo) * rng.beta(a, b))
    soc = float(rng.uniform(0.1, 0.6))
    found: list[str] = []
    flags: list[str] = []
    if rng.random() < defects["visual_damage"]:
        flags.append(list(VisualFlag)[int(rng.integers(len(VisualFlag)))].value)
        found.append("visual_damage")
    ocv_cell = float(rec.ocv.ocv(soc))
    if rng.random() < defects["over_discharged"]:
        ocv_cell = float(rng.uniform(0.0, 0.8 * rec.ocv_min_v))
        found.append("over_discharged")
    expired = bool(rng.random() < defects["calendar_expired"])
    if expired:
        found.append("calendar_expired")
    made, expiry = _dates(rng, arrival, expired)
    measured: dict[str, float] = {"ocv_v": round(ocv_cell * s, 4)}
    if rng.random() < defects["self_discharge_measured"]:
        k_cell = float(np.exp(rng.normal(0.0, 0.5)))
        if rng.random() < defects["self_discharge_outlier"]:
            k_cell *= float(rng.uniform(15.0, 40.0))
            found.append("self_discharge_outlier")
        measured["self_discharge_mv_per_day"] = round(k_cell * s, 3)
    if arch["level"] != "cell":
        insulation = float(np.exp(rng.normal(np.log(300.0), 0.8)))
        if rng.random() < defects["insulation_fault"]:
            insulation = float(rng.uniform(0.001, 0.02))
            found.append("insulation_fault")
        measured["insulation_mohm"] = round(insulation, 4)
    traceable = bool(rng.random() < float(arch["traceability"]))
    battery = Battery(
        battery_id=bid,
        level=arch["level"],
        parent_id=parent_id,
        model=arch["model"],
        has_traceability=traceable,
        visual_flags=";".join(flags),
        **_nameplate(arch, s, p, rng, region, countries, made, expiry, catalog_dir),
    )
    tested = not flags and "over_discharged" not in found and arch["chemistry"] not in NO_REUSE_TEST
    ecm = _ecm(arch, soh, rng, catalog_dir)
    corrupt = tested and bool(rng.random() < defects["corrupt_file"])
    if corrupt:
        found.append("corrupt_file")
    seed = int(rng.integers(2**31))
    # drawn from the unit's own seed: the population's random stream is unchanged
    short = tested and bool(np.random.default_rng([seed, 1]).random() < defects["short_test_share"])
    return SynthUnit(
        battery=battery,
        archetype=name,
        tested=tested,
        tester=arch["tester"],
        rate_c=float(arch["rate_c"]),
        true_soh=soh,
        arrival_soc=soc,
        ecm=ecm if tested else None,
        measured=measured,
        defects=tuple(found),
        corrupt_file=corrupt,
        seed=seed,
        short_test_only=short,
    )
