"""docs/ARCHITECTURE.md describes the layout and the contracts `make lint` enforces.

The contracts live in pyproject.toml (`[tool.importlinter]`); the document
names every package and repeats every layer and every exception with its
reason. These tests fail when the two drift apart.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "imghost"
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text()


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def _section(title: str) -> str:
    """The text of the ``## title`` section, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.M | re.S)
    assert match, f"docs/ARCHITECTURE.md has no '## {title}' section"
    return match.group(1)


def _top_level() -> set[str]:
    names = {p.name + "/" for p in SRC.iterdir() if (p / "__init__.py").exists()}
    names |= {p.name for p in SRC.glob("*.py") if p.name != "__init__.py"}
    if (SRC / "migrations").is_dir():
        names.add("migrations/")
    return names


def test_every_package_and_module_is_described() -> None:
    packages = _section("Packages")
    described = set(re.findall(r"^\| `([a-z_]+(?:/|\.py))`", packages, re.M))
    described |= set(re.findall(r"^\| `[a-z_.]+`, `([a-z_]+(?:/|\.py))`", packages, re.M))
    missing = sorted(_top_level() - described)
    stale = sorted(described - _top_level())
    assert not missing, f"not described in docs/ARCHITECTURE.md '## Packages': {missing}"
    assert not stale, f"described in docs/ARCHITECTURE.md but gone: {stale}"


def _doc_layers() -> list[set[str]]:
    text = _section("Contracts")
    match = re.search(r"^### Layers\n(.*?)(?=^### |\Z)", text, re.M | re.S)
    assert match, "docs/ARCHITECTURE.md '## Contracts' has no '### Layers'"
    rows = re.findall(r"^\d+\. .*$", match.group(1), re.M)
    return [set(re.findall(r"`([a-z_]+)`", row)) for row in rows]


def test_the_layers_are_the_documented_ones() -> None:
    configured = [
        {m.strip().removeprefix("imghost.") for m in re.split(r"[|:]", layer)}
        for layer in _contracts()["layers"]["layers"]
    ]
    assert _doc_layers() == configured


def test_every_exception_is_documented_with_its_reason() -> None:
    text = _section("Contracts")
    public_api = _contracts()["public-api"]
    listed = list(public_api.get("shared_modules", [])) + list(public_api.get("ignore_imports", []))
    for contract in _contracts().values():
        if contract["id"] != "public-api":
            listed += contract.get("ignore_imports", [])
    missing = [entry for entry in listed if f"`{entry}`" not in text]
    assert not missing, f"contract exceptions not in docs/ARCHITECTURE.md: {missing}"


def test_the_public_modules_are_the_documented_ones() -> None:
    text = _section("Contracts")
    for name in _contracts()["public-api"]["public"]:
        assert f"`{name}`" in text
