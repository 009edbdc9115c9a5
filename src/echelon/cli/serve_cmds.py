"""``echelon serve``: the read-only JSON API and the dashboard on one registry (uvicorn)."""

from __future__ import annotations

import socket
from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer

from echelon.cli._common import DbOption, console
from echelon.cli._errors import guarded


@guarded
def serve_cmd(
    db: DbOption = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free one).")] = 8000,
    passport_data: Annotated[
        Path | None,
        typer.Option(
            "--passport-data",
            help="The facility's passport data file the passport views are built with "
            "(docs/passport.md).",
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="A Host name or address clients reach the server by, besides localhost, "
            "127.0.0.1, ::1 and --host (repeatable; *.example.com: every subdomain). Requests "
            "for any other host are refused (DNS rebinding).",
        ),
    ] = None,
) -> None:
    """Serve the registry read-only: the dashboard at /, the JSON API at /api, its OpenAPI
    schema at /openapi.json.

    Nothing is authenticated: every passport view, `full` included, is open to whoever reaches
    the address; keep the default 127.0.0.1 unless the network is trusted (docs/web.md).
    """
    from echelon.api import create_app  # FastAPI and uvicorn load only for this command
    from echelon.api.middleware import WILDCARD_ADDRESSES
    from echelon.api.server import bind, server

    with closing(bind(host, port)) as sock:  # a taken port fails before the registry opens
        hosts = [host, *(allowed_host or [])]
        app = create_app(db, passport_data=passport_data, allowed_hosts=hosts)
        shown = f"[{host}]" if ":" in host and not host.startswith("[") else host  # IPv6
        console.print(
            f"[green]serving[/] {app.state.echelon.registry.url} on "
            f"http://{shown}:{sock.getsockname()[1]}/ (API /api, schema /openapi.json); "
            "Ctrl+C stops",
            soft_wrap=True,
            highlight=False,
        )
        if host in WILDCARD_ADDRESSES and not allowed_host:
            console.print(
                f"[yellow]note:[/] only requests for localhost are answered; give every name or "
                f"address clients use with --allowed-host (e.g. --allowed-host "
                f"{socket.gethostname()})",
                soft_wrap=True,
                highlight=False,
            )
        try:
            server(app).run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn raises Ctrl+C again once it has shut down cleanly
            console.print("stopped")
