"""Id prefixes: the reserved list names every prefix the code mints."""

from __future__ import annotations

import re
from pathlib import Path

from imghost.ids import ID_PREFIXES, looks_like_id, new_id

SRC = Path(__file__).resolve().parents[2] / "src" / "imghost"


def test_every_minted_prefix_is_reserved() -> None:
    used = {
        m.group(1)
        for path in SRC.rglob("*.py")
        for m in re.finditer(r'new_id\("([a-z]+)"\)', path.read_text())
    }
    assert used, "no new_id calls found"
    assert used <= set(ID_PREFIXES), sorted(used - set(ID_PREFIXES))


def test_looks_like_id() -> None:
    assert looks_like_id(new_id("img"))
    assert looks_like_id("U_anything") and looks_like_id("whk_")
    for name in ("user_1", "u", "img", "u-1", "imgx_2", "_u"):
        assert not looks_like_id(name), name
