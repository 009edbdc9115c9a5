"""Run BLAST-Lite models on hourly profiles; executed by the peer virtual environment's Python.

Usage: ``<blast-venv>/bin/python blast_runner.py PROFILES.npz OUT.json``. The npz holds
``names`` (duty names), ``soc`` (duties × hours) and ``temperature_celsius`` (duties × hours).
Writes, per model and duty, the wall time of ``simulate_battery_life`` and the relative capacity at
the end of each simulated year. Only the standard library, numpy and blast-lite are imported (this
file runs outside Echelon's environment; BLAST-Lite needs numpy < 2).
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")

from blast import models  # noqa: E402

MODELS = {
    "LFP": "Lfp_Gr_250AhPrismatic",
    "NMC": "Nmc111_Gr_Sanyo2Ah_Battery",
    "NCA": "Nca_Gr_Panasonic3Ah_Battery",
    "LMO": "Lmo_Gr_NissanLeaf66Ah_2ndLife_Battery",
}


def main(src: str, dst: str) -> None:
    data = np.load(src)
    names = [str(n) for n in data["names"]]
    soc, temp = data["soc"], data["temperature_celsius"]
    hours = soc.shape[1]
    t = np.arange(hours, dtype=np.float64) * 3600.0
    out = []
    for key, cls_name in MODELS.items():
        for i, name in enumerate(names):
            cell = getattr(models, cls_name)()
            start = time.perf_counter()
            cell.simulate_battery_life({"Time_s": t, "SOC": soc[i], "Temperature_C": temp[i]})
            seconds = time.perf_counter() - start
            days = np.asarray(cell.stressors["t_days"], dtype=float)
            q = np.asarray(cell.outputs["q"], dtype=float)
            years = np.arange(1, round(hours / 24 / 365) + 1)
            out.append(
                {
                    "model": key,
                    "duty": name,
                    "seconds": seconds,
                    "q_by_year": np.interp(years * 365.0, days, q).tolist(),
                }
            )
    with open(dst, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
