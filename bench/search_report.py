"""Tables and EXPLAIN files for the search section."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.search import LISTING, DatabaseResult, SearchResult


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def seeding_table(result: SearchResult) -> Table | None:
    rows = [d for d in result.databases if d.seeded.images]
    if not rows:
        return None
    table = Table(
        title="Seeding (bulk: PostgreSQL COPY, SQLite executemany; the search index set-based)",
        title_justify="left",
    )
    table.add_column("database")
    for heading in ("users", "images", "tag rows", "index rows", "size MB", "seconds"):
        table.add_column(heading, justify="right")
    table.add_column("phases (s)")
    for d in rows:
        s = d.seeded
        table.add_row(
            d.name,
            f"{s.users:,}",
            f"{s.images:,}",
            f"{s.tag_rows:,}",
            f"{s.index_rows:,}",
            "–" if s.database_bytes is None else f"{s.database_bytes / 1e6:,.0f}",
            f"{s.total_s:,.1f}",
            escape("; ".join(f"{k} {v:.1f}" for k, v in s.seconds.items())),
        )
    return table


def latency_table(d: DatabaseResult) -> Table:
    table = Table(
        title=(
            f"{d.name}: {d.seeded.images:,} images — search.services.search() wall time per "
            f"call, one AsyncSession per call, calls one at a time; goals: p99 < "
            f"{_goal(d, LISTING)} ms for listings, < {_goal(d, 'full text')} ms for full text; "
            "statement columns: p50 time of the SQL statements by role; matched: median total"
            + (
                "; generic plans: share of the timed rows / count statements PostgreSQL ran "
                "with a generic plan (asyncpg prepares every statement)"
                if d.name.startswith("postgres")
                else ""
            )
        ),
        title_justify="left",
    )
    table.add_column("query")
    for heading in (
        "n",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "goal",
        "rows SQL",
        "count SQL",
        "tags SQL",
        "estimate SQL",
        "grants SQL",
        "matched",
    ):
        table.add_column(heading, justify="right")
    postgres = any(k.plans for k in d.kinds)
    if postgres:
        table.add_column("generic plans % rows/count", justify="right")
    for k in d.kinds:
        p99 = k.pct(99)
        mark = "–" if p99 is None else "[green]✓[/green]" if k.met else "[red]✗[/red]"
        total = k.median_total
        table.add_row(
            escape(k.label) + (f" [red]{escape(k.error)}[/red]" if k.error else ""),
            str(len(k.samples_ms)),
            _ms(k.pct(50)),
            _ms(k.pct(90)),
            _ms(p99),
            f"{mark} {k.goal_ms:.0f}",
            _ms(k.part_p50("rows")),
            _ms(k.part_p50("count")),
            _ms(k.part_p50("tags")),
            _ms(k.part_p50("estimate")),
            _ms(k.part_p50("grants")),
            "–" if total is None else f"{total:,.0f}",
            *([_generic(k.plans)] if postgres else []),
        )
    return table


def _generic(plans: dict[str, list[int]]) -> str:
    def share(key: str) -> str:
        generic, custom = plans.get(key, [0, 0])
        return "–" if generic + custom == 0 else f"{100 * generic / (generic + custom):.0f}"

    return f"{share('rows')} / {share('count')}"


def _goal(d: DatabaseResult, group: str) -> str:
    goals = {k.goal_ms for k in d.kinds if k.group == group}
    return "/".join(f"{g:.0f}" for g in sorted(goals)) or "–"


def ratios_line(d: DatabaseResult) -> str:
    def fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    if not d.depth:
        return f"{d.name}: no user + tag listing deep enough for a deep-page comparison"
    return (
        f"{d.name}: page {d.depth} by cursor ÷ page 2 by cursor: p50 "
        f"{fmt(d.ratio('user_tag_cursor_deep', 'user_tag_cursor_2'))}, p99 "
        f"{fmt(d.ratio('user_tag_cursor_deep', 'user_tag_cursor_2', 99))}; ÷ page 1 (with its "
        f"count): p50 {fmt(d.ratio('user_tag_cursor_deep', 'user_tag'))}; page {d.depth} by "
        f"offset ÷ page 1: p50 {fmt(d.ratio('user_tag_offset', 'user_tag'))} "
        f"({len(d.deep_pairs)} user + tag pairs with ≥ {d.depth} pages)"
    )


def print_section(console: Console, result: SearchResult) -> None:
    table = seeding_table(result)
    if table is not None:
        console.print(table)
    for d in result.databases:
        if d.version:
            console.print(f"[dim]{escape(d.name)}: {escape(d.version)}[/dim]")
        if d.kinds:
            console.print(latency_table(d))
            console.print(escape(ratios_line(d)))
            console.print(
                f"[dim]words: common {escape(', '.join(d.common_words[:8]))}…; rare "
                f"{escape(', '.join(d.rare_words[:8]))}…[/dim]"
            )
        for check in d.checks.items:
            if check.ok and "every result" in check.name:
                continue  # one line per kind would drown the table; the JSON has them
            mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
            console.print(
                f"{mark} {escape(d.name)}: {escape(check.name)}: [dim]{escape(check.detail)}[/dim]"
            )
        if d.error:
            console.print(f"[red]{escape(d.name)} error:[/red] {escape(d.error)}")
            if d.traceback:
                console.print(f"[dim]{escape(d.traceback)}[/dim]")
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in d.phases_s.items())
        console.print(f"[dim]{escape(d.name)} time spent: {phases}[/dim]")


def write_explain(directory: Path, stamp: str, result: SearchResult) -> list[Path]:
    """``search-explain-<database>-<stamp>.txt`` and ``…-latest.txt`` per database."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in result.databases:
        if not d.explain:
            continue
        header = (
            f"# imghost search benchmark, {d.name}: {d.seeded.images:,} images "
            f"({d.version})\n# one call per query kind; each SQL statement it ran, then "
            + (
                "EXPLAIN (ANALYZE, BUFFERS) of it\n\n"
                if d.name.startswith("postgres")
                else "EXPLAIN QUERY PLAN of it\n\n"
            )
        )
        for name in (f"search-explain-{d.name}-{stamp}.txt", f"search-explain-{d.name}-latest.txt"):
            path = directory / name
            path.write_text(header + d.explain)
            paths.append(path)
    return paths
