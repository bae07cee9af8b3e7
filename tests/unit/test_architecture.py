"""docs/ARCHITECTURE.md describes the layout and the contracts `make lint` enforces.

The contracts live in pyproject.toml (`[tool.importlinter]`); the document
names every package and repeats every layer and every exception with its
reason. These tests fail when the two drift apart.
"""

from __future__ import annotations

import importlib
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


def _is_column(dotted: str) -> bool:
    """Whether ``table.column`` names a column (the text names some: `images.deleted_at`)."""
    from imghost.models import Base

    table, _, column = dotted.partition(".")
    return table in Base.metadata.tables and column in Base.metadata.tables[table].c


def _resolves(dotted: str) -> bool:
    """Whether ``a.b.c`` names an imghost module, or something defined in one."""
    parts = dotted.removeprefix("imghost.").split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module("imghost." + ".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def test_every_module_the_text_names_exists() -> None:
    # The prose names modules (`access.policy`, `imghost.signing.verify_url`): a
    # moved or renamed one must take the text with it.
    tops = {name.removesuffix("/").removesuffix(".py") for name in _top_level()}
    named = {
        dotted
        for dotted in re.findall(r"`((?:imghost\.)?[a-z_]+(?:\.[a-z_]+)+)`", DOC)
        if dotted.removeprefix("imghost.").split(".")[0] in tops and not dotted.endswith(".py")
    }
    assert len(named) > 20  # the pattern still finds what the text names
    stale = sorted(d for d in named if not (_resolves(d) or _is_column(d)))
    assert not stale, f"docs/ARCHITECTURE.md names modules that do not exist: {stale}"


def test_every_file_a_package_row_names_exists() -> None:
    # In a package's row of '## Packages', `name.py` is a file of that package
    # (or a top-level module, as "registered in `app.py`").
    stale = []
    for package, row in re.findall(r"^\| `([a-z_]+)/` \|(.*)$", _section("Packages"), re.M):
        for pattern in set(re.findall(r"`([a-z_*]+\.py)`", row)):
            if not [*(SRC / package).glob(pattern), *SRC.glob(pattern)]:
                stale.append(f"{package}/{pattern}")
    assert not stale, f"docs/ARCHITECTURE.md names files that do not exist: {sorted(stale)}"
