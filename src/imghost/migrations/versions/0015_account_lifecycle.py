"""account lifecycle: verified e-mail, one-time account tokens, session last use

Revision ID: 0015_account_lifecycle
Revises: 0016_ingest
Create Date: 2026-12-07 09:00:00.000000

`users.email_verified_at`; `account_tokens` (password resets and e-mail
verifications: the token is the row id plus an HMAC, nothing secret is
stored); where a login session started and was last used, and the last use
of an API key. Existing accounts start unverified.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0015_account_lifecycle"
down_revision: str | None = "0016_ingest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_verified_at", imghost.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_address", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("last_used_at", imghost.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("last_used_address", sa.String(length=64), nullable=True))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_used_at", imghost.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("last_used_address", sa.String(length=64), nullable=True))
    op.create_table(
        "account_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", imghost.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_tokens")),
    )
    op.create_index(op.f("ix_account_tokens_user_id"), "account_tokens", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_account_tokens_user_id"), table_name="account_tokens")
    op.drop_table("account_tokens")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("last_used_address")
        batch_op.drop_column("last_used_at")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("last_used_address")
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("user_agent")
        batch_op.drop_column("created_address")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_verified_at")
