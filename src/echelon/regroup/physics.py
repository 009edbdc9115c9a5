"""Physics of an S×P pack of cells or modules (pure functions on arrays and frames).

A pack is ``S`` series blocks of ``P`` units in parallel. Parallel units share one voltage, so a
block behaves as one unit of the summed capacity; a series string carries one current, so with top
balancing its usable capacity is the smallest block's [S61] (second-life-domain.md §3.3):

* usable capacity  ``C = min_s Σ_{c∈s} Q_c``  [A·h]; its bound ``Σ_c Q_c / S`` is reached only
  when every block holds the same capacity; the difference is *stranded* capacity;
* energy  ``E = C × Σ_s V_s``  with ``V_s`` the nominal voltage of block ``s`` [W·h];
* resistance  ``R_s = 1 / Σ_{c∈s} 1/R_c``, ``R_pack = Σ_s R_s``; the discharge current is limited
  by the block that reaches its cut-off first, ``I_max = min_s (OCV_s − V_cut,s) / R_s``, and the
  power limit is ``I_max × Σ_s (OCV_s − I_max R_s)`` [W];
* current sharing in a block follows conductance: unit ``c`` carries ``(1/R_c) / Σ 1/R`` of the
  block current [S62][S63];
* self-discharge: a block drifts at the capacity-weighted mean of its units' rates; the spread of
  block rates (converted to % SOC/day with the chemistry's OCV slope) is the imbalance a balancer
  must remove, ``I_bal = ΔSOC/day × C_block / 24 h``;
* OCV pre-matching: two units paralleled at an OCV difference ``ΔV`` exchange ``ΔV/(R_i + R_j)``;
  keeping that below a C-rate limit of the smaller unit sets the largest allowed ``ΔV`` per block.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.catalog import chemistries
from echelon.errors import Problem, SchemaError
from echelon.regroup.spec import RegroupSettings

FloatArray = npt.NDArray[np.float64]
ASSIGNMENT_COLUMNS = ("battery_id", "pack_id", "block")
"""Required columns of an assignment (``block`` = series position 1…S)."""


def usable_capacity_ah(block_capacity_ah: FloatArray) -> FloatArray:
    """Usable capacity of each pack: the smallest block capacity [A·h].

    Parameters
    ----------
    block_capacity_ah : ndarray, shape (K, S)
        Summed capacity of each series block of each pack [A·h].

    Returns
    -------
    ndarray, shape (K,)
    """
    return np.asarray(np.min(block_capacity_ah, axis=1), dtype=np.float64)


def capacity_bound_ah(block_capacity_ah: FloatArray) -> FloatArray:
    """Usable capacity each pack would have with perfectly equal blocks: ``Σ Q / S`` [A·h]."""
    return np.asarray(np.mean(block_capacity_ah, axis=1), dtype=np.float64)


def block_resistance_ohm(dcir_ohm: FloatArray) -> FloatArray:
    """Resistance of parallel blocks, ``1 / Σ 1/R`` over the last axis [Ω]."""
    return np.asarray(1.0 / np.sum(1.0 / dcir_ohm, axis=-1), dtype=np.float64)


def prematch_delta_v(capacity_ah: FloatArray, dcir_ohm: FloatArray, *, c_rate: float) -> FloatArray:
    """Largest OCV difference [V] at which any two units of a block may be paralleled.

    Two units at OCVs differing by ``ΔV`` exchange ``ΔV / (R_i + R_j)``; keeping it below
    ``c_rate × min(Q_i, Q_j)`` gives ``ΔV_ij = c_rate × min(Q_i, Q_j) × (R_i + R_j)``. The block's
    limit is the smallest over its pairs (``inf`` for a single unit).

    Parameters
    ----------
    capacity_ah, dcir_ohm : ndarray, shape (..., P)
    c_rate : float
        Highest accepted equalising current [C].

    Returns
    -------
    ndarray, shape (...)
    """
    q_min = np.minimum(capacity_ah[..., :, None], capacity_ah[..., None, :])
    r_sum = dcir_ohm[..., :, None] + dcir_ohm[..., None, :]
    limit = c_rate * q_min * r_sum
    size = capacity_ah.shape[-1]
    off_diagonal = ~np.eye(size, dtype=bool)
    if size < 2:
        return np.full(capacity_ah.shape[:-1], np.inf)
    return np.asarray(np.min(limit[..., off_diagonal], axis=-1), dtype=np.float64)


@dataclass(frozen=True)
class ChemistryConstants:
    """Cell-level numbers of a chemistry the pack physics needs (from the catalogue)."""

    cell_nominal_voltage_v: float
    discharge_cutoff_v: float
    ocv_reference_v: float
    ocv_slope_mv_per_percent: float
    """Mean OCV slope between 20 and 80 % SOC (as the grading table uses for self-discharge)."""
    ocv_local_slope_mv_per_percent: float
    """OCV slope within ±10 % SOC of the reference SOC (for pre-matching windows)."""


@functools.lru_cache(maxsize=16)
def chemistry_constants(
    reference_soc: float, catalog_dir: Path | None = None
) -> dict[str, ChemistryConstants]:
    """:class:`ChemistryConstants` of every catalogue chemistry at ``reference_soc``."""
    out = {}
    for chem, rec in chemistries(catalog_dir=catalog_dir).items():
        v20, v80 = rec.ocv.ocv(np.array([0.2, 0.8]))
        lo, hi = max(0.0, reference_soc - 0.1), min(1.0, reference_soc + 0.1)
        vlo, vref, vhi = rec.ocv.ocv(np.array([lo, reference_soc, hi]))
        out[chem.value] = ChemistryConstants(
            cell_nominal_voltage_v=rec.nominal_voltage_v,
            discharge_cutoff_v=rec.discharge_cutoff_v,
            ocv_reference_v=float(vref),
            ocv_slope_mv_per_percent=float(v80 - v20) * 1000.0 / 60.0,
            ocv_local_slope_mv_per_percent=float(vhi - vlo) * 1000.0 / ((hi - lo) * 100.0),
        )
    return out


@dataclass(frozen=True)
class PackTensor:
    """An assignment arranged as arrays of shape (K packs, S blocks, P units).

    Attributes
    ----------
    pack_ids : list of str
        In order of first appearance in the assignment.
    battery_id : ndarray of object, shape (K, S, P)
    capacity_ah, dcir_ohm, self_discharge_mv_per_day, capacity_lower_ah, capacity_upper_ah,
    ocv_v, unit_voltage_v, cells_in_series : ndarray, shape (K, S, P)
        Unit values (NaN when unknown).
    chemistry, model : list of str or None
        Per pack (the first unit's; uniformity is a constraint checked elsewhere).
    """

    pack_ids: list[str]
    battery_id: npt.NDArray[np.object_]
    capacity_ah: FloatArray
    dcir_ohm: FloatArray
    self_discharge_mv_per_day: FloatArray
    capacity_lower_ah: FloatArray
    capacity_upper_ah: FloatArray
    ocv_v: FloatArray
    unit_voltage_v: FloatArray
    cells_in_series: FloatArray
    chemistry: list[str]
    model: list[str | None]

    @property
    def block_capacity_ah(self) -> FloatArray:
        """Summed capacity of each block, shape (K, S) [A·h]."""
        return np.asarray(self.capacity_ah.sum(axis=2), dtype=np.float64)


def _layout_problems(joined: pl.DataFrame, series: int, parallel: int) -> list[Problem]:
    problems: list[Problem] = []
    unknown = joined.filter(pl.col("capacity_ah").is_null())["battery_id"].to_list()
    if unknown:
        problems.append(
            Problem(
                f"{len(unknown)} unit(s) not in the inventory, e.g. {unknown[:3]}",
                column="battery_id",
            )
        )
    dup = joined.filter(pl.col("battery_id").is_duplicated())["battery_id"].unique().to_list()
    if dup:
        problems.append(
            Problem(f"unit(s) assigned more than once: {sorted(dup)[:5]}", column="battery_id")
        )
    bad_block = joined.filter((pl.col("block") < 1) | (pl.col("block") > series))
    if bad_block.height:
        problems.append(
            Problem(
                f"block must be 1…{series}; found {bad_block['block'].unique().to_list()[:5]}",
                column="block",
            )
        )
    sizes = joined.group_by("pack_id", "block").len()
    wrong = sizes.filter(pl.col("len") != parallel)
    if wrong.height:
        row = wrong.row(0, named=True)
        problems.append(
            Problem(
                f"every block needs exactly {parallel} unit(s); pack {row['pack_id']!r} block "
                f"{row['block']} has {row['len']} ({wrong.height} such block(s))",
                column="block",
            )
        )
    blocks = sizes.group_by("pack_id").len()
    short = blocks.filter(pl.col("len") != series)
    if short.height:
        row = short.row(0, named=True)
        problems.append(
            Problem(
                f"every pack needs {series} blocks; pack {row['pack_id']!r} has {row['len']}",
                column="pack_id",
            )
        )
    return problems


def arrange(
    assignment: pl.DataFrame,
    inventory: pl.DataFrame,
    *,
    series: int,
    parallel: int,
    catalog_dir: Path | None = None,
) -> PackTensor:
    """Arrange an assignment and the inventory's unit values as (K, S, P) arrays.

    Raises
    ------
    SchemaError
        If a column is missing, a unit is unknown or assigned twice, or a pack is not exactly
        ``S`` blocks of ``P`` units.
    """
    missing = [c for c in ASSIGNMENT_COLUMNS if c not in assignment.columns]
    if missing:
        raise SchemaError("<assignment>", [f"missing column(s) {missing}"])
    settings = RegroupSettings.load(catalog_dir=catalog_dir)
    consts = chemistry_constants(settings.reference_soc, catalog_dir)
    joined = (
        assignment.select(
            pl.col("battery_id").cast(pl.String),
            pl.col("pack_id").cast(pl.String),
            pl.col("block").cast(pl.Int64),
        )
        .with_row_index("order")
        .join(inventory, on="battery_id", how="left")
    )
    problems = _layout_problems(joined, series, parallel)
    if problems:
        raise SchemaError("<assignment>", problems)
    first = joined.group_by("pack_id", maintain_order=True).agg(pl.col("order").min())
    pack_ids = first.sort("order")["pack_id"].to_list()
    index = {p: i for i, p in enumerate(pack_ids)}
    nominal = pl.col("chemistry").replace_strict(
        {k: v.cell_nominal_voltage_v for k, v in consts.items()}, return_dtype=pl.Float64
    )
    joined = (
        joined.with_columns(
            pl.col("pack_id").replace_strict(index, return_dtype=pl.Int64).alias("k"),
            pl.coalesce(pl.col("nominal_voltage_v"), nominal).alias("unit_voltage_v"),
        )
        .with_columns(
            (pl.col("unit_voltage_v") / nominal)
            .round(0)
            .clip(lower_bound=1)
            .alias("cells_in_series")
        )
        .sort("k", "block", "capacity_ah", descending=[False, False, True])
    )
    shape = (len(pack_ids), series, parallel)

    def grid(column: str) -> FloatArray:
        return (
            joined.get_column(column).cast(pl.Float64).fill_null(np.nan).to_numpy().reshape(shape)
        )

    per_pack = joined.group_by("k", maintain_order=True).agg(
        pl.col("chemistry").first(), pl.col("model").first()
    )
    return PackTensor(
        pack_ids=pack_ids,
        battery_id=joined.get_column("battery_id").to_numpy().astype(object).reshape(shape),
        capacity_ah=grid("capacity_ah"),
        dcir_ohm=grid("dcir_ohm"),
        self_discharge_mv_per_day=grid("self_discharge_mv_per_day"),
        capacity_lower_ah=grid("capacity_lower_ah"),
        capacity_upper_ah=grid("capacity_upper_ah"),
        ocv_v=grid("ocv_v"),
        unit_voltage_v=grid("unit_voltage_v"),
        cells_in_series=grid("cells_in_series"),
        chemistry=per_pack["chemistry"].to_list(),
        model=per_pack["model"].to_list(),
    )


def pack_physics(
    tensor: PackTensor, *, settings: RegroupSettings, catalog_dir: Path | None = None
) -> pl.DataFrame:
    """Per-pack physics of an arranged assignment (one row per pack).

    Columns (units in the names): ``pack_id``, ``chemistry``, ``model``, ``series``, ``parallel``,
    ``n_units``, ``usable_capacity_ah``, ``capacity_bound_ah`` (Σ Q / S), ``stranded_capacity_ah``
    (bound − usable), ``balance_efficiency`` (usable ÷ bound), ``usable_capacity_lower_ah`` /
    ``usable_capacity_upper_ah`` (from the units' capacity intervals, null when unknown),
    ``nominal_voltage_v``, ``energy_wh``, ``block_capacity_min_ah``, ``block_capacity_max_ah``,
    ``block_capacity_spread_percent``, ``unit_capacity_ratio`` (max ÷ min unit capacity),
    ``resistance_ratio`` (max ÷ min unit DCIR), ``pack_resistance_ohm``,
    ``block_resistance_spread_percent``, ``current_share_max`` (highest unit current ÷ an even
    split), ``max_discharge_current_a``, ``power_limit_w`` (at the reference SOC),
    ``self_discharge_spread_mv_per_day`` (units), ``soc_drift_percent_per_day`` (between blocks),
    ``balancing_current_ma``, ``balancing_within_passive_limit``, ``prematch_max_delta_v_mv``,
    ``prematch_soc_window_percent``, ``blocks_needing_prematch`` (needs ``ocv_v``).
    """
    consts = chemistry_constants(settings.reference_soc, catalog_dir)
    q, r = tensor.capacity_ah, tensor.dcir_ohm
    k_packs, series, parallel = q.shape
    chem = [consts[c] for c in tensor.chemistry]

    block_q = q.sum(axis=2)
    usable = usable_capacity_ah(block_q)
    bound = capacity_bound_ah(block_q)
    block_v = tensor.unit_voltage_v.mean(axis=2)
    pack_v = block_v.sum(axis=1)
    cells = tensor.cells_in_series.mean(axis=2)  # (K, S) cells in series per block

    block_r = block_resistance_ohm(r)
    share = (1.0 / r) / np.sum(1.0 / r, axis=2, keepdims=True) * parallel
    ocv_ref = np.array([c.ocv_reference_v for c in chem])[:, None] * cells
    cutoff = np.array([c.discharge_cutoff_v for c in chem])[:, None] * cells
    i_max = np.min((ocv_ref - cutoff) / block_r, axis=1)
    power = i_max * np.sum(ocv_ref - i_max[:, None] * block_r, axis=1)

    sd = tensor.self_discharge_mv_per_day
    block_sd_cell = np.sum(q * sd, axis=2) / block_q / cells  # mV/day per cell, NaN if unknown
    slope = np.array([c.ocv_slope_mv_per_percent for c in chem])[:, None]
    drift = np.max(block_sd_cell / slope, axis=1) - np.min(block_sd_cell / slope, axis=1)
    balancing_ma = drift / 100.0 * block_q.min(axis=1) / 24.0 * 1000.0
    balancing_c = balancing_ma / 1000.0 / block_q.min(axis=1)

    delta_v = prematch_delta_v(q, r, c_rate=settings.prematch_inrush_c_rate_max)  # (K, S) V
    pack_dv = delta_v.min(axis=1)
    local_slope = np.array([c.ocv_local_slope_mv_per_percent for c in chem])
    per_cell_dv_mv = pack_dv * 1000.0 / cells.max(axis=1)
    soc_window = np.minimum(per_cell_dv_mv / local_slope, 100.0)
    ocv_range = np.max(tensor.ocv_v, axis=2) - np.min(tensor.ocv_v, axis=2)
    needing = np.sum(ocv_range > delta_v, axis=1).astype(float)
    needing[np.isnan(ocv_range).any(axis=1)] = np.nan

    def finite(values: FloatArray) -> list[float | None]:
        return [float(v) if np.isfinite(v) else None for v in values]

    lower = usable_capacity_ah(tensor.capacity_lower_ah.sum(axis=2))
    upper = usable_capacity_ah(tensor.capacity_upper_ah.sum(axis=2))
    return pl.DataFrame(
        {
            "pack_id": tensor.pack_ids,
            "chemistry": tensor.chemistry,
            "model": pl.Series(tensor.model, dtype=pl.String),
            "series": [series] * k_packs,
            "parallel": [parallel] * k_packs,
            "n_units": [series * parallel] * k_packs,
            "usable_capacity_ah": usable,
            "capacity_bound_ah": bound,
            "stranded_capacity_ah": bound - usable,
            "balance_efficiency": usable / bound,
            "usable_capacity_lower_ah": pl.Series(finite(lower), dtype=pl.Float64),
            "usable_capacity_upper_ah": pl.Series(finite(upper), dtype=pl.Float64),
            "nominal_voltage_v": pack_v,
            "energy_wh": usable * pack_v,
            "block_capacity_min_ah": block_q.min(axis=1),
            "block_capacity_max_ah": block_q.max(axis=1),
            "block_capacity_spread_percent": (block_q.max(axis=1) - block_q.min(axis=1))
            / block_q.mean(axis=1)
            * 100.0,
            "unit_capacity_ratio": q.max(axis=(1, 2)) / q.min(axis=(1, 2)),
            "resistance_ratio": r.max(axis=(1, 2)) / r.min(axis=(1, 2)),
            "pack_resistance_ohm": block_r.sum(axis=1),
            "block_resistance_spread_percent": (block_r.max(axis=1) - block_r.min(axis=1))
            / block_r.mean(axis=1)
            * 100.0,
            "current_share_max": share.max(axis=(1, 2)),
            "max_discharge_current_a": i_max,
            "power_limit_w": power,
            "self_discharge_spread_mv_per_day": pl.Series(
                finite(np.max(sd, axis=(1, 2)) - np.min(sd, axis=(1, 2))), dtype=pl.Float64
            ),
            "soc_drift_percent_per_day": pl.Series(finite(drift), dtype=pl.Float64),
            "balancing_current_ma": pl.Series(finite(balancing_ma), dtype=pl.Float64),
            "balancing_within_passive_limit": pl.Series(
                [
                    None if not np.isfinite(c) else bool(c <= settings.passive_balancing_c_rate)
                    for c in balancing_c
                ],
                dtype=pl.Boolean,
            ),
            "prematch_max_delta_v_mv": pl.Series(finite(pack_dv * 1000.0), dtype=pl.Float64),
            "prematch_soc_window_percent": pl.Series(finite(soc_window), dtype=pl.Float64),
            "blocks_needing_prematch": pl.Series(finite(needing), dtype=pl.Float64).cast(pl.Int64),
        }
    )


def block_physics(tensor: PackTensor) -> pl.DataFrame:
    """One row per block: ``pack_id``, ``block`` (1…S), ``capacity_ah``, ``resistance_ohm``,
    ``limiting`` (whether this block sets the pack's usable capacity; NaN self-discharge and
    other unknowns stay unknown in :func:`pack_physics`)."""
    block_q = tensor.block_capacity_ah
    k_packs, series = block_q.shape
    usable = usable_capacity_ah(block_q)
    return pl.DataFrame(
        {
            "pack_id": np.repeat(np.array(tensor.pack_ids, dtype=object), series).tolist(),
            "block": np.tile(np.arange(1, series + 1), k_packs),
            "capacity_ah": block_q.ravel(),
            "resistance_ohm": block_resistance_ohm(tensor.dcir_ohm).ravel(),
            "limiting": (block_q == usable[:, None]).ravel(),
        }
    )


def pack_table(
    assignment: pl.DataFrame,
    inventory: pl.DataFrame,
    *,
    series: int,
    parallel: int,
    settings: RegroupSettings | None = None,
    catalog_dir: Path | None = None,
) -> pl.DataFrame:
    """Per-pack physics of an assignment (``battery_id``, ``pack_id``, ``block``) of inventory
    units; see :func:`pack_physics` for the columns."""
    tensor = arrange(
        assignment, inventory, series=series, parallel=parallel, catalog_dir=catalog_dir
    )
    return pack_physics(
        tensor,
        settings=settings or RegroupSettings.load(catalog_dir=catalog_dir),
        catalog_dir=catalog_dir,
    )
