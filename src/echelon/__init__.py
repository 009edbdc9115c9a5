"""Echelon: second life and recycling of lithium batteries.

Sub-packages follow the pipeline: ``catalog`` → ``io`` → ``diagnostics`` → ``estimation`` →
``grading`` → ``registry`` → ``pipeline``; ``cli`` and ``reports`` are adapters. Nothing is
imported or read at import time; import what you need from the sub-packages.
"""

from echelon._version import __version__

__all__ = ["__version__"]
