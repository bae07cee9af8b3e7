"""`imghost`: the entry point.

The client commands (`login`, `upload`) talk to a server over HTTP and start
without importing the service: every other command loads the service's
settings, whose checks import every feature (1.5 s of a core before the first
byte of an upload).
"""

from __future__ import annotations

import sys

import typer

HELP = "imghost: self-hostable image hosting."
CLIENT_COMMANDS = frozenset({"login", "upload"})


def main() -> None:
    words = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    if words and words[0] in CLIENT_COMMANDS:
        from imghost.cli.upload import register

        client = typer.Typer(help=HELP)
        register(client)
        client()
    else:
        from imghost.cli.commands import cli

        cli()


if __name__ == "__main__":
    main()
