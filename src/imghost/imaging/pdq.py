"""PDQ, the perceptual hash the industry shares lists of known abuse images in.

Computed by ``pdqhash`` (the bindings of Meta's reference C++): 256 bits that
change little when an image is re-encoded, resized or lightly edited, so two
images are "the same picture" when their hashes differ in few bits (the Hamming
distance; 31 is the threshold shared lists are made for). The quality (0-100)
says how much structure the image has: a flat image hashes to noise, so the
reference implementation ignores hashes of quality below 50 for matching.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pdqhash  # type: ignore[import-untyped]
from PIL import Image

#: Hashes of less quality than this are not matched (the reference's advice).
MIN_QUALITY = 50
# PDQ downsamples to 64x64 internally; hashing a copy at most this large costs
# a fraction of a full-size photo and gives the same bits but for rounding.
_HASH_SIDE = 512


@dataclass(frozen=True)
class Pdq:
    hex: str  # 64 hex digits, the most significant bit first (as lists write it)
    quality: int


def pdq_of(image: Image.Image) -> Pdq:
    """The PDQ hash of an already decoded (upright) image."""
    work = image if image.mode == "RGB" else image.convert("RGB")
    if max(work.size) > _HASH_SIDE:
        work = work.copy()
        work.thumbnail((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BILINEAR)
    bits, quality = pdqhash.compute(np.asarray(work))
    return Pdq(bits_to_hex(bits), int(quality))


def bits_to_hex(bits: npt.NDArray[np.integer[Any]]) -> str:
    """pdqhash's 256 0/1 values as the 64 hex digits of the list format.

    pdqhash's array starts at bit 255, like the reference's hex form
    (``Hash256::format``, what ThreatExchange shares): 4 bits a digit, in order."""
    packed = np.packbits(np.asarray(bits, dtype=np.uint8))
    return bytes(packed).hex()
