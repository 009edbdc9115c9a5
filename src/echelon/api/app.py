"""The FastAPI application: the JSON API under ``/api`` and the dashboard, on one registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from echelon._version import __version__
from echelon.api.errors import install_error_handlers
from echelon.api.middleware import HeadAsGet
from echelon.api.routes import router
from echelon.api.state import AppState
from echelon.passport import load_passport_data
from echelon.registry import open_registry

DESCRIPTION = """Read-only views of an Echelon registry: batteries with their derived status,
grade, route and SOH; one battery's record with every decision and reason; Battery Pass passport
views by access group (built on request, never recorded); chain verification. The dashboard is
at `/`. See docs/web.md."""


def create_app(db_url: str | None = None, *, passport_data: Path | None = None) -> FastAPI:
    """The Echelon web app: the JSON API (``/api/…``, OpenAPI docs at ``/docs``) and the
    dashboard (``/``, ``/battery/{id}``).

    Parameters
    ----------
    db_url : str, optional
        Registry URL (default ``ECHELON_DB_URL``, else ``sqlite:///echelon.db``). It is opened
        (and migrated, like every command does) here and closed when the app shuts down.
    passport_data : Path, optional
        The facility's passport data file (JSON, YAML or TOML; docs/passport.md) the passport
        views are built with; read and checked here.

    Returns
    -------
    FastAPI

    Raises
    ------
    RegistryError
        When the registry cannot be opened.
    InputError
        When the passport data file is invalid (every problem listed).
    """
    from echelon.web import error_page, web_router  # the dashboard is an adapter on this app

    data = load_passport_data(passport_data) if passport_data is not None else None
    registry = open_registry(db_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            registry.close()

    app = FastAPI(title="Echelon", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.echelon = AppState(registry, data)
    install_error_handlers(app, html=error_page)
    app.add_middleware(HeadAsGet)
    app.include_router(router)
    app.include_router(web_router)
    return app
