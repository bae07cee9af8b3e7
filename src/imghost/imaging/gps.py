"""Remove GPS position from an image file in place: same length, same pixels.

An original is served byte for byte only when its owner opted in to sharing
location; otherwise it is served scrubbed. Scrubbing never re-encodes: we find
each EXIF structure (JPEG APP1, PNG eXIf, WebP EXIF chunk, the HEIF/AVIF
``Exif`` item), walk IFD0 to the GPS IFD, zero the GPS entries and every value
they point to, and delete the GPSInfo pointer from IFD0 (later entries move up
one slot; the freed 12 bytes become zeros that nothing references). IFD0 stays
sorted and valid, so every reader still sees Make, Model, dates and the rest.
Only bytes inside the metadata container change, so the file's length and
decoded pixels are identical.

XMP can carry position too (``exif:GPSLatitude``, ``drone-dji:GpsLatitude``):
such attributes and elements inside an ``x:xmpmeta`` packet are overwritten
with spaces, which XML ignores there. PNG chunks we change get a new CRC.

Where GPS sits in compressed text (a PNG zTXt "Raw profile type exif" or a
compressed iTXt XMP packet) it cannot be removed without changing the length:
`scrub_gps` leaves it and `has_gps` keeps answering True for the result, so
callers must check `has_gps` on what they are about to serve (and fall back to
a re-encoded derivative).
"""

from __future__ import annotations

import bisect
import re
import struct
import zlib
from collections.abc import Iterator

_GPS_POINTER = 0x8825
_IFD_TYPES = {4, 13}  # LONG, IFD: the only sane types for a sub-IFD pointer
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_MAX_ENTRIES = 1000  # more than any real IFD; a bound for hostile counts
_MAX_IFDS = 4  # IFD0, IFD1 (thumbnail) and a little slack; cycles are cut anyway
_EXIF_PREFIX = b"Exif\x00\x00"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_PACKET = 4 << 20  # most of an XMP packet we look inside (JPEG's are < 64 KiB)
_MAX_INFLATE = 4 << 20  # largest compressed PNG text we inflate to look for GPS

_XMP_OPEN = b"<x:xmpmeta"
_XMP_CLOSE = b"</x:xmpmeta>"
# A property whose local name starts with "gps", under any namespace prefix, as
# an attribute or an element. Every pattern is bounded and elements are paired
# with their closing tag by lookup, not backtracking, so a hostile packet full
# of unclosed openings costs linear time.
_XMP_GPS_ATTR = re.compile(
    rb"""\s[\w.-]{1,64}:gps[\w.-]{0,64}\s*=\s*(?:"[^"]{0,2048}"|'[^']{0,2048}')""", re.I
)
_XMP_GPS_OPEN = re.compile(rb"<([\w.-]{1,64}:gps[\w.-]{0,64})(?:\s[^<>]{0,2048})?(/?)>", re.I)
_XMP_GPS_CLOSE = re.compile(rb"</([\w.-]{1,64}:gps[\w.-]{0,64})\s*>", re.I)
_PNG_RAW_PROFILES = (b"Raw profile type exif", b"Raw profile type APP1")


def has_gps(data: bytes) -> bool:
    """True when the file carries GPS: a non-empty GPS IFD (even without a position) or XMP."""
    view = bytearray(data)
    if any(_tiff(view, start, end, write=False) for start, end in _exif_blocks(data)):
        return True
    if _xmp(view, write=False):
        return True
    if not data.startswith(_PNG_SIGNATURE):
        return False
    return _png_text_profiles(view, write=False) or _png_compressed_xmp(data)


def scrub_gps(data: bytes) -> bytes:
    """``data`` with GPS removed in place (same length, same pixels); unchanged if none."""
    buf = bytearray(data)
    changed = False
    for start, end in _exif_blocks(data):
        changed |= _tiff(buf, start, end, write=True)
    changed |= _xmp(buf, write=True)
    if data.startswith(_PNG_SIGNATURE):
        changed |= _png_text_profiles(buf, write=True)
        if changed:
            _fix_png_crcs(buf, data)
    return bytes(buf) if changed else data


# -- where the EXIF lives -----------------------------------------------------


