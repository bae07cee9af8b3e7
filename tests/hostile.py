"""Hostile images the hardening tests send: built byte by byte, never stored."""

from __future__ import annotations

import struct

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
