"""How a setting is declared: ``setting(default, help)`` on a section's field, and
the parsers its type gives to its ``IMGHOST_*`` variable."""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected a boolean, got {raw!r}")


def parse_size(raw: str) -> int:
    """Accept plain bytes or a suffix: 50MB, 200MiB, 1GB (decimal and binary); the
    size settings, and sizes given on the command line."""
    text = raw.strip().upper().replace(" ", "")
    units = {
        "KIB": 1024,
        "MIB": 1024**2,
        "GIB": 1024**3,
        "KB": 1000,
        "MB": 1000**2,
        "GB": 1000**3,
        "B": 1,
    }
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


# A number of bytes, written in the environment as 50MB, 200MiB or plain bytes.
# The annotation carries the parser; to type checkers it is an int.
Size = Annotated[int, parse_size]

_PARSERS: dict[Any, Callable[[str], Any]] = {bool: _parse_bool, int: int, float: float, str: str}


def setting(default: T, help: str, *, secret: bool = False) -> T:
    """Declare a field as a setting: its default and help (``secret``: never shown)."""
    return field(default=default, metadata={"help": help, "secret": secret})


@dataclass(frozen=True)
class Setting:
    """One declared setting, as ``imghost settings``, the README and ``from_env`` see it."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    secret: bool = False

    @property
    def variable(self) -> str:
        return f"IMGHOST_{self.name.upper()}"


def parser_for(hint: Any) -> Callable[[str], Any]:
    """The parser of a variable, from its field's annotation."""
    if typing.get_origin(hint) is Annotated:
        return next(m for m in hint.__metadata__ if callable(m))  # type: ignore[no-any-return]
    if typing.get_origin(hint) is Literal:
        return str  # its value is checked when the settings are built
    return _PARSERS[hint]
