"""Grading certificate of one battery: a self-contained HTML page from the registry's record.

The certificate shows the unit's identity, its measurements, and its latest gate, grade and route
decisions with every rule evaluated, the numbers compared, the profile and version, the economics
used and the regulatory conditions; and it names the head of the unit's hash-chained event log so
that anyone with the registry can check it (``echelon verify``). Issuing records the certificate's
SHA-256 as an event in the same chain (see :func:`certificate_event`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import vl_convert as vlc

from echelon._version import __version__
from echelon.domain import Reason
from echelon.errors import NotFoundError
from echelon.registry import BatteryRecord, PendingEvent
from echelon.reports.batch import _environment
from echelon.reports.charts import soh_band_chart, vega_lite_version
from echelon.routing.explain import usd_text

CERTIFICATE_EVENT = "certificate_issued"
"""Event kind recorded when a certificate is issued (payload: ``sha256``, ``file``, …)."""


@dataclass(frozen=True)
class Certificate:
    """A rendered certificate.

    Attributes
    ----------
    battery_id : str
    html : str
        The self-contained document.
    sha256 : str
        SHA-256 of ``html`` encoded as UTF-8.
    issued_at : datetime
        UTC time of issue.
    chain_head : tuple of (int, str)
        ``(seq, hash)`` of the last event the certificate reflects.
    """

    battery_id: str
    html: str
    sha256: str
    issued_at: dt.datetime
    chain_head: tuple[int, str]


def reason_rows(reasons: tuple[Reason, ...], *, fired_first: bool) -> list[dict[str, Any]]:
    """A decision's reasons for display: ``rule``, ``state`` (``fail``, ``note`` for a rule not
    checked, else ``ok``) and ``message``; rules that fired first when ``fired_first``."""
    ordered = sorted(reasons, key=lambda r: r.passed) if fired_first else list(reasons)
    rows = []
    for reason in ordered:
        state = "fail" if not reason.passed else "note" if "not checked" in reason.message else "ok"
        rows.append({"rule": reason.rule, "state": state, "message": reason.detail})
    return rows


def soh_band_svg(record: BatteryRecord) -> str | None:
    """The unit's latest SOH and its interval against the grade bands of its latest grade
    decision, as SVG (:func:`echelon.reports.charts.soh_band_chart`); ``None`` without an SOH,
    a grade decision or SOH bands in it."""
    soh = [m for m in record.measurements if m.quantity == "soh_percent"]
    grade = record.latest_decisions().get("grade")
    if not soh or grade is None:
        return None
    bands = {
        r.rule.split(".")[1]: float(r.limit)
        for r in grade.reasons
        if r.rule.endswith(".soh") and isinstance(r.limit, (int, float))
    }
    if not bands:
        return None
    latest = soh[-1]
    spec = soh_band_chart(
        latest.value,
        lower_percent=latest.lower,
        upper_percent=latest.upper,
        band_minimums=bands,
    )
    return str(vlc.vegalite_to_svg(spec, vl_version=vega_lite_version()))


def certificate_html(record: BatteryRecord, *, issued_at: dt.datetime | None = None) -> Certificate:
    """Render the grading certificate of a battery.

    Parameters
    ----------
    record : BatteryRecord
        From :func:`echelon.registry.battery_record`.
    issued_at : datetime, optional
        Time of issue (default: now, UTC).

    Returns
    -------
    Certificate

    Raises
    ------
    NotFoundError
        When the battery has no gate decision yet (nothing to certify).
    """
    latest = record.latest_decisions()
    if "gate" not in latest:
        raise NotFoundError(
            f"{record.battery.battery_id} has no grading decision (status {record.status}); "
            "grade it first (`echelon intake`), then issue the certificate"
        )
    when = issued_at or dt.datetime.now(dt.UTC)
    head = record.events[-1]
    gate, grade, route = latest.get("gate"), latest.get("grade"), latest.get("route")
    route_rows = reason_rows(route.reasons, fired_first=False) if route else []
    html = (
        _environment()
        .get_template("certificate.html.j2")
        .render(
            version=__version__,
            battery=record.battery,
            status=record.status,
            issued=when.strftime("%Y-%m-%d %H:%M UTC"),
            gate=gate,
            grade=grade,
            route=route,
            route_inputs=route.inputs if route else {},
            value_text=usd_text(_number(route.inputs.get("value_usd"))) if route else "—",
            gate_rows=reason_rows(gate.reasons, fired_first=True) if gate else [],
            grade_rows=reason_rows(grade.reasons, fired_first=False) if grade else [],
            app_rows=[
                r
                for r in route_rows
                if r["rule"].startswith("route.")
                and r["rule"] not in ("route.choice", "route.recycling_value")
            ],
            other_route_rows=[
                r
                for r in route_rows
                if not r["rule"].startswith("route.")
                or r["rule"] in ("route.recycling_value", "route.choice")
            ],
            measurements=record.measurements,
            soh_svg=soh_band_svg(record),
            head_seq=head.seq,
            head_hash=head.hash,
            events=record.events,
        )
    )
    return Certificate(
        record.battery.battery_id,
        html,
        hashlib.sha256(html.encode("utf-8")).hexdigest(),
        when,
        (head.seq, head.hash),
    )


def certificate_event(cert: Certificate, *, file_name: str) -> PendingEvent:
    """The ``certificate_issued`` event recording a certificate's hash in the unit's chain."""
    return PendingEvent(
        CERTIFICATE_EVENT,
        None,
        {
            "sha256": cert.sha256,
            "file": file_name,
            "issued_at": cert.issued_at.isoformat(timespec="seconds"),
            "reflects_seq": cert.chain_head[0],
            "reflects_hash": cert.chain_head[1],
        },
    )


def _number(value: object) -> float | None:
    """A recorded input as a float (``None`` when absent or not a number)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
