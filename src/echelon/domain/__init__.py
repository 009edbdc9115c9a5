"""Domain types shared by every stage: batteries, test runs, measurements, decisions, events."""

from echelon.domain.battery import Battery, check_parent_level
from echelon.domain.enums import (
    NON_REUSE_ROUTES,
    Application,
    CapacityClass,
    CellFormat,
    Chemistry,
    Gate,
    Grade,
    Level,
    OriginApplication,
    Region,
    Status,
    TestKind,
    VisualFlag,
)
from echelon.domain.records import Decision, Event, Measurement, Reason, TestRun

__all__ = [
    "NON_REUSE_ROUTES",
    "Application",
    "Battery",
    "CapacityClass",
    "CellFormat",
    "Chemistry",
    "Decision",
    "Event",
    "Gate",
    "Grade",
    "Level",
    "Measurement",
    "OriginApplication",
    "Reason",
    "Region",
    "Status",
    "TestKind",
    "TestRun",
    "VisualFlag",
    "check_parent_level",
]
