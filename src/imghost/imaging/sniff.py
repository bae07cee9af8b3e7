"""Identify an image format from its first bytes; the client's word is never used."""

from __future__ import annotations

from dataclasses import dataclass

#: How many leading bytes `sniff` needs.
SNIFF_BYTES = 64


@dataclass(frozen=True)
class Format:
    name: str  # short name used in the API: jpeg, png, gif, webp, heic, avif
    mime: str
    extension: str


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("jpeg", "image/jpeg", "jpg"),
        Format("png", "image/png", "png"),
        Format("gif", "image/gif", "gif"),
        Format("webp", "image/webp", "webp"),
        Format("heic", "image/heic", "heic"),
        Format("heif", "image/heif", "heif"),
        Format("avif", "image/avif", "avif"),
    )
}

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}


def _ftyp_brands(head: bytes) -> list[bytes]:
    if len(head) < 16 or head[4:8] != b"ftyp":
        return []
    box_size = int.from_bytes(head[0:4], "big")
    end = min(max(box_size, 16), len(head))
    brands = [head[8:12]]
    brands.extend(head[i : i + 4] for i in range(16, end - 3, 4))
    return brands


def sniff(head: bytes) -> Format | None:
    """Return the format the leading bytes show, or None for anything we do not accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return FORMATS["jpeg"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FORMATS["png"]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return FORMATS["gif"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FORMATS["webp"]
    brands = _ftyp_brands(head)
    if brands:
        major, compatible = brands[0], set(brands[1:])
        if major in _AVIF_BRANDS:
            return FORMATS["avif"]
        if major in _HEIC_BRANDS:
            return FORMATS["heic"]
        if major in _HEIF_BRANDS:
            # Generic HEIF container: the compatible brands say what is inside.
            if compatible & _AVIF_BRANDS:
                return FORMATS["avif"]
            if compatible & _HEIC_BRANDS:
                return FORMATS["heic"]
            return FORMATS["heif"]
        if compatible & _AVIF_BRANDS:
            return FORMATS["avif"]
        if compatible & _HEIC_BRANDS:
            return FORMATS["heic"]
    return None
