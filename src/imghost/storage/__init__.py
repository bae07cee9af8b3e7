"""Blob stores: one interface, a local-files and an S3 implementation."""

from imghost.storage.base import BlobMeta, BlobNotFound, BlobStore
from imghost.storage.factory import open_store

__all__ = ["BlobMeta", "BlobNotFound", "BlobStore", "open_store"]
