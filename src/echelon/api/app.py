"""The FastAPI application: the JSON API under ``/api`` and the dashboard, on one registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from echelon._version import __version__
from echelon.api.errors import install_error_handlers
from echelon.api.middleware import HeadAsGet, SecurityHeaders, host_names
from echelon.api.routes import router
from echelon.api.state import AppState
from echelon.passport import load_passport_data
from echelon.registry import open_registry

DESCRIPTION = """Read-only views of an Echelon registry: batteries with their derived status,
grade, route and SOH; one battery's record with every decision and reason; Battery Pass passport
views by access group (built on request, never recorded); chain verification. The dashboard is
at `/`. See docs/web.md."""


def create_app(
    db_url: str | None = None,
    *,
    passport_data: Path | None = None,
    allowed_hosts: Sequence[str] = (),
) -> FastAPI:
    """The Echelon web app: the JSON API (``/api/…``, its OpenAPI schema at ``/openapi.json``)
    and the dashboard (``/``, ``/battery/{id}``).

    Requests whose ``Host`` header is not ``localhost``, ``127.0.0.1``, ``[::1]`` or one of
    ``allowed_hosts`` are refused (400), so a web page on another site cannot read the registry
    through DNS rebinding. The interactive documentation pages (``/docs``, ``/redoc``) are off:
    they load their scripts from a CDN.

    Parameters
    ----------
    db_url : str, optional
        Registry URL (default ``ECHELON_DB_URL``, else ``sqlite:///echelon.db``). It is opened
        (and migrated, like every command does) here and closed when the app shuts down; a
        SQLite file that does not exist is refused, never created.
    passport_data : Path, optional
        The facility's passport data file (JSON, YAML or TOML; docs/passport.md) the passport
        views are built with; read and checked here.
    allowed_hosts : sequence of str, optional
        Further ``Host`` names answered: the address the server is bound to, and the names and
        addresses clients reach it by (``*.example.com``: every subdomain; ``*``: any host).

    Returns
    -------
    FastAPI

    Raises
    ------
    UsageError
        For an allowed host that can never match a ``Host`` header (a URL, a port, a wildcard
        not leading a domain).
    RegistryError
        When the registry cannot be opened, or its SQLite file does not exist.
    InputError
        When the passport data file is invalid (every problem listed).
    """
    from echelon.web import error_page, web_router  # the dashboard is an adapter on this app

    hosts = host_names(allowed_hosts)  # a host that can never match: refused before opening
    data = load_passport_data(passport_data) if passport_data is not None else None
    registry = open_registry(db_url, create=False)  # a mistyped path is no empty registry

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            registry.close()

    app = FastAPI(
        title="Echelon",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load from a CDN: the schema is /openapi.json
        redoc_url=None,
    )
    app.state.echelon = AppState(registry, data)
    install_error_handlers(app, html=error_page)
    app.add_middleware(HeadAsGet)  # the last added runs first: host check, headers, HEAD
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)
    app.add_middleware(SecurityHeaders)
    app.include_router(router)
    app.include_router(web_router)
    return app
