"""The capacity model's arithmetic (bench/capacity_model.py): the figures docs/OPERATIONS.md
quotes come from these rules."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from bench import capacity_model as m

CPU_US = {
    "view_cached": 400.0,
    "view_uncached": 800.0,
    "view_private": 4_000.0,
    "metadata": 4_000.0,
    "listing": 8_000.0,
    "search": 8_000.0,
    "upload_direct": 120_000.0,
    "upload_tus": 140_000.0,
}
FIGURES = m.Figures(
    cpu_us=CPU_US,
    statements={"view_cached": 0, "view_uncached": 1, "listing": 4, "upload_direct": 20},
    processing_cpu_s=1.0,
    processing_statements=50,
    stored_bytes_per_image=5_000_000,
    database_bytes_per_image=3_500,
    db_cpu_us={"view_uncached": 100.0, "listing": 1_000.0},
)


def test_rates_per_second_and_per_core() -> None:
    assert m.per_second(20e6) == pytest.approx(7.716, abs=1e-3)
    assert m.per_core(250.0) == 4_000.0
    with pytest.raises(ValueError, match="positive"):
        m.per_core(0)


def test_a_mix_costs_its_weighted_cpu_and_needs_every_kind() -> None:
    # Shares are normalised: 1:3 is a quarter and three quarters.
    assert m.mixed_cpu_us({"view_cached": 1, "listing": 3}, CPU_US) == 6_100.0
    with pytest.raises(KeyError, match="thumbnail"):
        m.mixed_cpu_us({"thumbnail": 1}, CPU_US)


def test_the_cdn_thins_only_the_cacheable_kinds() -> None:
    mix = {"view_cached": 0.5, "view_uncached": 0.3, "listing": 0.2}
    assert m.origin_share(mix, 0.0) == 1.0
    assert m.origin_share(mix, 1.0) == pytest.approx(0.2)
    assert m.origin_share(mix, 0.9) == pytest.approx(0.2 + 0.8 * 0.1)


def test_behind_a_cdn_the_misses_are_costed_as_uncached_views() -> None:
    mix = {"view_cached": 0.5, "view_uncached": 0.3, "listing": 0.2}
    assert m.through_origin(mix, 0.0) == mix
    through = m.through_origin(mix, 0.9)
    assert through == {"listing": 0.2, "view_uncached": pytest.approx(0.08)}


def test_the_hit_ratio_an_api_tier_needs() -> None:
    workload = m.Workload(
        images=1, peak_rps=100_000.0, views_per_month=1, mix={"view_cached": 0.9, "listing": 0.1}
    )
    # Uncacheable alone: 10,000 listings/s of 8 ms at 50 % = 160 cores.
    assert m.hit_ratio_for(FIGURES, workload, 100.0) is None
    needed = m.hit_ratio_for(FIGURES, workload, 200.0)
    assert needed is not None
    # 40 cores left for 90,000 views/s * (1 - h) of 800 us at 50 %.
    assert needed == pytest.approx(1 - 40 / (90_000 * 800e-6 / 0.5), abs=1e-3)
    assert m.plan(FIGURES, replace(workload, cdn_hit_ratio=needed)).api_cores <= 200.0
    assert m.hit_ratio_for(FIGURES, workload, 10_000.0) == 0.0


def test_cores_and_processes_keep_headroom_and_two_of_everything() -> None:
    assert m.cores_for(100.0, 0.004, 0.5) == pytest.approx(0.8)
    assert m.processes(0.1) == 2
    assert m.processes(2.0) == 2
    assert m.processes(2.01) == 3
    with pytest.raises(ValueError, match="utilisation"):
        m.cores_for(1.0, 1.0, 0.0)


def test_workers_follow_arrivals_backlog_and_the_oldest_age() -> None:
    steady = m.desired_workers(arrival=7.0, depth=0, oldest_age_s=1.0, cpu_s_per_job=1.0, current=4)
    assert steady == 10  # 7 jobs/s of 1 CPU s at 70 %
    backlog = m.desired_workers(
        arrival=7.0, depth=600, oldest_age_s=30.0, cpu_s_per_job=1.0, current=10
    )
    assert backlog == 20  # plus 600 CPU s drained within 60 s
    stuck = m.desired_workers(
        arrival=0.0, depth=10, oldest_age_s=300.0, cpu_s_per_job=1.0, current=4
    )
    assert stuck == 20  # the oldest job is 5 * the target: 5 * the workers
    idle = m.desired_workers(arrival=0.0, depth=0, oldest_age_s=0.0, cpu_s_per_job=1.0, current=9)
    assert idle == 2
    capped = m.desired_workers(
        arrival=1e6, depth=0, oldest_age_s=0.0, cpu_s_per_job=1.0, current=1, maximum=50
    )
    assert capped == 50


def test_a_plan_sizes_every_tier() -> None:
    workload = m.Workload(
        images=1_000_000,
        peak_rps=100.0,
        views_per_month=20e6,
        mix={"view_cached": 0.5, "view_uncached": 0.3, "listing": 0.19, "upload_direct": 0.01},
        cdn_hit_ratio=0.5,
    )
    plan = m.plan(FIGURES, workload)

    # Through the origin: 0.4 of views (all costed as uncached) + 0.19 + 0.01 of 100 RPS.
    assert plan.origin_rps == pytest.approx(60.0)
    cpu = (0.4 * 800 + 0.19 * 8_000 + 0.01 * 120_000) / 0.6
    assert plan.cpu_us_per_request == pytest.approx(cpu)
    assert plan.api_cores == pytest.approx(60.0 * cpu / 1e6 / 0.5)
    assert plan.api_processes == max(2, math.ceil(plan.api_cores))
    assert plan.upload_peak_per_s == pytest.approx(1.0)
    assert plan.worker_cores == pytest.approx(1.0 / 0.7)
    assert plan.worker_processes == 2
    statements = 60.0 * (0.4 * 1 + 0.19 * 4 + 0.01 * 20) / 0.6 + 1.0 * 50
    assert plan.statements_per_s == pytest.approx(statements)
    db_us = (0.4 * 100 + 0.19 * 1_000) / 0.6
    assert plan.database_cores == pytest.approx(60.0 * db_us / 1e6 / 0.5)
    assert plan.stored_tb == pytest.approx(5.0)
    assert plan.database_gb == pytest.approx(3.5)
    assert plan.average_view_rps == pytest.approx(7.716, abs=1e-3)
