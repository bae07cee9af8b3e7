"""ThumbHash: a ~25-byte placeholder that a browser can paint before the image loads.

A port of Evan Wallace's reference implementation (https://github.com/evanw/thumbhash,
MIT). Chosen over BlurHash because it keeps the aspect ratio and alpha, and
its decoder is a few dozen lines of JavaScript the web UI can carry. Pure
Python is fast enough: inputs are at most 100x100 and we feed 32x32.

Any ThumbHash decoder reads what this encodes. Quantisation rounds half up
like JavaScript's ``Math.round``; the bytes can still differ from the
reference JavaScript encoder by one step in an AC term now and then, because
libm's ``cos`` and V8's differ in the last bit. That changes nothing visible.
"""

from __future__ import annotations

import math

#: Largest input side the format is designed for.
MAX_SIDE = 100


def _round(value: float) -> int:
    return math.floor(value + 0.5)


def _encode_channel(
    channel: list[float], w: int, h: int, nx: int, ny: int
) -> tuple[float, list[float], float]:
    """DCT of one channel: the DC term, the AC terms normalised to 0..1, and their scale."""
    dc, ac, scale = 0.0, [], 0.0
    for cy in range(ny):
        fys = [math.cos(math.pi / h * cy * (y + 0.5)) for y in range(h)]
        cx = 0
        while cx * ny < nx * (ny - cy):
            fx = [math.cos(math.pi / w * cx * (x + 0.5)) for x in range(w)]
            f = 0.0
            for y, fy in enumerate(fys):
                row = channel[y * w : (y + 1) * w]
                f += fy * sum(v * c for v, c in zip(row, fx, strict=True))
            f /= w * h
            if cx or cy:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def rgba_to_thumbhash(w: int, h: int, rgba: bytes) -> bytes:
    """Encode ``w``x``h`` straight-alpha RGBA pixels (row-major, 4 bytes each)."""
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE) or len(rgba) != w * h * 4:
        raise ValueError(f"need 1..{MAX_SIDE} px per side and w*h*4 bytes")
    n = w * h
    # Average colour, weighted by alpha.
    avg_r = avg_g = avg_b = avg_a = 0.0
    for j in range(0, n * 4, 4):
        alpha = rgba[j + 3] / 255
        avg_r += alpha / 255 * rgba[j]
        avg_g += alpha / 255 * rgba[j + 1]
        avg_b += alpha / 255 * rgba[j + 2]
        avg_a += alpha
    if avg_a:
        avg_r /= avg_a
        avg_g /= avg_a
        avg_b /= avg_a

    has_alpha = avg_a < n
    l_limit = 5 if has_alpha else 7  # fewer luminance terms when alpha needs the room
    lx = max(1, _round(l_limit * w / max(w, h)))
    ly = max(1, _round(l_limit * h / max(w, h)))

    # RGBA -> LPQA, composited atop the average colour.
    lum: list[float] = []
    yb: list[float] = []
    rg: list[float] = []
    alp: list[float] = []
    for j in range(0, n * 4, 4):
        alpha = rgba[j + 3] / 255
        r = avg_r * (1 - alpha) + alpha / 255 * rgba[j]
        g = avg_g * (1 - alpha) + alpha / 255 * rgba[j + 1]
        b = avg_b * (1 - alpha) + alpha / 255 * rgba[j + 2]
        lum.append((r + g + b) / 3)
        yb.append((r + g) / 2 - b)
        rg.append(r - g)
        alp.append(alpha)

    l_dc, l_ac, l_scale = _encode_channel(lum, w, h, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(yb, w, h, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(rg, w, h, 3, 3)
    a_dc, a_ac, a_scale = _encode_channel(alp, w, h, 5, 5) if has_alpha else (0.0, [], 0.0)

    is_landscape = w > h
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if is_landscape else lx)
        | (_round(63 * p_scale) << 3)
        | (_round(63 * q_scale) << 9)
        | (int(is_landscape) << 15)
    )
    out = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    if has_alpha:
        out.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
    ac_start = len(out)
    terms = [*l_ac, *p_ac, *q_ac, *a_ac]
    out.extend([0] * ((len(terms) + 1) // 2))
    for index, f in enumerate(terms):
        out[ac_start + (index >> 1)] |= _round(15 * f) << ((index & 1) << 2)
    return bytes(out)


def approximate_aspect_ratio(thumbhash: bytes) -> float:
    """Width / height of the original image, as far as the hash knows it."""
    has_alpha = thumbhash[2] & 0x80
    is_landscape = thumbhash[4] & 0x80
    lx = (5 if has_alpha else 7) if is_landscape else thumbhash[3] & 7
    ly = thumbhash[3] & 7 if is_landscape else (5 if has_alpha else 7)
    return lx / ly


def thumbhash_to_rgba(thumbhash: bytes) -> tuple[int, int, bytes]:
    """Render the placeholder (at most 32x32): width, height and straight-alpha RGBA bytes."""
    h24 = thumbhash[0] | (thumbhash[1] << 8) | (thumbhash[2] << 16)
    h16 = thumbhash[3] | (thumbhash[4] << 8)
    l_dc = (h24 & 63) / 63
    p_dc = ((h24 >> 6) & 63) / 31.5 - 1
    q_dc = ((h24 >> 12) & 63) / 31.5 - 1
    l_scale = ((h24 >> 18) & 31) / 31
    has_alpha = bool(h24 >> 23)
    p_scale = ((h16 >> 3) & 63) / 63
    q_scale = ((h16 >> 9) & 63) / 63
    is_landscape = bool(h16 >> 15)
    lx = max(3, (5 if has_alpha else 7) if is_landscape else h16 & 7)
    ly = max(3, h16 & 7 if is_landscape else (5 if has_alpha else 7))
    a_dc = (thumbhash[5] & 15) / 15 if has_alpha else 1.0
    a_scale = (thumbhash[5] >> 4) / 15 if has_alpha else 0.0

    ac_start = 6 if has_alpha else 5
    index = 0

    def channel(nx: int, ny: int, scale: float) -> list[float]:
        nonlocal index
        ac = []
        for cy in range(ny):
            cx = 0 if cy else 1
            while cx * ny < nx * (ny - cy):
                byte = thumbhash[ac_start + (index >> 1)]
                ac.append((((byte >> ((index & 1) << 2)) & 15) / 7.5 - 1) * scale)
                index += 1
                cx += 1
        return ac

    # Saturation is boosted 1.25x to make up for quantisation, as the reference does.
    l_ac = channel(lx, ly, l_scale)
    p_ac = channel(3, 3, p_scale * 1.25)
    q_ac = channel(3, 3, q_scale * 1.25)
    a_ac = channel(5, 5, a_scale) if has_alpha else []

    ratio = approximate_aspect_ratio(thumbhash)
    w = _round(32 if ratio > 1 else 32 * ratio)
    h = _round(32 / ratio if ratio > 1 else 32)
    out = bytearray(w * h * 4)
    n_x = max(lx, 5 if has_alpha else 3)
    n_y = max(ly, 5 if has_alpha else 3)
    i = 0
    for y in range(h):
        fy = [math.cos(math.pi / h * (y + 0.5) * cy) for cy in range(n_y)]
        for x in range(w):
            fx = [math.cos(math.pi / w * (x + 0.5) * cx) for cx in range(n_x)]
            lum, p, q, a = l_dc, p_dc, q_dc, a_dc
            j = 0
            for cy in range(ly):
                cx = 0 if cy else 1
                while cx * ly < lx * (ly - cy):
                    lum += l_ac[j] * fx[cx] * fy[cy] * 2
                    j += 1
                    cx += 1
            j = 0
            for cy in range(3):
                for cx in range(0 if cy else 1, 3 - cy):
                    f = fx[cx] * fy[cy] * 2
                    p += p_ac[j] * f
                    q += q_ac[j] * f
                    j += 1
            if has_alpha:
                j = 0
                for cy in range(5):
                    for cx in range(0 if cy else 1, 5 - cy):
                        a += a_ac[j] * fx[cx] * fy[cy] * 2
                        j += 1
            b = lum - 2 / 3 * p
            r = (3 * lum - b + q) / 2
            g = r - q
            for k, v in enumerate((r, g, b, a)):
                out[i + k] = int(max(0.0, 255 * min(1.0, v)))
            i += 4
    return w, h, bytes(out)


def average_rgba(thumbhash: bytes) -> tuple[float, float, float, float]:
    """The average colour stored in the hash, each channel 0..1."""
    header = thumbhash[0] | (thumbhash[1] << 8) | (thumbhash[2] << 16)
    lum = (header & 63) / 63
    p = ((header >> 6) & 63) / 31.5 - 1
    q = ((header >> 12) & 63) / 31.5 - 1
    a = (thumbhash[5] & 15) / 15 if header >> 23 else 1.0
    b = lum - 2 / 3 * p
    r = (3 * lum - b + q) / 2
    g = r - q
    return (max(0.0, min(1.0, r)), max(0.0, min(1.0, g)), max(0.0, min(1.0, b)), a)
