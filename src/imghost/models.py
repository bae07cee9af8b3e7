"""Every table, imported in one place for Alembic and for `create_all` in tools.

Importing it also installs the full-text index hook (``search.index``), so
every session that writes images keeps the index in step.
"""

from imghost.accounts.models import Org, OrgInvitation, OrgMember, User
from imghost.analytics.models import ImageStatsDaily, OwnerBandwidthDaily
from imghost.auth.models import ApiKey, AuthSession, RefreshToken
from imghost.db import Base
from imghost.images.models import Image, ImageTag
from imghost.jobs.models import Job
from imghost.lifecycle.models import PurgedImage, TrashEntry
from imghost.notifications.models import (
    Notification,
    NotificationPreference,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from imghost.processing.models import Rendition
from imghost.quotas.models import QuotaBlob, QuotaReservation, StorageUsage
from imghost.search import index as _search_index  # noqa: F401 - installs the hook
from imghost.sharing.models import (
    Album,
    AlbumCollaborator,
    AlbumImage,
    ImageCollaborator,
    ShareLink,
)
from imghost.uploads.models import Upload

__all__ = [
    "Album",
    "AlbumCollaborator",
    "AlbumImage",
    "ApiKey",
    "AuthSession",
    "Base",
    "Image",
    "ImageCollaborator",
    "ImageStatsDaily",
    "ImageTag",
    "Job",
    "Notification",
    "NotificationPreference",
    "Org",
    "OrgInvitation",
    "OrgMember",
    "OwnerBandwidthDaily",
    "PurgedImage",
    "QuotaBlob",
    "QuotaReservation",
    "RefreshToken",
    "Rendition",
    "ShareLink",
    "StorageUsage",
    "TrashEntry",
    "Upload",
    "User",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
