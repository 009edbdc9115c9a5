"""Serving the app with uvicorn on a socket bound first (so a taken port is a clear error)."""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI

from echelon.errors import UsageError


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free one).

    Raises
    ------
    UsageError
        When the address cannot be used (port taken, unknown host), saying what to change.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise UsageError(f"--host {host!r}: {exc}; give an address such as 127.0.0.1") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port"
        ) from None
    return sock


def server(app: FastAPI, *, log_level: str = "info") -> uvicorn.Server:
    """A uvicorn server for ``app``; start it with ``.run(sockets=[bind(host, port)])`` and
    stop it by setting ``should_exit``."""
    return uvicorn.Server(uvicorn.Config(app, log_level=log_level))
