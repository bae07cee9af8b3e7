from __future__ import annotations

from pathlib import Path

import pytest
from PIL import GifImagePlugin, Image, JpegImagePlugin

from imghost.imaging.decode import MODES, _normalise_mode, decode_upright, open_upright
from imghost.imaging.probe import ProbeError
from tests.corpus import HOSTILE_ACCEPT, require_corpus
from tests.unit.imaging.helpers import (
    SRGB_BLUE,
    SRGB_GREEN,
    SRGB_RED,
    corpus_files,
    encode,
    grey_profile,
    mean_abs_diff,
    pattern,
    rgb_profile,
    watch_decoding,
)

BIG = 10**8


def _write(tmp_path: Path, data: bytes, name: str = "img") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- orientation ------------------------------------------------------------------

# The transpose that turns the upright picture into what a camera stores with each tag.
_STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_makes_generated_images_upright(tmp_path: Path, orientation: int) -> None:
    upright = pattern((90, 60))
    transform = _STORED[orientation]
    stored = upright.transpose(transform) if transform is not None else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _write(tmp_path, encode(stored, "PNG", exif=exif))
    out = open_upright(path, BIG)
    assert out.size == (90, 60)
    assert mean_abs_diff(out, upright) == 0


@pytest.mark.parametrize("name", corpus_files("orientation"))
def test_corpus_orientation_is_upright(name: str) -> None:
    root = require_corpus()
    out = open_upright(root / name, BIG, target=(300, 300))
    if Path(name).name.startswith("Landscape"):
        assert out.width > out.height
        reference = open_upright(root / "orientation/Landscape_1.jpg", BIG, target=(300, 300))
    else:
        assert out.height > out.width
        reference = open_upright(root / "orientation/Portrait_1.jpg", BIG, target=(300, 300))
    # Not only the aspect: the same picture, the right way round.
    assert mean_abs_diff(out.resize(reference.size), reference) < 6


# -- colour --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_embedded_profile_is_converted_to_srgb(tmp_path: Path, fmt: str) -> None:
    # A profile whose red primary is sRGB's green (and vice versa): a colour-managed
    # decode must turn stored pure red into sRGB pure green.
    icc = rgb_profile("Swapped primaries", red=SRGB_GREEN, green=SRGB_RED, blue=SRGB_BLUE)
    img = Image.new("RGB", (16, 16), (255, 0, 0))
    params = {"quality": 100} if fmt != "PNG" else {}
    if fmt == "WEBP":
        params["lossless"] = True
    path = _write(tmp_path, encode(img, fmt, icc_profile=icc, **params))
    out = open_upright(path, BIG)
    r, g, b = out.convert("RGB").getpixel((8, 8))  # type: ignore[misc]
    assert r < 8 and g > 245 and b < 8
    assert "icc_profile" not in out.info


def test_wide_gamut_profile_changes_colours_and_srgb_profile_does_not(tmp_path: Path) -> None:
    # Display P3 primaries (D50-adapted): a mid red is more saturated in sRGB terms.
    p3 = rgb_profile(
        "Test Display P3",
        red=(0.5151, 0.2412, -0.0011),
        green=(0.2920, 0.6922, 0.0419),
        blue=(0.1571, 0.0666, 0.7841),
    )
    img = Image.new("RGB", (8, 8), (200, 60, 60))
    converted = open_upright(_write(tmp_path, encode(img, "PNG", icc_profile=p3), "p3"), BIG)
    r, g, b = converted.getpixel((4, 4))  # type: ignore[misc]
    assert r > 205 and g < 55 and b < 55
    srgb = rgb_profile("sRGB IEC61966-2.1")
    same = open_upright(_write(tmp_path, encode(img, "PNG", icc_profile=srgb), "s"), BIG)
    assert same.getpixel((4, 4)) == (200, 60, 60)


def test_broken_profile_is_ignored(tmp_path: Path) -> None:
    img = Image.new("RGB", (8, 8), (10, 120, 230))
    for icc in (b"not a profile" * 20, rgb_profile("x")[:200]):
        out = open_upright(_write(tmp_path, encode(img, "PNG", icc_profile=icc)), BIG)
        assert out.mode == "RGB" and out.getpixel((4, 4)) == (10, 120, 230)


