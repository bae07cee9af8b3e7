from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
from PIL import Image

from imghost.imaging.decode import open_upright
from imghost.imaging.probe import ProbeError, probe
from imghost.imaging.render import (
    FORMATS,
    MIME,
    PRESETS,
    OutFormat,
    Rendered,
    RenderSpec,
    prepare_file,
    preset_spec,
    render,
    render_file,
)
from imghost.imaging.render import encode as encode_pixels
from tests.corpus import HOSTILE_ACCEPT, require_corpus
from tests.unit.imaging.helpers import corpus_files, encode, gps_exif, mean_abs_diff, pattern

BIG = 10**8
MAGIC = {
    "jpeg": b"\xff\xd8\xff",
    "png": b"\x89PNG",
    "webp": b"RIFF",
    "avif": b"ftyp",
}


def _spec(
    width: int | None,
    height: int | None,
    fit: str = "inside",
    fmt: OutFormat = "png",
    quality: int = 90,
) -> RenderSpec:
    return RenderSpec(width, height, fit, fmt, quality)  # type: ignore[arg-type]


def _open(rendered: Rendered) -> Image.Image:
    img = Image.open(io.BytesIO(rendered.data))
    img.load()
    assert img.size == (rendered.width, rendered.height)
    return img


# -- geometry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "box", "fit", "expected"),
    [
        # inside: fit in the box, keep aspect, never upscale
        ((400, 200), (100, 100), "inside", (100, 50)),
        ((200, 400), (100, 100), "inside", (50, 100)),
        ((100, 50), (2048, 2048), "inside", (100, 50)),
        # contain: as inside, padded to the box; without upscaling the box shrinks instead
        ((400, 200), (100, 100), "contain", (100, 100)),
        ((100, 50), (256, 256), "contain", (100, 100)),
        ((100, 50), (300, 100), "contain", (150, 50)),
        # cover: exactly the box; a small source gives the largest crop of the box's shape
        ((400, 200), (100, 100), "cover", (100, 100)),
        ((400, 200), (300, 100), "cover", (300, 100)),
        ((100, 50), (256, 256), "cover", (50, 50)),
        ((100, 50), (300, 100), "cover", (100, 33)),
        # fill: stretch to the box, capped per side
        ((400, 200), (100, 100), "fill", (100, 100)),
        ((100, 50), (80, 80), "fill", (80, 50)),
        # one side only keeps aspect whatever the fit
        ((400, 200), (100, None), "cover", (100, 50)),
        ((400, 200), (None, 50), "fill", (100, 50)),
        ((400, 200), (800, None), "inside", (400, 200)),
        ((400, 200), (None, None), "inside", (400, 200)),
    ],
)
def test_geometry(
    source: tuple[int, int],
    box: tuple[int | None, int | None],
    fit: str,
    expected: tuple[int, int],
) -> None:
    out = render(pattern(source), _spec(box[0], box[1], fit))
    assert (out.width, out.height) == expected
    assert _open(out).size == expected


def test_cover_crops_the_centre() -> None:
    img = Image.new("RGB", (300, 100), (255, 0, 0))
    img.paste((0, 0, 255), (100, 0, 200, 100))  # blue middle third
    out = _open(render(img, _spec(50, 50, "cover")))
    assert out.getpixel((25, 25))[2] > 240  # type: ignore[index]
    assert out.getpixel((2, 25))[2] > 200  # type: ignore[index]  # the red sides are cropped away


def test_contain_pads_transparent_or_white() -> None:
    img = Image.new("RGB", (200, 100), (0, 0, 0))
    png = _open(render(img, _spec(100, 100, "contain", "png")))
    assert png.mode == "RGBA"
    assert png.getpixel((50, 5))[3] == 0 and png.getpixel((50, 50)) == (0, 0, 0, 255)  # type: ignore[index]
    jpeg = _open(render(img, _spec(100, 100, "contain", "jpeg")))
    assert min(jpeg.getpixel((50, 5))) > 245  # type: ignore[arg-type]
    assert max(jpeg.getpixel((50, 50))) < 10  # type: ignore[arg-type]


def test_fill_stretches() -> None:
    out = _open(render(pattern((400, 100)), _spec(100, 100, "fill", "png")))
    assert out.size == (100, 100)


def test_no_upscale_keeps_pixels_exact() -> None:
    img = pattern((60, 40))
    out = _open(render(img, preset_spec("large", "png")))
    assert out.size == (60, 40) and mean_abs_diff(out, img) == 0
    thumb = _open(render(img, preset_spec("thumb", "png")))
    assert thumb.size == (40, 40)
    assert mean_abs_diff(thumb, img.crop((10, 0, 50, 40))) == 0


