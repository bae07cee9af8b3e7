"""Blob store on any S3-compatible service (AWS S3, MinIO, R2, ...) via obstore."""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import anyio
import obstore
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from imghost.storage.base import BlobMeta, BlobNotFound, check_key

if TYPE_CHECKING:  # only a type stub: not importable at runtime
    import botocore.loaders
    from obstore.store import ClientConfig


PART_SIZE = 5 * 1024 * 1024  # S3's minimum part size
PARTS_IN_FLIGHT = 2


def parse_s3_url(url: str) -> tuple[str, str, dict[str, str]]:
    """``s3://bucket/prefix?endpoint=...&region=...`` → (bucket, prefix, options)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// URL: {url!r}")
    prefix = parts.path.strip("/")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return parts.netloc, prefix, options


def boto3_client(url: str, **config: Any) -> Any:
    """A boto3 S3 client for the store at ``url`` (obstore cannot resume a
    multipart upload by id, nor presign with signed headers; boto3 can).

    boto3 is imported here, not with the module: it is a third of a second of
    every process's start, and most never make a client (local files)."""
    import boto3
    import botocore.session
    from botocore.config import Config

    _, _, options = parse_s3_url(url)
    endpoint = options.get("endpoint") or os.environ.get("AWS_ENDPOINT") or None
    region = (
        options.get("region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    kwargs: dict[str, Any] = {"endpoint_url": endpoint, "region_name": region}
    if "access_key_id" in options:
        kwargs["aws_access_key_id"] = options["access_key_id"]
        kwargs["aws_secret_access_key"] = options.get("secret_access_key", "")
    style = "virtual" if options.get("virtual_hosted") == "true" else "path"
    # A session of its own (sessions are not thread-safe), but the process's one
    # loader: a new loader parses botocore's S3 model again (~0.25 s of a core).
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    return boto3.session.Session(botocore_session=core).client(
        "s3", config=Config(s3={"addressing_style": style}, **config), **kwargs
    )


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    import botocore.loaders

    return botocore.loaders.create_loader()


class S3BlobStore:
    def __init__(self, url: str, staging_dir: Path | None = None) -> None:
        bucket, prefix, options = parse_s3_url(url)
        self.url = url
        self._presigner: Any = None
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.staging_dir = staging_dir or Path(tempfile.gettempdir()) / "imghost-staging"
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        # Anything not in the URL comes from the standard AWS_* environment
        # variables, which obstore reads itself (AWS_REGION, AWS_ENDPOINT, ...).
        config: dict[str, Any] = {}
        if "endpoint" in options:
            config["endpoint"] = options["endpoint"]
        if "region" in options:
            config["region"] = options["region"]
        if "access_key_id" in options:
            config["access_key_id"] = options["access_key_id"]
            config["secret_access_key"] = options.get("secret_access_key", "")
        if options.get("virtual_hosted", "false") != "true":
            config["virtual_hosted_style_request"] = False
        client: ClientConfig = {}
        endpoint = config.get("endpoint") or os.environ.get("AWS_ENDPOINT", "")
        if endpoint.startswith("http://"):
            client["allow_http"] = True
        self.store = S3Store(bucket, client_options=client or None, **config)

    def _k(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        try:
            # Multipart parts are buffered in memory: two 5 MiB parts in flight
            # keep a 200 MB upload's footprint near 25 MiB (obstore's default,
            # 12 parts, measured ~90 MiB).
            await obstore.put_async(
                self.store,
                self._k(key),
                path,
                # Stored so a presigned GET (redirect delivery) answers with it.
                attributes={"Content-Type": content_type} if content_type else None,
                chunk_size=PART_SIZE,
                max_concurrency=PARTS_IN_FLIGHT,
            )
        finally:
            path.unlink(missing_ok=True)  # noqa: ASYNC240 - one metadata op

    async def put_bytes(self, key: str, data: bytes) -> None:
        await obstore.put_async(self.store, self._k(key), data)

    async def get(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncIterator[bytes]:
        options: dict[str, Any] = {}
        if end is not None:
            options["range"] = (start, end)
        elif start:
            options["range"] = {"offset": start}
        try:
            result = await obstore.get_async(self.store, self._k(key), options=options or None)  # type: ignore[arg-type]
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        except NotFoundError as exc:
            raise BlobNotFound(key) from exc
        return self._iter(result.stream(min_chunk_size=chunk_size))

    @staticmethod
    async def _iter(stream: Any) -> AsyncIterator[bytes]:
        async for chunk in stream:
            yield bytes(chunk)

    async def read(self, key: str, start: int, end: int) -> bytes:
        try:
            data = await obstore.get_range_async(self.store, self._k(key), start=start, end=end)
        except (FileNotFoundError, NotFoundError) as exc:
            raise BlobNotFound(key) from exc
        return bytes(data)

    async def read_all(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self.store, self._k(key))
            return bytes(await result.bytes_async())
        except (FileNotFoundError, NotFoundError) as exc:
            raise BlobNotFound(key) from exc

    async def download(self, key: str, path: Path) -> None:
        stream = await self.get(key, chunk_size=1024 * 1024)
        with open(path, "wb") as fh:  # noqa: ASYNC230 - local temp file, small writes
            async for chunk in stream:
                fh.write(chunk)

    async def head(self, key: str) -> BlobMeta | None:
        try:
            meta = await obstore.head_async(self.store, self._k(key))
        except (FileNotFoundError, NotFoundError):
            return None
        return BlobMeta(key, meta["size"], meta["last_modified"])

    async def delete(self, key: str) -> None:
        try:
            await obstore.delete_async(self.store, self._k(key))
        except (FileNotFoundError, NotFoundError):
            return

    async def list(self, prefix: str = "") -> AsyncIterator[BlobMeta]:
        stream = obstore.list(self.store, prefix=self.prefix + prefix or None, chunk_size=500)
        async for batch in stream:
            for meta in batch:
                key = meta["path"][len(self.prefix) :]
                last = meta["last_modified"]
                if last.tzinfo is None:
                    last = last.replace(tzinfo=dt.UTC)
                yield BlobMeta(key, meta["size"], last)

    async def replace_head(self, key: str, head: bytes) -> None:
        """Rewrite the blob with new first bytes. An object cannot be changed in
        place: a small one is put again; in a large one only the first part
        passes through here, the rest is copied inside the bucket (UploadPartCopy)."""
        meta = await self.head(key)
        if meta is None:
            raise BlobNotFound(key)
        if meta.size <= 2 * PART_SIZE:
            data = await self.read(key, 0, meta.size)
            await self.put_bytes(key, head + data[len(head) :])
            return
        first = head + await self.read(key, len(head), PART_SIZE)
        client = await self._boto3()
        name = self._k(key)
        await anyio.to_thread.run_sync(
            functools.partial(_copy_with_new_head, client, self.bucket, name, first, meta.size)
        )

    async def _boto3(self) -> Any:
        if self._presigner is None:
            # Built in a thread: boto3 loads and parses its service model from
            # disk (about 100 ms), which on the event loop stalls every request.
            # (Two first calls at once may both build one; either will do.)
            self._presigner = await anyio.to_thread.run_sync(
                functools.partial(boto3_client, self.url, signature_version="s3v4")
            )
        return self._presigner

    async def presign_put(self, key: str, expires_in: int, size: int | None = None) -> str | None:
        if size is None:
            return await obstore.sign_async(
                self.store, "PUT", self._k(key), dt.timedelta(seconds=expires_in)
            )
        # The length is signed into the URL (SignedHeaders=content-length;host):
        # S3 refuses a body of any other size, so the bucket enforces the size
        # the API checked against its limits and the quota. obstore cannot
        # sign headers; boto3 signs locally (no request is made).
        presigner = await self._boto3()
        url: str = presigner.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": self._k(key), "ContentLength": size},
            ExpiresIn=expires_in,
        )
        return url

    async def presign_get(self, key: str, expires_in: int) -> str | None:
        return await obstore.sign_async(
            self.store, "GET", self._k(key), dt.timedelta(seconds=expires_in)
        )

    async def close(self) -> None:
        return None


#: Bytes per UploadPartCopy (S3 allows up to 5 GiB a part).
COPY_PART = 1024**3


def _copy_with_new_head(client: Any, bucket: str, key: str, first: bytes, size: int) -> None:
    """Replace object ``key`` by ``first`` followed by its own bytes from
    ``len(first)`` on, copied server-side."""
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    try:
        parts = [
            client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=first)[
                "ETag"
            ]
        ]
        for start in range(len(first), size, COPY_PART):
            end = min(start + COPY_PART, size) - 1
            copied = client.upload_part_copy(
                Bucket=bucket,
                Key=key,
                UploadId=upload,
                PartNumber=len(parts) + 1,
                CopySource={"Bucket": bucket, "Key": key},
                CopySourceRange=f"bytes={start}-{end}",
            )
            parts.append(copied["CopyPartResult"]["ETag"])
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload,
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(parts, 1)]
            },
        )
    except BaseException:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
        raise
