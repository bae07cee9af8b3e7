"""bench/RESULTS.md's generator (bench/results_md.py): one run's JSON as Markdown tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench import results_md

MACHINE = {
    "cpu_model": "AMD EPYC",
    "cpus_usable": 2,
    "memory_gb": 23.5,
    "python": "3.11.7",
    "nginx": "nginx version: nginx/1.22.1",
    "packages": {"imghost": "0.1.0"},
    "git": {"commit": "0123456789abcdef", "tracked_changes": False},
    "load_average": [1.5, 1.0, 0.5],
    "load_average_end": [2.5, 1.0, 0.5],
}


def _wrk(rps: float, label: str) -> dict[str, Any]:
    return {
        "label": label,
        "requests_per_s": rps,
        "transfer_mb_per_s": rps * 0.2,
        "latency_ms": {"50": 1.0, "99": 9.5},
        "non_2xx_3xx": 0,
        "socket_errors": {"connect": 0},
    }


CORE = {
    "benchmark": "core",
    "ok": True,
    "started_at": "2026-12-07T12:00:00+00:00",
    "duration_s": 150.0,
    "machine": MACHINE,
    "config": {"upload_runs": 20, "wrk": {"command": "wrk -t2 -c16 -d10s --latency URL"}},
    "fixtures": {"large": {"bytes": 10_000_000}, "small": {"bytes": 200_000}},
    "backends": {
        "sqlite-local": {
            "uploads": {"direct": {"p50_ms": 120.0, "p95_ms": 150.0, "mb_per_s_at_p50": 83.3}},
            "get": {
                "image_id": "img_x",
                "imghost": _wrk(3000.0, "imghost"),
                # A target the renderer has never heard of is a row all the same.
                "edge": _wrk(24000.0, "edge (nginx cache in front of imghost)"),
                "nginx": _wrk(30000.0, "nginx"),
                "s3_direct": None,
                "ratio_imghost_to_nginx_rps": 0.1,
            },
            "checks": [{"name": "wrk imghost: no errors", "ok": True, "detail": "0"}],
        }
    },
}

TUS = {
    "benchmark": "tus",
    "ok": False,
    "started_at": "2026-12-07T12:03:00+00:00",
    "machine": MACHINE,
    "config": {"runs": 5, "rss_goal_growth_mb": 64.0},
    "image": {"bytes": 201_787_789},
    "backends": {
        "postgres-s3": {
            "throughput": {
                "tus 8 MiB": {"median_s": 9.9, "mb_per_s": 20.3, "ratio_to_direct": 0.86},
            },
            "memory": {"upload_bytes": 2**30, "growth_mb": 70.4, "peak_rss_mb": 257.0},
            "error": "ConnectError: refused\nTraceback (most recent call last): ...",
            "checks": [{"name": "RSS growth < 64 MB", "ok": False, "detail": "70.4 MB"}],
        }
    },
}


def _run(tmp_path: Path, sections: list[dict[str, Any]], complete: bool) -> Path:
    files = {}
    for doc in sections:
        name = f"{doc['benchmark']}-20261207T120000Z.json"
        (tmp_path / name).write_text(json.dumps(doc))
        files[doc["benchmark"]] = name
    manifest = {
        "benchmark": "run",
        "ok": all(d["ok"] for d in sections),
        "started_at": "2026-12-07T12:00:00+00:00",
        "finished_at": "2026-12-07T12:10:00+00:00",
        "arguments": [],
        "sections": list(files),
        "complete": complete,
        "files": files,
    }
    path = tmp_path / "run-latest.json"
    path.write_text(json.dumps(manifest))
    return path


def test_a_run_renders_the_machine_each_sections_tables_ratios_and_failures(
    tmp_path: Path,
) -> None:
    text = results_md.render(*results_md.documents([_run(tmp_path, [CORE, TUS], True)]))

    assert "| CPU | AMD EPYC, 2 cores |" in text
    assert "| commit | 0123456789ab |" in text
    assert "## core\n\n2026-12-07 12:00:00 UTC, 150 s, load 1.5 → 2.5, ok" in text
    assert "| sqlite-local | direct | 120.0 | 150.0 | – | – | 83.3 |" in text
    assert "| sqlite-local | imghost | 3,000 | 600.0 | 1.0 | 9.5 | 0 | 0.100× |" in text
    assert "| sqlite-local | edge (nginx cache in front of imghost) | 24,000 |" in text
    assert "| 0.800× |" in text
    assert "| postgres-s3 | tus 8 MiB | 9.90 | 20.3 | – | 0.86× | – |" in text
    assert "| postgres-s3 | 1,024 | – | 257 | 70.4 ✗ |" in text
    assert "- ✗ RSS growth < 64 MB: 70.4 MB" in text
    # An error's first line only: the traceback stays in the JSON.
    assert "- error: tus › backends › postgres-s3: ConnectError: refused\n" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("name", sorted(results_md.RENDERERS))
def test_a_section_without_figures_renders_as_not_measured(name: str) -> None:
    text = results_md.render(None, [{"benchmark": name, "ok": False}])

    assert f"## {name}\n" in text
    assert "**failed**" in text


def test_make_bench_writes_only_after_a_full_run(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    partial = _run(tmp_path, [TUS], complete=False)
    args = [str(partial), "--if-complete", "--output", str(output)]

    assert results_md.main(args) == 0
    assert not output.exists()
    assert results_md.main([str(tmp_path / "missing.json"), *args[1:]]) == 0
    assert not output.exists()

    full = _run(tmp_path, [CORE, TUS], complete=True)
    assert results_md.main([str(full), "--if-complete", "--output", str(output)]) == 0
    assert output.read_text().startswith("# imghost benchmark results\n")


def test_processing_latency_is_a_table_with_its_goals() -> None:
    latency = {
        "setup": "sqlite-local",
        "single_p50_s": {"jpeg-12mp": {"thumbnail": 0.18, "ready": 0.94}},
        "burst_all_ready_from_first_upload_s": 3.86,
        "goals_s": {"burst_of_6_all_ready": 3.0},
    }
    text = results_md.render(None, [{"benchmark": "processing", "latency": [latency]}])

    assert "goals: burst_of_6_all_ready < 3.0 s" in text
    assert "| sqlite-local | one jpeg-12mp | 0.18 | 0.94 |" in text
    assert "| sqlite-local | burst of 6 (from the first request) | – | 3.86 |" in text


def test_capacity_is_a_table_per_route_kind_and_the_design_estimate() -> None:
    doc = {
        "benchmark": "capacity",
        "ok": True,
        "config": {"rounds": 3},
        "backends": {
            "postgres-s3": {
                "routes": {
                    "listing": {
                        "median_requests_per_s": 70.5,
                        "median_cpu_us_per_request": 8000.0,
                        "requests_per_core_s": 125.0,
                        "median_db_cpu_us_per_request": 900.0,
                    }
                },
                "statements": {"listing": {"median": 4}},
                "processing": {
                    "jpeg-12mp": {
                        "images_per_s": 0.5,
                        "cpu_s_per_image": 0.81,
                        "statements_per_image": 51.0,
                        "original_bytes": 2_700_000,
                        "derived_bytes": 900_000,
                    }
                },
            }
        },
        "model": {
            "design": {
                "api_processes": 2,
                "api_cores": 0.33,
                "worker_processes": 2,
                "worker_cores": 0.65,
                "statements_per_s": 99.2,
                "database_cores": 0.05,
                "stored_tb": 4.7,
                "database_gb": 3.5,
            }
        },
    }
    text = results_md.render(None, [doc])

    assert "| listing | postgres-s3 | 70.5 | 8,000 | 125.0 | 900 | 4 |" in text
    assert "| postgres-s3 | jpeg-12mp | 0.50 | 0.81 | 51 | 3.60 |" in text
    assert "2 API processes (0.33 cores at half load), 2 workers (0.65 cores)" in text