# -- encoding -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_formats_mime_and_alpha(fmt: OutFormat) -> None:
    img = pattern((80, 60), "RGBA")
    img.putalpha(Image.linear_gradient("L").resize((80, 60)))
    out = render(img, _spec(40, 40, "inside", fmt))
    assert out.mime == MIME[fmt]
    assert MAGIC[fmt] in out.data[:12]
    decoded = _open(out)
    if fmt == "jpeg":
        assert decoded.mode == "RGB"
    else:
        assert decoded.mode == "RGBA"
        # One band: Pillow's union type does not know the extrema are two numbers.
        assert decoded.getchannel("A").getextrema()[0] < 20  # type: ignore[operator]


@pytest.mark.parametrize("mode", ["P", "CMYK", "I;16", "1", "RGBX"])
def test_other_modes_are_accepted(mode: str) -> None:
    img = pattern((40, 30)).convert(mode) if mode != "I;16" else Image.new("I;16", (40, 30), 300)
    for fmt in FORMATS:
        assert _open(render(img, _spec(20, 20, "cover", fmt))).size == (20, 20)


def test_jpeg_flattens_alpha_onto_white() -> None:
    img = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    out = _open(render(img, _spec(None, None, "inside", "jpeg")))
    assert min(out.getpixel((10, 10))) > 250  # type: ignore[arg-type]


def test_opaque_alpha_is_dropped() -> None:
    out = _open(render(pattern((40, 40), "RGBA"), _spec(None, None, "inside", "png")))
    assert out.mode == "RGB"