def test_grey_profile(tmp_path: Path) -> None:
    # Linear-light grey (gamma 1.0): mid-grey 50 is much lighter once in sRGB.
    img = Image.new("L", (8, 8), 50)
    linear = grey_profile("Linear Grey", 1.0)
    out = open_upright(_write(tmp_path, encode(img, "PNG", icc_profile=linear), "a"), BIG)
    assert out.mode == "RGB"
    r, g, b = out.getpixel((4, 4))  # type: ignore[misc]
    assert r == g == b and 110 < r < 150
    la = Image.new("LA", (8, 8), (50, 128))
    out = open_upright(_write(tmp_path, encode(la, "PNG", icc_profile=linear), "b"), BIG)
    assert out.mode == "RGBA" and out.getpixel((4, 4))[3] == 128  # type: ignore[index]
    # Plain greyscale (no profile) stays L.
    assert open_upright(_write(tmp_path, encode(img, "PNG"), "c"), BIG).mode == "L"


def test_corpus_display_p3_heic_is_converted() -> None:
    root = require_corpus()
    import pillow_heif

    pillow_heif.register_heif_opener()
    path = root / "heic/IMG_5195.HEIC"
    managed = open_upright(path, BIG, target=(256, 256))
    with Image.open(path) as raw:
        raw_small = raw.convert("RGB").resize(managed.size)
    # Converted (not passed through), but the same picture.
    assert 0.3 < mean_abs_diff(managed, raw_small) < 12


# -- modes -----------------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    img = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red ink
    out = open_upright(_write(tmp_path, encode(img, "JPEG", quality=100)), BIG)
    assert out.mode == "RGB"
    r, g, b = out.getpixel((8, 8))  # type: ignore[misc]
    assert r > 240 and g < 15 and b < 15


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    img = Image.new("I;16", (4, 1))
    for x, value in enumerate((0, 4096, 32768, 65535)):
        img.putpixel((x, 0), value)
    out = open_upright(_write(tmp_path, encode(img, "PNG")), BIG)
    assert out.mode == "L"
    assert [out.getpixel((x, 0)) for x in range(4)] == [0, 16, 128, 255]


def test_32_bit_integer_mode_is_scaled() -> None:
    # No accepted format opens as "I" in Pillow 13 (PNG says I;16), but older
    # plugins did: the normaliser treats it as 16-bit range too.
    img = Image.new("I", (2, 1))
    img.putpixel((1, 0), 65535)
    out = _normalise_mode(img)
    assert out.mode == "L" and out.getpixel((0, 0)) == 0 and out.getpixel((1, 0)) == 255


def test_palette_modes(tmp_path: Path) -> None:
    opaque = pattern((20, 20)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert open_upright(_write(tmp_path, encode(opaque, "PNG"), "a"), BIG).mode == "RGB"
    transparent = opaque.copy()
    index = transparent.getpixel((0, 0))
    out = open_upright(_write(tmp_path, encode(transparent, "GIF", transparency=index), "b"), BIG)
    assert out.mode == "RGBA" and out.getpixel((0, 0))[3] == 0  # type: ignore[index]


def test_colour_key_transparency_becomes_alpha(tmp_path: Path) -> None:
    img = Image.new("RGB", (4, 4), (1, 2, 3))
    img.putpixel((1, 1), (200, 0, 0))
    out = open_upright(_write(tmp_path, encode(img, "PNG", transparency=(1, 2, 3))), BIG)
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0 and out.getpixel((1, 1)) == (200, 0, 0, 255)  # type: ignore[index]


@pytest.mark.parametrize(
    ("mode", "expected"), [("L", "L"), ("LA", "LA"), ("RGBA", "RGBA"), ("1", "L")]
)
def test_greyscale_and_alpha_kept(tmp_path: Path, mode: str, expected: str) -> None:
    img = pattern((16, 16), "RGBA" if mode == "1" else mode).convert(mode)
    out = open_upright(_write(tmp_path, encode(img, "PNG")), BIG)
    assert out.mode == expected


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animation_gives_first_frame(tmp_path: Path, fmt: str) -> None:
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]
    frames = [Image.new("RGB", (24, 24), c) for c in colours]
    params = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=40, **params)
    out = open_upright(_write(tmp_path, data), BIG)
    r, g, b = out.convert("RGB").getpixel((12, 12))  # type: ignore[misc]
    assert r > 240 and g < 10 and b < 10


def test_heif_formats(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (32, 24), (0, 128, 255, 100))
    out = open_upright(_write(tmp_path, encode(rgba, "HEIF", quality=90), "a.heic"), BIG)
    assert out.mode == "RGBA" and out.size == (32, 24)
    out = open_upright(_write(tmp_path, encode(pattern(), "AVIF", quality=90), "b.avif"), BIG)
    assert out.mode == "RGB" and out.size == (96, 64)


