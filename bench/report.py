"""Print the figures as tables and write them as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.core import BackendResult, Config
from bench.delivery import Target
from bench.fixtures import JpegFixture
from bench.stats import Summary


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def _upload_row(table: Table, label: str, summary: Summary, size: int) -> None:
    table.add_row(
        label,
        _ms(summary.p50),
        _ms(summary.p95),
        _ms(summary.mean),
        _ms(summary.min),
        _ms(summary.max),
        f"{size / 1e6 / (summary.p50 / 1e3):,.1f}",
    )


def upload_table(result: BackendResult, config: Config, large: JpegFixture) -> Table:
    table = Table(
        title=(
            f"Accept a {large.size / 1e6:.1f} MB JPEG "
            f"({large.width}×{large.height}, q{large.quality}) — "
            f"{config.runs} sequential runs after {config.warmup_runs} warm-up"
        ),
        title_justify="left",
    )
    table.add_column("path")
    for heading in ("p50 ms", "p95 ms", "mean ms", "min ms", "max ms", "MB/s @p50"):
        table.add_column(heading, justify="right")
    if result.direct:
        _upload_row(table, "direct: POST /v1/images multipart", result.direct.summary(), large.size)
    if result.presigned:
        _upload_row(table, "presigned + finalize (total)", result.presigned.summary(), large.size)
        labels = {
            "create": "  1. POST /v1/uploads",
            "put": "  2. PUT presigned URL",
            "finalize": "  3. POST /v1/images {uploadId}",
        }
        for step, samples in result.presigned.steps_ms.items():
            summary = Summary.of(samples)
            table.add_row(
                f"[dim]{labels[step]}[/dim]",
                f"[dim]{_ms(summary.p50)}[/dim]",
                f"[dim]{_ms(summary.p95)}[/dim]",
                f"[dim]{_ms(summary.mean)}[/dim]",
                f"[dim]{_ms(summary.min)}[/dim]",
                f"[dim]{_ms(summary.max)}[/dim]",
                "",
            )
    return table


def _get_row(table: Table, label: str, target: Target, nginx_rps: float) -> None:
    r = target.result
    table.add_row(
        label,
        f"{r.requests_per_s:,.0f}",
        f"{r.transfer_bytes_per_s / 1e6:,.1f}",
        _ms(r.p50_ms),
        _ms(r.p99_ms),
        str(r.errors),
        f"{r.requests_per_s / nginx_rps:.3f}",
    )


def get_table(result: BackendResult, config: Config, small: JpegFixture) -> Table | None:
    if result.get is None:
        return None
    get = result.get
    table = Table(
        title=(
            f"GET /images/{{id}} of a {small.size / 1e3:.0f} KB public JPEG — "
            f"{config.wrk.command('URL')} (after {config.wrk.warmup} s warm-up)"
        ),
        title_justify="left",
    )
    table.add_column("server")
    for heading in ("req/s", "MB/s", "p50 ms", "p99 ms", "errors", "÷ nginx"):
        table.add_column(heading, justify="right")
    nginx_rps = get.nginx.result.requests_per_s
    _get_row(table, f"imghost ({config.workers} uvicorn workers)", get.imghost, nginx_rps)
    if get.preset:
        _get_row(table, "imghost thumb.webp (stored preset)", get.preset, nginx_rps)
    if get.edge:
        _get_row(table, "edge: nginx cache in front of imghost", get.edge, nginx_rps)
    if get.edge_hour:
        _get_row(
            table, "[dim]edge keeping entries 1 h (as if purged)[/dim]", get.edge_hour, nginx_rps
        )
    _get_row(table, f"nginx ({config.nginx_workers} workers, file on disk)", get.nginx, nginx_rps)
    if get.s3_direct:
        _get_row(
            table, "[dim]S3 server direct (moto, presigned GET)[/dim]", get.s3_direct, nginx_rps
        )
    return table


def print_backend(
    console: Console, result: BackendResult, config: Config, large: JpegFixture, small: JpegFixture
) -> None:
    console.rule(f"[bold]{result.name}[/bold] — {escape(result.description or 'not started')}")
    if result.direct or result.presigned:
        console.print(upload_table(result, config, large))
    table = get_table(result, config, small)
    if table is not None:
        console.print(table)
    for check in result.checks.items:
        mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
        console.print(f"{mark} {escape(check.name)}: [dim]{escape(check.detail)}[/dim]")
    if result.error:
        console.print(f"[red]error:[/red] {escape(result.error)}")
        if result.log_tail:
            console.print(f"[dim]imghost log (tail):\n{escape(result.log_tail)}[/dim]")
        if result.worker_log_tail:
            console.print(
                f"[dim]imghost worker log (tail):\n{escape(result.worker_log_tail)}[/dim]"
            )
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in result.phases_s.items())
    console.print(f"[dim]time spent: {phases}[/dim]")


def summary_table(results: list[BackendResult], config: Config) -> Table:
    table = Table(
        title=(
            f"Summary — imghost with {config.workers} workers; nginx with "
            f"{config.nginx_workers}; upload latencies in ms, p99 in ms"
        ),
        title_justify="left",
    )
    table.add_column("backend")
    for heading in (
        "direct p50",
        "direct p95",
        "presigned p50",
        "presigned p95",
        "GET req/s",
        "GET p99",
        "nginx req/s",
        "nginx p99",
        "imghost ÷ nginx",
        "checks",
    ):
        table.add_column(heading, justify="right")
    for result in results:
        cells = ["–"] * 9
        if result.direct:
            d = result.direct.summary()
            cells[0:2] = [_ms(d.p50), _ms(d.p95)]
        if result.presigned:
            p = result.presigned.summary()
            cells[2:4] = [_ms(p.p50), _ms(p.p95)]
        if result.get:
            g, n = result.get.imghost.result, result.get.nginx.result
            cells[4:9] = [
                f"{g.requests_per_s:,.0f}",
                _ms(g.p99_ms),
                f"{n.requests_per_s:,.0f}",
                _ms(n.p99_ms),
                f"{result.get.ratio:.3f}",
            ]
        status = "[green]ok[/green]" if result.ok else "[red]FAILED[/red]"
        table.add_row(result.name, *cells, status)
    return table


def write_json(
    directory: Path, stamp: str, document: dict[str, object], prefix: str = "core"
) -> list[Path]:
    """Write ``<prefix>-<stamp>.json`` and ``<prefix>-latest.json``; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    paths = [directory / f"{prefix}-{stamp}.json", directory / f"{prefix}-latest.json"]
    for path in paths:
        path.write_text(text)
    return paths
