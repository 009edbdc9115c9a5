"""Grading and routing real retired cells (PulseBat, Tao et al. 2024) — a behaviour check.

No parameter is fitted to these data. Each EV-retired cell becomes one grading row: capacity-
calibrated SOH (the reference measurement), OCV after a 10-min rest at 50 % SOC (U1), and a 5 s,
1 C discharge-pulse resistance DCIR = (U13 − U15) / (1 C × Qn). The checks are the ones a grader
must pass on real cells: measured rest voltages of healthy cells pass the OCV gate, grades follow
the capacity SOH bands exactly, the application-derived resistance limits are neither vacuous nor
impossible, and every cell gets a decision with its reasons. The printed table is in
docs/validation.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from echelon.grading import decisions_from_row, grade_table, load_profile

pytestmark = pytest.mark.real_data
AS_OF = dt.date(2026, 11, 22)
GROUPS = {
    "10Ah LMO/LMO_10Ah_W_5000.xlsx": "LMO",
    "21Ah NMC/NMC_21Ah_W_5000.xlsx": "NMC622",  # the NMC variant is not named [assumption]
    "35Ah LFP/LFP_35Ah_W_5000.xlsx": "LFP",
}


def pulsebat_cells(root: Path) -> pl.DataFrame:
    """One grading row per EV-retired PulseBat cell (SOC 50 % sheet, 5 s pulses)."""
    from python_calamine import CalamineWorkbook

    frames = []
    for name, chem in GROUPS.items():
        book = CalamineWorkbook.from_path(str(root / "processed_features_W5000" / name))
        rows = book.get_sheet_by_name("SOC50").to_python()
        sheet = pl.DataFrame(rows[1:], schema=rows[0], orient="row", infer_schema_length=None)
        frames.append(
            sheet.select(
                pl.format("{}-{}Ah-{}", pl.col("Mat"), pl.col("Qn"), pl.col("No.")).alias(
                    "battery_id"
                ),
                pl.lit(chem).alias("chemistry"),
                pl.lit("cell").alias("level"),
                pl.lit("automotive").alias("origin_application"),
                pl.col("Qn").cast(pl.Float64).alias("nominal_capacity_ah"),
                (pl.col("SOH").cast(pl.Float64) * 100).alias("soh_percent"),
                pl.col("U1").cast(pl.Float64).alias("ocv_v"),
                (
                    (pl.col("U13").cast(pl.Float64) - pl.col("U15").cast(pl.Float64))
                    / pl.col("Qn").cast(pl.Float64)
                ).alias("dcir_ohm"),
                pl.lit(True).alias("has_traceability"),
                pl.lit("").alias("visual_flags"),
            )
        )
    return pl.concat(frames)


@pytest.fixture
def cells(real_dataset: Callable[[str], Path]) -> pl.DataFrame:
    return pulsebat_cells(real_dataset("pulsebat"))


def _rmax_ohm(app: str, c_rate: float) -> pl.Expr:
    capacity_ah = pl.col("nominal_capacity_ah") * pl.col("soh_basis_percent") / 100
    return pl.col(f"rmax_v__{app}") / (c_rate * capacity_ah)


def summary(graded: pl.DataFrame) -> pl.DataFrame:
    """Per chemistry: cells, grades, routes, DCIR and its margin to two applications' R_max."""
    return (
        graded.group_by("chemistry")
        .agg(
            pl.len().alias("cells"),
            (pl.col("soh_percent").min().round(1)).alias("soh_min"),
            (pl.col("soh_percent").max().round(1)).alias("soh_max"),
            *[(pl.col("grade") == g).sum().alias(g) for g in "ABCD"],
            (pl.col("gate") == "quarantine").sum().alias("quarantined"),
            (pl.col("dcir_ohm").median() * 1e3).round(2).alias("dcir_median_mohm"),
            (_rmax_ohm("ess", 1.0) / pl.col("dcir_ohm")).min().round(1).alias("ess_margin_min"),
            (_rmax_ohm("auto12v", 5.0) / pl.col("dcir_ohm"))
            .min()
            .round(1)
            .alias("auto12v_margin_min"),
            pl.col("route").value_counts(sort=True).alias("routes"),
        )
        .sort("chemistry")
    )


def test_real_retired_cells_are_graded_consistently(cells: pl.DataFrame) -> None:
    assert cells.height == 95 + 52 + 56
    profile = load_profile("eu")
    graded = grade_table(cells, profile=profile, as_of=AS_OF)
    print()
    with pl.Config(tbl_rows=10, tbl_cols=20, fmt_str_lengths=120, tbl_width_chars=200):
        print(summary(graded))
    # measured rest voltages of cells at 50 % SOC are inside their chemistry's window
    assert not graded["fail__gate.ocv_window"].any()
    # nothing else fires on these healthy, traceable cells
    assert (graded["gate"] == "pass").all()
    # the capacity SOH decides the band whenever resistance does not (grade = worst criterion)
    soh_index = graded["soh_grade_index"].to_list()
    grades = graded["grade"].to_list()
    r_index = graded["resistance_grade_index"].to_list()
    for s, r, g in zip(soh_index, r_index, grades, strict=True):
        assert "ABCD"[max(s, r)] == g
    # the application-derived resistance limits exclude none of these healthy cells (margins in
    # docs/validation.md); where an application has a limit, it is finite and positive
    margins = graded.select(
        (_rmax_ohm("ess", 1.0) / pl.col("dcir_ohm")).alias("ess"),
        (_rmax_ohm("auto12v", 5.0) / pl.col("dcir_ohm")).alias("auto12v"),
    )
    assert float(margins["ess"].min()) > 1.0  # type: ignore[arg-type]
    assert float(margins["auto12v"].drop_nulls().min()) > 1.0  # type: ignore[arg-type]
    assert not ((graded["misfit__ess"] & 16) > 0).any()
    # every cell gets gate, grade and route decisions with reasons
    for row in graded.head(20).iter_rows(named=True):
        kinds = [d.kind for d in decisions_from_row(row, profile)]
        assert kinds == ["gate", "grade", "route"]
