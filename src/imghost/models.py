"""Every table, imported in one place for Alembic and for `create_all` in tools."""

from imghost.accounts.models import User
from imghost.auth.models import ApiKey, AuthSession, RefreshToken
from imghost.db import Base
from imghost.images.models import Image, ImageTag
from imghost.jobs.models import Job
from imghost.uploads.models import Upload

__all__ = [
    "ApiKey",
    "AuthSession",
    "Base",
    "Image",
    "ImageTag",
    "Job",
    "RefreshToken",
    "Upload",
    "User",
]
