"""job priority: interactive work is claimed before bulk work

Revision ID: 0030_job_priority
Revises: 0029_egress
Create Date: 2027-01-10 12:00:00.000000

`jobs.priority` orders the claim before `run_at`: 0 for what someone waits
for (an upload's processing, a notification), 10 for the operators' sweeps
(`imghost rescan`, `imghost verify`, key rotation and encryption), so a sweep
of a million images does not delay the next upload's thumbnail. The index
serves the claim's order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_job_priority"
down_revision: str | None = "0029_egress"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False)
    )
    op.create_index(
        "ix_jobs_status_priority_run_at", "jobs", ["status", "priority", "run_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_status_priority_run_at", table_name="jobs")
    op.drop_column("jobs", "priority")
