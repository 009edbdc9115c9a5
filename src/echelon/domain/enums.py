"""Controlled vocabularies of the domain (chemistries, levels, formats, origins, flags, statuses).

Values are the spellings used in manifests, tables and the database. Parsing of user spellings
(aliases, case, typos with close-match suggestions) lives in :mod:`echelon.domain.parse`.
"""

from __future__ import annotations

from enum import StrEnum


class Chemistry(StrEnum):
    """Cell chemistry (cathode family; graphite anode unless the name says otherwise)."""

    LFP = "LFP"
    NMC111 = "NMC111"
    NMC532 = "NMC532"
    NMC622 = "NMC622"
    NMC811 = "NMC811"
    NCA = "NCA"
    LMO = "LMO"
    LCO = "LCO"
    LMO_NMC = "LMO-NMC"
    LI_METAL = "Li-metal"
    """Lithium-metal anode with an intercalation cathode."""
    LI_S = "Li-S"
    UNKNOWN = "unknown"


class Level(StrEnum):
    """Assembly level in the pack → module → cell genealogy."""

    CELL = "cell"
    MODULE = "module"
    PACK = "pack"


LEVEL_RANK: dict[Level, int] = {Level.CELL: 0, Level.MODULE: 1, Level.PACK: 2}
"""Higher rank = larger assembly; a parent must rank above its child."""


class CellFormat(StrEnum):
    """Mechanical format of the cells."""

    CYLINDRICAL = "cylindrical"
    PRISMATIC = "prismatic"
    POUCH = "pouch"


class OriginApplication(StrEnum):
    """First-life application the unit was retired from."""

    AUTOMOTIVE = "automotive"
    EBIKE_LEV = "ebike_lev"
    CONSUMER_ELECTRONICS = "consumer_electronics"
    MEDICAL = "medical"
    AEROSPACE_DEFENCE = "aerospace_defence"
    INDUSTRIAL = "industrial"
    ENERGY_STORAGE = "energy_storage"
    OTHER = "other"


class Region(StrEnum):
    """Regulatory region whose rules apply (grading profiles are per region)."""

    EU = "EU"
    CN = "CN"
    US = "US"
    OTHER = "other"


class VisualFlag(StrEnum):
    """Damage found at visual inspection; any one sends the unit to quarantine."""

    SWELLING = "swelling"
    LEAKAGE = "leakage"
    CORROSION = "corrosion"
    DEFORMATION = "deformation"
    THERMAL_DAMAGE = "thermal_damage"
    WATER_DAMAGE = "water_damage"


class CapacityClass(StrEnum):
    """Nominal-capacity class (≤3 Ah, 3–10 Ah, 10–60 Ah, >60 Ah)."""

    UP_TO_3_AH = "<=3Ah"
    FROM_3_TO_10_AH = "3-10Ah"
    FROM_10_TO_60_AH = "10-60Ah"
    ABOVE_60_AH = ">60Ah"

    @classmethod
    def of(cls, nominal_capacity_ah: float) -> CapacityClass:
        """Class of a nominal capacity in ampere-hours (upper bounds inclusive)."""
        if nominal_capacity_ah <= 3.0:
            return cls.UP_TO_3_AH
        if nominal_capacity_ah <= 10.0:
            return cls.FROM_3_TO_10_AH
        if nominal_capacity_ah <= 60.0:
            return cls.FROM_10_TO_60_AH
        return cls.ABOVE_60_AH


class TestKind(StrEnum):
    """What a tester file contains."""

    __test__ = False  # not a pytest test class

    CAPACITY = "capacity"
    PULSE = "pulse"
    HPPC = "hppc"
    EIS = "eis"
    CYCLING = "cycling"
    OTHER = "other"


class Status(StrEnum):
    """Lifecycle status of a battery, derived from its latest status-bearing event."""

    RECEIVED = "received"
    QUARANTINED = "quarantined"
    TESTED = "tested"
    GRADED = "graded"
    ROUTED = "routed"
    FAILED = "failed"
    DISMANTLED = "dismantled"
    REGROUPED = "regrouped"
    RECYCLED = "recycled"


class Gate(StrEnum):
    """Outcome of the safety gate."""

    PASS = "pass"
    QUARANTINE = "quarantine"


class Grade(StrEnum):
    """Reuse grade: A mobility, B stationary cycling, C low-stress/backup, D recycle."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class Application(StrEnum):
    """Second-life applications (canonical ids shared by grading, routing and lifetime).

    The router may also choose the non-reuse routes in :data:`NON_REUSE_ROUTES`.
    """

    ESS = "ess"
    """Stationary energy storage with daily cycling."""
    UPS = "ups"
    """Uninterruptible power supply (float at high SOC, rare discharges)."""
    TELECOM = "telecom"
    """Telecom base-station backup with occasional peak shaving."""
    EBIKE = "ebike"
    """E-bike and light electric vehicle packs."""
    AUTO12V = "auto12v"
    """12 V / 24 V automotive starter and auxiliary batteries."""
    LSV = "lsv"
    """Low-speed vehicles (≤ 70 km/h), forklifts, golf carts."""
    EV_REMAN = "ev_reman"
    """EV remanufacture: modules and packs back into vehicles."""


NON_REUSE_ROUTES: tuple[str, ...] = ("recycle", "retest")
"""Routes that are not a second life: material recycling, or test again before deciding."""
