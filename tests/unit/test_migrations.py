"""Migrations after the baseline only expand the schema (lint/migrations.py):
the previous release keeps working on a migrated database."""

from __future__ import annotations

from pathlib import Path

import pytest
from lint import migrations

import imghost

VERSIONS = Path(imghost.__file__).parent / "migrations" / "versions"

HEAD = """
import sqlalchemy as sa
from alembic import op

revision = "{n:04d}_x"
down_revision = None
"""


def test_the_project_s_migrations_keep_the_rule() -> None:
    assert migrations.violations(VERSIONS) == []


def test_the_baseline_is_a_migration() -> None:
    assert any(migrations.number(p) == migrations.BASELINE for p in VERSIONS.glob("*.py"))


def _check(tmp_path: Path, body: str, n: int = migrations.BASELINE + 1) -> list[str]:
    path = tmp_path / f"{n:04d}_x.py"
    path.write_text(HEAD.format(n=n) + body)
    return [v.what for v in migrations.violations(tmp_path)]


@pytest.mark.parametrize(
    ("upgrade", "what"),
    [
        ('op.drop_column("images", "title")', "drops a column"),
        ('op.drop_table("albums")', "drops a table"),
        ('op.rename_table("albums", "collections")', "renames a table"),
        (
            'op.alter_column("images", "title", new_column_name="name")',
            "renames a column",
        ),
        ('op.alter_column("images", "title", nullable=False)', "makes a column NOT NULL"),
        (
            'op.alter_column("images", "size", type_=sa.BigInteger())',
            "changes a column's type in place",
        ),
        (
            'op.add_column("images", sa.Column("n", sa.Integer(), nullable=False))',
            "adds a NOT NULL column without a server default",
        ),
        (
            'with op.batch_alter_table("images") as batch:\n        batch.drop_column("title")',
            "drops a column",
        ),
        (
            'op.execute("ALTER TABLE images DROP COLUMN title")',
            "runs SQL that contracts the schema ('DROP COLUMN')",
        ),
        (
            'op.execute(sa.text(f"ALTER TABLE {T} RENAME TO old"))',
            "runs SQL that contracts the schema ('RENAME TO')",
        ),
        ("_helper()", "drops a table"),  # through a helper of the module
    ],
)
def test_a_contracting_step_is_refused(tmp_path: Path, upgrade: str, what: str) -> None:
    helper = 'def _helper():\n    op.drop_table("albums")\n\n\n'
    source = f"T = 'images'\n\n\n{helper}def upgrade():\n    {upgrade}\n"
    assert _check(tmp_path, source) == [what]


def test_expanding_steps_pass(tmp_path: Path) -> None:
    source = """
def upgrade():
    op.create_table("things", sa.Column("id", sa.String(40), nullable=False))
    op.add_column("images", sa.Column("a", sa.Integer(), nullable=True))
    op.add_column("images", sa.Column("b", sa.Integer(), server_default="0", nullable=False))
    op.create_index("ix_images_a", "images", ["a"])


def downgrade():
    op.drop_column("images", "a")
    op.drop_table("things")
"""
    assert _check(tmp_path, source) == []


def test_a_marked_contract_step_and_the_migrations_before_the_baseline_pass(
    tmp_path: Path,
) -> None:
    drop = 'def upgrade():\n    op.drop_column("images", "legacy")\n'
    marked = 'CONTRACT = "images.legacy: unused since the release before"\n' + drop
    assert _check(tmp_path, marked) == []
    assert _check(tmp_path, 'CONTRACT = ""\n' + drop) == ["drops a column"]  # a reason is needed
    (tmp_path / f"{migrations.BASELINE + 1:04d}_x.py").unlink()
    assert _check(tmp_path, drop, n=migrations.BASELINE) == []