@pytest.mark.parametrize("fmt", FORMATS)
def test_greyscale(fmt: OutFormat) -> None:
    out = _open(render(pattern((40, 30), "L"), _spec(20, 20, "inside", fmt)))
    assert out.size == (20, 15)
    r, g, b = out.convert("RGB").getpixel((10, 7))  # type: ignore[misc]
    assert abs(r - g) < 6 and abs(g - b) < 6
    if fmt in ("jpeg", "png"):
        assert out.mode == "L"


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif"])
def test_quality_changes_size(fmt: OutFormat) -> None:
    img = pattern((256, 256))
    low = render(img, _spec(None, None, "inside", fmt, 20))
    high = render(img, _spec(None, None, "inside", fmt, 95))
    assert len(low.data) < len(high.data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_carries_no_metadata(fmt: OutFormat) -> None:
    img = pattern((64, 48))
    img.info.update(
        exif=gps_exif().tobytes(),
        icc_profile=b"\0" * 500,
        comment=b"secret comment",
        xmp=b"<x:xmpmeta>GPS</x:xmpmeta>",
        dpi=(300, 300),
    )
    out = render(img, _spec(32, 32, "inside", fmt))
    decoded = _open(out)
    assert not decoded.getexif()
    for key in ("exif", "icc_profile", "comment", "xmp"):
        assert key not in decoded.info
    for needle in (b"Exif", b"secret", b"xmpmeta", b"iCCP", b"eXIf", b"ICC_PROFILE"):
        assert needle not in out.data
    assert img.info["comment"] == b"secret comment"  # the caller's image is untouched


# -- specs --------------------------------------------------------------------------------


def test_specs_validate_and_pickle() -> None:
    for bad, message in (
        (dict(width=0, height=10), "width and height must be"),
        (dict(width=10, height=10**6), "width and height must be"),
        (dict(fit="stretch"), "fit must be"),
        (dict(format="gif"), "format must be"),
        (dict(quality=0), "quality must be"),
        (dict(quality=101), "quality must be"),
    ):
        args = dict(width=10, height=10, fit="cover", format="jpeg", quality=80) | bad
        with pytest.raises(ValueError, match=message):
            RenderSpec(**args)  # type: ignore[arg-type]
    spec = preset_spec("thumb", "webp")
    assert spec == RenderSpec(256, 256, "cover", "webp", 80)
    assert pickle.loads(pickle.dumps(spec)) == spec
    out = render(pattern(), spec)
    assert pickle.loads(pickle.dumps(out)) == out
    assert preset_spec("large", "jpeg", quality=50).quality == 50
    with pytest.raises(ValueError, match="unknown preset"):
        preset_spec("huge", "jpeg")


def test_presets() -> None:
    assert set(PRESETS) == {"thumb", "small", "medium", "large"}
    assert (PRESETS["thumb"].width, PRESETS["thumb"].height, PRESETS["thumb"].fit) == (
        256,
        256,
        "cover",
    )
    for name, side in (("small", 320), ("medium", 1024), ("large", 2048)):
        assert (PRESETS[name].width, PRESETS[name].height, PRESETS[name].fit) == (
            side,
            side,
            "inside",
        )


# -- render_file -----------------------------------------------------------------------------


def _expected_preset_size(name: str, width: int, height: int) -> tuple[int, int]:
    """Independent of the implementation: what each preset must produce."""
    if name == "thumb":
        side = min(256, width, height)
        return (side, side)
    box = PRESETS[name].width
    scale = min(1.0, box / max(width, height))
    return (max(1, round(width * scale)), max(1, round(height * scale)))


def test_render_file_matches_render_from_a_full_decode(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(encode(pattern((3000, 2000)), "JPEG", quality=92))
    specs = [preset_spec(name, "png") for name in PRESETS] + [_spec(700, 300, "cover", "png")]
    many = render_file(path, specs, BIG)
    full = open_upright(path, BIG)
    for spec, got in zip(specs, many, strict=True):
        want = render(full, spec)
        assert (got.width, got.height) == (want.width, want.height)
        assert mean_abs_diff(_open(got), _open(want)) < 2.5


def test_prepare_file_resamples_a_geometry_once(tmp_path: Path) -> None:
    """A preset's JPEG and WebP share their pixels; encoding them is what
    render_file does."""
    path = tmp_path / "photo.png"
    path.write_bytes(encode(pattern((1200, 800)), "PNG"))
    specs = [preset_spec(name, fmt) for name in ("thumb", "large") for fmt in ("jpeg", "webp")]
    prepared = prepare_file(path, specs, BIG)
    assert prepared.pixels[0] is prepared.pixels[1] and prepared.pixels[2] is prepared.pixels[3]
    assert prepared.seconds[0] + prepared.seconds[1] > 0 and 0 in prepared.seconds[:2]
    encoded = [
        encode_pixels(img, spec).data for img, spec in zip(prepared.pixels, specs, strict=True)
    ]
    assert encoded == [r.data for r in render_file(path, specs, BIG)]


def test_render_file_errors(tmp_path: Path) -> None:
    assert render_file(tmp_path / "missing", [], BIG) == []
    path = tmp_path / "x.png"
    path.write_bytes(encode(pattern((400, 400)), "PNG"))
    with pytest.raises(ProbeError) as exc:
        render_file(path, [preset_spec("thumb", "jpeg")], 1000)
    assert exc.value.status == 413


@pytest.mark.parametrize(
    "name",
    corpus_files("exif", "heic", "formats", "orientation")
    + [f"hostile/{n}" for n in sorted(HOSTILE_ACCEPT)],
)
def test_corpus_presets_as_jpeg(name: str) -> None:
    path = require_corpus() / name
    upright = probe(path, BIG)
    results = render_file(path, [preset_spec(p, "jpeg") for p in PRESETS], BIG)
    for preset, out in zip(PRESETS, results, strict=True):
        assert (out.width, out.height) == _expected_preset_size(
            preset, upright.width, upright.height
        ), preset
        decoded = _open(out)
        assert decoded.format == "JPEG"
        assert not decoded.getexif() and "icc_profile" not in decoded.info
        assert b"Exif\0\0" not in out.data
        if "Landscape" in name and preset != "thumb":
            assert out.width > out.height
        if "Portrait" in name and preset != "thumb":
            assert out.height > out.width


@pytest.mark.parametrize(
    "name",
    [
        "formats/apng_delay.png",
        "formats/chi.gif",
        "heic/RGBA_8__128x128.heif",
        "heic/L_exif_xmp_iptc.heic",
        "exif/gps_DSCN0010.jpg",
        "orientation/Portrait_6.jpg",
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_corpus_presets_in_every_format(name: str, fmt: OutFormat) -> None:
    path = require_corpus() / name
    upright = probe(path, BIG)
    results = render_file(path, [preset_spec(p, fmt) for p in PRESETS], BIG)
    for preset, out in zip(PRESETS, results, strict=True):
        want = _expected_preset_size(preset, upright.width, upright.height)
        assert (out.width, out.height) == want
        decoded = _open(out)
        assert out.mime == MIME[fmt]
        assert not decoded.getexif()
        assert "exif" not in decoded.info and "icc_profile" not in decoded.info
