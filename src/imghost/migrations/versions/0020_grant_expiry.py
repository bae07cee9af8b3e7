"""grant expiry: collaborator grants (and the shares by e-mail that become them) may end

Revision ID: 0020_grant_expiry
Revises: 0026_quota_override
Create Date: 2026-12-07 11:00:00.000000

`image_collaborators.expires_at` and `album_collaborators.expires_at`: a grant
counts until then (NULL: until revoked). Every read of a grant checks it against
the time of the query, so nothing has to run at that moment for it to end.
`pending_shares.grant_expires_at`: the expiry the grant gets once the share is
claimed. Nullable columns with plain ALTER TABLE: nothing to backfill, every
existing grant keeps lasting until revoked.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0020_grant_expiry"
# The lead re-chains this after the other migrations of issue 17.
down_revision: str | None = "0026_quota_override"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("image_collaborators", "expires_at"),
    ("album_collaborators", "expires_at"),
    ("pending_shares", "grant_expires_at"),
)


def upgrade() -> None:
    for table, column in _COLUMNS:
        op.add_column(table, sa.Column(column, imghost.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), never a batch rebuild: rebuilding a
    # table with foreign keys enforced would cascade.
    for table, column in reversed(_COLUMNS):
        op.drop_column(table, column)
