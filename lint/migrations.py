"""Migrations work with the release before them: expand now, contract a release later.

During a rolling upgrade the new release's migrations run while the previous
release still serves, and both releases then run side by side on the migrated
database (docs/OPERATIONS.md, "Upgrades without downtime"). So a migration's
``upgrade()`` may only *expand* the schema: add tables, nullable columns,
columns with a server default, indexes. What the previous release still reads
or writes must stay: no dropped or renamed table or column, no column made NOT
NULL or given another type in place, no NOT NULL column without a server
default (the previous release's INSERTs do not name it).

Removing something is a *contract* step, in a later release than the one that
stopped using it. Its migration says so at module level::

    CONTRACT = "images.legacy_path: unused since 0.9 (read from images.path)"

and is then exempt from the rule; the reason is for the reviewer, and the
upgrade test (tests/e2e/test_upgrade.py) runs the previous release's API
against the migrated database, which catches a contract that came too early.

:func:`violations` reads the files' syntax trees only (nothing is imported or
run), so the check costs milliseconds. Migrations up to :data:`BASELINE`
predate the rule and are not checked.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

# The last migration written before the rule (the head of the release that
# introduced it): later ones are checked.
BASELINE = 30

# Operations (op.* or a batch_alter_table's) that remove or rename something.
REMOVING = {
    "drop_column": "drops a column",
    "drop_table": "drops a table",
    "rename_table": "renames a table",
}
# Raw SQL that does the same (op.execute, sa.text): a contract step too.
RAW_SQL = re.compile(
    r"\b(DROP\s+(TABLE|COLUMN)|RENAME\s+(TO|COLUMN)|SET\s+NOT\s+NULL|ALTER\s+COLUMN\s+\S+\s+TYPE)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}"


def number(path: Path) -> int | None:
    """The migration's sequence number, from its file name (``0031_...``)."""
    match = re.match(r"(\d+)_", path.name)
    return int(match.group(1)) if match else None


def checked(versions: Path) -> list[Path]:
    """The migration files after the baseline."""
    return sorted(
        path for path in versions.glob("*.py") if (n := number(path)) is not None and n > BASELINE
    )


def contract_reason(tree: ast.Module) -> str | None:
    """The module-level ``CONTRACT = "reason"``, if the migration is a contract step."""
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if "CONTRACT" in names and isinstance(node.value, ast.Constant):
                value = node.value.value
                return value.strip() if isinstance(value, str) else None
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _not_null_without_default(column: ast.Call) -> bool:
    """A ``sa.Column(..., nullable=False)`` without a server default."""
    return (
        _call_name(column) == "Column"
        and _is_false(_keyword(column, "nullable"))
        and _keyword(column, "server_default") is None
    )


def _breaking(call: ast.Call) -> str | None:
    """What ``call`` does that the previous release cannot live with, if anything."""
    name = _call_name(call)
    if name in REMOVING:
        return REMOVING[name]
    if name == "alter_column":
        if _keyword(call, "new_column_name") is not None:
            return "renames a column"
        if _is_false(_keyword(call, "nullable")):
            return "makes a column NOT NULL"
        if _keyword(call, "type_") is not None:
            return "changes a column's type in place"
    if name == "add_column":
        columns = [a for a in call.args if isinstance(a, ast.Call)]
        if any(_not_null_without_default(c) for c in columns):
            return "adds a NOT NULL column without a server default"
    if name in ("execute", "text"):
        for arg in call.args:
            if (sql := _literal_sql(arg)) and (match := RAW_SQL.search(sql)):
                return f"runs SQL that contracts the schema ({match.group(0)!r})"
    return None


def _literal_sql(node: ast.expr) -> str | None:
    """A string literal's text; an f-string's with each placeholder as ``x``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "x"
            for v in node.values
        )
    return None


def violations_in(path: Path) -> list[Violation]:
    tree = ast.parse(path.read_text(), filename=str(path))
    if contract_reason(tree):
        return []
    found = []
    for function in _reached_from_upgrade(tree):
        for node in ast.walk(function):
            if isinstance(node, ast.Call) and (what := _breaking(node)):
                found.append(Violation(path.name, node.lineno, what))
    return sorted(set(found), key=lambda v: v.line)


def _reached_from_upgrade(tree: ast.Module) -> list[ast.FunctionDef]:
    """``upgrade`` and the module's functions it calls, directly or not (a
    helper shared with ``downgrade`` is checked when upgrade uses it)."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    if "upgrade" not in functions:
        return []
    reached = {"upgrade"}
    frontier = [functions["upgrade"]]
    while frontier:
        for node in ast.walk(frontier.pop()):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                name = node.func.id
                if name in functions and name not in reached and name != "downgrade":
                    reached.add(name)
                    frontier.append(functions[name])
    return [functions[name] for name in sorted(reached)]


def violations(versions: Path) -> list[Violation]:
    """Every expand/contract violation in the migrations after the baseline."""
    return [v for path in checked(versions) for v in violations_in(path)]
