"""Pure parts of the lifecycle: key prefixes, the retention setting, the
restorable flag."""

from __future__ import annotations

import datetime as dt

import pytest

from imghost.checks import check_settings
from imghost.images.models import Image
from imghost.lifecycle.models import TrashEntry
from imghost.lifecycle.schemas import TrashItem
from imghost.lifecycle.services import image_prefix
from imghost.maintenance.gc import _image_prefix
from imghost.processing.variants import derived_key
from imghost.settings import Settings, SettingsError

OWNER, IMAGE = "u_abc", "img_xyz"
ORIGINAL = f"{OWNER}/{IMAGE}/original"


def test_every_key_of_an_image_is_under_its_prefix() -> None:
    prefix = image_prefix(ORIGINAL)
    assert prefix == f"{OWNER}/{IMAGE}/"
    for name in ("thumb.jpg", "large.avif", "t/w_640,c_cover,q_82.webp", "original-nogps"):
        key = derived_key(ORIGINAL, name)
        assert key.startswith(prefix)
        assert _image_prefix(key) == prefix
    assert _image_prefix(ORIGINAL) == prefix


@pytest.mark.parametrize(
    "key",
    ["uploads/u_abc/upl_1", "tus/upl_1", "tus/img_1/x", "u_abc/original", "u_abc/notimg/original"],
)
def test_keys_that_belong_to_no_image(key: str) -> None:
    assert _image_prefix(key) is None


def test_retention_setting() -> None:
    assert Settings().trash_retention == 30 * 24 * 3600
    check_settings(Settings(trash_retention=60))
    for bad in (0, -1, 10**12):  # 10**12 s would overflow every purge date
        with pytest.raises(SettingsError, match="IMGHOST_TRASH_RETENTION"):
            check_settings(Settings(trash_retention=bad))


def test_env_sets_the_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGHOST_TRASH_RETENTION", "86400")
    assert Settings.from_env().trash_retention == 86400


def _image() -> Image:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return Image(
        id=IMAGE,
        owner_id=OWNER,
        org_id=None,
        title=None,
        description=None,
        visibility="public",
        status="ready",
        format="jpeg",
        mime_type="image/jpeg",
        size=1,
        width=1,
        height=1,
        blob_key=ORIGINAL,
        created_at=now,
        updated_at=now,
    )


def test_restorable_until_the_window_ends_or_the_purge_begins() -> None:
    deleted = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    entry = TrashEntry(image_id=IMAGE, deleted_at=deleted, purge_at=deleted + dt.timedelta(days=30))
    item = TrashItem.of_entry(_image(), entry, "http://x", deleted + dt.timedelta(days=29))
    assert item.restorable and item.purge_at == entry.purge_at
    assert item.model_dump(by_alias=True)["purgeAt"] == entry.purge_at
    late = TrashItem.of_entry(_image(), entry, "http://x", entry.purge_at)
    assert not late.restorable
    entry.purging_since = deleted + dt.timedelta(days=1)
    assert not TrashItem.of_entry(_image(), entry, "http://x", deleted).restorable


def test_account_deletion_and_export_settings_are_checked() -> None:
    assert Settings().account_deletion_grace == 7 * 24 * 3600
    assert Settings().export_retention == 7 * 24 * 3600
    check_settings(Settings(account_deletion_grace=0, export_retention=60))
    for bad in (-1, 101 * 365 * 86400):
        with pytest.raises(SettingsError, match="IMGHOST_ACCOUNT_DELETION_GRACE"):
            check_settings(Settings(account_deletion_grace=bad))
    for bad in (0, -1):
        with pytest.raises(SettingsError, match="IMGHOST_EXPORT_RETENTION"):
            check_settings(Settings(export_retention=bad))


def test_export_link_ttl_is_checked() -> None:
    assert Settings().export_link_ttl == 24 * 3600
    check_settings(Settings(export_link_ttl=60))
    for bad in (0, -1, 101 * 365 * 86400):
        with pytest.raises(SettingsError, match="IMGHOST_EXPORT_LINK_TTL"):
            check_settings(Settings(export_link_ttl=bad))
