"""S3 multipart uploads addressed by upload id, for resumable uploads.

obstore streams multipart uploads within one call but cannot resume one by
its id from another request or process, which tus needs; boto3 can. Calls
run in threads (boto3 is synchronous) on one shared, thread-safe client,
made at the first call: most processes never make a multipart upload (a
worker, a CLI command, an API process between tus uploads), and a boto3
client costs ~15-40 ms of a core to build.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

import anyio
from botocore.exceptions import ClientError

from imghost.storage.s3 import boto3_client, parse_s3_url


class NoSuchMultipart(LookupError):
    """The multipart upload was completed or aborted already."""


@dataclass(frozen=True)
class StrayMultipart:
    key: str
    multipart_id: str
    initiated: dt.datetime


class S3Multipart:
    def __init__(self, url: str) -> None:
        self.url = url
        self.bucket = parse_s3_url(url)[0]
        self._client: Any = None
        self._making = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 client, made by the first caller (calls run in threads:
        the lock keeps two first calls from making two)."""
        if self._client is None:
            with self._making:
                if self._client is None:
                    self._client = boto3_client(
                        self.url,
                        retries={"mode": "standard", "max_attempts": 4},
                        max_pool_connections=16,
                    )
        return self._client

    async def create(self, key: str, content_type: str | None = None) -> str:
        extra = {"ContentType": content_type} if content_type else {}
        response = await anyio.to_thread.run_sync(
            lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)
        )
        return str(response["UploadId"])

    async def put_part(self, key: str, multipart_id: str, number: int, data: bytes) -> str:
        def _put() -> str:
            try:
                response = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=multipart_id,
                    PartNumber=number,
                    Body=data,
                )
            except ClientError as exc:
                _raise_missing(exc)
                raise
            return str(response["ETag"])

        return await anyio.to_thread.run_sync(_put)

    async def complete(self, key: str, multipart_id: str, parts: list[tuple[int, str]]) -> None:
        def _complete() -> None:
            try:
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=multipart_id,
                    MultipartUpload={
                        "Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]
                    },
                )
            except ClientError as exc:
                _raise_missing(exc)
                raise

        await anyio.to_thread.run_sync(_complete)

    async def copy(self, source: str, dest: str, content_type: str) -> None:
        """Server-side copy (objects up to 5 GB), with a new Content-Type."""
        await anyio.to_thread.run_sync(
            lambda: self.client.copy_object(
                Bucket=self.bucket,
                Key=dest,
                CopySource={"Bucket": self.bucket, "Key": source},
                MetadataDirective="REPLACE",
                ContentType=content_type,
            )
        )

    async def abort(self, key: str, multipart_id: str) -> None:
        """Abort; an upload that is already gone is not an error."""

        def _abort() -> None:
            try:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=multipart_id
                )
            except ClientError as exc:
                if _code(exc) not in ("NoSuchUpload", "404"):
                    raise

        await anyio.to_thread.run_sync(_abort)

    async def list(self, prefix: str) -> list[StrayMultipart]:
        """Multipart uploads in progress under ``prefix`` (for garbage collection)."""

        def _list() -> list[StrayMultipart]:
            found: list[StrayMultipart] = []
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Uploads", []):
                    initiated = item["Initiated"]
                    if initiated.tzinfo is None:
                        initiated = initiated.replace(tzinfo=dt.UTC)
                    found.append(StrayMultipart(item["Key"], item["UploadId"], initiated))
            return found

        return await anyio.to_thread.run_sync(_list)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _raise_missing(exc: ClientError) -> None:
    if _code(exc) in ("NoSuchUpload", "404"):
        raise NoSuchMultipart(str(exc)) from exc
