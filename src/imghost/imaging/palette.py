"""The dominant colour of an image, for a background behind it while it loads.

"Dominant" means the most common colour family, not the mean: a red flower on
green leaves gives a green, never the brown average. Pixels are binned at
4 bits per channel (4096 families), weighted by alpha so transparent areas do
not count, and the heaviest bin answers with the mean of its own pixels.
"""

from __future__ import annotations

from PIL import Image

#: Side of the rendition the colour is computed from: a few thousand pixels settle it.
SAMPLE_SIDE = 64


def dominant_color(img: Image.Image) -> str | None:
    """``#rrggbb`` of the most common colour family, or None for a fully transparent image."""
    sample = img.convert("RGBA")
    if max(sample.size) > SAMPLE_SIDE:
        sample.thumbnail((SAMPLE_SIDE, SAMPLE_SIDE), Image.Resampling.BOX)
    data = sample.tobytes()
    weight: dict[int, int] = {}
    sums: dict[int, list[int]] = {}
    for i in range(0, len(data), 4):
        r, g, b, a = data[i], data[i + 1], data[i + 2], data[i + 3]
        if not a:
            continue
        key = (r >> 4) << 8 | (g >> 4) << 4 | (b >> 4)
        weight[key] = weight.get(key, 0) + a
        acc = sums.setdefault(key, [0, 0, 0])
        acc[0] += r * a
        acc[1] += g * a
        acc[2] += b * a
    if not weight:
        return None
    best = max(weight, key=lambda k: (weight[k], -k))  # ties: the lower bin, deterministically
    total = weight[best]
    r, g, b = (round(c / total) for c in sums[best])
    return f"#{r:02x}{g:02x}{b:02x}"
