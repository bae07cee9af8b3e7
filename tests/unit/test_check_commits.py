"""The check that only transaction owners commit (scripts/check_commits.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_commits", ROOT / "scripts" / "check_commits.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _checker()


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


COMMITS = "async def f(session):\n    await session.flush()\n    await session.commit()\n"


def test_the_source_tree_passes() -> None:
    assert check.violations() == []
    assert check.main(["check_commits.py"]) == 0


def test_a_service_that_commits_fails(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"feature/services.py": COMMITS})
    [problem] = check.violations(root, owners={})
    assert problem.startswith(f"{root / 'feature' / 'services.py'}:3: commits")
    assert check.main(["check_commits.py", str(root)]) == 1


def test_handing_on_commit_as_a_callback_counts(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"feature/steps.py": "def f(db, run):\n    run(then=db.commit)\n"})
    [problem] = check.violations(root, owners={})
    assert ":2: commits" in problem


def test_owners_by_name_may_commit(tmp_path: Path) -> None:
    names = [
        "feature/api.py",
        "sharing/links_api.py",
        "feature/tasks.py",
        "cli/admin.py",
        "migrations/env.py",
    ]
    root = _tree(tmp_path, dict.fromkeys(names, COMMITS))
    assert check.violations(root, owners={}) == []


def test_a_name_that_only_ends_like_a_route_is_no_owner(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"openapi.py": COMMITS})
    assert len(check.violations(root, owners={})) == 1


def test_a_listed_owner_may_commit_and_must(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"feature/flow.py": COMMITS, "feature/steps.py": "x = 1\n"})
    owners = {"feature/flow.py": "why", "feature/steps.py": "why"}
    [problem] = check.violations(root, owners=owners)
    assert (
        problem
        == f"{root / 'feature' / 'steps.py'}: listed in OWNERS but does not commit (remove it)"
    )