def _exif_blocks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every TIFF structure holding EXIF, by container format."""
    if data.startswith(b"\xff\xd8"):
        return list(_jpeg_blocks(data))
    if data.startswith(_PNG_SIGNATURE):
        return [_skip_prefix(data, s, e) for kind, s, e in _png_chunks(data) if kind == b"eXIf"]
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return list(_webp_blocks(data))
    if data[4:8] == b"ftyp":
        return list(_isobmff_blocks(data))
    return []


def _skip_prefix(data: bytes, start: int, end: int) -> tuple[int, int]:
    return (start + 6, end) if data[start : start + 6] == _EXIF_PREFIX else (start, end)


def _jpeg_blocks(data: bytes) -> Iterator[tuple[int, int]]:
    pos, size = 2, len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI, or SOS: metadata segments come before the scan
            return
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            return
        end = min(pos + 2 + length, size)
        if marker == 0xE1 and data[pos + 4 : pos + 10] == _EXIF_PREFIX:
            yield pos + 10, end
        pos += 2 + length


def _png_chunks(data: bytes | bytearray) -> Iterator[tuple[bytes, int, int]]:
    """(type, data start, data end) of each chunk, up to IEND."""
    pos, size = 8, len(data)
    while pos + 12 <= size:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = bytes(data[pos + 4 : pos + 8])
        start, end = pos + 8, pos + 8 + length
        if end + 4 > size:
            return
        yield kind, start, end
        if kind == b"IEND":
            return
        pos = end + 4


def _webp_blocks(data: bytes) -> Iterator[tuple[int, int]]:
    riff_end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    pos = 12
    while pos + 8 <= riff_end:
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        start, end = pos + 8, pos + 8 + length
        if end > riff_end:
            return
        if kind == b"EXIF":
            yield _skip_prefix(data, start, end)
        pos = end + (length & 1)


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the ISO-BMFF boxes in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _isobmff_blocks(data: bytes) -> Iterator[tuple[int, int]]:
    """The TIFF structure of each ``Exif`` item, located through meta/iinf/iloc."""
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind != b"meta":
            continue
        children = {k: (s, e) for k, s, e in _boxes(data, start + 4, end)}  # meta is a FullBox
        if b"iinf" not in children or b"iloc" not in children:
            continue
        exif_ids = set(_exif_item_ids(data, *children[b"iinf"]))
        idat = children.get(b"idat", (0, 0))[0]
        for item_id, method, offset, length in _item_locations(data, *children[b"iloc"]):
            if item_id not in exif_ids or method not in (0, 1):
                continue
            item = offset + (idat if method == 1 else 0)
            item_end = min(item + length, len(data))
            if item + 4 > item_end:
                continue
            # The payload starts with the offset of the TIFF header after these 4 bytes.
            tiff = item + 4 + int.from_bytes(data[item : item + 4], "big")
            if tiff + 8 > item_end or data[tiff : tiff + 4] not in (b"II*\x00", b"MM\x00*"):
                continue
            yield tiff, item_end


def _exif_item_ids(data: bytes, start: int, end: int) -> Iterator[int]:
    version = data[start] if start < end else 0
    first = start + 4 + (2 if version == 0 else 4)
    for kind, s, e in _boxes(data, first, end):
        if kind != b"infe" or s + 4 > e:
            continue
        infe_version = data[s]
        if infe_version < 2:
            continue
        id_size = 2 if infe_version == 2 else 4
        at = s + 4
        item_id = int.from_bytes(data[at : at + id_size], "big")
        item_type = data[at + id_size + 2 : at + id_size + 6]
        if item_type == b"Exif":
            yield item_id


def _item_locations(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(item id, construction method, offset, length) of single-extent items in 'iloc'."""

    def read(at: int, size: int) -> int:
        if size == 0:
            return 0
        if at + size > end:
            raise IndexError
        return int.from_bytes(data[at : at + size], "big")

    try:
        version = data[start]
        pos = start + 4
        offset_size, length_size = data[pos] >> 4, data[pos] & 15
        base_size = data[pos + 1] >> 4
        index_size = data[pos + 1] & 15 if version in (1, 2) else 0
        pos += 2
        count_size = 4 if version == 2 else 2
        count = read(pos, count_size)
        pos += count_size
        for _ in range(min(count, 10_000)):
            item_id = read(pos, count_size)
            pos += count_size
            method = 0
            if version in (1, 2):
                method = read(pos, 2) & 15
                pos += 2
            pos += 2  # data_reference_index
            base = read(pos, base_size)
            pos += base_size
            extents = read(pos, 2)
            pos += 2
            spans = []
            for _ in range(extents):
                pos += index_size
                offset = read(pos, offset_size)
                pos += offset_size
                length = read(pos, length_size)
                pos += length_size
                spans.append((base + offset, length))
            if len(spans) == 1:
                yield item_id, method, spans[0][0], spans[0][1]
    except IndexError:
        return


