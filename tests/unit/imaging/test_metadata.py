from __future__ import annotations

import base64
import json
import pickle
from pathlib import Path

import pytest
from PIL import Image

from imghost.imaging.metadata import MAX_TEXT, ImageMetadata, extract
from imghost.imaging.probe import ProbeError
from imghost.imaging.thumbhash import average_rgba
from tests.corpus import HOSTILE_ACCEPT, HOSTILE_EITHER, require_corpus
from tests.unit.imaging.helpers import corpus_files, encode, gps_exif, pattern, rgb_profile


def _write(tmp_path: Path, data: bytes, name: str = "img") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _json_safe(meta: ImageMetadata) -> dict[str, object]:
    out = meta.to_json()
    json.dumps(out, allow_nan=False)  # raises on NaN, bytes, tuples of odd types...
    return out


# -- generated files -------------------------------------------------------------------------


def test_exif_fields_and_types(tmp_path: Path) -> None:
    exif = gps_exif(make="Canon\0\0", model="EOS Test")
    exif[0x0131] = "Editor 1.0"  # Software
    exif[0x013B] = "A. Photographer"  # Artist
    exif[0x8298] = "(c) someone"  # Copyright
    exif[0x0112] = 1
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2021:04:11 15:47:53"  # DateTimeOriginal
    sub[0x9291] = "054"  # SubsecTimeOriginal
    sub[0x9011] = "-05:00"  # OffsetTimeOriginal
    sub[0x829A] = 0.004  # ExposureTime
    sub[0x829D] = 2.8  # FNumber
    sub[0x8827] = 400  # ISOSpeedRatings
    sub[0x920A] = 35.0  # FocalLength
    sub[0xA434] = "50mm F1.8"  # LensModel
    sub[0x927C] = b"\x01\x02maker secrets"  # MakerNote
    sub[0xA431] = "SERIAL123"  # BodySerialNumber
    sub[0x9101] = b"\x01\x02\x03\x00"  # ComponentsConfiguration: binary
    path = _write(tmp_path, encode(pattern(), "JPEG", exif=exif))
    meta = extract(path)
    tags = _json_safe(meta)["exif"]
    assert isinstance(tags, dict)
    assert tags["Make"] == "Canon" and tags["Model"] == "EOS Test"
    assert tags["Software"] == "Editor 1.0" and tags["Artist"] == "A. Photographer"
    assert tags["Copyright"] == "(c) someone"
    assert tags["DateTimeOriginal"] == "2021-04-11T15:47:53.054-05:00"
    assert tags["ExposureTime"] == pytest.approx(0.004) and tags["ExposureTimeText"] == "1/250"
    assert tags["FNumber"] == pytest.approx(2.8) and isinstance(tags["FNumber"], float)
    assert tags["ISOSpeedRatings"] == 400
    assert tags["FocalLength"] == pytest.approx(35.0)
    assert tags["LensModel"] == "50mm F1.8"
    assert tags["Orientation"] == 1
    for absent in (
        "MakerNote",
        "BodySerialNumber",
        "GPSInfo",
        "ExifOffset",
        "ComponentsConfiguration",
    ):
        assert absent not in tags
    assert not any(key.startswith("GPS") for key in tags)


@pytest.mark.parametrize(
    ("lat_ref", "lon_ref", "below", "lat", "lon", "alt"),
    [
        ("N", "E", False, 43.467447, 11.885128, 120.5),
        ("S", "W", True, -43.467447, -11.885128, -120.5),
    ],
)
def test_gps_signs(
    tmp_path: Path,
    lat_ref: str,
    lon_ref: str,
    below: bool,
    lat: float,
    lon: float,
    alt: float,
) -> None:
    exif = gps_exif(lat_ref=lat_ref, lon_ref=lon_ref, below_sea=below)
    meta = extract(_write(tmp_path, encode(pattern(), "JPEG", exif=exif)))
    assert meta.gps is not None
    assert meta.gps.latitude == pytest.approx(lat, abs=1e-5)
    assert meta.gps.longitude == pytest.approx(lon, abs=1e-5)
    assert meta.gps.altitude == pytest.approx(alt)
    out = _json_safe(meta)
    assert out["gps"] == meta.gps_json() == meta.gps.to_json()
    assert meta.to_json(include_gps=False)["gps"] is None


def test_gps_without_a_position_is_none(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8825)[0] = b"\x02\x02\x00\x00"  # only GPSVersionID
    exif.get_ifd(0x8825)[2] = (1.0, 2.0, 3.0)  # latitude without longitude
    assert extract(_write(tmp_path, encode(pattern(), "JPEG", exif=exif))).gps is None


