"""The operators' hash lists: their file format, matching (exact SHA-256, PDQ
within a distance), reload on a change of the file, the start-up check, and
what matching a list of 10,000 PDQ hashes costs."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import random
import secrets
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from imghost.imaging.pdq import MIN_QUALITY, pdq_of
from imghost.processing.config import check_scan
from imghost.processing.hash_match import find_match
from imghost.processing.hashlists import (
    PDQ,
    SHA256,
    HashListError,
    HashLists,
    PdqList,
    Sha256List,
    pack,
)
from imghost.settings import ScanSettings, SettingsError


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A picture with structure (shapes on a gradient): a PDQ hash of high quality."""
    rng = random.Random(seed)
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(20, 200), rng.randrange(20, 200)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x, y, x + w, y + h), fill=colour)
    return img


def reencoded(img: Image.Image, scale: float, quality: int) -> Image.Image:
    small = img.resize((int(img.width * scale), int(img.height * scale)))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=quality)
    out.seek(0)
    return Image.open(out).convert("RGB")


def distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_sha256_list_format(tmp_path: Path) -> None:
    listed = hashlib.sha256(b"bad").hexdigest()
    path = write(
        tmp_path / "sha.txt",
        f"# known bad, from the hotline\n\n  {listed.upper()}  # with a comment\n{'0' * 64}\n",
    )
    found = Sha256List.load(path)
    match = found.match(listed)
    assert match is not None
    assert (match.list, match.file, match.line, match.distance) == (SHA256, "sha.txt", 3, 0)
    assert found.match(hashlib.sha256(b"good").hexdigest()) is None


@pytest.mark.parametrize(
    ("line", "what"),
    [("abc", "64 hex digits"), ("g" * 64, "64 hex digits"), ("a" * 65, "64 hex digits")],
)
def test_malformed_sha256_line_names_file_and_line(tmp_path: Path, line: str, what: str) -> None:
    path = write(tmp_path / "sha.txt", f"# header\n{'a' * 64}\n{line}\n")
    with pytest.raises(HashListError, match=rf"sha\.txt, line 3: .*{what}"):
        Sha256List.load(path)


def test_pdq_list_format_and_distance(tmp_path: Path) -> None:
    base = secrets.token_hex(32)
    near = f"{int(base, 16) ^ 0b1011:064x}"  # 3 bits differ
    path = write(tmp_path / "pdq.csv", f"# PDQ,quality\n{base},100\n{'f' * 64} 90\n{'0' * 64}\n")
    found = PdqList.load(path)
    assert len(found) == 3
    match = found.match(near, 31)
    assert match is not None
    assert (match.list, match.line, match.distance) == (PDQ, 2, 3)
    assert found.match(near, 2) is None  # the threshold is inclusive: 3 > 2
    assert found.match(f"{int(base, 16) ^ ((1 << 40) - 1):064x}", 31) is None  # 40 bits off
    assert PdqList.load(write(tmp_path / "empty", "# nothing yet\n")).match(base, 31) is None


@pytest.mark.parametrize("line", [f"{'a' * 64},101", f"{'a' * 64},x", f"{'a' * 64},1,2", "a" * 63])
def test_malformed_pdq_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    path = write(tmp_path / "pdq.csv", f"{'b' * 64}\n\n{line}\n")
    with pytest.raises(HashListError, match=r"pdq\.csv, line 3: "):
        PdqList.load(path)


def test_pack_is_the_hex_order() -> None:
    words = pack("80" + "00" * 31)
    assert int(words[0]) == 1 << 63 and int(words[1:].sum()) == 0


def test_pdq_matches_a_resized_reencoded_copy_and_not_another_image() -> None:
    original = pdq_of(scene(1))
    assert original.quality >= MIN_QUALITY and len(original.hex) == 64
    copy = pdq_of(reencoded(scene(1), 0.5, 70))
    other = pdq_of(scene(2))
    assert distance(original.hex, copy.hex) <= 31
    assert distance(original.hex, other.hex) > 31


def test_a_flat_image_is_not_matched_by_pdq(tmp_path: Path) -> None:
    flat = pdq_of(Image.new("RGB", (200, 200), (90, 90, 90)))
    assert flat.quality < MIN_QUALITY
    pdq = write(tmp_path / "pdq.txt", f"{flat.hex}\n")
    lists = HashLists.open("", str(pdq), 31, 0)
    assert find_match(lists, "0" * 64, flat) is None


def lists_of(tmp_path: Path, sha: str = "", pdq: str = "") -> HashLists | None:
    paths = {}
    for name, text in (("sha.txt", sha), ("pdq.txt", pdq)):
        if text:
            paths[name] = str(write(tmp_path / name, text))
    return HashLists.open(paths.get("sha.txt", ""), paths.get("pdq.txt", ""), 31, 5.0)


