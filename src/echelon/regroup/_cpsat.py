"""The pack-formation model on OR-Tools CP-SAT (imported only when OR-Tools is installed).

Variables of :class:`~echelon.regroup.formation.FormationModel` are integers in
``[0, upper]`` and its rows have integer coefficients, so they are added as they are. Objective
coefficients are
scaled (largest = 10⁶) and rounded *up*, so the solver's bound divided by the scale is a valid
upper bound on the real objective.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.sat.python import cp_model

from echelon.regroup.formation import FormationModel
from echelon.regroup.instance import FloatArray

OBJECTIVE_TOP = 1_000_000


def solve_cpsat(
    model: FormationModel,
    *,
    time_limit_s: float,
    hint: FloatArray | None,
    workers: int,
) -> tuple[str, FloatArray | None, float | None, list[str]]:
    """Solve a formation model; returns ``(status, values or None, upper bound, notes)``."""
    cp = cp_model.CpModel()
    x = [cp.new_int_var(0, int(ub), f"x{i}") for i, ub in enumerate(model.upper.tolist())]
    matrix = model.matrix.tocsr()
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        cols = matrix.indices[start:end]
        vals = matrix.data[start:end]
        lower, upper = model.row_lower[row], model.row_upper[row]
        expr = sum(int(v) * x[int(c)] for c, v in zip(cols, vals, strict=True))
        if np.isfinite(lower) and np.isfinite(upper) and lower == upper:
            cp.add(expr == round(lower))
            continue
        if np.isfinite(lower):
            cp.add(expr >= int(np.ceil(lower - 1e-9)))
        if np.isfinite(upper):
            cp.add(expr <= int(np.floor(upper + 1e-9)))
    scale = OBJECTIVE_TOP / max(float(np.abs(model.objective).max()), 1e-300)
    coef = np.ceil(model.objective * scale - 1e-9).astype(np.int64)
    cp.maximize(sum(int(c) * x[i] for i, c in enumerate(coef) if c))
    if hint is not None:
        for i, value in enumerate(hint.tolist()):
            cp.add_hint(x[i], round(value))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = workers
    start_time = time.perf_counter()
    status = solver.solve(cp)
    seconds = time.perf_counter() - start_time
    name = solver.status_name(status)
    notes = [f"CP-SAT: {name} ({seconds:.1f} s)"]
    bound = float(solver.best_objective_bound) / scale
    if status == cp_model.INFEASIBLE:
        return name, None, 0.0, notes
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return name, None, bound, notes
    values = np.array([solver.value(v) for v in x], dtype=np.float64)
    return name, values, bound, notes
