"""Check that only transaction owners commit: services flush and never commit.

The transaction belongs to whoever answers for the unit of work: a route, a
job handler, a CLI command, a migration. Everything else takes a session and
flushes, so a caller can put it inside a larger transaction without it
committing half of it. This walks every module under ``src/imghost`` and
reports each reference to a ``.commit`` attribute (called, or handed on as a
callback) in a module that is not an owner: by its name (the patterns
below), or listed in ``OWNERS`` with the reason it must commit itself. A
listed owner that no longer commits is reported too, so the list stays
true.

    python scripts/check_commits.py [SOURCE_ROOT]

Exit status 1 when something is reported.
"""

from __future__ import annotations

import ast
import fnmatch
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "imghost"

#: Owners by name, paths relative to the source root (``*`` spans folders).
OWNER_PATTERNS: Mapping[str, str] = {
    "*/api.py": "routes: the request's transaction",
    "*_api.py": "routes: the request's transaction",
    "*/tasks.py": "job handlers: the job's transaction",
    "cli/*": "CLI commands: the command's transaction",
    "migrations/*": "schema migrations",
}

#: Other owners, each with the reason it commits itself.
OWNERS: Mapping[str, str] = {
    "jobs/worker.py": "the worker: claims, heartbeats and outcomes of jobs",
    "tus/flow.py": (
        "each tus request's steps under the upload's lease: the lease, each "
        "checkpoint and each renewal must be visible to other processes before "
        "the next step (the routes delegate to it)"
    ),
    "maintenance/gc.py": (
        "the gc job: its own sessions; an expired upload's mark commits before its "
        "bytes go, and each removal commits so no write lock spans the store's calls"
    ),
    "lifecycle/purge.py": (
        "the purge state machine and its sweep: each step commits before the next "
        "(bytes go only once the purge is marked, rows only once the bytes are gone)"
    ),
    "analytics/flush.py": "the periodic flush of counted views, in a session of its own",
    "auth/last_use.py": (
        "the periodic write of sessions' and API keys' noted last uses, in a session "
        "of its own, in no request's transaction (a GET commits nothing)"
    ),
    "processing/rendition_cache.py": (
        "a per-process cache with its own sessions: a rendition's row commits "
        "before its blob is written and its deletion before the blob goes"
    ),
    "processing/verify.py": "the scrub's verify_image job (out of tasks.py): the job's transaction",
    "processing/rescan.py": "the rescan_image job (out of tasks.py): the job's transaction",
    "processing/storing.py": (
        "the processing job's two records (out of tasks.py): the thumbnails commit "
        "on their own, so they are served while the job makes the rest"
    ),
    "processing/ondemand.py": (
        "a render shared by every request waiting for it (single-flight): its "
        "derivative is counted in a session of its own, in no request's transaction"
    ),
}


def is_owner(relative: str, owners: Mapping[str, str]) -> bool:
    return relative in owners or any(fnmatch.fnmatch(relative, p) for p in OWNER_PATTERNS)


def commits(tree: ast.AST) -> Iterator[int]:
    """Line numbers of every ``<anything>.commit`` read in ``tree``."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "commit"
            and isinstance(node.ctx, ast.Load)
        ):
            yield node.lineno


def violations(root: Path = ROOT, owners: Mapping[str, str] = OWNERS) -> list[str]:
    """One line per problem, ``path:line: what``; empty when all is well."""
    found: list[str] = []
    committing: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        lines = list(commits(ast.parse(path.read_text(), str(path))))
        if lines:
            committing.add(relative)
        if is_owner(relative, owners):
            continue
        found.extend(
            f"{path}:{line}: commits, but {relative} is no transaction owner "
            "(flush and let the route, job or CLI command commit; or list it in "
            "OWNERS with the reason it must commit itself)"
            for line in lines
        )
    found.extend(
        f"{root / relative}: listed in OWNERS but does not commit (remove it)"
        for relative in sorted(set(owners) - committing)
    )
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else ROOT
    found = violations(root)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
