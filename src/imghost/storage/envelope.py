"""The encrypted blob format: a header, then AES-256-GCM segments.

Every blob gets its own random 256-bit data key; the header carries it wrapped
(RFC 3394 AES key wrap) by a key-encryption key named by its id. The data
follows in segments of ``SEGMENT`` plaintext bytes (the last one shorter, maybe
empty), each stored as ``nonce (12) | ciphertext | tag (16)``::

    header (96 bytes)
      magic "IMGHOST\\x00" | version 1 | log2(SEGMENT) | 2 reserved
      kid length (1) | kid (31, zero-padded) | wrapped data key (40)
      12 reserved
    segment 0 | segment 1 | ... | segment n-1 (final)

A segment's associated data is the header's first 12 bytes, its index and
whether it is the last: segments cannot be reordered, dropped or cut off at a
segment boundary without a tag failing. The key id and wrapped key are left
out of it, so rotating the key-encryption key rewrites 72 bytes of header and
nothing else. Nonces are random, not counters: a resumable upload re-encrypts
its unfinished last segment each time it grows, and a counter would repeat.

Everything here is pure computation on bytes (the stores do the I/O); the
ciphers are ``cryptography``'s.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from imghost.storage.keys import KeyEncryptionKeys, UnknownKey

MAGIC = b"IMGHOST\x00"
VERSION = 1
SEGMENT_LOG2 = 16
SEGMENT = 1 << SEGMENT_LOG2  # plaintext bytes per segment
NONCE = 12
TAG = 16
OVERHEAD = NONCE + TAG
SLOT = SEGMENT + OVERHEAD  # stored bytes per full segment
HEADER = 96
#: The part of the header every segment authenticates (not the key slot).
BOUND = 12
_KID_FIELD = 31
_WRAPPED = 40


class BlobCorrupt(Exception):
    """An encrypted blob failed authentication, is cut short, or has a header
    no key here can open: never served as bytes."""


def is_encrypted(head: bytes) -> bool:
    return head[: len(MAGIC)] == MAGIC


@dataclass(frozen=True)
class Header:
    kid: str
    wrapped: bytes

    def encode(self) -> bytes:
        kid = self.kid.encode()
        return (
            MAGIC
            + struct.pack("BBxx", VERSION, SEGMENT_LOG2)
            + struct.pack("B", len(kid))
            + kid.ljust(_KID_FIELD, b"\0")
            + self.wrapped
            + bytes(HEADER - BOUND - 1 - _KID_FIELD - _WRAPPED)
        )

    @classmethod
    def decode(cls, data: bytes) -> Header:
        if len(data) < HEADER or not is_encrypted(data):
            raise BlobCorrupt("not an encrypted blob header")
        version, log2 = struct.unpack_from("BB", data, len(MAGIC))
        if version != VERSION or log2 != SEGMENT_LOG2:
            raise BlobCorrupt(f"unknown blob format version {version}/{log2}")
        kid_len = data[BOUND]
        if not 0 < kid_len <= _KID_FIELD:
            raise BlobCorrupt("bad key id in blob header")
        kid = data[BOUND + 1 : BOUND + 1 + kid_len].decode("ascii", "replace")
        start = BOUND + 1 + _KID_FIELD
        return cls(kid, bytes(data[start : start + _WRAPPED]))


def _bound(index: int, final: bool) -> bytes:
    return MAGIC + struct.pack("BBxx", VERSION, SEGMENT_LOG2) + struct.pack(">QB", index, final)


class Sealer:
    """Encrypts one blob's segments under its data key."""

    def __init__(self, data_key: bytes) -> None:
        self._aead = AESGCM(data_key)

    def seal(self, index: int, plaintext: bytes | bytearray | memoryview, final: bool) -> bytes:
        return b"".join(self.seal_parts(index, plaintext, final))

    def seal_parts(
        self, index: int, plaintext: bytes | bytearray | memoryview, final: bool
    ) -> tuple[bytes, bytes]:
        """The stored segment as (nonce, ciphertext and tag): to join with others."""
        nonce = os.urandom(NONCE)
        return nonce, self._aead.encrypt(nonce, plaintext, _bound(index, final))

    def open(self, index: int, stored: bytes | memoryview, final: bool | None = None) -> bytes:
        """The segment's plaintext; with ``final`` None, either flag is accepted
        and :meth:`open_any` says which one it was."""
        return self.open_any(index, stored, final)[0]

    def open_any(
        self, index: int, stored: bytes | memoryview, final: bool | None = None
    ) -> tuple[bytes, bool]:
        if len(stored) < OVERHEAD:
            raise BlobCorrupt(f"segment {index} is cut short")
        nonce, body = bytes(stored[:NONCE]), stored[NONCE:]
        for flag in (False, True) if final is None else (final,):
            try:
                return self._aead.decrypt(nonce, body, _bound(index, flag)), flag
            except InvalidTag:
                continue
        raise BlobCorrupt(f"segment {index} failed authentication")


