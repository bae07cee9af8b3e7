"""Operators' lists of known-bad hashes in the processing job: an exact SHA-256
match and a PDQ match of a resized re-encoding quarantine the image, tell its
owner, open an `illegal` report at the top of the moderators' queue and are
audited; a list edited mid-run is used by the next upload; `imghost rescan`
matches stored images against a new entry; no lists, no step. The worker is
run by the test (`work`), so each step is seen at its end."""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select
from typer.testing import CliRunner

from imghost.audit.models import AuditEvent
from imghost.cli.commands import cli
from imghost.images.models import Image as ImageRow
from imghost.imaging.pdq import pdq_of
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, make_user, upload
from tests.helpers.db import fetch
from tests.helpers.moderation import file_report, make_admin
from tests.integration.notifications.helpers import notifications
from tests.integration.processing.test_failures import work


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """Shapes on a gradient: structure enough for a PDQ hash of high quality."""
    rng = random.Random(seed)
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(20, 200), rng.randrange(20, 200)
        draw.ellipse(
            (x, y, x + w, y + h), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256))
        )
    return img


def encoded(img: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def resized_jpeg(img: Image.Image) -> bytes:
    """Another file of the same picture: half the size, a lossy re-encode."""
    return encoded(img.resize((img.width // 2, img.height // 2)), "JPEG", quality=70)


@pytest.fixture
def lists_dir(tmp_path: Path) -> Path:
    found = tmp_path / "hashlists"
    found.mkdir()
    (found / "sha256.txt").write_text("# known-bad SHA-256\n")
    (found / "pdq.csv").write_text("# known-bad PDQ,quality\n")
    return found


@pytest.fixture
def listing(settings_factory: Any, lists_dir: Path) -> Iterator[tuple[LiveServer, httpx.Client]]:
    """An app with both lists (empty at first, edited by the test) checked for
    changes at every job; jobs run when the test says."""
    settings = settings_factory(
        run_worker=False,
        hashlist_sha256=str(lists_dir / "sha256.txt"),
        hashlist_pdq=str(lists_dir / "pdq.csv"),
        hashlist_reload_check=0.0,
    )
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        yield live, client


def uploaded(client: httpx.Client, user: UserHandle, data: bytes, **kwargs: Any) -> str:
    r = upload(client, user, data=data, **kwargs)
    assert r.status_code == 201, r.text
    return str(r.json()["imageId"])


def body_of(client: httpx.Client, user: UserHandle, image_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/images/{image_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def hash_events(live: LiveServer, image_id: str) -> list[Any]:
    return fetch(
        live.settings,
        select(AuditEvent.actor_kind, AuditEvent.actor_id, AuditEvent.details).where(
            AuditEvent.kind == "scan.hash_match", AuditEvent.target_id == image_id
        ),
    )


def assert_quarantined_by_list(
    live: LiveServer, client: httpx.Client, owner: UserHandle, image_id: str, which: str
) -> dict[str, Any]:
    """Quarantined with code hash_list_match; the owner told; an `illegal` report
    with no reporter at the head of the queue; one audit event. Its details."""
    body = body_of(client, owner, image_id)
    assert body["status"] == "quarantined" and body["scanStatus"] == "refused"
    assert body["processing"]["step"] == "scan"
    assert body["processing"]["code"] == "hash_list_match"
    assert "known illegal or abusive images" in body["processing"]["detail"]
    assert body["thumbnailUrl"] is None
    # The bytes go to nobody, the owner included; to others the image does not exist.
    assert_problem(client.get(f"/images/{image_id}", headers=owner.headers), 403, "quarantined")
    assert client.get(f"/images/{image_id}").status_code == 404
    (note,) = [
        n
        for n in notifications(client, owner)["notifications"]
        if n["data"].get("imageId") == image_id
    ]
    assert note["kind"] == "image.quarantined" and note["data"]["scanner"] == "hash_list"
    assert "known illegal or abusive images" in note["body"]

    admin = make_admin(client, live.settings)
    queue = client.get("/v1/admin/reports", params={"status": "open"}, headers=admin.headers)
    assert queue.status_code == 200, queue.text
    head = queue.json()["items"][0]
    assert head["imageId"] == image_id and head["topReason"] == "illegal"
    (report,) = head["reports"]
    assert report["reporterId"] is None and report["reason"] == "illegal"
    assert f"the {which} list" in report["details"]

    ((actor_kind, actor_id, details),) = hash_events(live, image_id)
    assert actor_kind == "system" and actor_id is None
    assert (
        details["list"] == which.lower().replace("-", "")
        and details["reportId"] == report["reportId"]
    )
    assert details["ownerId"] == owner.user_id
    seen = client.get(f"/v1/admin/images/{image_id}", headers=admin.headers).json()
    assert "scan.hash_match" in {e["kind"] for e in seen["history"]}
    assert seen["scan"]["hashList"] == which.lower().replace("-", "")
    return dict(details)


def test_an_exact_sha256_match_is_quarantined_reported_and_audited(
    listing: tuple[LiveServer, httpx.Client], lists_dir: Path
) -> None:
    live, client = listing
    owner, reporter = make_user(client), make_user(client)
    listed = encoded(scene(1))
    (lists_dir / "sha256.txt").write_text(
        f"# known-bad SHA-256\n\n{hashlib.sha256(listed).hexdigest()}\n"
    )
    bad = uploaded(client, owner, listed, visibility="public", title="Listed")
    good = uploaded(client, owner, encoded(scene(2)), visibility="public")
    # A spam report of the good image does not outrank the system's `illegal` one.
    work(live)
    file_report(client, good, reason="spam", user=reporter)
    file_report(client, good, reason="spam")

    details = assert_quarantined_by_list(live, client, owner, bad, "SHA-256")
    assert details["distance"] == 0 and details["line"] == 3 and details["file"] == "sha256.txt"
    assert body_of(client, owner, good)["status"] == "ready"
    assert hash_events(live, good) == []


def test_a_pdq_match_of_a_resized_reencoded_copy_is_quarantined(
    listing: tuple[LiveServer, httpx.Client], lists_dir: Path
) -> None:
    live, client = listing
    owner = make_user(client)
    listed = scene(3)
    found = pdq_of(listed)
    (lists_dir / "pdq.csv").write_text(
        f"# PDQ,quality\n{'0' * 64},100\n{found.hex},{found.quality}\n"
    )
    copy = resized_jpeg(listed)
    assert hashlib.sha256(copy).hexdigest() != hashlib.sha256(encoded(listed)).hexdigest()
    bad = uploaded(client, owner, copy, visibility="public")
    unrelated = uploaded(client, owner, encoded(scene(4)), visibility="public")
    work(live)

    details = assert_quarantined_by_list(live, client, owner, bad, "PDQ")
    assert details["line"] == 3 and 0 <= details["distance"] <= 31
    assert body_of(client, owner, unrelated)["status"] == "ready"
    # Its PDQ hash is kept (for a later rescan), and so is the match's.
    rows = fetch(
        live.settings, select(ImageRow.id, ImageRow.pdq).where(ImageRow.owner_id == owner.user_id)
    )
    kept = {str(row.id): row.pdq for row in rows}
    assert isinstance(kept[unrelated], str) and len(kept[unrelated]) == 64 and kept[bad]


def test_a_list_edited_mid_run_is_used_by_the_next_upload(
    listing: tuple[LiveServer, httpx.Client], lists_dir: Path
) -> None:
    live, client = listing
    owner = make_user(client)
    first = encoded(scene(5))
    before = uploaded(client, owner, first)
    work(live)
    assert body_of(client, owner, before)["status"] == "ready"

    # The same worker settings, no restart: the file changes, the next upload matches.
    (lists_dir / "sha256.txt").write_text(f"{hashlib.sha256(first).hexdigest()}\n")
    after = uploaded(client, owner, first)
    work(live)
    assert body_of(client, owner, after)["processing"]["code"] == "hash_list_match"
    # The image processed before the entry existed stays as it was (until a rescan).
    assert body_of(client, owner, before)["status"] == "ready"


def test_rescan_matches_stored_images_against_a_new_entry(
    listing: tuple[LiveServer, httpx.Client], lists_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, client = listing
    owner = make_user(client)
    picture = scene(6)
    bad = uploaded(client, owner, resized_jpeg(picture), visibility="public")
    good = uploaded(client, owner, encoded(scene(7)), visibility="public")
    assert work(live) == 2
    assert body_of(client, owner, bad)["status"] == "ready"

    found = pdq_of(picture)
    (lists_dir / "pdq.csv").write_text(f"{found.hex}\n")
    for name in ("database_url", "storage_url", "secret_key", "tmp_dir", "hashlist_pdq"):
        monkeypatch.setenv(f"IMGHOST_{name.upper()}", str(getattr(live.settings, name)))
    runner = CliRunner()
    # No clamd: the lists alone, every image (no signature date to go by).
    result = runner.invoke(cli, ["rescan"])
    assert result.exit_code == 0 and "2 images queued" in result.output, result.output
    work(live)
    assert_quarantined_by_list(live, client, owner, bad, "PDQ")
    assert body_of(client, owner, good)["status"] == "ready"


def test_a_malformed_list_stops_the_start(settings_factory: Any, lists_dir: Path) -> None:
    (lists_dir / "pdq.csv").write_text(f"{'a' * 64}\nnot-a-hash\n")
    settings = settings_factory(hashlist_pdq=str(lists_dir / "pdq.csv"))
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["rescan"],
        env={
            "IMGHOST_DATABASE_URL": settings.database_url,
            "IMGHOST_SECRET_KEY": settings.secret_key,
            "IMGHOST_HASHLIST_PDQ": settings.hashlist_pdq,
        },
    )
    assert result.exit_code == 2, result.output
    said = result.output.replace("\n", "")  # the console wraps long lines
    assert "IMGHOST_HASHLIST_PDQ" in said and "pdq.csv, line 2" in said


def test_without_lists_the_step_does_nothing(settings_factory: Any) -> None:
    settings = settings_factory(run_worker=False)
    assert not settings.hashlist_sha256 and not settings.hashlist_pdq
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        owner = make_user(client)
        image_id = uploaded(client, owner, encoded(scene(8)), visibility="public")
        assert work(live) == 1
        body = body_of(client, owner, image_id)
        assert body["status"] == "ready" and body["processing"]["code"] is None
        assert hash_events(live, image_id) == []
        # The PDQ hash is still kept: lists configured later are matched by a rescan.
        ((pdq,),) = fetch(live.settings, select(ImageRow.pdq).where(ImageRow.id == image_id))
        assert pdq is not None and len(pdq) == 64
