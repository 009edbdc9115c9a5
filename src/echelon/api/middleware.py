"""ASGI middleware of the app: ``HEAD`` answered as ``GET`` without the body."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
