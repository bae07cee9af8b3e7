"""sharing (ACLs, albums, links) and organizations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 05:31:48.408558
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orgs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_orgs_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs")),
    )
    op.create_table(
        "org_invitations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("invited_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_org_invitations_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_org_invitations_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_org_invitations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_invitations")),
    )
    with op.batch_alter_table("org_invitations", schema=None) as batch_op:
        batch_op.create_index("ix_org_invitations_email", ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_org_invitations_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_org_invitations_user", ["user_id"], unique=False)

    op.create_table(
        "org_members",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_org_members_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_org_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("org_id", "user_id", name=op.f("pk_org_members")),
    )
    with op.batch_alter_table("org_members", schema=None) as batch_op:
        batch_op.create_index("ix_org_members_user", ["user_id"], unique=False)

    op.create_table(
        "albums",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("cover_image_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cover_image_id"],
            ["images.id"],
            name=op.f("fk_albums_cover_image_id_images"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_albums_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_albums_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_albums")),
    )
    with op.batch_alter_table("albums", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_albums_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_albums_owner_created", ["owner_id", "created_at"], unique=False)

    op.create_table(
        "image_collaborators",
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("permission", sa.String(length=16), nullable=False),
        sa.Column("granted_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["granted_by"],
            ["users.id"],
            name=op.f("fk_image_collaborators_granted_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_image_collaborators_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_image_collaborators_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", "user_id", name=op.f("pk_image_collaborators")),
    )
    with op.batch_alter_table("image_collaborators", schema=None) as batch_op:
        batch_op.create_index("ix_image_collaborators_user", ["user_id", "image_id"], unique=False)

    op.create_table(
        "album_collaborators",
        sa.Column("album_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("permission", sa.String(length=16), nullable=False),
        sa.Column("granted_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["album_id"],
            ["albums.id"],
            name=op.f("fk_album_collaborators_album_id_albums"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["granted_by"],
            ["users.id"],
            name=op.f("fk_album_collaborators_granted_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_album_collaborators_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("album_id", "user_id", name=op.f("pk_album_collaborators")),
    )
    with op.batch_alter_table("album_collaborators", schema=None) as batch_op:
        batch_op.create_index("ix_album_collaborators_user", ["user_id", "album_id"], unique=False)

    op.create_table(
        "album_images",
        sa.Column("album_id", sa.String(length=40), nullable=False),
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("added_by", sa.String(length=40), nullable=True),
        sa.Column("added_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by"],
            ["users.id"],
            name=op.f("fk_album_images_added_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["album_id"],
            ["albums.id"],
            name=op.f("fk_album_images_album_id_albums"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_album_images_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("album_id", "image_id", name=op.f("pk_album_images")),
    )
    with op.batch_alter_table("album_images", schema=None) as batch_op:
        batch_op.create_index("ix_album_images_image", ["image_id"], unique=False)
        batch_op.create_index(
            "ix_album_images_order", ["album_id", "position", "image_id"], unique=False
        )

    op.create_table(
        "share_links",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("image_id", sa.String(length=40), nullable=True),
        sa.Column("album_id", sa.String(length=40), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("expires_at", imghost.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("max_views", sa.Integer(), nullable=True),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", imghost.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["album_id"],
            ["albums.id"],
            name=op.f("fk_share_links_album_id_albums"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_share_links_created_by_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_share_links_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_links")),
    )
    with op.batch_alter_table("share_links", schema=None) as batch_op:
        batch_op.create_index("ix_share_links_album", ["album_id"], unique=False)
        batch_op.create_index("ix_share_links_image", ["image_id"], unique=False)

    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_images_org_id"), ["org_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_images_org_id_orgs"), "orgs", ["org_id"], ["id"], ondelete="CASCADE"
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_admin")

    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_images_org_id_orgs"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_images_org_id"))
        batch_op.drop_column("org_id")

    with op.batch_alter_table("share_links", schema=None) as batch_op:
        batch_op.drop_index("ix_share_links_image")
        batch_op.drop_index("ix_share_links_album")

    op.drop_table("share_links")
    with op.batch_alter_table("album_images", schema=None) as batch_op:
        batch_op.drop_index("ix_album_images_order")
        batch_op.drop_index("ix_album_images_image")

    op.drop_table("album_images")
    with op.batch_alter_table("album_collaborators", schema=None) as batch_op:
        batch_op.drop_index("ix_album_collaborators_user")

    op.drop_table("album_collaborators")
    with op.batch_alter_table("image_collaborators", schema=None) as batch_op:
        batch_op.drop_index("ix_image_collaborators_user")

    op.drop_table("image_collaborators")
    with op.batch_alter_table("albums", schema=None) as batch_op:
        batch_op.drop_index("ix_albums_owner_created")
        batch_op.drop_index(batch_op.f("ix_albums_org_id"))

    op.drop_table("albums")
    with op.batch_alter_table("org_members", schema=None) as batch_op:
        batch_op.drop_index("ix_org_members_user")

    op.drop_table("org_members")
    with op.batch_alter_table("org_invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_org_invitations_user")
        batch_op.drop_index(batch_op.f("ix_org_invitations_org_id"))
        batch_op.drop_index("ix_org_invitations_email")

    op.drop_table("org_invitations")
    op.drop_table("orgs")
