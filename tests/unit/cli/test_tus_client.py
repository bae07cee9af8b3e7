"""The tus client against an in-memory server: chunks, retries, re-sync, resume, refusals."""

from __future__ import annotations

import io
import os
import threading

import httpx
import pytest

from imghost.cli.tus_client import (
    Cancelled,
    Finished,
    RetryPolicy,
    TusClient,
    UploadFailed,
    UploadGone,
    encode_metadata,
    problem_of,
)
from tests.unit.cli.fake_tus import SERVER, FakeTus

ENDPOINT = f"{SERVER}/v1/tus/"
NO_WAIT = RetryPolicy(attempts=4, base=0, cap=0)


def client(
    fake: FakeTus, chunk_size: int = 1000, cancel: threading.Event | None = None
) -> TusClient:
    return TusClient(fake.client(), "secret", chunk_size=chunk_size, retry=NO_WAIT, cancel=cancel)


def send(
    tus: TusClient, data: bytes, url: str | None = None, progress: list[int] | None = None
) -> Finished:
    created: list[str] = []
    return tus.upload(
        ENDPOINT,
        io.BytesIO(data),
        len(data),
        url=url,
        metadata={"filename": "ünï.jpg", "tags": "a,b"},
        on_created=created.append,
        on_progress=(progress if progress is not None else []).append,
    )


def test_uploads_in_chunks_with_metadata() -> None:
    fake = FakeTus()
    data = os.urandom(3500)
    progress: list[int] = []
    done = send(client(fake), data, progress=progress)
    assert done.url == f"{SERVER}/v1/tus/upl_1"  # the relative Location, resolved
    assert done.resumed_at is None
    upload = fake.uploads["upl_1"]
    assert bytes(upload.data) == data
    assert upload.metadata == {"filename": "ünï.jpg", "tags": "a,b"}
    assert [m for m, _ in fake.log] == ["POST", "PATCH", "PATCH", "PATCH", "PATCH"]
    assert progress[0] == 0 and progress[-1] == len(data)
    assert progress == sorted(progress)


@pytest.mark.parametrize("status", [500, 502, 503, 409, 423, 429])
def test_transient_status_is_retried_after_a_head(status: int) -> None:
    fake = FakeTus()
    fake.fail_with("PATCH", status)
    data = os.urandom(2500)
    send(client(fake), data)
    assert bytes(fake.uploads["upl_1"].data) == data
    methods = [m for m, _ in fake.log]
    # The failed PATCH is followed by a HEAD that re-reads the offset.
    assert methods[:4] == ["POST", "PATCH", "HEAD", "PATCH"]


def test_lost_response_resumes_from_the_servers_offset() -> None:
    fake = FakeTus()
    fake.lose_response_after_storing()
    data = os.urandom(2500)
    send(client(fake), data)
    # The server kept the first chunk; the client learned that from HEAD and never resent it.
    assert bytes(fake.uploads["upl_1"].data) == data
    assert fake.count("PATCH") == 3
    assert fake.count("HEAD") == 1


def test_network_error_on_create_creates_again() -> None:
    fake = FakeTus()
    fake.drop_connection("POST")
    send(client(fake), b"x" * 10)
    assert fake.count("POST") == 2


def test_attempt_budget_resets_after_progress() -> None:
    fake = FakeTus()
    # Three failures before each chunk: under the budget of four every time.
    for _ in range(3):
        for _ in range(3):
            fake.fail_with("PATCH", 503)
        fake.fail_next("PATCH", lambda _r: None)
    data = os.urandom(3000)
    send(client(fake), data)
    assert bytes(fake.uploads["upl_1"].data) == data


def test_gives_up_after_the_attempts() -> None:
    fake = FakeTus()
    for _ in range(4):
        fake.drop_connection("PATCH")
    with pytest.raises(UploadFailed) as info:
        send(client(fake), b"x" * 10)
    assert info.value.code == "network_error"
    assert "gave up after 4 attempts" in info.value.detail
    assert fake.count("PATCH") == 4


def test_refused_last_chunk_is_not_retried() -> None:
    fake = FakeTus()
    data = b"<html>" + b"x" * 1500
    with pytest.raises(UploadFailed) as info:
        send(client(fake), data)
    assert (info.value.status, info.value.code) == (415, "unsupported_media_type")
    assert info.value.detail == "not an image"
    assert fake.count("PATCH") == 2


