"""What the app holds between requests: the open registry and the facility's passport data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from echelon.passport import PassportData
from echelon.registry import Registry


@dataclass(frozen=True)
class AppState:
    """The app's registry and passport data (``app.state.echelon``)."""

    registry: Registry
    passport_data: PassportData | None = None


def app_state(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request`` (a FastAPI dependency)."""
    state: AppState = request.app.state.echelon
    return state


State = Annotated[AppState, Depends(app_state)]
"""Parameter type that injects the :class:`AppState`."""
