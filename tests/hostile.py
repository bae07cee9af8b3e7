"""Hostile images the hardening tests send: built byte by byte, never stored."""

from __future__ import annotations

import struct
import zlib

# One 1x1 frame: graphic control extension, image descriptor, LZW data of one
# pixel of colour 0 (clear, 0, end of information in 3-bit codes), terminator.
_GIF_FRAME = (
    b"\x21\xf9\x04\x00\x01\x00\x00\x00"  # 1/100 s delay
    + b"\x2c"
    + struct.pack("<4H", 0, 0, 1, 1)
    + b"\x00"
    + b"\x02\x02\x44\x01\x00"
)


def gif_bomb(frames: int = 10_000, width: int = 10_000, height: int = 10_000) -> bytes:
    """The probe's GIF: ``frames`` one-pixel frames on a ``width`` x ``height`` screen.

    About 230 KB with the defaults, and 10^12 pixels to composite when decoded.
    """
    screen = b"GIF89a" + struct.pack("<2H", width, height) + b"\x80\x00\x00"
    palette = b"\x00\x00\x00\xff\xff\xff"  # global colour table of 2 entries
    return screen + palette + _GIF_FRAME * frames + b"\x3b"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunky_png(chunks: int) -> bytes:
    """An 8x8 PNG with ``chunks`` empty ``teXt`` chunks before its pixels (12 bytes
    each): opening it costs Pillow ~15 us per chunk, whatever the pixels."""
    ihdr = _png_chunk(b"IHDR", struct.pack(">2I5B", 8, 8, 8, 0, 0, 0, 0))
    idat = _png_chunk(b"IDAT", zlib.compress(b"\0" * 8 * 9))  # 8 rows: filter byte, 8 grey
    return (
        b"\x89PNG\r\n\x1a\n"
        + ihdr
        + _png_chunk(b"teXt", b"") * chunks
        + idat
        + _png_chunk(b"IEND", b"")
    )


def chunky_gif(sub_blocks: int) -> bytes:
    """A 1x1 GIF whose comment extension has ``sub_blocks`` sub-blocks of 1 byte."""
    screen = b"GIF89a" + struct.pack("<2H", 1, 1) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    comment = b"\x21\xfe" + b"\x01x" * sub_blocks + b"\x00"
    return screen + comment + _GIF_FRAME[8:] + b"\x3b"
