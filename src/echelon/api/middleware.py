"""ASGI middleware of the app: the hosts it answers, headers on every response, ``HEAD``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from echelon.errors import UsageError

LOCAL_HOSTS: Final = ("localhost", "127.0.0.1", "[::1]")
"""``Host`` names always answered: this machine's (the default bind address is 127.0.0.1)."""
WILDCARD_ADDRESSES: Final = frozenset({"", "0.0.0.0", "::", "[::]"})
"""Bind addresses meaning "every interface": no client sends them as its ``Host``."""
NOSNIFF: Final = {"x-content-type-options": "nosniff"}
"""Set on every response: browsers take the content type as given, never guess it."""
DEFAULT_CSP: Final = "default-src 'none'; frame-ancestors 'none'"
"""``Content-Security-Policy`` of responses that set none (JSON): nothing may load or frame it."""


def host_names(hosts: Iterable[str] = ()) -> list[str]:
    """The ``Host`` names a server answers: :data:`LOCAL_HOSTS` and ``hosts`` (names, addresses,
    ``*.example.com`` for every subdomain, ``*`` for any), lower-case, an IPv6 address in brackets
    as it is written in a ``Host`` header, wildcard bind addresses (``0.0.0.0``) left out."""
    names = list(LOCAL_HOSTS)
    for host in hosts:
        name = host.strip().lower()
        if name in WILDCARD_ADDRESSES:
            continue
        _check_host(name)
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"
        if name not in names:
            names.append(name)
    return names


def _check_host(name: str) -> None:
    """Refuse an allowed host that could never match a ``Host`` header (it would start a server
    that answers every request with 400, or with a 500 for a malformed wildcard)."""
    if "://" in name or "/" in name:
        raise UsageError(
            f"allowed host {name!r} is a URL: give the host name alone (e.g. 'lab.example')"
        )
    if name.count(":") == 1 and not name.startswith("["):
        raise UsageError(
            f"allowed host {name!r} has a port: give the host alone ({name.split(':')[0]!r}); "
            "any port is answered"
        )
    if "*" in name and name != "*" and not (name.startswith("*.") and "*" not in name[2:]):
        raise UsageError(
            f"allowed host {name!r}: a wildcard must be '*' or lead a domain, as '*.example.com'"
        )


def secure(headers: MutableHeaders) -> None:
    """Set :data:`NOSNIFF`, and :data:`DEFAULT_CSP` unless a policy is set already."""
    headers.update(NOSNIFF)
    headers.setdefault("content-security-policy", DEFAULT_CSP)


class SecurityHeaders:
    """:func:`secure` every response (the dashboard's pages set their own policy, with a nonce;
    a 500 for a bug is answered outside every middleware, and secured by its handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                secure(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, with_headers)


class HeadAsGet:
    """Answer ``HEAD`` on every ``GET`` route (uptime probes, link checkers): the request is
    routed as ``GET`` and its response sent with the same status and headers (the
    ``content-length`` of the body a ``GET`` returns, RFC 9110 §9.3.2) but no body. FastAPI's
    routes answer only the methods they declare, and declaring ``HEAD`` on each would list every
    endpoint twice in the OpenAPI schema."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # a streamed body's chunks: dropped, only the last is sent (empty)
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
