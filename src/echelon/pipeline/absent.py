"""What a manifest column missing for the whole batch did to the intake's decisions.

``echelon grade`` warns about grading columns a whole table lacks (:func:`echelon.grading.reader.
absent_column_effects`); the intake builds its grading table from the manifest and the tester files,
so the same check on that table says which inputs no unit had, and how many units it affected
(a manifest without ``has_traceability`` quarantines every unit of a level that requires it).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from echelon.grading import gate_rules, load_profile
from echelon.grading.reader import absent_column_effects


def absent_column_notes(table: pl.DataFrame, graded: pl.DataFrame) -> list[str]:
    """One line per grading input missing for every unit of the batch, with the units affected.

    Parameters
    ----------
    table : pl.DataFrame
        The batch's grading table (manifest fields and measurements, before grading).
    graded : pl.DataFrame
        The graded batch (with the ``fail__<rule>`` columns of the safety gate).

    Returns
    -------
    list of str
        E.g. ``"has_traceability empty for all 5 units: traceability counts as absent: … —
        5 of 5 units quarantined by gate.traceability"``. Units affected are those a gate rule
        reading the column quarantined; for a column no gate rule reads, every unit.
    """
    if table.height == 0:
        return []
    fields = {r.name: r.field for r in gate_rules(load_profile("baseline"), as_of=dt.date.today())}
    notes = []
    for how, effect in absent_column_effects(table):
        names = {h.rsplit(" ", 1)[0] for h in how}
        rules = [n for n, f in fields.items() if f in names and f"fail__{n}" in graded.columns]
        what = f"{' and '.join(how)} for all {table.height} units: {effect}"
        if rules:
            hit = graded.select(pl.any_horizontal(f"fail__{n}" for n in rules).sum()).item()
            what += f" — {hit} of {graded.height} units quarantined by {', '.join(rules)}"
        else:
            what += f" — all {graded.height} units"
        notes.append(what)
    return notes