# -- limits, errors, speed -------------------------------------------------------------------


def test_pixel_limit_refuses_before_decoding(tmp_path: Path) -> None:
    path = _write(tmp_path, encode(Image.new("RGB", (4000, 1)), "PNG"))
    with pytest.raises(ProbeError) as exc:
        open_upright(path, 1000)
    assert exc.value.status == 413 and exc.value.code == "image_too_large"


def test_errors(tmp_path: Path) -> None:
    cases = [
        (b"", 422),
        (b"plain text, not an image", 415),
        (encode(pattern(), "JPEG")[:300], 422),
        (encode(pattern(), "BMP"), 415),
    ]
    for data, status in cases:
        with pytest.raises(ProbeError) as exc:
            open_upright(_write(tmp_path, data), BIG)
        assert exc.value.status == status


def test_draft_decodes_jpeg_smaller_but_never_below_target(monkeypatch: pytest.MonkeyPatch) -> None:
    root = require_corpus()
    path = root / "exif/HMD_Nokia_8.3_5G.jpg"  # 4608x1976
    decoded = watch_decoding(monkeypatch, JpegImagePlugin.JpegImageFile)
    full = decode_upright(path, BIG)
    assert set(decoded) == {(4608, 1976)}
    decoded.clear()
    small = decode_upright(path, BIG, lambda w, h: (w // 9, h // 9))
    # The decoder itself ran at a reduced DCT scale (not a full decode resized
    # afterwards): asserted as the size it decoded, not as a faster wall time.
    assert decoded
    assert all(4608 // 9 <= w <= 4608 // 4 and h >= 1976 // 9 for w, h in decoded)
    assert full.image.size == full.source_size == (4608, 1976) and full.scale == (1.0, 1.0)
    assert small.source_size == (4608, 1976)
    assert 4608 // 9 <= small.image.width <= 4608 // 4
    assert small.image.height >= 1976 // 9
    assert small.image.width == pytest.approx(4608 * small.scale[0], abs=1)
    assert mean_abs_diff(full.image.resize(small.image.size), small.image) < 3


def test_target_is_upright_and_keeps_aspect(tmp_path: Path) -> None:
    stored = pattern((400, 200)).transpose(Image.Transpose.ROTATE_90)  # 200x400 on disk
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _write(tmp_path, encode(stored, "JPEG", exif=exif, quality=95))
    out = decode_upright(path, BIG, lambda w, h: (w // 4, h // 4))
    assert out.source_size == (400, 200)
    assert out.image.width >= 100 and out.image.height >= 50
    assert out.image.width / out.image.height == pytest.approx(2, rel=0.02)
    assert out.image.width == pytest.approx(400 * out.scale[0], abs=1)


def test_result_is_detached_and_has_no_metadata(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    data = encode(pattern(), "JPEG", exif=exif, icc_profile=rgb_profile("sRGB x"), comment=b"hi")
    out = open_upright(_write(tmp_path, data), BIG)
    assert out.info == {}
    out.load()  # usable after the file was closed


# -- the corpus -------------------------------------------------------------------------


def test_corpus_present() -> None:
    require_corpus()


@pytest.mark.parametrize(
    "name",
    corpus_files("exif", "heic", "formats") + [f"hostile/{n}" for n in sorted(HOSTILE_ACCEPT)],
)
def test_corpus_accepted_files_decode(name: str) -> None:
    out = decode_upright(require_corpus() / name, BIG, lambda w, h: (min(w, 512), min(h, 512)))
    assert out.image.mode in MODES
    assert out.image.info == {}


def test_corpus_ten_bit_heif() -> None:
    out = open_upright(require_corpus() / "heic/RGB_10__29x100.heif", BIG)
    assert out.mode == "RGB" and out.size == (29, 100)
    assert out.getextrema()[2][1] > 200  # type: ignore[misc]  # a blue image, not black


def test_corpus_decompression_bomb_is_refused_before_any_pixel_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 44 bytes claiming 65535x66601 (4.4 GP): refused from the header's size,
    # so the decoder never runs (it would allocate gigabytes). Asserted as
    # that, not as a wall time that a loaded machine can exceed.
    decoded = watch_decoding(monkeypatch, GifImagePlugin.GifImageFile, refuse=True)
    with pytest.raises(ProbeError) as exc:
        open_upright(require_corpus() / "hostile/decompression_bomb.gif", BIG)
    assert decoded == []
    assert (exc.value.status, exc.value.code) == (413, "image_too_large")
