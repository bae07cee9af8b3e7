"""damaged images: the scrub's runs and findings, and the `damaged` status

Revision ID: 0028_damaged_images
Revises: 0027_hash_lists
Create Date: 2026-12-08 09:00:00.000000

`imghost verify` records each run (`scrub_runs`: what it queued, what its
jobs read, how many problems they found) and each blob that did not match
(`scrub_findings`). With `--repair` an image whose original is missing or
corrupt gets the status `damaged`: `images.status` is a free string (no CHECK
constraint), so that needs no schema change, and the listing triggers of
0010/0024 already list only `ready` images.

The downgrade makes every `damaged` image `quarantined` (with its reason
kept): code before this revision does not know `damaged` and would serve
the image's (corrupt) bytes and list it as its owner's; a quarantine it
knows keeps the bytes from everyone but admins.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0028_damaged_images"
down_revision: str | None = "0027_hash_lists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scrub_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("repair", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Integer(), nullable=False),
        sa.Column("verified_bytes", sa.BigInteger(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scrub_runs")),
    )
    op.create_table(
        "scrub_findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("problem", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("found_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["scrub_runs.id"],
            name=op.f("fk_scrub_findings_run_id_scrub_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scrub_findings")),
    )
    op.create_index("ix_scrub_findings_run", "scrub_findings", ["run_id", "id"], unique=False)


def downgrade() -> None:
    op.execute("UPDATE images SET status = 'quarantined' WHERE status = 'damaged'")
    op.drop_index("ix_scrub_findings_run", table_name="scrub_findings")
    op.drop_table("scrub_findings")
    op.drop_table("scrub_runs")