def test_creation_refused_with_a_problem() -> None:
    fake = FakeTus()
    fake.fail_with("POST", 413, "file_too_large")
    with pytest.raises(UploadFailed) as info:
        send(client(fake), b"x")
    assert (info.value.status, info.value.code) == (413, "file_too_large")


def test_resumes_a_known_url_from_the_servers_offset() -> None:
    fake = FakeTus()
    data = os.urandom(2500)
    fake.fail_with("PATCH", 400, "stop_here")
    fake.fail_next("PATCH", lambda _r: None)  # the first chunk goes through
    fake.faults.reverse()
    with pytest.raises(UploadFailed):
        send(client(fake), data)
    assert len(fake.uploads["upl_1"].data) == 1000
    done = send(client(fake), data, url=f"{SERVER}/v1/tus/upl_1")
    assert done.resumed_at == 1000
    assert bytes(fake.uploads["upl_1"].data) == data
    assert fake.count("POST") == 1


def test_unknown_or_expired_url_is_gone() -> None:
    fake = FakeTus()
    with pytest.raises(UploadGone):
        send(client(fake), b"x", url=f"{SERVER}/v1/tus/upl_404")
    send(client(fake), b"x")
    fake.uploads["upl_1"].gone = True
    with pytest.raises(UploadGone):
        send(client(fake), b"x", url=f"{SERVER}/v1/tus/upl_1")


def test_cancel_stops_mid_upload_and_keeps_the_servers_bytes() -> None:
    fake = FakeTus()
    cancel = threading.Event()
    tus = client(fake, chunk_size=64 * 1024, cancel=cancel)
    data = os.urandom(10 * 64 * 1024)

    def progress(offset: int) -> None:
        if offset >= 3 * 64 * 1024:
            cancel.set()

    with pytest.raises(Cancelled):
        tus.upload(
            ENDPOINT,
            io.BytesIO(data),
            len(data),
            url=None,
            metadata={},
            on_created=lambda _u: None,
            on_progress=progress,
        )
    assert 0 < len(fake.uploads["upl_1"].data) < len(data)


def test_cancel_interrupts_the_backoff() -> None:
    fake = FakeTus()
    fake.fail_with("POST", 503)
    cancel = threading.Event()
    tus = TusClient(fake.client(), "secret", retry=RetryPolicy(base=60, cap=60), cancel=cancel)
    timer = threading.Timer(0.1, cancel.set)
    timer.start()
    with pytest.raises(Cancelled):
        send(tus, b"x")
    timer.join()


def test_shrinking_file_fails_cleanly() -> None:
    fake = FakeTus()
    tus = client(fake)
    with pytest.raises(UploadFailed) as info:
        tus.upload(
            ENDPOINT,
            io.BytesIO(b"x" * 10),
            20,
            url=None,
            metadata={},
            on_created=lambda _u: None,
            on_progress=lambda _o: None,
        )
    assert info.value.code == "file_changed"


def test_empty_file_is_refused_locally() -> None:
    fake = FakeTus()
    with pytest.raises(UploadFailed) as info:
        send(client(fake), b"")
    assert info.value.code == "empty_file"
    assert fake.log == []


def test_get_json_retries_then_reports_problems() -> None:
    fake = FakeTus()
    fake.fail_with("GET", 503)
    send(client(fake), b"x")
    assert client(fake).get_json(f"{SERVER}/v1/uploads/upl_1")["status"] == "completed"
    with pytest.raises(UploadFailed) as info:
        client(fake).get_json(f"{SERVER}/v1/uploads/upl_9")
    assert info.value.code == "not_found"


def test_retry_delays_grow_are_capped_and_honour_retry_after() -> None:
    policy = RetryPolicy(base=1, cap=10)
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)]:
        delay = policy.delay(failures)
        assert ceiling / 2 <= delay <= ceiling
    assert policy.delay(1, retry_after=7) == 7
    assert policy.delay(1, retry_after=100) == 10


def test_metadata_and_problem_helpers() -> None:
    assert encode_metadata({"filename": "a.jpg", "tags": "x,y"}) == "filename YS5qcGc=,tags eCx5"
    plain = httpx.Response(502, text="<html>bad gateway</html>")
    assert problem_of(plain) == ("http_502", "<html>bad gateway</html>")
    empty = httpx.Response(500)
    assert problem_of(empty) == ("http_500", "Internal Server Error")
