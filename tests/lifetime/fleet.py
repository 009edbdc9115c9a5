"""A synthetic fleet of capacity trajectories with known threshold crossings (unit tests only)."""

from __future__ import annotations

import numpy as np
import polars as pl


def soh_curve(cycle: np.ndarray, life: float) -> np.ndarray:
    """1 − 0.08 (n/L) − 0.12 (n/L)^4: slow linear fade, then a knee; SOH 0.80 at n = L."""
    x = cycle / life
    return 1.0 - 0.08 * x - 0.12 * x**4


def fleet(lives: list[float], *, noise: float = 0.002, seed: int = 1, step: float = 5.0,
          end: float = 1.15) -> pl.DataFrame:  # fmt: skip
    """One row per unit and check-up: battery_id, cycle, soh_percent."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, life in enumerate(lives):
        cycle = np.arange(step, life * end, step)
        soh = soh_curve(cycle, life) + rng.normal(0.0, noise, cycle.size)
        frames.append(
            pl.DataFrame({"battery_id": f"U{i:02d}", "cycle": cycle, "soh_percent": soh * 100})
        )
    return pl.concat(frames)
