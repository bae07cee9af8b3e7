"""Built-in structural scanning: is this file only an image, or an image carrying a payload?

An upload that decodes can still be a polyglot: PHP in a JPEG comment for a
server that might execute uploads, HTML a browser might sniff and run, a ZIP
or a Windows executable appended after the image's end for anyone who
downloads it. `StructuralScanner` looks for exactly those, cheaply and without
signatures to update:

1. the image decodes completely (`probe.probe`);
2. nothing follows the image's real end beyond `TRAILING_SLACK` bytes, except
   data a camera format puts there and declares: further JPEGs listed in an
   MPF index (iPhone/Android gain maps, depth maps, camera previews), an MP4
   appended to a "motion photo", Samsung's SEF trailer;
3. no markup or code anywhere in the bytes: ``<script``, ``<html``,
   ``<?php``, ``<iframe``, ``javascript:`` (any case), a ZIP end-of-central-
   directory record whose central directory really is where it says, or an
   ``MZ`` header whose ``e_lfanew`` leads to ``PE\\0\\0``.

The needles are long enough, or validated enough, that compressed pixel data
does not trip them: all five together occur in 10 MB of random bytes about
once in 200,000 files (the two short ones must be followed by whitespace or
``>``, as they are to work), and the ZIP and PE checks need a second,
consistent structure at a computed offset (about 2^-32 each).

Other scanners (ClamAV via clamd: `imaging.clamd`) implement the same `Scanner` protocol.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from imghost.imaging.probe import ProbeError, probe
from imghost.imaging.sniff import sniff

#: Bytes after the end of the image that are tolerated (some writers pad).
TRAILING_SLACK = 1024

# Each needle with the bytes that must follow it (None: anything). "<?php" must
# be followed by whitespace to run, and "<html" by whitespace or ">": requiring
# them makes the short needles 50-60x rarer in random data.
_WS = b" \t\r\n\f"
_NEEDLES: dict[bytes, bytes | None] = {
    b"<script": None,
    b"<html": _WS + b">",
    b"<?php": _WS,
    b"<iframe": None,
    b"javascript:": None,
}
_WHAT = {
    b"<script": "an HTML script tag (<script)",
    b"<html": "an HTML document (<html)",
    b"<?php": "PHP code (<?php)",
    b"<iframe": "an HTML iframe (<iframe)",
    b"javascript:": "a javascript: URL",
}
_ZIP_EOCD = b"PK\x05\x06"
_ZIP_CENTRAL = b"PK\x01\x02"
_MAX_PE_OFFSET = 4096  # e_lfanew of real executables is small (usually < 0x200)
_ENTROPY_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # a marker inside JPEG scan data
_SAME_FORMAT = {"heif": "heic"}


@dataclass(frozen=True)
class ScanVerdict:
    clean: bool
    reason: str | None  # a sentence for the owner/admin when not clean
    scanner: str
    # The malware signature that matched (ClamAV's name for it), when one did.
    signature: str | None = None


class Scanner(Protocol):
    name: str

    def scan(self, path: Path, format_name: str) -> ScanVerdict: ...


class StructuralScanner:
    """Decodes the image, then checks what surrounds and hides inside it.

    ``max_pixels`` bounds the decode check (use the upload limit);
    ``decode=False`` skips it when the caller has just probed the same file.
    """

    name: str = "structural"

    def __init__(self, max_pixels: int = 100_000_000, decode: bool = True) -> None:
        self.max_pixels = max_pixels
        self.decode = decode

    def scan(self, path: Path, format_name: str) -> ScanVerdict:
        data = path.read_bytes()
        found = sniff(data[:64])
        expected = _SAME_FORMAT.get(format_name, format_name)
        if found is None or _SAME_FORMAT.get(found.name, found.name) != expected:
            return self._flag(f"The file is not a {format_name.upper()} image.")
        if self.decode:
            try:
                probe(path, self.max_pixels)
            except ProbeError as exc:
                return self._flag(f"The image does not decode cleanly: {exc.detail}")
        reason = find_payload(data, found.name)
        return self._flag(reason) if reason else ScanVerdict(True, None, self.name)

    def _flag(self, reason: str) -> ScanVerdict:
        return ScanVerdict(False, reason, self.name)


def find_payload(data: bytes, format_name: str) -> str | None:
    """Why ``data`` (an image of ``format_name``) carries more than an image, or None."""
    # Signatures first: "contains a ZIP archive" says more than "has trailing bytes".
    reason = find_signature(data)
    if reason:
        return reason
    end = image_end(data, format_name)
    if end is not None and len(data) - end > TRAILING_SLACK:
        return (
            f"{len(data) - end} bytes follow the end of the {format_name.upper()} image "
            f"(at byte {end}); data hidden after an image is not accepted."
        )
    return None


def find_signature(data: bytes) -> str | None:
    """The first markup, script, archive or executable signature in ``data``, as a sentence."""
    lowered = data.lower()
    hits = [(at, n) for n, follow in _NEEDLES.items() if (at := _find(lowered, n, follow)) >= 0]
    if hits:
        at, needle = min(hits)
        return f"The file contains {_WHAT[needle]} at byte {at}."
    zip_at = _zip_at(data)
    if zip_at is not None:
        return f"The file contains a ZIP archive (end of central directory at byte {zip_at})."
    pe_at = _pe_at(data)
    if pe_at is not None:
        return f"The file contains a Windows executable (MZ/PE header at byte {pe_at})."
    return None


def _find(data: bytes, needle: bytes, follow: bytes | None) -> int:
    pos = 0
    while (at := data.find(needle, pos)) >= 0:
        after = data[at + len(needle) : at + len(needle) + 1]
        if follow is None or (after and after in follow):
            return at
        pos = at + 1
    return -1


def _zip_at(data: bytes) -> int | None:
    """An end-of-central-directory record whose central directory is really there."""
    pos = 0
    while (at := data.find(_ZIP_EOCD, pos)) >= 0:
        pos = at + 1
        if at + 22 > len(data):
            break
        cd_size = int.from_bytes(data[at + 12 : at + 16], "little")
        cd_offset = int.from_bytes(data[at + 16 : at + 20], "little")
        entries = int.from_bytes(data[at + 10 : at + 12], "little")
        if entries == 0 and cd_size == 0:
            # An empty archive is only these 22 bytes; it must end the file to count.
            if at + 22 + int.from_bytes(data[at + 20 : at + 22], "little") == len(data):
                return at
            continue
        if at >= 20 and data[at - 20 : at - 16] == b"PK\x06\x07":  # ZIP64: sizes elsewhere
            return at
        start = at - cd_size
        # Archives appended to something else keep offsets relative to their own
        # start, so look where the size says the directory is, not at the offset.
        if start >= 0 and cd_size >= 46 and data[start : start + 4] == _ZIP_CENTRAL:
            return at
        if 0 <= cd_offset < at and data[cd_offset : cd_offset + 4] == _ZIP_CENTRAL:
            return at
    return None


def _pe_at(data: bytes) -> int | None:
    pos = 0
    while (at := data.find(b"MZ", pos)) >= 0:
        pos = at + 1
        if at + 0x40 > len(data):
            break
        lfanew = int.from_bytes(data[at + 0x3C : at + 0x40], "little")
        if 0x40 <= lfanew <= _MAX_PE_OFFSET and data[at + lfanew : at + lfanew + 4] == b"PE\0\0":
            return at
    return None


# -- where each format ends ---------------------------------------------------------


def image_end(data: bytes, format_name: str) -> int | None:
    """Offset just past the image (and declared companions); None if it cannot be walked."""
    if format_name == "jpeg":
        end = _jpeg_end(data, 0)
        if end is None:
            return None
        return _jpeg_companions_end(data, end)
    if format_name == "png":
        return _png_end(data)
    if format_name == "gif":
        return _gif_end(data)
    if format_name == "webp":
        size = int.from_bytes(data[4:8], "little")
        return min(len(data), 8 + size + (size & 1))
    if format_name in ("heic", "heif", "avif"):
        return _boxes_end(data, 0)
    return None


def _jpeg_segments(data: bytes, start: int) -> Iterator[tuple[int, int, int]]:
    """(marker, payload start, payload end) up to SOS, for the JPEG at ``start``."""
    pos, size = start + 2, len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            return
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > size:
            return
        yield marker, pos + 4, pos + 2 + length
        if marker == 0xDA:
            return
        pos += 2 + length


def _jpeg_end(data: bytes, start: int) -> int | None:
    """Offset just past the EOI that ends the JPEG starting at ``start``.

    Segments are walked by their lengths (an EXIF thumbnail's own EOI inside
    APP1 is skipped that way); entropy-coded data is scanned for the next real
    marker, and progressive files repeat tables + scan until EOI.
    """
    pos, size = start + 2, len(data)
    while pos + 2 <= size:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if pos + 4 > size:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            return None
        pos += 2 + length
        if marker == 0xDA:
            found = _ENTROPY_MARKER.search(data, pos)
            if found is None:
                return None  # truncated scan: nothing follows the image
            pos = found.start()
    return None


def _jpeg_companions_end(data: bytes, end: int) -> int:
    """Extend ``end`` over data the primary JPEG declares as its own."""
    end = max(end, _mpf_end(data))
    rest = len(data) - end
    if rest > TRAILING_SLACK:
        if data[end + 4 : end + 8] == b"ftyp":  # motion photo: an MP4 to the end of the file
            mp4_end = _boxes_end(data, end)
            if mp4_end == len(data):
                return mp4_end
        sef = _samsung_trailer_start(data)
        if sef is not None and sef <= end + TRAILING_SLACK:
            return len(data)
    return end


def _mpf_end(data: bytes) -> int:
    """End of the furthest further image listed in an MPF (CIPA DC-007) APP2 index."""
    furthest = 0
    for marker, start, stop in _jpeg_segments(data, 0):
        if marker != 0xE2 or data[start : start + 4] != b"MPF\0":
            continue
        base = start + 4  # offsets in the index count from the MP header
        if stop - base < 8 or data[base : base + 2] not in (b"II", b"MM"):
            continue
        fmt = "<" if data[base] == ord("I") else ">"

        def u16(at: int, fmt: str = fmt) -> int:
            return int(struct.unpack_from(fmt + "H", data, at)[0])

        def u32(at: int, fmt: str = fmt) -> int:
            return int(struct.unpack_from(fmt + "I", data, at)[0])

        ifd = base + u32(base + 4)
        if ifd + 2 > stop:
            continue
        for index in range(min(u16(ifd), 64)):
            entry = ifd + 2 + 12 * index
            if entry + 12 > stop or u16(entry) != 0xB002:  # MPEntry
                continue
            table, count = base + u32(entry + 8), u32(entry + 4) // 16
            for k in range(min(count, 64)):
                at = table + 16 * k
                if at + 16 > stop:
                    break
                size, offset = u32(at + 4), u32(at + 8)
                image = base + offset
                if offset == 0 or data[image : image + 2] != b"\xff\xd8":
                    continue  # the first (this) image has offset 0
                image_end = _jpeg_end(data, image)
                if image_end is not None and image_end <= image + size + TRAILING_SLACK:
                    furthest = max(furthest, image_end)
    return furthest


def _samsung_trailer_start(data: bytes) -> int | None:
    """Start of a Samsung SEF trailer (``SEFH`` directory ... ``SEFT``), or None."""
    if len(data) < 8 or data[-4:] != b"SEFT":
        return None
    directory_size = int.from_bytes(data[-8:-4], "little")
    head = len(data) - 8 - directory_size
    if head < 0 or data[head : head + 4] != b"SEFH":
        return None
    count = int.from_bytes(data[head + 8 : head + 12], "little")
    earliest = head
    for index in range(min(count, 256)):
        entry = head + 12 + 12 * index
        if entry + 12 > len(data):
            return None
        back = int.from_bytes(data[entry + 4 : entry + 8], "little")  # counted back from SEFH
        if back > head:
            return None
        earliest = min(earliest, head - back)
    return earliest


def _png_end(data: bytes) -> int | None:
    pos, size = 8, len(data)
    while pos + 12 <= size:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            return min(pos, size)
    return None


def _gif_end(data: bytes) -> int | None:
    size = len(data)
    if size < 13:
        return None
    pos = 13
    flags = data[10]
    if flags & 0x80:
        pos += 3 << ((flags & 7) + 1)
    while pos < size:
        block = data[pos]
        if block == 0x3B:  # trailer
            return pos + 1
        if block == 0x21:  # extension: label, then sub-blocks
            pos = _gif_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image: descriptor, local table, LZW size, sub-blocks
            if pos + 10 > size:
                return None
            flags = data[pos + 9]
            pos += 10
            if flags & 0x80:
                pos += 3 << ((flags & 7) + 1)
            pos = _gif_sub_blocks(data, pos + 1)
        else:
            return None
        if pos < 0:
            return None
    return None


def _gif_sub_blocks(data: bytes, pos: int) -> int:
    """Offset after the terminating empty sub-block, or -1 if the data ends first."""
    size = len(data)
    while pos < size:
        length = data[pos]
        pos += 1 + length
        if length == 0:
            return pos
    return -1


def _boxes_end(data: bytes, start: int) -> int | None:
    """End of the run of well-formed ISO-BMFF boxes starting at ``start``."""
    pos, size = start, len(data)
    walked = False
    while pos + 8 <= size:
        box = int.from_bytes(data[pos : pos + 4], "big")
        header = 8
        if box == 1:
            if pos + 16 > size:
                break
            box, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif box == 0:
            box = size - pos
        if box < header or pos + box > size:
            break
        pos += box
        walked = True
    return pos if walked else None