@dataclass(frozen=True)
class BlobKey:
    """A blob's data key and the header that carries it."""

    header: Header
    sealer: Sealer

    @classmethod
    def new(cls, keys: KeyEncryptionKeys) -> BlobKey:
        data_key = AESGCM.generate_key(bit_length=256)
        kid, wrapped = keys.wrap(data_key)
        return cls(Header(kid, wrapped), Sealer(data_key))

    @classmethod
    def open(cls, keys: KeyEncryptionKeys, header: bytes) -> BlobKey:
        parsed = Header.decode(header)
        try:
            return cls(parsed, Sealer(keys.unwrap(parsed.kid, parsed.wrapped)))
        except UnknownKey as exc:
            raise BlobCorrupt(str(exc)) from exc


def plaintext_size(stored: int) -> int:
    """The plaintext length of an encrypted blob of ``stored`` bytes."""
    body = stored - HEADER
    if body < OVERHEAD:
        raise BlobCorrupt("encrypted blob is cut short")
    segments = -(-body // SLOT)
    size = body - segments * OVERHEAD
    if size < (segments - 1) * SEGMENT:
        raise BlobCorrupt("encrypted blob is cut short")
    return size


def stored_size(plaintext: int) -> int:
    """The stored length of a blob of ``plaintext`` bytes (the inverse)."""
    return HEADER + plaintext + (plaintext // SEGMENT + 1) * OVERHEAD


def encrypt(keys: KeyEncryptionKeys, data: bytes) -> bytes:
    """A whole (small) blob, encrypted."""
    blob = BlobKey.new(keys)
    out = [blob.header.encode()]
    count = len(data) // SEGMENT + 1
    with memoryview(data) as view:
        for index in range(count):
            last = index == count - 1
            out.extend(
                blob.sealer.seal_parts(index, view[index * SEGMENT : (index + 1) * SEGMENT], last)
            )
    return b"".join(out)


class Segments:
    """Turns stored segments, fed in pieces of any size, into plaintext.

    It starts at segment ``index`` of the blob ``blob``, drops ``skip``
    plaintext bytes and gives at most ``length`` (all there is: None); with
    ``whole`` (the stream runs to the blob's end) the last segment must be the
    final one, and with a ``length`` the stream must hold that many bytes. A
    final segment anywhere else means bytes were added after it; a segment
    that fails its tag, tampering.
    """

    def __init__(
        self,
        blob: BlobKey,
        index: int = 0,
        skip: int = 0,
        length: int | None = None,
        whole: bool = True,
    ) -> None:
        self._blob = blob
        self._left = length
        self._pending = bytearray()
        self._index = index
        self._skip = skip
        self._whole = whole
        self._ended = False

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        if self._pending:
            self._pending += data
            data = self._pending
        pieces = []
        with memoryview(data) as view:
            # A full slot is held back until more follows: only the end of the
            # stream tells whether it was the last segment.
            at = 0
            while len(view) - at > SLOT:
                pieces.append(self._open(view[at : at + SLOT], final=False))
                at += SLOT
            self._pending = bytearray(view[at:])
        return b"".join(pieces)

    def finish(self) -> bytes:
        """What is left; BlobCorrupt if the stream did not end where it may."""
        plain = b""
        if self._pending:
            # A short piece can only be the final segment; a whole one read to
            # the blob's end must be; one read up to a range's end may be either.
            final = True if self._whole or len(self._pending) < SLOT else None
            plain = self._open(memoryview(self._pending), final)
        elif self._whole and not self._ended:
            raise BlobCorrupt("encrypted blob is cut short")
        if self._left:
            raise BlobCorrupt("encrypted blob ends before the range asked for")
        return plain

    def _open(self, stored: memoryview, final: bool | None) -> bytes:
        if self._ended:
            raise BlobCorrupt(f"data after the final segment {self._index - 1}")
        with stored:
            plain, self._ended = self._blob.sealer.open_any(self._index, stored, final)
        self._index += 1
        if self._skip:
            plain, self._skip = plain[self._skip :], max(0, self._skip - len(plain))
        if self._left is not None:
            plain = plain[: self._left]
            self._left -= len(plain)
        return plain


class Decryptor:
    """A whole blob's stored bytes, header first, fed in pieces → its plaintext."""

    def __init__(self, keys: KeyEncryptionKeys) -> None:
        self._keys = keys
        self._header = bytearray()
        self._segments: Segments | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        if self._segments is None:
            self._header += data
            if len(self._header) < HEADER:
                return b""
            blob = BlobKey.open(self._keys, bytes(self._header[:HEADER]))
            self._segments = Segments(blob)
            data, self._header = bytes(self._header[HEADER:]), bytearray()
        return self._segments.feed(data)

    def finish(self) -> bytes:
        if self._segments is None:
            raise BlobCorrupt("encrypted blob is cut short")
        return self._segments.finish()


@dataclass(frozen=True)
class Span:
    """Where plaintext ``[start, end)`` lies in an encrypted blob."""

    first: int  # index of the first segment it touches
    stored_start: int
    stored_end: int
    skip: int  # plaintext bytes of the first segment before ``start``

    @classmethod
    def of(cls, start: int, end: int) -> Span:
        first, last = start // SEGMENT, max(end - 1, start) // SEGMENT
        return cls(
            first, HEADER + first * SLOT, HEADER + (last + 1) * SLOT, start - first * SEGMENT
        )
