"""State-of-health estimators with intervals (capacity test as the reference)."""

from echelon.estimation.capacity import SohEstimate, soh_from_capacity

__all__ = ["SohEstimate", "soh_from_capacity"]
