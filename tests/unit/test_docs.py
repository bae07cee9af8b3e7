"""The docs stay true: every setting and every error code is documented."""

from __future__ import annotations

import re
from pathlib import Path

from imghost.settings import DECLARED

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [s.name for s in DECLARED if f"`IMGHOST_{s.name.upper()}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"


def test_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme


def test_every_error_code_is_in_the_api_doc() -> None:
    api = (ROOT / "docs" / "API.md").read_text()
    codes: set[str] = set()
    for path in (ROOT / "src" / "imghost").rglob("*.py"):
        text = path.read_text()
        codes.update(re.findall(r'AppError\(\s*\d{3},\s*"([a-z_]+)"', text))
        codes.update(re.findall(r'problem\(\s*\d{3},\s*"([a-z_]+)"', text))
    assert codes, "no error codes found: the pattern is stale"
    missing = sorted(c for c in codes if f"`{c}`" not in api)
    assert not missing, f"error codes missing from docs/API.md: {missing}"
