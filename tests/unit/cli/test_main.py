"""The entry point starts the client commands without importing the service."""

from __future__ import annotations

import subprocess
import sys

import typer

from imghost.cli import main
from imghost.cli.commands import cli

# Modules of the service proper, or the big libraries only it uses.
SERVICE = ("imghost", "fastapi", "sqlalchemy", "PIL")


def _names(app: typer.Typer) -> set[str]:
    return {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}


def test_the_client_commands_are_the_full_clis_client_commands() -> None:
    assert _names(cli) >= main.CLIENT_COMMANDS


def test_a_client_command_imports_no_service_module() -> None:
    # `imghost upload --help` in a fresh interpreter: the service's settings,
    # database and web modules stay unimported.
    code = (
        f"SERVICE = {SERVICE!r}\n"
        "import sys; sys.argv = ['imghost', 'upload', '--help']\n"
        "from imghost.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(m for m in sys.modules if m.startswith(SERVICE)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = out.strip().splitlines()[-1].split()
    assert "imghost.cli.upload" in loaded
    assert all(m in ("imghost", "imghost.cli") or m.startswith("imghost.cli.") for m in loaded), (
        loaded
    )
