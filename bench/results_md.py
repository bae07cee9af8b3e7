"""bench/RESULTS.md: one `make bench` run's figures as Markdown tables people can read.

    python -m bench.results_md [FILE ...] [--output PATH] [--if-complete]

FILE is a run manifest (``run-<stamp>.json``, which ``python -m bench.run`` writes at
the end) or section documents (``core-<stamp>.json``...); without one, the last run's
manifest, ``bench/results/run-latest.json``. The manifest names that run's files, so
the tables never mix sections of different runs. With ``--if-complete`` nothing is
written when the run left sections out: ``make bench`` regenerates bench/RESULTS.md
after a full run only.

It reads the JSON alone: a table per part of each section, with the ratio to the
section's peer (nginx and S3 direct, thumbor, a direct upload and dd, plain uvicorn, the
structural scan, the plain service), then the section's failed checks and errors. A row
or figure the JSON lacks is left out or shown as a dash, so documents of older and newer
benchmarks render too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DASH = "–"

Doc = dict[str, Any]


# -- cells ---------------------------------------------------------------------


def at(doc: Any, *path: str) -> Any:
    """``doc[path[0]][path[1]]...``, or None where the path breaks off."""
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def num(value: Any, digits: int = 1) -> str:
    """A figure with thousands separators, or a dash when it was not measured."""
    return f"{value:,.{digits}f}" if _is_number(value) else DASH


def times(value: Any, digits: int = 2) -> str:
    """A ratio with its sign (the multiplication sign), e.g. 0.85 times."""
    return f"{value:,.{digits}f}×" if _is_number(value) else DASH


def over(a: Any, b: Any) -> float | None:
    return a / b if _is_number(a) and _is_number(b) and b else None


def percent(value: Any) -> str:
    return f"{value * 100:.1f} %" if _is_number(value) else DASH


def mark(ok: Any) -> str:
    return ("✓" if ok else "✗") if isinstance(ok, bool) else DASH


def when(stamp: Any) -> str:
    return str(stamp or "?").replace("T", " ").replace("+00:00", " UTC")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], text_columns: int = 1) -> str:
    """A Markdown table; the columns after the first ``text_columns`` are figures,
    right-aligned."""
    body = [[_cell(cell) for cell in row] for row in rows]
    if not body:
        return "_Not measured._\n"
    align = ["---" if i < text_columns else "---:" for i in range(len(headers))]
    return "".join("| " + " | ".join(line) + " |\n" for line in [list(headers), align, *body])


# -- the documents -----------------------------------------------------------------


def load(path: Path) -> Doc:
    document: Doc = json.loads(path.read_text())
    return document


def documents(paths: Sequence[Path]) -> tuple[Doc | None, list[Doc]]:
    """(the run manifest, if one was given; the section documents in run order)."""
    run: Doc | None = None
    sections: list[Doc] = []
    for path in paths:
        doc = load(path)
        if doc.get("benchmark") == "run":
            run = doc
            sections += [load(path.parent / name) for name in (doc.get("files") or {}).values()]
        else:
            sections.append(doc)
    return run, sections


def _first(sections: list[Doc], *path: str) -> Any:
    return next((at(d, *path) for d in sections if at(d, *path)), None)


def machine_table(sections: list[Doc]) -> str:
    machine = _first(sections, "machine") or {}
    git = machine.get("git") or {}
    commit = str(git.get("commit", "unknown"))[:12]
    if git.get("tracked_changes"):
        commit += " with uncommitted changes"
    packages = machine.get("packages") or {}
    rows = [
        ("CPU", f"{machine.get('cpu_model', '?')}, {machine.get('cpus_usable', '?')} cores"),
        ("memory", f"{num(machine.get('memory_gb'))} GB"),
        ("system", machine.get("platform", "?")),
        ("Python", machine.get("python", "?")),
        ("commit", commit),
        ("imghost's stack", ", ".join(f"{k} {v}" for k, v in packages.items()) or DASH),
        ("peers", "; ".join(str(machine[k]) for k in ("nginx", "postgres", "wrk") if k in machine)),
    ]
    imaging = _first(sections, "machine", "imaging")
    if imaging:
        rows.append(("imaging", ", ".join(f"{k} {v}" for k, v in imaging.items())))
    thumbor = _first(sections, "thumbor")
    if thumbor and thumbor.get("thumbor"):
        names = ("thumbor", "pillow", "pillow_heif", "libheif", "libjpeg_turbo", "libwebp")
        rows.append(("thumbor", ", ".join(f"{k} {thumbor[k]}" for k in names if k in thumbor)))
    return table(["", ""], rows, text_columns=2)


def _checks(doc: Any) -> list[Doc]:
    """Every check in a section document, wherever it is nested."""
    if isinstance(doc, list):
        return [c for item in doc for c in _checks(item)]
    if not isinstance(doc, dict):
        return []
    found: list[Doc] = []
    for key, value in doc.items():
        if key == "checks" and isinstance(value, list):
            found += [c for c in value if isinstance(c, dict) and "ok" in c]
        else:
            found += _checks(value)
    return found


def _errors(doc: Any, where: str) -> list[str]:
    """Every ``error`` and ``errors`` entry (first line), with where it was found."""
    if not isinstance(doc, dict):
        return []
    found: list[str] = []
    for key, value in doc.items():
        if key == "error" and isinstance(value, str) and value:
            found.append(f"{where}: {value.splitlines()[0]}")
        elif key == "errors" and isinstance(value, dict):
            found += [f"{where} {k}: {str(v).splitlines()[0]}" for k, v in value.items() if v]
        elif key not in ("checks", "thumbor"):  # thumbor's install error is shown apart
            found += _errors(value, f"{where} › {key}")
    return found


def status(doc: Doc) -> str:
    checks = _checks(doc)
    failed = [c for c in checks if not c["ok"]]
    lines = []
    if checks:
        lines.append(
            f"Checks: {len(checks)}, " + (f"{len(failed)} failed:" if failed else "all passed.")
        )
    lines += [f"- ✗ {_cell(c.get('name'))}: {_cell(c.get('detail', ''))}" for c in failed]
    lines += [f"- error: {_cell(e)}" for e in _errors(doc, str(doc.get("benchmark", "?")))]
    return "\n" + "\n".join(lines) + "\n" if lines else ""


def heading(doc: Doc) -> str:
    facts = [when(doc.get("started_at")), f"{num(doc.get('duration_s'), 0)} s"]
    start, end = at(doc, "machine", "load_average"), at(doc, "machine", "load_average_end")
    if isinstance(start, list) and start:
        facts.append(f"load {start[0]}" + (f" → {end[0]}" if isinstance(end, list) and end else ""))
    facts.append("ok" if doc.get("ok") else "**failed**")
    return f"## {doc.get('benchmark', '?')}\n\n{', '.join(facts)}\n\n"


# -- the sections ----------------------------------------------------------------


def core(doc: Doc) -> str:
    backends: Doc = doc.get("backends") or {}
    uploads = [
        [
            name,
            path,
            *(num(at(b, "uploads", path, f"{p}_ms")) for p in ("p50", "p95", "min", "max")),
            num(at(b, "uploads", path, "mb_per_s_at_p50")),
        ]
        for name, b in backends.items()
        for path in ("direct", "presigned")
        if at(b, "uploads", path)
    ]
    gets = []
    for name, b in backends.items():
        get = at(b, "get") or {}
        nginx = at(get, "nginx", "requests_per_s")
        # Every wrk target the JSON has (imghost, nginx, S3 direct, whatever comes next).
        for key, r in get.items():
            if isinstance(r, dict) and "requests_per_s" in r:
                errors = (r.get("non_2xx_3xx") or 0) + sum((r.get("socket_errors") or {}).values())
                gets.append(
                    [
                        name,
                        r.get("label") or key,
                        num(r["requests_per_s"], 0),
                        num(r.get("transfer_mb_per_s")),
                        num(at(r, "latency_ms", "50")),
                        num(at(r, "latency_ms", "99")),
                        errors,
                        times(over(r["requests_per_s"], nginx), 3),
                    ]
                )
    large = num((at(doc, "fixtures", "large", "bytes") or 0) / 1e6)
    small = num((at(doc, "fixtures", "small", "bytes") or 0) / 1e3, 0)
    return (
        f"Accepting a {large} MB JPEG, {at(doc, 'config', 'upload_runs')} uploads one after "
        "another (presigned: create + PUT + finalize), ms:\n\n"
        + table(["backend", "path", "p50", "p95", "min", "max", "MB/s at p50"], uploads, 2)
        + f"\n`GET /images/{{id}}` of a {small} KB public JPEG, "
        f"`{at(doc, 'config', 'wrk', 'command') or 'wrk'}`; ÷ nginx: requests/s over nginx "
        "serving the same file from disk:\n\n"
        + table(
            ["backend", "server", "req/s", "MB/s", "p50 ms", "p99 ms", "errors", "÷ nginx"],
            gets,
            2,
        )
    )


def _image(key: str, images: Doc) -> str:
    image = images.get(key) or {}
    facts = [
        image.get("format"),
        _is_number(image.get("megapixels")) and f"{image['megapixels']:.0f} MP",
        _is_number(image.get("bytes")) and f"{image['bytes'] / 1e6:.1f} MB",
    ]
    shown = [str(f) for f in facts if f]
    return f"{key} ({', '.join(shown)})" if shown else key


def _presets(doc: Doc, images: Doc) -> str:
    rows = [
        [
            _image(key, images),
            num(p.get("render_file_median_ms"), 0),
            num(p.get("render_file_cpu_median_ms"), 0),
            num(p.get("analyze_median_ms"), 0),
            num(p.get("analyze_cpu_median_ms"), 0),
            f"< {num((p.get('floor_ms') or 0) / 1e3, 0)} s {mark(p.get('within_floor'))}",
        ]
        for key, p in (doc.get("presets") or {}).items()
    ]
    return (
        "All pre-generated presets of one image in one process, median ms (analyze: the "
        "worker's whole job: scan, metadata and the renders); CPU: that process's CPU time:\n\n"
        + table(["image", "render_file", "CPU", "analyze", "CPU", "floor"], rows)
    )


def _transforms(doc: Doc, images: Doc) -> str:
    def cells(t: Any) -> list[str]:
        return [
            num(at(t, "cold", "p50_ms"), 0),
            num(at(t, "cold", "p95_ms"), 0),
            num(at(t, "cached", "p50_ms")),
            num(at(t, "cached", "p95_ms")),
        ]

    transforms = doc.get("transforms") or {}
    rows = [
        [_image(key, images), *cells(t), num(t.get("upload_to_processed_s"), 2)]
        for key, t in (transforms.get("images") or {}).items()
    ]
    if rows:
        rows.append(["all", *cells(transforms.get("all_images")), ""])
    return (
        "\nOn-demand transforms `GET /images/{id}/t/w_<N>.webp`, one request at a time; cold: "
        "a width not rendered before, ms:\n\n"
        + table(
            ["image", "cold p50", "cold p95", "cached p50", "cached p95", "upload → processed s"],
            rows,
        )
    )


def _throughput(doc: Doc) -> str:
    throughput = doc.get("throughput") or {}
    rows = []
    for workload, label in (("all_presets", "all presets"), ("single_size", "thumb.jpg only")):
        sides = at(throughput, workload, "sides") or {}
        thumbor = sides.get("thumbor") or {}
        for side, r in sides.items():
            rate, cpu = r.get("images_per_s"), r.get("cpu_ms_per_image")
            rows.append(
                [
                    label,
                    side,
                    num(rate, 2) if not r.get("error") else "error",
                    num(cpu, 0),
                    num(at(r, "usage", "peak_rss_mb"), 0),
                    times(over(rate, thumbor.get("images_per_s"))),
                    times(over(thumbor.get("cpu_ms_per_image"), cpu)),
                ]
            )
    text = (
        f"\nThroughput against thumbor, {num(at(doc, 'config', 'workers'), 0)} processes each, "
        "the same images, sizes, formats and quality (goal: "
        f"≥ {times(throughput.get('goal_imghost_over_thumbor'), 1)} with all presets); "
        "× thumbor: images/s over thumbor's; × by CPU: thumbor's CPU time per image over "
        "this side's:\n\n"
        + table(
            ["workload", "side", "images/s", "CPU ms/img", "RSS MB", "× thumbor", "× by CPU"],
            rows,
            2,
        )
    )
    error = at(doc, "thumbor", "error")
    return text + (f"\nthumbor was not measured: {_cell(error)}\n" if error else "")


def _latency(doc: Doc) -> str:
    """Part 4: from the upload to the thumbnail and to ready, and the burst."""
    setups: list[Doc] = doc.get("latency") or []
    rows = []
    for item in setups:
        for kind, p50 in (item.get("single_p50_s") or {}).items():
            thumb, ready = num(p50.get("thumbnail"), 2), num(p50.get("ready"), 2)
            rows.append([item.get("setup"), f"one {kind}", thumb, ready])
        burst = num(item.get("burst_all_ready_from_first_upload_s"), 2)
        rows.append([item.get("setup"), "burst of 6 (from the first request)", DASH, burst])
    if not rows:
        return ""
    goals = at(setups[0], "goals_s") or {}
    caption = ", ".join(f"{name} < {value} s" for name, value in goals.items())
    return (
        "\n**Upload to thumbnail and to ready** (s, p50 of the single uploads; goals: "
        f"{caption})\n\n" + table(["set-up", "upload", "thumbnail", "ready"], rows, 2)
    )


def processing(doc: Doc) -> str:
    images: Doc = doc.get("images") or {}
    return _presets(doc, images) + _transforms(doc, images) + _throughput(doc) + _latency(doc)


def tus(doc: Doc) -> str:
    backends: Doc = doc.get("backends") or {}
    rows = [
        [
            name,
            path,
            num(t.get("median_s"), 2),
            num(t.get("mb_per_s")),
            num(t.get("last_patch_median_s"), 2),
            times(t.get("ratio_to_direct")),
            times(t.get("ratio_to_dd")),
        ]
        for name, b in backends.items()
        for path, t in (b.get("throughput") or {}).items()
    ]
    goal = at(doc, "config", "rss_goal_growth_mb")
    memory = []
    for name, b in backends.items():
        m = b.get("memory")
        if isinstance(m, dict):
            growth = m.get("growth_mb")
            met = _is_number(growth) and _is_number(goal) and growth < goal
            memory.append(
                [
                    name,
                    num((m.get("upload_bytes") or 0) / 2**20, 0),
                    num(m.get("baseline_rss_mb"), 0),
                    num(m.get("peak_rss_mb"), 0),
                    f"{num(growth)} {mark(met)}",
                ]
            )
    size = num((at(doc, "image", "bytes") or 0) / 1e6)
    return (
        f"A {size} MB PNG, median of {at(doc, 'config', 'runs')} runs, from the first byte "
        "to the final answer (validation included); ÷ direct, ÷ dd: MB/s over a streamed "
        "multipart `POST /v1/images`'s and over `dd bs=8M conv=fsync`'s:\n\n"
        + table(
            ["backend", "path", "median s", "MB/s", "last PATCH s", "÷ direct", "÷ dd"], rows, 2
        )
        + f"\nThe API process's memory during one large tus upload, MB (goal: growth < "
        f"{num(goal, 0)}):\n\n"
        + table(["backend", "upload MiB", "before", "peak", "growth"], memory)
    )


def search(doc: Doc) -> str:
    parts = []
    for name, d in (doc.get("databases") or {}).items():
        rows = [
            [
                k.get("label") or key,
                num(k.get("n"), 0),
                num(k.get("p50_ms"), 2),
                num(k.get("p90_ms"), 2),
                num(k.get("p99_ms"), 2),
                f"< {num(k.get('goal_p99_ms'), 0)} {mark(k.get('met'))}",
                num(k.get("median_total"), 0),
            ]
            for key, k in (d.get("kinds") or {}).items()
        ]
        ratios = d.get("ratios") or {}
        deep = d.get("deep_page") or "the deep page"
        parts.append(
            f"{name}, {num(at(d, 'seeding', 'images'), 0)} images, calls one at a time, ms:\n\n"
            + table(["query", "n", "p50", "p90", "p99", "goal p99", "matched"], rows)
            + f"\nDepth, p50: page {deep} by cursor ÷ page 2 by cursor "
            f"{times(ratios.get('cursor_deep_over_cursor_page2_p50'))}, ÷ page 1 "
            f"{times(ratios.get('cursor_deep_over_page1_p50'))}; page {deep} by offset ÷ page 1 "
            f"{times(ratios.get('offset_deep_over_page1_p50'))}.\n"
        )
    return "\n".join(parts)


def http(doc: Doc) -> str:
    results: Doc = doc.get("results") or {}
    keys = {k for targets in results.values() for t in targets.values() for k in t}
    baseline = next(
        (k.removeprefix("ratio_to_") for k in sorted(keys) if k.startswith("ratio_to_")), ""
    )
    rows = [
        [
            variant,
            target,
            num(t.get("median_requests_per_s"), 0),
            num(t.get("median_p50_ms"), 2),
            num(t.get("median_p99_ms"), 2),
            times(t.get(f"ratio_to_{baseline}")),
            num(t.get("median_cpu_us_per_request"), 0),
            times(t.get(f"cpu_ratio_to_{baseline}")),
        ]
        for variant, targets in results.items()
        for target, t in targets.items()
    ]
    return (
        f"One API process under each HTTP server, medians of {at(doc, 'config', 'rounds')} "
        f"rounds; ÷ {baseline}: requests/s, and CPU time per request, over {baseline}'s:\n\n"
        + table(
            [
                "server",
                "target",
                "req/s",
                "p50 ms",
                "p99 ms",
                f"÷ {baseline}",
                "CPU µs/req",
                "CPU ÷",
            ],
            rows,
            2,
        )
    )


def scan(doc: Doc) -> str:
    rows = [
        [
            f"{num((r.get('bytes') or 0) / 1e6)} MB JPEG",
            num(r.get("clamd_ms")),
            num(r.get("clamd_ms_per_mb")),
            num(r.get("structural_ms")),
            times(over(r.get("clamd_ms"), r.get("structural_ms"))),
            num(r.get("upload_to_ready_ms"), 0),
            num(r.get("upload_to_ready_without_clamd_ms"), 0),
            percent(r.get("clamd_share_of_upload_to_ready")),
        ]
        for r in doc.get("rows") or []
    ]
    return (
        f"ClamAV ({_cell(doc.get('clamd') or '?')}) next to the built-in structural scan, ms; "
        "÷ structural: clamd's time over the structural scan's; upload → ready: one service "
        "with clamd, one without:\n\n"
        + table(
            [
                "file",
                "clamd",
                "per MB",
                "structural",
                "÷ structural",
                "upload → ready",
                "without clamd",
                "clamd's share",
            ],
            rows,
        )
    )


def encryption(doc: Doc) -> str:
    rows = [
        [
            f"{r.get('label', key)} ({r.get('unit', '')})",
            num(r.get("plain"), 2),
            num(r.get("encrypted"), 2),
            times(r.get("ratio_encrypted_to_plain"), 3),
            f"{percent(r.get('throughput_loss'))} {mark(r.get('goal_met'))}"
            if r.get("throughput_loss") is not None
            else "",
        ]
        for key, r in (doc.get("summary") or {}).items()
    ]
    return (
        "The same service with and without `IMGHOST_ENCRYPTION_KEYS` "
        f"({at(doc, 'config', 'backend') or '?'}), medians of {at(doc, 'config', 'rounds')} "
        "interleaved rounds; goal: a throughput loss of at most "
        f"{percent(doc.get('goal_max_throughput_loss'))}:\n\n"
        + table(["figure", "plain", "encrypted", "÷ plain", "throughput loss"], rows)
    )


def capacity(doc: Doc) -> str:
    backends: Doc = doc.get("backends") or {}
    kinds = list(dict.fromkeys(k for b in backends.values() for k in (b.get("routes") or {})))
    rows = [
        [
            kind,
            name,
            num(at(b, "routes", kind, "median_requests_per_s")),
            num(at(b, "routes", kind, "median_cpu_us_per_request"), 0),
            num(at(b, "routes", kind, "requests_per_core_s")),
            num(at(b, "routes", kind, "median_db_cpu_us_per_request"), 0),
            num(at(b, "statements", kind, "median"), 0),
        ]
        for kind in kinds
        for name, b in backends.items()
    ]
    processing = [
        [
            name,
            key,
            num(p.get("images_per_s"), 2),
            num(p.get("cpu_s_per_image"), 2),
            num(p.get("statements_per_image"), 0),
            num(((p.get("original_bytes") or 0) + (p.get("derived_bytes") or 0)) / 1e6, 2),
        ]
        for name, b in backends.items()
        for key, p in (b.get("processing") or {}).items()
    ]
    design = at(doc, "model", "design") or {}
    model = ""
    if design:
        model = (
            "\nThe design's estimate (1 M images, 77 RPS peak, 20 M views a month) by these "
            f"figures: {design.get('api_processes')} API processes "
            f"({num(design.get('api_cores'), 2)} cores at half load), "
            f"{design.get('worker_processes')} workers ({num(design.get('worker_cores'), 2)} "
            f"cores), {num(design.get('statements_per_s'), 0)} SQL statements/s "
            f"({num(design.get('database_cores'), 2)} PostgreSQL cores), "
            f"{num(design.get('stored_tb'))} TB stored, {num(design.get('database_gb'))} GB "
            'of database (docs/OPERATIONS.md, "Capacity model").\n'
        )
    return (
        f"One API process, medians of {at(doc, 'config', 'rounds')} rounds; per core: 10⁶ ÷ "
        "the API process's CPU µs per request; PostgreSQL µs: its CPU per request; "
        "statements: SQL per request, counted in process:\n\n"
        + table(
            ["route kind", "backend", "req/s", "CPU µs", "per core", "PostgreSQL µs", "statements"],
            rows,
            2,
        )
        + "\nThe worker at concurrency 1 (CPU timed on sqlite-local only; stored: original "
        "and presets):\n\n"
        + table(
            ["backend", "photo", "images/s", "CPU s/image", "statements/image", "stored MB"],
            processing,
            2,
        )
        + model
    )


RENDERERS: dict[str, Callable[[Doc], str]] = {
    "core": core,
    "processing": processing,
    "tus": tus,
    "search": search,
    "http": http,
    "scan": scan,
    "encryption": encryption,
    "capacity": capacity,
}


def render(run: Doc | None, sections: list[Doc]) -> str:
    out = [
        "# imghost benchmark results\n\n",
        "Written by `python -m bench.results_md` from the JSON of one `make bench` run; do not "
        "edit by hand. bench/README.md says what each section measures and how to read it. "
        "The servers, the load generators and the peers share the machine below: compare "
        "ratios across machines, not absolute figures.\n\n",
    ]
    if run is not None:
        arguments = " ".join(run.get("arguments") or []) or "(defaults)"
        out.append(
            f"Run from {when(run.get('started_at'))} to {when(run.get('finished_at'))}: "
            f"`python -m bench.run {arguments}`; "
            + ("every check passed" if run.get("ok") else "**some checks failed**")
            + ".\n\n"
        )
    out += ["## Machine\n\n", machine_table(sections)]
    for doc in sections:
        name = str(doc.get("benchmark", "?"))
        renderer = RENDERERS.get(name)
        body = renderer(doc) if renderer else f"No tables for `{name}`: see its JSON.\n"
        out += ["\n", heading(doc), body, status(doc)]
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.results_md",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", type=Path, help="a run manifest or section JSON")
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    parser.add_argument(
        "--if-complete", action="store_true", help="write nothing unless every section ran"
    )
    args = parser.parse_args(argv)
    paths: list[Path] = args.files or [RESULTS_DIR / "run-latest.json"]
    missing = [str(p) for p in paths if not p.exists()]
    if missing and args.if_complete:
        print(f"bench.results_md: no {', '.join(missing)}, nothing written", file=sys.stderr)
        return 0
    if missing:
        parser.error(f"not found: {', '.join(missing)} (run `make bench` first)")
    run, sections = documents(paths)
    if args.if_complete and not (run and run.get("complete")):
        measured = ", ".join((run or {}).get("sections") or []) or "no run manifest"
        print(f"bench.results_md: not a full run ({measured}), nothing written", file=sys.stderr)
        return 0
    text = render(run, sections)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"bench.results_md: wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