def test_no_lists_configured_is_none_and_matches_nothing() -> None:
    assert HashLists.open("", "", 31, 5.0) is None
    assert find_match(None, "0" * 64, pdq_of(scene(1))) is None


def test_a_changed_file_is_reloaded_at_the_next_check(tmp_path: Path) -> None:
    listed = hashlib.sha256(b"new entry").hexdigest()
    lists = lists_of(tmp_path, sha="# empty for now\n")
    assert lists is not None
    now = [100.0]
    lists.clock = lambda: now[0]
    lists._next_check = 0.0
    assert lists.match_sha256(listed) is None
    write(tmp_path / "sha.txt", f"# updated\n{listed}\n")
    # Within the check interval the file is not even looked at...
    now[0] += 1
    assert lists.match_sha256(listed) is None
    # ... after it, the change is seen and the list reloaded.
    now[0] += 5
    match = lists.match_sha256(listed)
    assert match is not None and match.line == 2


def test_a_file_replaced_by_rename_is_reloaded(tmp_path: Path) -> None:
    first = pdq_of(scene(1))
    lists = lists_of(tmp_path, pdq=f"{'0' * 64}\n")
    assert lists is not None
    lists.check_every, lists._next_check = 0.0, 0.0
    assert lists.match_pdq(first.hex) is None
    staged = write(tmp_path / "pdq.new", f"{'0' * 64}\n{first.hex},100\n")
    os.replace(staged, tmp_path / "pdq.txt")
    match = lists.match_pdq(first.hex)
    assert match is not None and (match.line, match.distance) == (2, 0)


def test_a_malformed_reload_keeps_the_loaded_list(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    listed = hashlib.sha256(b"kept").hexdigest()
    lists = lists_of(tmp_path, sha=f"{listed}\n")
    assert lists is not None
    lists.check_every, lists._next_check = 0.0, 0.0
    write(tmp_path / "sha.txt", f"{listed}\nnot a hash at all\n")
    assert lists.match_sha256(listed) is not None
    assert "sha.txt, line 2" in caplog.text
    (tmp_path / "sha.txt").unlink()
    assert lists.match_sha256(listed) is not None  # a vanished file keeps it too


def test_startup_check_names_the_setting_file_and_line(tmp_path: Path) -> None:
    good = write(tmp_path / "sha.txt", f"{'a' * 64}\n")
    bad = write(tmp_path / "pdq.txt", f"{'a' * 64}\n{'a' * 64},999\n")
    base = ScanSettings()
    check_scan(dataclasses.replace(base, hashlist_sha256=str(good)))
    with pytest.raises(SettingsError, match=r"IMGHOST_HASHLIST_PDQ: .*pdq\.txt, line 2"):
        check_scan(dataclasses.replace(base, hashlist_sha256=str(good), hashlist_pdq=str(bad)))
    with pytest.raises(SettingsError, match=r"IMGHOST_HASHLIST_SHA256: .*cannot be read"):
        check_scan(dataclasses.replace(base, hashlist_sha256=str(tmp_path / "missing.txt")))
    with pytest.raises(SettingsError, match="IMGHOST_HASHLIST_PDQ_DISTANCE"):
        check_scan(dataclasses.replace(base, hashlist_pdq_distance=257))
    with pytest.raises(SettingsError, match="IMGHOST_HASHLIST_RELOAD_CHECK"):
        check_scan(dataclasses.replace(base, hashlist_reload_check=-1.0))


def test_matching_ten_thousand_pdq_hashes_is_cheap(tmp_path: Path) -> None:
    """10,000 entries: loading well under a second, one match in about a
    millisecond or less (asserted loosely: the machine is shared)."""
    entries = [secrets.token_hex(32) for _ in range(10_000)]
    path = write(tmp_path / "pdq.txt", "".join(f"{e},100\n" for e in entries))
    started = time.perf_counter()
    found = PdqList.load(path)
    loaded = time.perf_counter() - started
    probe = f"{int(entries[7_777], 16) ^ 0xFF:064x}"  # 8 bits off entry 7,778
    started = time.perf_counter()
    for _ in range(100):
        match = found.match(probe, 31)
    per_match = (time.perf_counter() - started) / 100
    assert match is not None and (match.line, match.distance) == (7_778, 8)
    print(f"10,000 PDQ hashes: load {loaded * 1000:.1f} ms, match {per_match * 1e6:.0f} µs")
    assert loaded < 2.0 and per_match < 0.02
