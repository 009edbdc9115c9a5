"""Chemistry records: voltage windows, nominal voltage, OCV–SOC table, reuse-standard coverage.

Data: ``data/chemistries.toml`` (each number with its source and as-of date).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from echelon.catalog._loader import load_table
from echelon.domain.enums import Chemistry
from echelon.domain.parse import normalise_token, suggest
from echelon.errors import CatalogError

FAMILIES: frozenset[str] = frozenset(
    {"LFP", "NMC", "NCA", "LMO", "LCO", "LMO-NMC", "Li-metal", "Li-S", "unknown"}
)
"""Chemistry families rules are written against (``family`` of each chemistry record)."""


class OcvTable(BaseModel):
    """Open-circuit voltage vs state of charge (fraction 0–1), strictly increasing."""

    model_config = ConfigDict(frozen=True)

    soc: tuple[float, ...]
    ocv_v: tuple[float, ...]
    source: str
    as_of: str

    @model_validator(mode="after")
    def _monotonic(self) -> OcvTable:
        if len(self.soc) != len(self.ocv_v) or len(self.soc) < 2:
            raise ValueError("soc and ocv_v need the same length (≥ 2)")
        if any(b <= a for a, b in zip(self.soc, self.soc[1:], strict=False)):
            raise ValueError("soc must be strictly increasing")
        if any(b <= a for a, b in zip(self.ocv_v, self.ocv_v[1:], strict=False)):
            raise ValueError("ocv_v must be strictly increasing")
        return self

    def ocv(self, soc: Any) -> npt.NDArray[np.float64]:
        """OCV [V] at state of charge ``soc`` (fraction, clipped to the table)."""
        clipped = np.clip(soc, self.soc[0], self.soc[-1])
        return np.asarray(np.interp(clipped, self.soc, self.ocv_v), dtype=np.float64)

    def soc_at(self, ocv_v: Any) -> npt.NDArray[np.float64]:
        """State of charge (fraction) at open-circuit voltage ``ocv_v`` [V] (inverse table)."""
        return np.asarray(np.interp(ocv_v, self.ocv_v, self.soc), dtype=np.float64)


class ChemistryRecord(BaseModel):
    """Catalogue record of one chemistry.

    Attributes
    ----------
    name : Chemistry
    family : str
        Chemistry family used by rules (``LFP``, ``NMC``, ``NCA``, ``LMO``, ``LCO``, …).
    nominal_voltage_v : float
        Nominal cell voltage [V].
    charge_cutoff_v, discharge_cutoff_v : float
        Operating window [V].
    ocv_min_v, ocv_max_v : float
        Protection limits [V]; a resting voltage outside them fails the safety gate.
    aliases : tuple of str
        Other spellings of exactly this chemistry.
    generic_aliases : tuple of str
        Spellings of a family without its composition (``NMC``, ``ternary``) that the catalogue
        reads as this record (an assumption stated in ``source``; the grading table notes it).
    has_reuse_standard : bool
        Whether reuse standards (GB/T 34015, IEC 63338) cover the chemistry.
    is_estimate : bool
        The numbers are flagged engineering estimates.
    ocv : OcvTable
    """

    model_config = ConfigDict(frozen=True)

    name: Chemistry
    family: str
    description: str
    aliases: tuple[str, ...] = ()
    generic_aliases: tuple[str, ...] = ()
    nominal_voltage_v: float = Field(gt=0)
    charge_cutoff_v: float = Field(gt=0)
    discharge_cutoff_v: float = Field(gt=0)
    ocv_min_v: float = Field(ge=0)
    ocv_max_v: float = Field(gt=0)
    has_reuse_standard: bool
    is_estimate: bool
    source: str
    as_of: str
    ocv: OcvTable

    @model_validator(mode="after")
    def _window(self) -> ChemistryRecord:
        if not self.ocv_min_v <= self.discharge_cutoff_v < self.charge_cutoff_v <= self.ocv_max_v:
            raise ValueError(
                "need ocv_min_v <= discharge_cutoff_v < charge_cutoff_v <= ocv_max_v, got "
                f"{self.ocv_min_v}, {self.discharge_cutoff_v}, {self.charge_cutoff_v}, "
                f"{self.ocv_max_v}"
            )
        return self


@functools.lru_cache(maxsize=8)
def _records(catalog_dir: Path | None) -> dict[Chemistry, ChemistryRecord]:
    doc = load_table("chemistries", catalog_dir=catalog_dir)
    records: dict[Chemistry, ChemistryRecord] = {}
    for key, body in doc.get("chemistry", {}).items():
        try:
            records[Chemistry(key)] = ChemistryRecord(name=key, **body)
        except (ValueError, ValidationError) as exc:
            raise CatalogError(f"chemistries table, record {key!r}: {exc}") from exc
    missing = [c.value for c in Chemistry if c not in records]
    if missing:
        raise CatalogError(f"chemistries table lacks records for {', '.join(missing)}")
    return records


def chemistries(*, catalog_dir: Path | None = None) -> dict[Chemistry, ChemistryRecord]:
    """All chemistry records, keyed by :class:`Chemistry`."""
    return _records(catalog_dir)


def chemistry(name: Chemistry | str, *, catalog_dir: Path | None = None) -> ChemistryRecord:
    """The record of one chemistry, by enum or accepted spelling (``"NCM811"``, ``"LiFePO4"``)."""
    key = name if isinstance(name, Chemistry) else resolve_chemistry(name, catalog_dir=catalog_dir)
    return _records(catalog_dir)[key]


@functools.lru_cache(maxsize=8)
def _alias_map(catalog_dir: Path | None) -> dict[str, Chemistry]:
    mapping: dict[str, Chemistry] = {}
    for key, record in _records(catalog_dir).items():
        for spelling in (key.value, key.name, *record.aliases, *record.generic_aliases):
            token = normalise_token(spelling)
            if mapping.get(token, key) != key:
                raise CatalogError(
                    f"chemistries table: spelling {spelling!r} names both {mapping[token].value} "
                    f"and {key.value}"
                )
            mapping[token] = key
    return mapping


@functools.lru_cache(maxsize=8)
def _generic_map(catalog_dir: Path | None) -> dict[str, Chemistry]:
    return {
        normalise_token(spelling): key
        for key, record in _records(catalog_dir).items()
        for spelling in record.generic_aliases
    }


def generic_chemistry(text: str, *, catalog_dir: Path | None = None) -> Chemistry | None:
    """The record a family-only spelling (``NMC``, ``NCM``, ``ternary``) is read as, else None.

    Such spellings resolve (:func:`resolve_chemistry`) to the record whose ``generic_aliases``
    list them; callers use this to say so (e.g. the grading table's ``chemistry_note``).
    """
    return _generic_map(catalog_dir).get(normalise_token(text))


def resolve_chemistry(text: str, *, catalog_dir: Path | None = None) -> Chemistry:
    """Parse a chemistry spelling (case, separators and catalogue aliases tolerated).

    Raises
    ------
    ValueError
        For an unknown spelling, with the closest known name. (Write ``unknown`` for an
        unidentified chemistry: it is accepted and routed to recycling.)
    """
    key = normalise_token(text)
    mapping = _alias_map(catalog_dir)
    if key in mapping:
        return mapping[key]
    names = [c.value for c in Chemistry]
    raise ValueError(
        f"unknown chemistry {text!r}{suggest(text, names)}; allowed: {', '.join(names)} "
        "(use 'unknown' if it cannot be identified)"
    )


def chemistries_matching(text: str, *, catalog_dir: Path | None = None) -> list[Chemistry]:
    """The chemistries a user's spelling selects: a family-only spelling (``NMC``, ``ternary``)
    every chemistry of that family, any other accepted spelling (``LiFePO4``) its chemistry.

    Raises
    ------
    ValueError
        For an unknown spelling (listing the accepted ones), as :func:`resolve_chemistry`.
    """
    generic = generic_chemistry(text, catalog_dir=catalog_dir)
    records = _records(catalog_dir)
    if generic is not None:
        family = records[generic].family
        return [key for key, record in records.items() if record.family == family]
    return [resolve_chemistry(text, catalog_dir=catalog_dir)]


def filter_spelling(text: str, *, catalog_dir: Path | None = None) -> str:
    """How a listing's chemistry filter names what ``text`` selects (:func:`chemistries_matching`):
    the family for a family-only spelling (``ternary``, ``ncm`` → ``NMC``), else the chemistry
    (``LiFePO4`` → ``LFP``).

    Raises
    ------
    ValueError
        For an unknown spelling, as :func:`resolve_chemistry`.
    """
    generic = generic_chemistry(text, catalog_dir=catalog_dir)
    if generic is None:
        return resolve_chemistry(text, catalog_dir=catalog_dir).value
    family = _records(catalog_dir)[generic].family
    # the family's name selects it unless a catalogue override dropped it from generic_aliases
    return family if generic_chemistry(family, catalog_dir=catalog_dir) == generic else text