def test_odd_values_are_cleaned(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "x" * 5000 + "\0\0"  # ImageDescription
    exif[0x010F] = "Ma\0ke\x07"
    exif[0x9C9B] = "Titel ünïcode".encode("utf-16-le") + b"\0\0"  # XPTitle
    sub = exif.get_ifd(0x8769)
    sub[0x9286] = b"ASCII\0\0\0hello comment\0"  # UserComment
    sub[0x9004] = "    :  :     :  :  "  # DateTimeDigitized, unknown
    sub[0x829A] = 1.5
    meta = extract(_write(tmp_path, encode(pattern(), "JPEG", exif=exif)))
    tags = _json_safe(meta)["exif"]
    assert isinstance(tags, dict)
    assert len(tags["ImageDescription"]) == MAX_TEXT
    assert tags["Make"] == "Make"
    assert tags["XPTitle"] == "Titel ünïcode"
    assert tags["UserComment"] == "hello comment"
    assert tags["DateTimeDigitized"] == ":  :     :  :"  # kept as written, whitespace trimmed
    assert tags["ExposureTimeText"] == "1.5"


def test_icc_description_bit_depth_alpha(tmp_path: Path) -> None:
    icc = rgb_profile("My Wide Gamut")
    meta = extract(_write(tmp_path, encode(pattern(), "PNG", icc_profile=icc), "a.png"))
    assert meta.icc_description == "My Wide Gamut"
    assert (meta.bit_depth, meta.has_alpha, meta.color_mode) == (8, False, "RGB")
    grey16 = Image.new("I;16", (8, 8), 4000)
    meta = extract(_write(tmp_path, encode(grey16, "PNG"), "b.png"))
    assert (meta.bit_depth, meta.color_mode) == (16, "I;16")
    rgba = pattern((20, 10), "RGBA")
    rgba.putalpha(128)
    meta = extract(_write(tmp_path, encode(rgba, "WEBP"), "c.webp"))
    assert meta.has_alpha and meta.bit_depth == 8
    meta = extract(_write(tmp_path, encode(pattern(), "AVIF"), "d.avif"))
    assert meta.bit_depth == 8 and meta.format == "avif"
    broken = _write(tmp_path, encode(pattern(), "PNG", icc_profile=b"junk" * 40), "e.png")
    assert extract(broken).icc_description is None


def test_upright_size_and_orientation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    meta = extract(_write(tmp_path, encode(pattern((90, 30)), "JPEG", exif=exif)))
    assert (meta.width, meta.height, meta.orientation) == (30, 90, 8)


def test_animation(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(4)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=30)
    meta = extract(_write(tmp_path, data))
    assert meta.animated and meta.frames == 4 and meta.format == "gif"


def test_placeholder_and_dominant_colour(tmp_path: Path) -> None:
    img = Image.new("RGB", (300, 200), (30, 140, 200))
    img.paste((250, 250, 20), (0, 0, 60, 40))  # a small yellow corner
    meta = extract(_write(tmp_path, encode(img, "PNG")))
    assert meta.dominant_color == "#1e8cc8"
    assert meta.placeholder is not None
    hash_ = base64.b64decode(meta.placeholder)
    r, g, b, a = average_rgba(hash_)
    assert a == 1 and abs(r * 255 - 30) < 40 and abs(g * 255 - 140) < 40
    assert abs(b * 255 - 200) < 30
    transparent = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    meta = extract(_write(tmp_path, encode(transparent, "PNG"), "t.png"))
    assert meta.has_alpha and meta.dominant_color is None and meta.placeholder is not None


def test_the_placeholder_from_pixels_already_decoded(tmp_path: Path) -> None:
    """The processing job hands over a rendition it decoded: no second decode,
    the same placeholder as from the file."""
    img = Image.new("RGB", (300, 200), (30, 140, 200))
    img.paste((250, 250, 20), (0, 0, 60, 40))
    path = _write(tmp_path, encode(img, "PNG"))
    rendition = img.resize((150, 100), Image.Resampling.LANCZOS)
    given = extract(path, pixels=rendition)
    assert rendition.size == (150, 100)  # left as it was
    from_file = extract(path)
    assert given.dominant_color == from_file.dominant_color == "#1e8cc8"
    assert given.placeholder is not None and from_file.placeholder is not None
    a, b = base64.b64decode(given.placeholder), base64.b64decode(from_file.placeholder)
    assert max(abs(x - y) for x, y in zip(average_rgba(a), average_rgba(b), strict=True)) < 0.02
    assert given.width == 300 and given.exif == from_file.exif


def test_not_an_image_raises(tmp_path: Path) -> None:
    with pytest.raises(ProbeError):
        extract(_write(tmp_path, b"hello world"))
    with pytest.raises(ProbeError):
        extract(_write(tmp_path, b"\x89PNG\r\n\x1a\n" + b"\0" * 40))


def test_undecodable_pixels_keep_the_rest(tmp_path: Path) -> None:
    data = encode(pattern((200, 200)), "JPEG", exif=gps_exif())
    meta = extract(_write(tmp_path, data[: len(data) // 2]))
    assert meta.exif["Make"] == "Imghost" and meta.gps is not None
    assert meta.placeholder is None and meta.dominant_color is None


def test_metadata_pickles(tmp_path: Path) -> None:
    meta = extract(_write(tmp_path, encode(pattern(), "JPEG", exif=gps_exif())))
    assert pickle.loads(pickle.dumps(meta)) == meta


# -- the corpus ------------------------------------------------------------------------------


def test_corpus_expected_facts() -> None:
    root = require_corpus()
    canon = extract(root / "exif/Canon_40D.jpg")
    assert canon.exif["Make"] == "Canon" and canon.exif["Model"] == "Canon EOS 40D"
    assert canon.icc_description == "sRGB IEC61966-2.1"
    # Canon_40D's GPS IFD holds only GPSVersionID: GPS is present (gps.has_gps, and
    # scrubbed) but there is no position to report.
    assert canon.gps is None
    nikon = extract(root / "exif/gps_DSCN0010.jpg")
    assert nikon.exif["Make"] == "NIKON" and nikon.exif["Model"] == "COOLPIX P6000"
    assert nikon.gps is not None
    assert nikon.gps.latitude == pytest.approx(43.467448, abs=1e-4)
    assert nikon.gps.longitude == pytest.approx(11.885127, abs=1e-4)
    for name in ("Nikon_D70.jpg", "Pentax_K10D.jpg"):
        assert extract(root / "exif" / name).icc_description
    for name in ("Kodak_CX7530.jpg", "HMD_Nokia_8.3_5G.jpg"):
        assert extract(root / "exif" / name).gps is not None
    hmd = extract(root / "exif/HMD_Nokia_8.3_5G.jpg")
    assert hmd.exif["DateTimeOriginal"] == "2022-08-14T14:12:31+03:00"
    for name in ("exif.png", "exif.avif"):
        assert extract(root / "formats" / name).exif.get("Orientation") == 1
    iphone = extract(root / "heic/IMG_5195.HEIC")
    assert iphone.gps is not None and iphone.gps.longitude < 0
    assert iphone.icc_description == "Display P3"
    assert (iphone.width, iphone.height) == (2566, 3313)
    assert iphone.exif["Model"] == "iPhone 11 Pro Max"
    chi = extract(root / "formats/chi.gif")
    assert chi.animated and chi.frames == 31
    apng = extract(root / "formats/apng_delay.png")
    assert apng.animated and apng.frames == 5 and apng.has_alpha
    ten = extract(root / "heic/RGB_10__29x100.heif")
    assert ten.bit_depth == 10
    reconyx = extract(root / "exif/Reconyx_HC500_Hyperfire.jpg")
    assert "MakerNote" not in reconyx.exif and reconyx.orientation == 1
    for name in ("Landscape_6.jpg", "Portrait_8.jpg"):
        meta = extract(root / "orientation" / name)
        assert (meta.width > meta.height) == name.startswith("Landscape")


@pytest.mark.parametrize(
    "name",
    corpus_files("exif", "heic", "formats", "orientation")
    + [f"hostile/{n}" for n in sorted(HOSTILE_ACCEPT | HOSTILE_EITHER)],
)
def test_corpus_extracts_without_error(name: str) -> None:
    meta = extract(require_corpus() / name)
    out = _json_safe(meta)
    assert out["width"] and out["height"]
    assert 1 <= meta.orientation <= 8
    assert isinstance(out["exif"], dict)
    assert not any(str(key).startswith("GPS") for key in out["exif"])
    if name.split("/")[0] != "hostile":
        assert meta.placeholder is not None and meta.dominant_color is not None
    assert all(len(v) <= MAX_TEXT for v in out["exif"].values() if isinstance(v, str))
