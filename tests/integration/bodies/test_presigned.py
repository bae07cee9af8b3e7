"""A presigned PUT accepts exactly the declared size (issue 14: a presigned S3
PUT skipped every body limit)."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import unquote, urlsplit

import anyio
import httpx
import pytest

from imghost.storage.s3 import parse_s3_url
from tests.factories import assert_problem
from tests.integration.bodies.conftest import Held, Serve
from tests.integration.tus.helpers import noise_png

pytestmark = pytest.mark.anyio


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _sigv4_query_signature(url: str, secret: str, content_length: int) -> str:
    """The SigV4 signature S3 computes for a PUT of ``url`` with that length."""
    parts = urlsplit(url)
    params = sorted(
        (k, v)
        for k, _, v in (p.partition("=") for p in parts.query.split("&"))
        if k != "X-Amz-Signature"
    )
    query = dict(params)
    signed = unquote(query["X-Amz-SignedHeaders"]).split(";")
    values = {"content-length": str(content_length), "host": parts.netloc}
    canonical = "\n".join(
        [
            "PUT",
            parts.path,
            "&".join(f"{k}={v}" for k, v in params),
            "".join(f"{name}:{values[name]}\n" for name in signed),
            ";".join(signed),
            "UNSIGNED-PAYLOAD",
        ]
    )
    date, region, service, _ = unquote(query["X-Amz-Credential"]).split("/")[1:]
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            query["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


async def test_a_presigned_put_accepts_only_the_declared_size(serve: Serve) -> None:
    async with serve() as asgi:
        user = await asgi.user()
        data = noise_png(40, 40)
        r = await asgi.client.post(
            "/v1/uploads",
            json={"filename": "a.png", "size": len(data), "contentType": "image/png"},
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        upload_id, url = r.json()["uploadId"], r.json()["presignedUrl"]
        storage = asgi.ctx.settings.storage_url
        if storage.startswith("s3://"):
            secret = parse_s3_url(storage)[2]["secret_access_key"]
            query = dict(p.partition("=")[::2] for p in urlsplit(url).query.split("&"))
            assert "content-length" in unquote(query["X-Amz-SignedHeaders"]).split(";")
            # S3 recomputes the signature with the request's Content-Length:
            # it matches for the declared size only.
            signature = query["X-Amz-Signature"]
            assert _sigv4_query_signature(url, secret, len(data)) == signature
            assert _sigv4_query_signature(url, secret, len(data) + 1) != signature
            assert _sigv4_query_signature(url, secret, len(data) - 1) != signature
            async with httpx.AsyncClient() as s3:
                put = await s3.put(url, content=data)
            assert put.status_code == 200, put.text
        else:
            # The API's own PUT target refuses a larger declared body unread.
            # (Held: the client would send the rest only if the route read on.)
            held = Held(data[:10])
            with anyio.fail_after(10):
                r = await asgi.client.put(
                    url, content=held, headers={"Content-Length": str(len(data) + 1)}
                )
            assert_problem(r, 413, "size_mismatch")
            r = await asgi.client.put(url, content=data)
            assert r.status_code == 200, r.text
        r = await asgi.client.post("/v1/images", json={"uploadId": upload_id}, headers=user.headers)
        assert r.status_code == 201, r.text
