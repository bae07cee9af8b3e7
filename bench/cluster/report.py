"""The cluster report as text tables, from its JSON."""

from __future__ import annotations

from typing import Any


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    for row in rows:
        lines.append(
            "  ".join(str(row.get(c, "")).rjust(w) for c, w in zip(columns, widths, strict=True))
        )
    return "\n".join(lines)


def render(report: dict[str, Any]) -> str:
    out = [f"cluster: {report['api_processes']} API processes, {report['workers']} workers"]
    if report.get("scaling"):
        out += [
            "",
            "req/s (closed loop, 16 connections; per process = total / API processes)",
            _table(
                report["scaling"],
                [
                    "api_processes",
                    "view_edge_per_s",
                    "view_direct_per_s",
                    "view_direct_per_s_per_process",
                    "upload_per_s",
                    "upload_per_s_per_process",
                ],
            ),
        ]
    chaos = report["chaos"]
    out += [
        "",
        f"chaos run: {chaos['clients']} clients, {chaos['duration_s']:g} s",
        _table(
            chaos["ops"],
            [
                "op",
                "ops",
                "ok",
                "retried",
                "attempts",
                "http_5xx",
                "no_answer",
                "http_429",
                "p50_ms",
                "p95_ms",
                "per_s",
            ],
        ),
        "",
        "failures (seconds since the load began):",
        *(f"  {e['name']:<18} {e['start']:7.2f} .. {e['end']:7.2f}" for e in chaos["events"]),
        f"5xx/unanswered in the database restart window (+{chaos['db_settle_s']:g} s): "
        f"{chaos['errors_in_db_window'] or 'none'}",
        f"502 in flight at the API process's SIGKILL: {chaos['errors_at_api_kill'] or 'none'}",
        f"outside those windows: {chaos['errors_unexplained'] or 'none'}",
    ]
    v = chaos["verdict"]
    out += [
        "",
        f"acknowledged uploads: {v['acknowledged']}; retrieved with the same sha256: "
        f"{v['retrieved']}; deleted and gone: {v['deleted_gone']}",
        f"jobs: {v['jobs']} (all finished {v['jobs_seconds']} s after the load)",
        f"orphan blobs left by the failures: {v['orphans_left_by_failures']}; after gc: "
        f"{v['orphans_after_gc']}; rows whose blobs are missing: {v['dangling_rows']}",
        "",
        "PASS" if chaos["ok"] else "FAIL:\n  " + "\n  ".join(chaos["problems"]),
    ]
    return "\n".join(out)
