"""The example alert rules name only series the code exports, and each alert has
its runbook entry in docs/OPERATIONS.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from imghost import metrics
from imghost.ops.scrape import SCRAPE_METRICS

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOK = (ROOT / "docs" / "OPERATIONS.md").read_text()


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_the_rules_name_only_exported_series() -> None:
    exported = metrics.registered_names() | SCRAPE_METRICS
    named = {name for rule in _alerts() for name in re.findall(r"\bimghost_\w+", rule["expr"])}
    assert len(named) >= 8  # the pattern still finds them
    assert named <= exported, f"not exported by the code: {sorted(named - exported)}"


def test_every_alert_has_a_runbook_entry() -> None:
    alerts = _alerts()
    issues = (
        "ImghostHighErrorRate",
        "ImghostQueueBehind",
        "ImghostDeadJobs",
        "ImghostNotReady",
        "ImghostDiskFilling",
        "ImghostScanOutage",
    )
    assert set(issues) <= {rule["alert"] for rule in alerts}
    for rule in alerts:
        name = rule["alert"]
        assert f"\n#### {name}\n" in RUNBOOK, f"no '#### {name}' in docs/OPERATIONS.md"
        assert rule["annotations"]["runbook"] == f"docs/OPERATIONS.md#{name.lower()}"
