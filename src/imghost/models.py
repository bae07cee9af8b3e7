"""Every table, imported in one place for Alembic and for `create_all` in tools.

Importing it also installs the full-text index hook (``search.index``), so
every session that writes images keeps the index in step.
"""

from imghost.accounts.models import User
from imghost.albums.models import Album, AlbumCollaborator, AlbumImage
from imghost.analytics.models import ImageStatsDaily, OwnerBandwidthDaily
from imghost.audit.models import AuditEvent, AuditFlood, AuditHead
from imghost.auth.models import AccountToken, ApiKey, AuthSession, RefreshToken
from imghost.db import Base
from imghost.exports.models import DataExport
from imghost.hotlink.models import HotlinkAllowList
from imghost.images.models import Image, ImageTag, ImageVersion
from imghost.jobs.models import Job
from imghost.lifecycle.models import PurgedImage, TrashEntry
from imghost.moderation.models import Takedown
from imghost.notifications.models import (
    Notification,
    NotificationPreference,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from imghost.orgs.models import Org, OrgInvitation, OrgMember
from imghost.processing.models import Rendition, ScrubFinding, ScrubRun
from imghost.quotas.models import BandwidthUsage, QuotaBlob, QuotaReservation, StorageUsage
from imghost.reports.models import AbuseReport
from imghost.search import index as _search_index  # noqa: F401 - installs the hook
from imghost.sharing.models import ImageCollaborator, PendingShare, ShareLink
from imghost.uploads.models import Upload


def _flush_parents_first() -> None:
    """Write rows in foreign-key order, whatever the packages are called.

    The tables have no ``relationship()``s, and without them SQLAlchemy's unit of
    work orders the INSERTs of different mappers by module path
    (``Mapper._sort_key``): ``imghost.albums.models.AlbumImage`` would be written
    before the ``imghost.images.models.Image`` it points at, in the one flush
    that uploads an image into an album. Prefix each key with its table's place
    in the dependency order so renaming a package cannot break a flush.
    """
    order = {table: i for i, table in enumerate(Base.metadata.sorted_tables)}
    for mapper in Base.registry.mappers:
        if mapper.local_table in order and not mapper._sort_key[:1].isdigit():
            mapper._sort_key = f"{order[mapper.local_table]:03d}:{mapper._sort_key}"


_flush_parents_first()

__all__ = [
    "AbuseReport",
    "AccountToken",
    "Album",
    "AlbumCollaborator",
    "AlbumImage",
    "ApiKey",
    "AuditEvent",
    "AuditFlood",
    "AuditHead",
    "AuthSession",
    "BandwidthUsage",
    "Base",
    "DataExport",
    "HotlinkAllowList",
    "Image",
    "ImageCollaborator",
    "ImageStatsDaily",
    "ImageTag",
    "ImageVersion",
    "Job",
    "Notification",
    "NotificationPreference",
    "Org",
    "OrgInvitation",
    "OrgMember",
    "OwnerBandwidthDaily",
    "PendingShare",
    "PurgedImage",
    "QuotaBlob",
    "QuotaReservation",
    "RefreshToken",
    "Rendition",
    "ScrubFinding",
    "ScrubRun",
    "ShareLink",
    "StorageUsage",
    "Takedown",
    "TrashEntry",
    "Upload",
    "User",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
