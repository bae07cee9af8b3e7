"""`imghost login` and `imghost upload`: the client side of the CLI.

Image URLs go to stdout (``path -> url``, one per line, in the order the
files were given) so they can be piped; progress, notes and the failure
summary go to stderr.
"""

from __future__ import annotations

import enum
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from imghost import __version__
from imghost.cli.config import (
    DEFAULT_SERVER,
    Credentials,
    load_credentials,
    normalize_server,
    save_credentials,
)
from imghost.cli.tus_client import Cancelled, TusClient, problem_of
from imghost.cli.upload_state import UploadState
from imghost.cli.uploader import (
    ImageFields,
    Outcome,
    Uploader,
    collect_files,
    refused_by_server,
)

err = Console(stderr=True)
MIB = 1024 * 1024
INTERRUPTED_EXIT = 130
USER_AGENT = f"imghost-cli/{__version__}"


class Visibility(enum.StrEnum):
    public = "public"
    unlisted = "unlisted"
    shared = "shared"
    private = "private"


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    return typer.Exit(code)


def _server_and_token(server: str | None, token: str | None) -> tuple[str, str]:
    stored = load_credentials()
    resolved = normalize_server(server or (stored.server if stored else DEFAULT_SERVER))
    if token:
        return resolved, token
    # A stored key is only ever sent to the server that issued it.
    if stored and stored.server == resolved:
        return resolved, stored.api_key
    raise _fail(
        f"Not logged in to {resolved}: run `imghost login --server {resolved}` or pass --token.",
        2,
    )


def login(
    server: str | None = typer.Option(
        None, help=f"Server URL (default: the stored one, else {DEFAULT_SERVER})"
    ),
    email: str | None = typer.Option(None, help="Account email (prompted when absent)"),
    password: str | None = typer.Option(
        None, help="Password (prompted without echo when absent; avoid it in shell history)"
    ),
    mfa_code: str | None = typer.Option(
        None,
        "--code",
        help="Two-factor code (prompted when the account asks for one and it is absent)",
    ),
) -> None:
    """Log in and store an API key for `imghost upload` (access tokens expire; keys don't).

    The server and the key go to $IMGHOST_CONFIG_DIR/credentials.json (default
    ~/.config/imghost), readable only by you. Logging in again to the same
    server revokes the key it replaces.
    """
    stored = load_credentials()
    server = normalize_server(server or (stored.server if stored else DEFAULT_SERVER))
    email = email or typer.prompt("Email")
    if password is None:
        password = typer.prompt("Password", hide_input=True)
    try:
        with httpx.Client(base_url=server, timeout=30, headers={"User-Agent": USER_AGENT}) as http:
            r = http.post("/v1/auth/login", json={"email": email, "password": password})
            if r.status_code == 401 and problem_of(r)[0] == "mfa_required":
                code = mfa_code or typer.prompt(
                    "Code from your authenticator app (or a recovery code)"
                )
                challenge = r.json()["mfaToken"]
                r = http.post("/v1/auth/mfa", json={"mfaToken": challenge, "code": code})
            if r.status_code != 200:
                code, detail = problem_of(r)
                raise _fail(f"login failed ({code}): {detail}")
            auth = {"Authorization": f"Bearer {r.json()['accessToken']}"}
            r = http.post("/v1/users/me/api-keys", json={"name": "imghost cli"}, headers=auth)
            if r.status_code != 201:
                code, detail = problem_of(r)
                raise _fail(f"could not create an API key ({code}): {detail}")
            created = r.json()
            old = stored.key_id if stored and stored.server == server else None
            if old and old != created.get("keyId"):
                # Best effort: a key nobody holds any more should not stay valid.
                http.delete(f"/v1/users/me/api-keys/{old}", headers=auth)
    except httpx.TransportError as exc:
        raise _fail(f"cannot reach {server}: {exc}") from exc
    path = save_credentials(
        Credentials(server=server, api_key=created["key"], email=email, key_id=created.get("keyId"))
    )
    err.print(
        f"Logged in to {escape(server)} as {escape(email)}; API key stored in {path}",
        soft_wrap=True,
    )


