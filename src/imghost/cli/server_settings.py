"""The service's settings for a CLI command, or a clear message and exit 2."""

from __future__ import annotations

import typer
from rich.console import Console

from imghost.checks import load_settings as checked_settings
from imghost.settings import Settings, SettingsError


def load_settings() -> Settings:
    """Settings from the environment, checked by every feature; a configuration
    error ends the command with its message (no traceback): e.g. no key set on
    PostgreSQL."""
    try:
        return checked_settings()
    except SettingsError as exc:
        Console().print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
