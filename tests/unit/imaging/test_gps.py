from __future__ import annotations

import io
import random
import struct
import xml.dom.minidom
import zlib
from typing import Any

import pytest
from PIL import Image

from imghost.imaging.gps import has_gps, scrub_gps
from imghost.imaging.probe import _register_heif
from tests.corpus import require_corpus
from tests.unit.imaging.helpers import corpus_files, encode, gps_exif, pattern

# Every corpus file known to carry a GPS IFD (Canon_40D's holds only GPSVersionID).
CORPUS_GPS = [
    "exif/Canon_40D.jpg",
    "exif/Kodak_CX7530.jpg",
    "exif/HMD_Nokia_8.3_5G.jpg",
    "exif/gps_DSCN0010.jpg",
    "exif/gps_DSCN0012.jpg",
    "exif/gps_DSCN0021.jpg",
    "exif/gps_DSCN0025.jpg",
    "formats/exif_gps.jpg",
    "heic/IMG_5195.HEIC",
    "heic/pug.heic",
]


def _open(data: bytes) -> Image.Image:
    _register_heif()
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _exif_view(img: Image.Image) -> tuple[dict[int, Any], dict[int, Any], dict[int, Any]]:
    exif = img.getexif()
    ifd0 = {k: v for k, v in exif.items() if k != 0x8825}
    return ifd0, dict(exif.get_ifd(0x8769)), dict(exif.get_ifd(0x8825))


def _check_scrubbed(before: bytes, after: bytes) -> None:
    """Same length, same pixels, no GPS for Pillow, everything else in EXIF unchanged."""
    assert len(after) == len(before)
    assert after != before
    a, b = _open(before), _open(after)
    assert a.tobytes() == b.tobytes()
    ifd0_a, exif_a, gps_a = _exif_view(a)
    ifd0_b, exif_b, gps_b = _exif_view(b)
    assert gps_a and not gps_b
    assert ifd0_a == ifd0_b and exif_a == exif_b
    assert not has_gps(after)
    assert scrub_gps(after) == after  # nothing left to do


# -- the corpus -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", CORPUS_GPS)
def test_corpus_gps_is_scrubbed(name: str) -> None:
    data = (require_corpus() / name).read_bytes()
    assert has_gps(data)
    scrubbed = scrub_gps(data)
    _check_scrubbed(data, scrubbed)
    exif = _open(scrubbed).getexif()
    assert exif.get(0x010F) and exif.get(0x0110)  # Make and Model still read


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in corpus_files("exif", "heic", "formats", "orientation", "hostile")
        if n not in CORPUS_GPS
    ],
)
def test_corpus_without_gps_is_untouched(name: str) -> None:
    data = (require_corpus() / name).read_bytes()
    assert not has_gps(data)
    assert scrub_gps(data) == data


def test_corpus_gps_list_is_complete() -> None:
    root = require_corpus()
    for name in corpus_files("exif", "heic", "formats", "orientation", "hostile"):
        assert has_gps((root / name).read_bytes()) == (name in CORPUS_GPS), name


def test_corpus_mistyped_gps_pointer_does_not_crash() -> None:
    data = (require_corpus() / "hostile/exif_gps_typeerror.jpg").read_bytes()
    assert not has_gps(data)
    assert scrub_gps(data) == data


# -- generated, per container ---------------------------------------------------------------


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "AVIF", "HEIF"])
def test_generated_containers(fmt: str, endian: str) -> None:
    exif = gps_exif(make="Maker", model="Model X")
    exif[0x0131] = "Software 1"  # sorts after GPSInfo? no: 0x0131 < 0x8825, still kept
    exif[0xA432] = (24.0, 70.0, 2.8, 2.8)  # an IFD0 entry *after* GPSInfo moves up a slot
    exif.endian = endian
    data = encode(pattern(), fmt, exif=exif, **({"lossless": True} if fmt == "WEBP" else {}))
    assert has_gps(data)
    scrubbed = scrub_gps(data)
    _check_scrubbed(data, scrubbed)
    assert _open(scrubbed).getexif().get(0xA432) == (24.0, 70.0, 2.8, 2.8)


def test_png_crc_is_fixed() -> None:
    data = encode(pattern(), "PNG", exif=gps_exif())
    scrubbed = scrub_gps(data)
    pos = 8
    while pos < len(scrubbed):
        length = struct.unpack(">I", scrubbed[pos : pos + 4])[0]
        body = scrubbed[pos + 4 : pos + 8 + length]
        assert struct.unpack(">I", scrubbed[pos + 8 + length : pos + 12 + length])[0] == (
            zlib.crc32(body) & 0xFFFFFFFF
        )
        pos += 12 + length