def upload(
    paths: list[Path] = typer.Argument(
        ..., exists=True, help="Image files, or folders to upload recursively"
    ),
    server: str | None = typer.Option(
        None, help=f"Server URL (default: the one you logged in to, else {DEFAULT_SERVER})"
    ),
    token: str | None = typer.Option(
        None, help="Access token or ihk_ API key (default: the key stored by `imghost login`)"
    ),
    title: str | None = typer.Option(None, help="Title for every uploaded image"),
    description: str | None = typer.Option(None, help="Description for every uploaded image"),
    tags: str | None = typer.Option(None, help="Comma-separated tags, e.g. cats,summer"),
    visibility: Visibility | None = typer.Option(
        None, case_sensitive=False, help="Default: your account's default visibility"
    ),
    parallel: int = typer.Option(4, min=1, max=32, help="Files uploaded at once"),
    chunk_size: float = typer.Option(8.0, "--chunk-size", min=0.01, help="MiB sent per request"),
) -> None:
    """Upload images through the resumable tus protocol.

    Files named on the command line are sent whatever their type (the server
    judges them), except tif, tiff and bmp files, which the server always
    refuses: those are skipped with a line saying so. Folders are searched
    recursively for jpg, jpeg, png, gif, webp, heic, heif and avif files (any
    letter case; tif, tiff and bmp ones are named as skipped); hidden files and
    folders are skipped.

    A file whose bytes you have uploaded before is not stored again: the
    server answers with your existing image, and a line names it as a
    skipped duplicate (its URL is printed like the others).

    Network errors and 5xx/409/423/429 answers are retried with exponential
    backoff, re-reading the server's offset before continuing. Upload URLs are
    remembered in $IMGHOST_CONFIG_DIR/uploads.json (default ~/.config/imghost),
    so running the same command again after a crash or Ctrl-C continues where
    the server left off, unless the file changed meanwhile. Title, tags and
    visibility of a resumed upload are those of the run that started it.

    Prints `path -> url` for every uploaded image; when any file failed, prints
    a table of the server's error codes and exits with status 1 (130 when
    interrupted).
    """
    server, token = _server_and_token(server, token)
    files = []
    for path in collect_files(paths):
        if refused_by_server(path):
            err.print(
                f"skipped {escape(str(path))}: the server does not accept TIFF or BMP images",
                soft_wrap=True,
                highlight=False,
            )
        else:
            files.append(path)
    if not files:
        raise _fail("no image files found in the given paths")
    sizes = {path: path.stat().st_size for path in files}
    fields = ImageFields(
        title=title,
        description=description,
        tags=[t.strip() for t in (tags or "").split(",") if t.strip()],
        visibility=visibility.value if visibility else None,
    )
    cancel = threading.Event()
    timeout = httpx.Timeout(30.0, read=300.0)  # the last chunk waits for image validation
    with httpx.Client(
        timeout=timeout,
        limits=httpx.Limits(max_connections=parallel + 2),
        headers={"User-Agent": USER_AGENT},
    ) as http:
        tus = TusClient(http, token, chunk_size=max(1024, int(chunk_size * MIB)), cancel=cancel)
        uploader = Uploader(tus, server, UploadState(), fields)
        try:
            outcomes, interrupted = _run_all(uploader, files, sizes, parallel, cancel)
        except KeyboardInterrupt:  # a second Ctrl-C while the first one winds down
            cancel.set()
            raise typer.Exit(INTERRUPTED_EXIT) from None
    raise typer.Exit(_report(files, sizes, outcomes, interrupted))


def _label(path: Path) -> str:
    name = path.name
    return escape(name if len(name) <= 32 else f"{name[:14]}…{name[-17:]}")


def _run_all(
    uploader: Uploader,
    files: list[Path],
    sizes: dict[Path, int],
    parallel: int,
    cancel: threading.Event,
) -> tuple[dict[Path, Outcome], bool]:
    # Not redirecting stdout: URLs are printed after the bars, and must stay on stdout.
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    total = progress.add_task("[bold]total", total=sum(sizes.values()))
    sent: dict[Path, int] = {}
    lock = threading.Lock()

    def on_progress(path: Path, task: TaskID, offset: int) -> None:
        with lock:
            delta = offset - sent.get(path, 0)
            sent[path] = offset
        progress.update(task, completed=offset)
        progress.advance(total, delta)

    def work(path: Path) -> Outcome:
        task = progress.add_task(_label(path), total=sizes[path])
        try:
            return uploader.upload(path, lambda offset: on_progress(path, task, offset))
        except Cancelled:
            return Outcome(path, code="interrupted", detail="Interrupted; run again to resume.")
        finally:
            progress.remove_task(task)

    outcomes: dict[Path, Outcome] = {}
    interrupted = False
    with progress:
        pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="imghost-upload")
        futures: dict[Future[Outcome], Path] = {pool.submit(work, path): path for path in files}
        try:
            for future in as_completed(futures):
                outcomes[futures[future]] = future.result()
        except KeyboardInterrupt:
            interrupted = True
            cancel.set()  # uploads stop at their next 64 KiB; the server keeps what it has
            err.print("Interrupted: stopping; run the same command again to resume.")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        for future, path in futures.items():
            if path not in outcomes and future.done() and not future.cancelled():
                outcomes[path] = future.result()
    return outcomes, interrupted


def _report(
    files: list[Path], sizes: dict[Path, int], outcomes: dict[Path, Outcome], interrupted: bool
) -> int:
    for path in files:
        outcome = outcomes.get(path)
        if outcome and outcome.resumed_at is not None:
            err.print(
                f"resumed {escape(str(path))} at byte {outcome.resumed_at:,} of {sizes[path]:,}",
                soft_wrap=True,
            )
    duplicates = [o for o in outcomes.values() if o.duplicate]
    for o in sorted(duplicates, key=lambda o: files.index(o.path)):
        err.print(
            f"skipped duplicate {escape(str(o.path))}: you have it already ({o.image_id})",
            soft_wrap=True,
            highlight=False,
        )
    if duplicates:
        err.print(f"{len(duplicates)} duplicate(s) skipped: nothing was stored for them")
    for path in files:
        outcome = outcomes.get(path)
        if outcome and outcome.url:
            print(f"{path} -> {outcome.url}", file=sys.stdout, flush=True)
    failed = [o for o in outcomes.values() if not o.ok and o.code != "interrupted"]
    if failed:
        table = Table(title=f"{len(failed)} of {len(files)} failed")
        table.add_column("file", overflow="fold")
        table.add_column("code", no_wrap=True)  # what scripts and bug reports quote
        table.add_column("detail")
        for o in failed:
            table.add_row(escape(str(o.path)), escape(o.code or ""), escape(o.detail or ""))
        err.print(table)
    if interrupted:
        unfinished = sum(1 for path in files if not outcomes.get(path, Outcome(path)).ok)
        err.print(f"{unfinished} file(s) unfinished: run the same command again to resume.")
        return INTERRUPTED_EXIT
    return 1 if failed else 0


def register(cli: typer.Typer) -> None:
    cli.command()(login)
    cli.command()(upload)