# -- the TIFF walk ------------------------------------------------------------


class _Tiff:
    """Bounded reads and edits of the TIFF structure at buf[base:end] (offsets from base)."""

    def __init__(self, buf: bytearray, base: int, end: int, fmt: str) -> None:
        self.buf, self.base, self.end, self.fmt = buf, base, end, fmt

    def u16(self, at: int) -> int:
        return int(struct.unpack_from(self.fmt + "H", self.buf, at)[0])

    def u32(self, at: int) -> int:
        return int(struct.unpack_from(self.fmt + "I", self.buf, at)[0])

    def ifd_fits(self, pos: int, count: int) -> bool:
        return self.base + 8 <= pos and pos + 2 + 12 * count <= self.end

    def zero_gps_ifd(self, gps: int, entries: int) -> None:
        """Zero the GPS IFD (entry count included) and every out-of-line value it points to."""
        for index in range(entries):
            entry = gps + 2 + 12 * index
            size = _TYPE_SIZES.get(self.u16(entry + 2), 0) * self.u32(entry + 4)
            if size > 4:
                value = self.base + self.u32(entry + 8)
                if self.base + 8 <= value and value + size <= self.end:
                    self.buf[value : value + size] = bytes(size)
        stop = min(gps + 2 + 12 * entries + 4, self.end)
        self.buf[gps:stop] = bytes(stop - gps)

    def delete_entry(self, ifd: int, count: int, index: int) -> None:
        """Remove entry ``index`` from the IFD at ``ifd``; the IFD ends 12 bytes earlier."""
        first = ifd + 2
        tail_end = first + 12 * count + 4  # later entries and the next-IFD offset
        self.buf[first + 12 * index : tail_end - 12] = self.buf[first + 12 * (index + 1) : tail_end]
        self.buf[tail_end - 12 : tail_end] = bytes(12)
        struct.pack_into(self.fmt + "H", self.buf, ifd, count - 1)


def _tiff(buf: bytearray, base: int, end: int, *, write: bool) -> bool:
    """Find (and with ``write``, remove) a non-empty GPS IFD in the TIFF at buf[base:end]."""
    end = min(end, len(buf))
    if end - base < 8 or bytes(buf[base : base + 2]) not in (b"II", b"MM"):
        return False
    t = _Tiff(buf, base, end, "<" if buf[base] == ord("I") else ">")
    if t.u16(base + 2) != 42:
        return False
    found = False
    seen: set[int] = set()
    ifd = t.u32(base + 4)
    for _ in range(_MAX_IFDS):
        pos = base + ifd
        if ifd in seen or pos + 2 > end:
            break
        seen.add(ifd)
        count = t.u16(pos) if pos >= base + 8 else 0
        if not 0 < count <= _MAX_ENTRIES or not t.ifd_fits(pos, count + 1):
            break  # +1: room for the next-IFD offset
        next_ifd = t.u32(pos + 2 + 12 * count)
        for index in range(count):
            entry = pos + 2 + 12 * index
            if t.u16(entry) != _GPS_POINTER:
                continue
            if t.u16(entry + 2) not in _IFD_TYPES or t.u32(entry + 4) != 1:
                continue  # not a pointer a reader would follow (e.g. mistyped as ASCII)
            gps = base + t.u32(entry + 8)
            entries = min(t.u16(gps), _MAX_ENTRIES) if gps + 2 <= end else 0
            if entries == 0 or not t.ifd_fits(gps, entries):
                continue
            found = True
            if write:
                t.zero_gps_ifd(gps, entries)
                if count > 1:  # an IFD0 of one entry keeps it, pointing at an empty IFD
                    t.delete_entry(pos, count, index)
            break
        ifd = next_ifd
    return found


# -- XMP ----------------------------------------------------------------------


def _xmp(buf: bytearray, *, write: bool) -> bool:
    """Find (and blank) GPS properties inside every x:xmpmeta packet in the file."""
    found = False
    data = bytes(buf)
    pos = 0
    while (start := data.find(_XMP_OPEN, pos)) >= 0:
        stop = data.find(_XMP_CLOSE, start, start + _MAX_PACKET)
        if stop < 0:  # unterminated or oversized: look at what a reader might parse
            stop = min(len(data), start + _MAX_PACKET)
        spans = _xmp_gps_spans(data[start:stop])
        if spans:
            found = True
            if not write:
                return True
            for s, e in spans:
                buf[start + s : start + e] = b" " * (e - s)
        pos = stop + 1
    return found


