"""PDQ, the perceptual hash the industry shares lists of known abuse images in.

Computed by ``pdqhash`` (the bindings of Meta's reference C++): 256 bits that
change little when an image is re-encoded, resized or lightly edited, so two
images are "the same picture" when their hashes differ in few bits (the Hamming
distance; 31 is the threshold shared lists are made for). The quality (0-100)
says how much structure the image has: a flat image hashes to noise, so the
reference implementation ignores hashes of quality below 50 for matching.

Two halves. :func:`hash_input` runs where the image is decoded anyway (a
pixel pool process) and returns a small RGB copy; :func:`pdq_of_input` hashes
that copy in the job's own process. numpy and pdqhash are imported only
there, never in a pool process: importing numpy maps over 100 MB of address
space (its BLAS buffers), which the pool's limit (``RLIMIT_AS``,
IMGHOST_JOB_MEMORY_LIMIT) would take from the decode.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

#: Hashes of less quality than this are not matched (the reference's advice).
MIN_QUALITY = 50
# PDQ reduces to 64x64 internally; hashing a copy at most this large costs a
# fraction of a full-size photo and gives the same bits but for rounding.
HASH_SIDE = 512


@dataclass(frozen=True)
class Pdq:
    hex: str  # 64 hex digits, the most significant bit first (as lists write it)
    quality: int


@dataclass(frozen=True)
class PdqInput:
    """The pixels PDQ is computed from: RGB, at most HASH_SIDE a side (picklable)."""

    width: int
    height: int
    rgb: bytes


def hash_input(image: Image.Image) -> PdqInput:
    """A small RGB copy of an already decoded (upright) image, without
    copying it at full size first."""
    width, height = image.size
    scale = min(1.0, HASH_SIDE / max(width, height, 1))
    size = max(1, round(width * scale)), max(1, round(height * scale))
    # reducing_gap: a box reduce first, then the filter on a smaller image (a
    # 12 MP decode: about 30 ms instead of 45 here; PDQ reduces to 64x64 anyway).
    small = (
        image
        if size == image.size
        else image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    )
    if small.mode != "RGB":
        small = small.convert("RGB")
    return PdqInput(small.width, small.height, small.tobytes())


def pdq_of_input(pixels: PdqInput) -> Pdq:
    """The PDQ hash of ``hash_input``'s copy (CPU-bound for a few ms: run it in a thread)."""
    import numpy as np  # here, not at the top: see the module's note
    import pdqhash  # type: ignore[import-untyped]

    array = np.frombuffer(pixels.rgb, dtype=np.uint8).reshape(pixels.height, pixels.width, 3)
    bits, quality = pdqhash.compute(array)
    # pdqhash's array starts at bit 255, like the reference's hex form
    # (``Hash256::format``, what ThreatExchange shares): 4 bits a digit, in order.
    return Pdq(bytes(np.packbits(np.asarray(bits, dtype=np.uint8))).hex(), int(quality))


def pdq_of(image: Image.Image) -> Pdq:
    """The PDQ hash of a decoded image, both halves in this process (tests, tools)."""
    return pdq_of_input(hash_input(image))