def test_gps_only_ifd0_keeps_a_valid_pointer() -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8825)[2] = (1.0, 2.0, 3.0)
    data = encode(pattern(), "JPEG", exif=exif)
    scrubbed = scrub_gps(data)
    assert len(scrubbed) == len(data) and not has_gps(scrubbed)
    assert not _open(scrubbed).getexif().get_ifd(0x8825)


def _xmp_jpeg(packet: str) -> bytes:
    jpeg = encode(pattern(), "JPEG", exif=Image.Exif())
    payload = b"http://ns.adobe.com/xap/1.0/\0" + packet.encode()
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"
 xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
 exif:GPSLatitude="43,28.0468N" drone-dji:GpsLongitude='11.885' tiff:Make="Maker">
 <exif:GPSLongitude>11,53.1077E</exif:GPSLongitude>
 <exif:GPSAltitude rdf:parseType="Resource"><rdf:value>120/1</rdf:value></exif:GPSAltitude>
 <tiff:Model>Model X</tiff:Model>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_xmp_gps_is_blanked() -> None:
    data = _xmp_jpeg(XMP)
    assert has_gps(data)
    scrubbed = scrub_gps(data)
    assert len(scrubbed) == len(data) and not has_gps(scrubbed)
    start = scrubbed.index(b"<x:xmpmeta")
    end = scrubbed.index(b"</x:xmpmeta>") + len(b"</x:xmpmeta>")
    packet = scrubbed[start:end].decode()
    assert "GPS" not in packet and "Gps" not in packet and "11.885" not in packet
    assert 'tiff:Make="Maker"' in packet and "<tiff:Model>Model X</tiff:Model>" in packet
    xml.dom.minidom.parseString(packet)  # still well-formed XML
    assert _open(scrubbed).tobytes() == _open(data).tobytes()


def _png_text_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _raw_profile(exif_bytes: bytes) -> bytes:
    hex_ = exif_bytes.hex()
    lines = "\n".join(hex_[i : i + 72] for i in range(0, len(hex_), 72))
    return f"\nexif\n{len(exif_bytes):8d}\n{lines}\n".encode()


def test_png_text_profile_exif() -> None:
    png = encode(pattern(), "PNG")
    text = _raw_profile(gps_exif().tobytes())  # tobytes() starts with Exif\0\0
    chunk = _png_text_chunk(b"tEXt", b"Raw profile type exif\0" + text)
    data = png[:33] + chunk + png[33:]
    assert _open(data).getexif().get_ifd(0x8825)  # Pillow reads this kind of EXIF too
    assert has_gps(data)
    scrubbed = scrub_gps(data)
    _check_scrubbed(data, scrubbed)
    # Compressed, it cannot be scrubbed in place: detected, left, still reported.
    ztext = b"Raw profile type exif\0\0" + zlib.compress(text)
    zdata = png[:33] + _png_text_chunk(b"zTXt", ztext) + png[33:]
    assert has_gps(zdata)
    assert has_gps(scrub_gps(zdata))


def test_png_xmp_plain_is_scrubbed_and_compressed_is_reported() -> None:
    png = encode(pattern(), "PNG")
    plain = b"XML:com.adobe.xmp\0\0\0\0\0" + XMP.encode()
    data = png[:33] + _png_text_chunk(b"iTXt", plain) + png[33:]
    assert has_gps(data)
    scrubbed = scrub_gps(data)
    assert len(scrubbed) == len(data) and not has_gps(scrubbed)
    assert _open(scrubbed).tobytes() == _open(data).tobytes()  # CRCs still check out
    packed = b"XML:com.adobe.xmp\0\x01\0\0\0" + zlib.compress(XMP.encode())
    zdata = png[:33] + _png_text_chunk(b"iTXt", packed) + png[33:]
    assert has_gps(zdata) and has_gps(scrub_gps(zdata))


def test_mutated_exif_never_crashes() -> None:
    data = encode(pattern((32, 32)), "JPEG", exif=gps_exif(), quality=50)
    start = data.index(b"Exif\0\0")
    end = start + 400
    rng = random.Random(1234)
    for _ in range(600):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(start, end)] = rng.randrange(256)
        blob = bytes(mutated)
        scrubbed = scrub_gps(blob)
        assert len(scrubbed) == len(blob)
        assert scrubbed[end:] == blob[end:]  # never touches anything past the metadata
        has_gps(blob)


def test_truncated_and_garbage_inputs() -> None:
    data = encode(pattern(), "JPEG", exif=gps_exif())
    for blob in (b"", b"\xff\xd8", data[:20], data[:200], b"\x89PNG\r\n\x1a\n", b"RIFF", b"junk"):
        assert len(scrub_gps(blob)) == len(blob)
        has_gps(blob)
