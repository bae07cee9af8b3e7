"""Tables for the processing section."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench import processing_latency as latency
from bench.processing import GOAL_RATIO, ProcessingResult, ThroughputSet
from bench.stats import Summary

THUMBOR_OUTPUTS = "thumbor "  # prefix of the per-output verification checks


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def presets_table(result: ProcessingResult) -> Table:
    runs = result.config.preset_runs
    table = Table(
        title=(
            f"1. All {len(result.timings[0].outputs) if result.timings else 8} pre-generated "
            "presets of one image (thumb/small/medium/large × jpg/webp) — median of "
            f"{runs} runs after 1 warm-up, one process; CPU: this process's CPU time, "
            "all threads"
        ),
        title_justify="left",
    )
    table.add_column("image")
    table.add_column("source")
    table.add_column("render_file ms", justify="right")
    table.add_column("CPU ms", justify="right")
    table.add_column("analyze ms", justify="right")
    table.add_column("CPU ms", justify="right")
    table.add_column("seed floor", justify="right")
    table.add_column("", justify="center")
    table.add_column("8 outputs KB", justify="right")
    for timing in result.timings:
        image = timing.image
        analyze = _ms(timing.analyze_median) if timing.analyze_ms else "n/a"
        analyze_cpu = _ms(timing.analyze_cpu_median) if timing.analyze_ms else "n/a"
        mark = "[green]✓[/green]" if timing.within_floor else "[red]✗[/red]"
        table.add_row(
            image.key,
            escape(image.describe()),
            _ms(timing.render_median),
            f"[dim]{_ms(timing.render_cpu_median)}[/dim]",
            analyze,
            f"[dim]{analyze_cpu}[/dim]",
            f"< {image.floor_ms / 1e3:.0f} s",
            mark,
            f"{sum(o.bytes for o in timing.outputs) / 1e3:,.0f}",
        )
    return table


def transforms_table(result: ProcessingResult) -> Table | None:
    tr = result.transform
    if tr is None or not tr.images:
        return None
    table = Table(
        title=(
            f"2. On-demand transforms GET /images/{{id}}/t/w_<N>.webp — sqlite-local, "
            f"{tr.workers} uvicorn workers + background worker, {result.config.transform_sizes} "
            "widths per image, one request at a time, ms"
        ),
        title_justify="left",
    )
    table.add_column("image")
    for heading in ("cold p50", "cold p95", "cached p50", "cached p95", "upload→processed s"):
        table.add_column(heading, justify="right")

    def cells(cold: list[float], cached: list[float]) -> list[str]:
        if not cold:
            return ["–"] * 4
        c, h = Summary.of(cold), Summary.of(cached)
        return [_ms(c.p50), _ms(c.p95), f"{h.p50:,.1f}", f"{h.p95:,.1f}"]

    for item in tr.images:
        table.add_row(
            escape(f"{item.image.key} ({item.image.megapixels:.0f} MP)"),
            *cells(item.cold_ms, item.cached_ms),
            f"{item.ready_s:.2f}",
        )
    table.add_row("[bold]all[/bold]", *cells(tr.all_ms("cold"), tr.all_ms("cached")), "")
    if tr.usage is not None:
        table.caption = (
            f"imghost's process tree (uvicorn, workers, pixel pools) peaked at "
            f"{tr.usage.rss_bytes / 2**20:,.0f} MB RSS over {tr.usage.processes} processes"
        )
        table.caption_justify = "left"
    return table


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _goal(value: float | None, goal: float) -> str:
    if value is None:
        return ""
    return "[green]✓[/green]" if value < goal else "[red]✗[/red]"


def latency_table(result: ProcessingResult) -> Table | None:
    if not result.latency:
        return None
    table = Table(
        title=(
            f"4. Upload → thumbnail stored → ready, s after the upload (p50 of "
            f"{result.config.latency_runs} single uploads, one at a time; then 6 phone "
            "photos at once); 201→line: the client's own clock, from its 201 to the "
            "worker's line"
        ),
        title_justify="left",
    )
    for heading in ("set-up", "upload", "thumbnail", "", "ready", "", "201→line"):
        table.add_column(heading, justify="left" if heading in ("set-up", "upload") else "right")
    goals = {
        "12 MP JPEG": (latency.GOAL_THUMB_S, latency.GOAL_READY_S),
        "12 MP HEIC": (None, latency.GOAL_HEIC_READY_S),
    }
    for item in result.latency:
        first = True
        for kind in item.single:
            thumb, ready = item.p50(kind, "thumb_s"), item.p50(kind, "ready_s")
            thumb_goal, ready_goal = goals.get(kind, (None, None))
            table.add_row(
                escape(item.setup) if first else "",
                kind,
                _s(thumb),
                _goal(thumb, thumb_goal) if thumb_goal else "",
                _s(ready),
                _goal(ready, ready_goal) if ready_goal else "",
                _s(item.p50(kind, "seen_s")),
            )
            first = False
        last = item.burst_from_first_sent_s
        table.add_row(
            "",
            "6 at once: last ready, from the first request / the last 201",
            "",
            "",
            f"{_s(last)} / {_s(item.burst_from_last_ack_s)}",
            _goal(last, latency.GOAL_BURST_S),
            "",
        )
    table.caption = (
        f"goals: 12 MP JPEG thumbnail < {latency.GOAL_THUMB_S} s and ready < "
        f"{latency.GOAL_READY_S} s; 12 MP HEIC ready < {latency.GOAL_HEIC_READY_S} s; "
        f"a burst of 6 ready < {latency.GOAL_BURST_S} s"
    )
    table.caption_justify = "left"
    return table


def steps_table(result: ProcessingResult) -> Table | None:
    columns = [
        (f"{item.setup.split(':')[0]}, {kind}", uploads)
        for item in result.latency
        for kind, uploads in item.single.items()
        if uploads
    ]
    if not columns:
        return None
    table = Table(
        title="5. Where the time goes: median ms per step (the worker's line per image)",
        title_justify="left",
    )
    table.add_column("step")
    for heading, _ in columns:
        table.add_column(escape(heading), justify="right")
    medians = [result.latency[0].step_medians(uploads) for _, uploads in columns]
    steps = list(dict.fromkeys(name for m in medians for name in m))
    for step in steps:
        table.add_row(step, *(_ms(m.get(step)) for m in medians))
    table.add_row("[bold]sum[/bold]", *(f"[bold]{_ms(sum(m.values()))}[/bold]" for m in medians))
    return table


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def throughput_table(result: ProcessingResult) -> Table | None:
    sets = [
        (label, s)
        for label, s in (
            ("8 presets", result.all_presets),
            ("thumb.jpg", result.single),
        )
        if s
    ]
    if not sets:
        return None
    n_images = len(result.images)
    table = Table(
        title=(
            f"3. Throughput on {result.config.workers} processes — the {n_images} images ×N, "
            "same files, sizes, formats and quality on both sides; making all 8 presets of "
            "each, then only the 256×256 thumb JPEG. Memory: peak sum over the process tree"
        ),
        title_justify="left",
    )
    table.add_column("workload", no_wrap=True)
    table.add_column("side", no_wrap=True)
    for heading in (
        "images/s",
        "outputs/s",
        "images",
        "time s",
        "CPU ms/img",
        "RSS MB",
        "PSS MB",
        "× thumbor",
        "× by CPU",
    ):
        table.add_column(heading, justify="right")
    for label, tset in sets:
        _throughput_rows(table, label, tset, result)
    return table


def _throughput_rows(
    table: Table, label: str, tset: ThroughputSet, result: ProcessingResult
) -> None:
    thumbor = tset.row("thumbor")
    first = True
    for row in tset.rows:
        name = f"{label} ×{tset.rounds}" if first else ""
        first = False
        if row.error:
            table.add_row(name, row.side, "[red]failed[/red]")
            continue
        ratio = cpu_ratio = None
        if thumbor and row is not thumbor and thumbor.images_per_s:
            ratio = row.images_per_s / thumbor.images_per_s
            if row.cpu_ms_per_image:
                cpu_ratio = thumbor.cpu_ms_per_image / row.cpu_ms_per_image
        table.add_row(
            name,
            row.side,
            f"{row.images_per_s:,.2f}",
            f"{row.outputs_per_s:,.1f}",
            str(row.images),
            f"{row.seconds:,.1f}",
            f"{row.cpu_ms_per_image:,.0f}",
            f"{row.usage.rss_bytes / 2**20:,.0f}",
            f"{row.usage.pss_bytes / 2**20:,.0f}" if row.usage.pss_bytes else "–",
            _ratio(ratio) if row is not thumbor else "1.00×",
            _ratio(cpu_ratio) if row is not thumbor else "1.00×",
        )
    if result.thumbor_unavailable:
        table.add_row("", "thumbor", "[yellow]unavailable[/yellow]")


def print_section(console: Console, result: ProcessingResult) -> None:
    if result.timings:
        console.print(presets_table(result))
    table = transforms_table(result)
    if table is not None:
        console.print(table)
    table = throughput_table(result)
    if table is not None:
        console.print(table)
    _print_latency(console, result)
    ratio = result.all_presets.ratio() if result.all_presets else None
    if ratio is not None and result.all_presets is not None:
        met = "[green]met[/green]" if ratio >= GOAL_RATIO else "[red]not met[/red]"
        console.print(
            f"imghost ÷ thumbor, images/s with all presets: [bold]{ratio:.2f}×[/bold] "
            f"(goal ≥ {GOAL_RATIO}×: {met}); by CPU time per image: "
            f"{_ratio(result.all_presets.cpu_ratio())}"
        )
    if result.thumbor_unavailable:
        console.print(
            f"[yellow]thumbor: unavailable ({escape(result.thumbor_unavailable)})[/yellow]"
        )
    for tset in (result.all_presets, result.single):
        for row in tset.rows if tset else []:
            if row.error and not (row.side == "imghost analyze" and "unavailable" in row.error):
                console.print(f"[red]{escape(row.side)} failed:[/red] {escape(row.error)}")
            elif row.error:
                console.print(f"[yellow]{escape(row.side)}: {escape(row.error)}[/yellow]")
    _print_checks(console, result)
    for part, error in result.errors.items():
        console.print(f"[red]error in {part}:[/red] {escape(error)}")
    tr = result.transform
    if tr is not None and tr.error:
        console.print(f"[red]transforms error:[/red] {escape(tr.error)}")
        if tr.log_tail:
            console.print(f"[dim]imghost log (tail):\n{escape(tr.log_tail)}[/dim]")
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in result.phases_s.items())
    console.print(f"[dim]time spent: {phases}[/dim]")


def _print_latency(console: Console, result: ProcessingResult) -> None:
    for table in (latency_table(result), steps_table(result)):
        if table is not None:
            console.print(table)
    for item in result.latency:
        if item.error:
            console.print(f"[red]latency ({escape(item.setup)}):[/red] {escape(item.error)}")
            if item.log_tail:
                console.print(f"[dim]imghost log (tail):\n{escape(item.log_tail)}[/dim]")


def _print_checks(console: Console, result: ProcessingResult) -> None:
    items = list(result.checks.items)
    if result.transform is not None:
        items += result.transform.checks.items
    outputs = [c for c in items if c.name.startswith(THUMBOR_OUTPUTS)]
    for check in items:
        if check in outputs and check.ok and "upscales" not in check.detail:
            continue  # summarised below
        mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
        console.print(f"{mark} {escape(check.name)}: [dim]{escape(check.detail)}[/dim]")
    if outputs:
        good = sum(c.ok for c in outputs)
        mark = "[green]✓[/green]" if good == len(outputs) else "[red]✗[/red]"
        console.print(
            f"{mark} thumbor outputs: {good}/{len(outputs)} decode with Pillow as the asked "
            "format with imghost's dimensions [dim](all details in the JSON)[/dim]"
        )
