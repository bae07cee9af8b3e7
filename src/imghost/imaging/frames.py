"""Count an image's frames and its canvas from the container, decoding nothing.

An animation's cost is not its file size: a 230 KB GIF can hold 10,000
one-pixel frames on a 10000x10000 canvas, and each frame is composited on the
whole canvas when it is decoded (10^12 pixels). So the frame count and the
canvas are read from the headers and checked against the limits *before* a
decoder is run (see :func:`imghost.imaging.probe.probe`).

GIF, APNG and animated WebP are walked here, chunk by chunk, because Pillow
counts GIF frames by seeking through (and partly decoding) every one of them.
HEIF and AVIF are parsed by libheif/libavif, whose ``Image.open`` reads the
container only; their counts come from there (a grid or tiled HEIF image is
one image whose canvas is the grid's, so the pixel limit bounds it).

A malformed container is not refused here: the walk stops where the
structure ends and returns what it saw; the decoder then reports the damage.

The walk's cost (and Pillow's, which parses PNG chunks and GIF extension
blocks in Python) grows with the number of chunks or sub-blocks, not with the
pixels: a 7.9 MB PNG of 660,000 empty ``teXt`` chunks took 4.6 s to open. So
the walk counts them and stops past ``max_chunks``; the caller refuses such a
file before Pillow ever opens it.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Frames:
    count: int
    width: int  # the canvas every frame is composited on
    height: int
    # Chunks (PNG, WebP) or blocks and sub-blocks (GIF) walked; past the
    # caller's max_chunks the walk stopped there.
    chunks: int = 0

    @property
    def total_pixels(self) -> int:
        return self.count * self.width * self.height


def count_frames(path: Path, fmt: str, stop_after: int, max_chunks: int = 2**62) -> Frames | None:
    """Frames and canvas of a GIF, PNG or WebP file (a JPEG's chunks only, its
    canvas 0); None for other formats.

    The walk stops once ``stop_after`` frames or more than ``max_chunks``
    chunks have been seen: the caller refuses more than that anyway, and a
    hostile file may claim millions.
    """
    walker = _WALKERS.get(fmt)
    if walker is None:
        return None
    with open(path, "rb") as fh:
        try:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            return None
        with data:
            return walker(data, stop_after, max_chunks)


def _u16le(data: mmap.mmap, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def _u24le(data: mmap.mmap, at: int) -> int:
    return int.from_bytes(data[at : at + 3], "little")


def _u32be(data: mmap.mmap, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "big")


def _skip_sub_blocks(data: mmap.mmap, pos: int, budget: int) -> tuple[int, int]:
    """Position after a GIF sub-block chain (size byte, bytes; a 0 ends it),
    and the sub-blocks walked (at most ``budget + 1``: then the walk stops)."""
    end = len(data)
    walked = 0
    while pos < end and walked <= budget:
        size = data[pos]
        pos += 1 + size
        walked += 1
        if size == 0:
            return pos, walked
    return end, walked


def _gif(data: mmap.mmap, stop_after: int, max_chunks: int) -> Frames:
    end = len(data)
    if end < 13:
        return Frames(0, 0, 0)
    width, height = _u16le(data, 6), _u16le(data, 8)
    packed = data[10]
    pos = 13
    if packed & 0x80:
        pos += 3 << ((packed & 7) + 1)
    frames = chunks = 0
    while pos < end and frames <= stop_after and chunks <= max_chunks:
        block = data[pos]
        chunks += 1
        if block == 0x21:  # extension: label, then sub-blocks
            pos, walked = _skip_sub_blocks(data, pos + 2, max_chunks - chunks)
            chunks += walked
        elif block == 0x2C:  # image descriptor
            if pos + 10 > end:
                break
            left, top = _u16le(data, pos + 1), _u16le(data, pos + 3)
            w, h = _u16le(data, pos + 5), _u16le(data, pos + 7)
            local = data[pos + 9]
            # A frame outside the logical screen grows the canvas Pillow allocates.
            width, height = max(width, left + w), max(height, top + h)
            pos += 10
            if local & 0x80:
                pos += 3 << ((local & 7) + 1)
            # after the LZW minimum code size
            pos, walked = _skip_sub_blocks(data, pos + 1, max_chunks - chunks)
            chunks += walked
            frames += 1
        else:  # 0x3B trailer, or garbage the decoder will report
            break
    return Frames(frames, width, height, chunks)


def _png(data: mmap.mmap, stop_after: int, max_chunks: int) -> Frames:
    end = len(data)
    pos = 8
    width = height = 0
    declared = 0
    controls = chunks = 0
    while pos + 8 <= end and chunks <= max_chunks:
        chunks += 1
        length, kind = _u32be(data, pos), bytes(data[pos + 4 : pos + 8])
        body = pos + 8
        if kind == b"IHDR" and body + 8 <= end:
            width, height = _u32be(data, body), _u32be(data, body + 4)
        elif kind == b"acTL" and body + 4 <= end:
            declared = _u32be(data, body)
        elif kind == b"fcTL":
            controls += 1
            if controls > stop_after:
                break
        elif kind == b"IEND":
            break
        pos = body + length + 4  # data, then CRC
    # Pillow trusts acTL; the fcTL count guards against an acTL that lies low.
    return Frames(max(declared, controls, 1), width, height, chunks)


def _webp(data: mmap.mmap, stop_after: int, max_chunks: int) -> Frames:
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    pos = 12
    width = height = 0
    frames = chunks = 0
    while pos + 8 <= end and chunks <= max_chunks:
        chunks += 1
        kind, length = bytes(data[pos : pos + 4]), int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if kind == b"VP8X" and body + 10 <= end:
            width, height = _u24le(data, body + 4) + 1, _u24le(data, body + 7) + 1
        elif kind == b"ANMF" and body + 12 <= end:
            frames += 1
            x, y = _u24le(data, body) * 2, _u24le(data, body + 3) * 2
            w, h = _u24le(data, body + 6) + 1, _u24le(data, body + 9) + 1
            width, height = max(width, x + w), max(height, y + h)
            if frames > stop_after:
                break
        pos = body + length + (length & 1)  # chunks are padded to an even size
    # A still WebP (VP8/VP8L, or VP8X without ANMF) is one frame; its size is
    # read by the decoder and checked by the caller.
    return Frames(max(frames, 1), width, height, chunks)


def _jpeg(data: mmap.mmap, stop_after: int, max_chunks: int) -> Frames:
    # Only the segments before the first scan: Pillow reads those one by one
    # in Python (250,000 empty comments in 1 MB took 0.64 s); libjpeg reads
    # the rest. Frames and canvas are left to the decoder (0: unknown).
    end = len(data)
    pos = 2  # after SOI
    chunks = 0
    while pos + 4 <= end and chunks <= max_chunks:
        if data[pos] != 0xFF:
            break  # garbage the decoder will report
        marker = data[pos + 1]
        chunks += 1
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length
            pos += 2
        elif marker in (0xD9, 0xDA):  # end of image, start of scan
            break
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return Frames(1, 0, 0, chunks)


_WALKERS = {"gif": _gif, "png": _png, "webp": _webp, "jpeg": _jpeg}
