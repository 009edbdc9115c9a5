"""One place that maps Echelon's exceptions to HTTP status codes (as the CLI maps them to exit
codes in :data:`echelon.cli._errors.EXIT_CODES`).

Every error answers with its message, which says what was wrong and what to do: JSON
``{"error": "NotFoundError", "detail": "…"}`` under ``/api``, an HTML page elsewhere (the
dashboard). Request validation (a query value of the wrong type or out of range, e.g. ``limit``)
is FastAPI's: 422 with its ``detail`` list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from echelon.api.middleware import secure
from echelon.errors import (
    CatalogError,
    ChainError,
    ConfigError,
    EchelonError,
    InputError,
    NotFoundError,
    PassportError,
    RegistryError,
    UsageError,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api"
"""Paths answered with JSON errors; every other path is the dashboard's (HTML errors)."""

HTTP_STATUS: list[tuple[type[BaseException], int]] = [
    (UsageError, 422),  # a query value not offered (status, grade, chemistry, …)
    (InputError, 422),  # a user file (the passport data file) is invalid
    (NotFoundError, 404),  # unknown battery id; the message names close matches
    (PassportError, 409),  # no passport in the battery's state (recycled, dismantled)
    (ChainError, 409),  # a passport of a chain that does not verify (GET /api/verify: 200)
    (RegistryError, 503),  # the database cannot be reached (exit code 5); also a database error
    # raised while answering (sqlalchemy's DBAPIError: server down, database renamed, …)
    (ConfigError, 500),  # a catalogue table or setting is invalid: the message says which
    (CatalogError, 500),
    (EchelonError, 500),
]
"""Exception class → HTTP status, most specific first (documented in docs/web.md)."""

HtmlErrorPage = Callable[[Request, int, str], Response]
"""Renders an error for a dashboard page: ``(request, status, message) → response``."""


def status_for(exc: BaseException) -> int:
    """HTTP status of an exception (500 for anything unexpected)."""
    for cls, status in HTTP_STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def unavailable(exc: DBAPIError) -> RegistryError:
    """The :class:`~echelon.errors.RegistryError` (503) a database error raised while answering
    becomes: the registry stopped answering (server down, database renamed or locked, …)."""
    cause = exc.orig if exc.orig is not None else exc
    reason = next(iter(str(cause).strip().splitlines()), "")
    return RegistryError(
        f"registry unavailable: the database did not answer ({type(cause).__name__}"
        f"{': ' + reason if reason else ''}); check that the database file or server is "
        "reachable — GET /api/health says when it answers again"
    )


def _is_api(request: Request) -> bool:
    path = request.url.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def http_message(request: Request, exc: HTTPException) -> str:
    """What a routing error means for this server: no such path (404), a method other than
    ``GET``/``HEAD`` on a read-only server (405), else the exception's own detail."""
    path = request.url.path
    if exc.status_code == 404:
        where = (
            "the API's endpoints are listed in /openapi.json"
            if _is_api(request)
            else "the dashboard is at /, the API under /api (endpoints listed in /openapi.json)"
        )
        return f"nothing at {path}: {where}"
    if exc.status_code == 405:
        return f"{request.method} is not allowed on {path}: the server is read-only (GET, HEAD)"
    return str(exc.detail)


def _error_name(status: int) -> str:
    """``NotFound`` for 404, ``MethodNotAllowed`` for 405, …"""
    try:
        return "".join(HTTPStatus(status).phrase.split())
    except ValueError:
        return "HTTPError"


def install_error_handlers(app: FastAPI, *, html: HtmlErrorPage | None = None) -> None:
    """Answer every :class:`~echelon.errors.EchelonError` with :func:`status_for` and its
    message, a database error raised while answering with 503 (:func:`unavailable`), a routing
    error (unknown path, method not allowed) with its status and :func:`http_message`, and
    anything else with 500 naming the bug (the traceback goes to the log).

    Parameters
    ----------
    app : FastAPI
    html : callable, optional
        Error page for paths outside :data:`API_PREFIX`; JSON everywhere when ``None``.
    """

    def answer(request: Request, status: int, error: str, message: str) -> Response:
        if html is not None and not _is_api(request):
            return html(request, status, message)
        return JSONResponse({"error": error, "detail": message}, status_code=status)

    async def on_echelon_error(request: Request, exc: Exception) -> Response:
        status = status_for(exc)
        if status >= 500:
            log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return answer(request, status, type(exc).__name__, str(exc))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        response = answer(request, status, _error_name(status), http_message(request, exc))
        response.headers.update(exc.headers or {})  # a 405's Allow
        if status == 405:  # HEAD is answered on every GET route (api.middleware)
            response.headers["allow"] = "GET, HEAD"
        return response

    async def on_database_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DBAPIError)
        state = getattr(request.app.state, "echelon", None)
        if state is not None:  # reconnect on the next request: pooled connections may be stale
            state.registry.engine.dispose()
        return await on_echelon_error(request, unavailable(exc))

    async def on_internal_error(request: Request, exc: Exception) -> Response:
        message = (
            f"internal error: {type(exc).__name__}: {exc}. This is a bug in Echelon; the "
            "server's log has the traceback: please report it."
        )
        response = answer(request, 500, "InternalError", message)
        secure(response.headers)  # answered outside the middleware that secures the others
        return response

    app.add_exception_handler(EchelonError, on_echelon_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_internal_error)
