"""job request id: the request that queued a job, for its log lines

Revision ID: 0031_job_request_id
Revises: 0030_job_priority
Create Date: 2027-01-20 12:00:00.000000

`jobs.request_id` holds the `X-Request-Id` of the request that queued the job
(or of the request whose job queued it); the worker binds it while the job
runs, so the job's log lines carry the request's id. Nullable, no default, no
index: jobs queued by commands and periodic work have none, and the release
before this one, which does not know the column, goes on inserting jobs
without it during a rolling upgrade.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_job_request_id"
down_revision: str | None = "0030_job_priority"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("request_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("request_id")