def _xmp_gps_spans(packet: bytes) -> list[tuple[int, int]]:
    """Byte spans of GPS attributes and elements (opening tag through its closing tag)."""
    closes: dict[bytes, list[tuple[int, int]]] = {}
    for m in _XMP_GPS_CLOSE.finditer(packet):
        closes.setdefault(m.group(1).lower(), []).append(m.span())
    spans = [m.span() for m in _XMP_GPS_ATTR.finditer(packet)]
    for m in _XMP_GPS_OPEN.finditer(packet):
        if m.group(2):  # <exif:GPSLatitude ... />
            spans.append(m.span())
            continue
        candidates = closes.get(m.group(1).lower(), [])
        index = bisect.bisect_left(candidates, (m.end(), 0))
        if index < len(candidates):
            spans.append((m.start(), candidates[index][1]))
    merged: list[tuple[int, int]] = []  # overlapping spans blanked once, in linear time
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


# -- PNG specifics --------------------------------------------------------------


def _png_text_profiles(buf: bytearray, *, write: bool) -> bool:
    """EXIF that ImageMagick stores as hex text ("Raw profile type exif") in tEXt/zTXt.

    A tEXt copy is scrubbed in place (hex digits rewritten where they stand);
    a zTXt copy can only be detected.
    """
    found = False
    for kind, start, end in list(_png_chunks(buf)):
        if kind not in (b"tEXt", b"zTXt"):
            continue
        chunk = bytes(buf[start:end])
        keyword, _, rest = chunk.partition(b"\x00")
        if keyword not in _PNG_RAW_PROFILES:
            continue
        if kind == b"zTXt":
            try:
                text = zlib.decompressobj().decompress(rest[1:], _MAX_INFLATE)
            except zlib.error:
                continue
            blob = _hex_payload(text)[1]
            if any(_tiff(blob, s, e, write=False) for s, e in _blob_tiffs(blob)):
                found = True
            continue
        text_start = start + len(keyword) + 1
        positions, blob = _hex_payload(rest)
        if not any(_tiff(blob, s, e, write=write) for s, e in _blob_tiffs(blob)):
            continue
        found = True
        if not write:
            return True
        # Rewrite the digits where they stand, keeping the writer's letter case.
        for at, digit in zip(positions, blob.hex().encode(), strict=True):
            upper = 0x41 <= buf[text_start + at] <= 0x46
            buf[text_start + at] = digit - 32 if upper and digit >= 0x61 else digit
    return found


def _png_compressed_xmp(data: bytes) -> bool:
    """GPS in a compressed iTXt XMP packet (detected only; it cannot be scrubbed in place)."""
    for kind, start, end in _png_chunks(data):
        if kind != b"iTXt":
            continue
        keyword, _, rest = data[start:end].partition(b"\x00")
        if keyword != b"XML:com.adobe.xmp" or rest[:1] != b"\x01":
            continue
        text = rest[2:].split(b"\x00", 2)[-1]  # after language and translated keyword
        try:
            packet = zlib.decompressobj().decompress(text, _MAX_INFLATE)
        except zlib.error:
            continue
        if _xmp_gps_spans(packet):
            return True
    return False


def _hex_payload(text: bytes) -> tuple[list[int], bytearray]:
    """Positions of the hex digits after the 3-line header, and the bytes they spell."""
    lines = text.split(b"\n", 3)
    if len(lines) < 4:
        return [], bytearray()
    skip = len(text) - len(lines[3])
    positions = [i for i in range(skip, len(text)) if chr(text[i]) in "0123456789abcdefABCDEF"]
    positions = positions[: len(positions) // 2 * 2]
    digits = bytes(text[i] for i in positions)
    try:
        return positions, bytearray(bytes.fromhex(digits.decode()))
    except ValueError:
        return [], bytearray()


def _blob_tiffs(blob: bytearray) -> list[tuple[int, int]]:
    """The TIFF header near the start of a decoded profile (after any "Exif\\0\\0")."""
    head = bytes(blob[:32])
    starts = [at for at in (head.find(b"II*\x00"), head.find(b"MM\x00*")) if at >= 0]
    return [(min(starts), len(blob))] if starts else []


def _fix_png_crcs(buf: bytearray, original: bytes) -> None:
    for _kind, start, end in list(_png_chunks(buf)):
        if buf[start:end] != original[start:end]:
            crc = zlib.crc32(buf[start - 4 : end]) & 0xFFFFFFFF  # type and data
            buf[end : end + 4] = crc.to_bytes(4, "big")
