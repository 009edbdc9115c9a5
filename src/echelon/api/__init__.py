"""Echelon's HTTP adapters: a read-only JSON API under ``/api`` and the dashboard, served by one
FastAPI app (:func:`create_app`; ``echelon serve``). Nothing here decides anything: every
endpoint calls :mod:`echelon.registry` and :mod:`echelon.passport` functions, and exceptions
become HTTP status codes in one place (:data:`echelon.api.errors.HTTP_STATUS`). See docs/web.md.
"""

from echelon.api.app import create_app
from echelon.api.errors import HTTP_STATUS, status_for

__all__ = ["HTTP_STATUS", "create_app", "status_for"]
