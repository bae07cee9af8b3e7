"""`imghost edge-config`: the nginx edge's configuration, written from the settings."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from imghost.cli.server_settings import load_settings
from imghost.edge.nginx import EdgeConfigError, EdgeOptions, render, standalone
from imghost.proxies import parse_trusted_proxies


def edge_config(
    listen: str = typer.Option("0.0.0.0:80", help="Address and port the edge listens on"),
    upstream: list[str] = typer.Option(
        [], help="An API process (host:port); repeat for each. Default: IMGHOST_HOST:IMGHOST_PORT"
    ),
    cache_dir: str = typer.Option("/var/cache/imghost-edge", help="nginx's cache directory"),
    cache_size: str = typer.Option("10g", help="Most disk the cache may use (nginx size)"),
    sendfile: bool | None = typer.Option(
        None,
        "--sendfile/--no-sendfile",
        help="Send local blobs from nginx (X-Accel-Redirect); default: when storage allows",
    ),
    prefix: Path | None = typer.Option(
        None,
        help="Write a whole nginx.conf running in the foreground with its files here "
        "(nginx -c PREFIX/nginx.conf -p PREFIX) instead of printing an http-block include",
    ),
) -> None:
    """Print the nginx configuration of the edge tier (see docs/OPERATIONS.md)."""
    settings = load_settings()
    upstreams = tuple(upstream) or (f"{settings.host}:{settings.port}",)
    options = EdgeOptions(listen, upstreams, cache_dir, cache_size, sendfile)
    try:
        http = render(settings, options)
    except EdgeConfigError as exc:
        Console(stderr=True).print(f"[red]edge-config:[/red] {exc}")
        raise typer.Exit(2) from exc
    if not parse_trusted_proxies(settings.trusted_proxies):
        Console(stderr=True).print(
            "[yellow]Note:[/yellow] IMGHOST_TRUSTED_PROXIES is empty: set it to the edge's "
            "address, or every client behind it shares one rate limit."
        )
    if prefix is None:
        print(http, end="")
        return
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "nginx.conf").write_text(standalone(http, prefix.resolve()))
    print(prefix / "nginx.conf")
