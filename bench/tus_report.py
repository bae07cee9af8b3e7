"""Tables for the tus section."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.tus import DD, DIRECT, BackendTus, TusResult, describe_image


def _cell(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def throughput_table(result: TusResult) -> Table | None:
    image = result.image
    if image is None or not any(b.samples_s for b in result.backends):
        return None
    table = Table(
        title=(
            f"Upload throughput — the same {describe_image(image)}, median of "
            f"{result.config.runs} runs (order rotated each round); end to end: first byte "
            "to the final answer, validation included; dd: bs=8M conv=fsync onto the "
            "service's data filesystem; last PATCH: median time of the final PATCH alone "
            "(its bytes, then seal, assemble, validate, store)"
        ),
        title_justify="left",
    )
    table.add_column("backend")
    table.add_column("path")
    for heading in ("median s", "min s", "max s", "last PATCH s", "MB/s", "÷ direct", "÷ dd"):
        table.add_column(heading, justify="right")
    labels = {
        DIRECT: "direct: POST /v1/images multipart, streamed",
        DD: "dd (plain disk write, no HTTP)",
    }
    for backend in result.backends:
        first = True
        for path, samples in backend.samples_s.items():
            if not samples:
                continue
            label = labels.get(path, f"{path}: POST /v1/tus/ + PATCHes")
            table.add_row(
                backend.name if first else "",
                label if path.startswith("tus") else f"[dim]{label}[/dim]",
                _cell(backend.median_s(path), ",.2f"),
                _cell(min(samples), ",.2f"),
                _cell(max(samples), ",.2f"),
                _cell(backend.last_patch_median_s(path), ",.2f"),
                _cell(backend.mb_per_s(path, image.size), ",.1f"),
                _cell(backend.ratio(path, DIRECT, image.size), ".2f"),
                _cell(backend.ratio(path, DD, image.size), ".2f"),
            )
            first = False
    return table


def memory_table(result: TusResult) -> Table | None:
    rows = [b for b in result.backends if b.memory]
    if not rows:
        return None
    config = result.config
    table = Table(
        title=(
            f"API process RSS during a {config.rss_mib} MiB tus upload in "
            f"{config.rss_chunk_mib} MiB PATCHes (IMGHOST_WORKERS=1, no in-process worker; "
            "random bytes, so the last PATCH is refused at validation), sampled every 50 ms"
        ),
        title_justify="left",
    )
    table.add_column("backend")
    for heading in ("baseline MB", "peak MB", "growth MB", f"< {config.rss_goal_mb:.0f} MB"):
        table.add_column(heading, justify="right")
    table.add_column("last PATCH")
    for heading in ("s", "MB/s"):
        table.add_column(heading, justify="right")
    for backend in rows:
        memory = backend.memory
        assert memory is not None
        usage, outcome = memory.usage, memory.outcome
        met = memory.growth_mb < config.rss_goal_mb
        table.add_row(
            backend.name,
            f"{usage.start_rss_bytes / 2**20:,.0f}",
            f"{usage.rss_bytes / 2**20:,.0f}",
            f"{memory.growth_mb:,.1f}",
            "[green]✓[/green]" if met else "[red]✗[/red]",
            escape(f"{outcome.final_status} {outcome.final_code or ''}".strip()),
            f"{outcome.seconds:,.1f}",
            f"{memory.upload_bytes / 1e6 / outcome.seconds:,.1f}",
        )
    return table


def _print_backend_notes(console: Console, backend: BackendTus) -> None:
    for check in backend.checks.items:
        mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
        name = escape(f"{backend.name}: {check.name}")
        console.print(f"{mark} {name}: [dim]{escape(check.detail)}[/dim]")
    if backend.error:
        console.print(f"[red]{escape(backend.name)} error:[/red] {escape(backend.error)}")
        if backend.log_tail:
            console.print(f"[dim]imghost log (tail):\n{escape(backend.log_tail)}[/dim]")
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in backend.phases_s.items())
    console.print(f"[dim]{escape(backend.name)} time spent: {phases}[/dim]")


def print_section(console: Console, result: TusResult) -> None:
    for table in (throughput_table(result), memory_table(result)):
        if table is not None:
            console.print(table)
    for backend in result.backends:
        _print_backend_notes(console, backend)
