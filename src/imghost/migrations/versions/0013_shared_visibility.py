"""shared visibility: `private` narrows to the owner; what was shared becomes `shared`

Revision ID: 0013_shared_visibility
Revises: 0012
Create Date: 2026-12-07 09:00:00.000000

`private` used to mean "the owner and those it is shared with". That is now
`shared`, and `private` is the owner's alone (plus admins, the org's managing
roles and signed URLs). So that nobody loses access, every private image or
album that anyone else can reach today becomes `shared`:

- an image with a collaborator, a share link that is not revoked, an org (its
  members see it by role), or a place in an album through which others reach
  it (an album with collaborators, a link that is not revoked, or an org);
- an album with a collaborator, a link that is not revoked, or an org.

This is a superset of who holds a live grant (an expired link, an album grant
that `album_conveys` would not pass on): making such an image `shared` grants
nobody anything, while missing one would take access away. `updated_at` is
left alone: who may see what did not change.

The listing triggers of 0010/0011 fire on the UPDATE and recompute `listed`,
which stays false: only `public` is listed. No schema change.

Downgrade: `shared` → `private` (images, albums, users' upload default), which
is what those rows meant before this revision.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_shared_visibility"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Others reach an album (`a` below) through a grant: it belongs to an org, has a
# collaborator, or has a link that is not revoked. Written out twice, as plain text.
IMAGES_UP = """
UPDATE images SET visibility = 'shared'
WHERE visibility = 'private' AND (
    org_id IS NOT NULL
    OR EXISTS (SELECT 1 FROM image_collaborators c WHERE c.image_id = images.id)
    OR EXISTS (SELECT 1 FROM share_links l
               WHERE l.image_id = images.id AND l.revoked_at IS NULL)
    OR EXISTS (SELECT 1 FROM album_images ai JOIN albums a ON a.id = ai.album_id
               WHERE ai.image_id = images.id AND (
                   a.org_id IS NOT NULL
                   OR EXISTS (SELECT 1 FROM album_collaborators c WHERE c.album_id = a.id)
                   OR EXISTS (SELECT 1 FROM share_links l
                              WHERE l.album_id = a.id AND l.revoked_at IS NULL)))
)
"""
ALBUMS_UP = """
UPDATE albums SET visibility = 'shared'
WHERE visibility = 'private' AND (
    org_id IS NOT NULL
    OR EXISTS (SELECT 1 FROM album_collaborators c WHERE c.album_id = albums.id)
    OR EXISTS (SELECT 1 FROM share_links l
               WHERE l.album_id = albums.id AND l.revoked_at IS NULL)
)
"""


def upgrade() -> None:
    # Images first: their rule reads the albums' grants, not the albums' visibility.
    op.execute(IMAGES_UP)
    op.execute(ALBUMS_UP)


def downgrade() -> None:
    op.execute("UPDATE images SET visibility = 'private' WHERE visibility = 'shared'")
    op.execute("UPDATE albums SET visibility = 'private' WHERE visibility = 'shared'")
    op.execute(
        "UPDATE users SET default_visibility = 'private' WHERE default_visibility = 'shared'"
    )
