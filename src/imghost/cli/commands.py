"""`imghost` command line, every command: serve, worker, migrate, gc, rescan,
verify, backup, settings, and the groups jobs, admin and audit (`imghost.cli.main` starts here
for all but the client commands)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import imghost.cli.admin_moderation
import imghost.cli.admin_status
import imghost.cli.reports  # noqa: F401
from imghost import logs, metrics
from imghost.cli.admin import admin_cli
from imghost.cli.audit import audit_cli
from imghost.cli.backup import backup
from imghost.cli.edge import edge_config
from imghost.cli.jobs import jobs_cli
from imghost.cli.keys import keys_cli
from imghost.cli.main import HELP
from imghost.cli.rescan import rescan
from imghost.cli.server_settings import load_settings
from imghost.cli.upload import register as register_client_commands
from imghost.cli.verify import verify
from imghost.tls.devcert import DEFAULT_NAMES as DEV_CERT_NAMES

cli = typer.Typer(help=HELP, no_args_is_help=True)
console = Console()


@cli.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (IMGHOST_HOST)"),
    port: int | None = typer.Option(None, help="Port (IMGHOST_PORT)"),
    workers: int | None = typer.Option(None, help="API processes (IMGHOST_WORKERS)"),
    tls_cert: str | None = typer.Option(
        None, help="PEM certificate chain: serve HTTPS (IMGHOST_TLS_CERT_FILE)"
    ),
    tls_key: str | None = typer.Option(
        None, help="PEM private key of --tls-cert (IMGHOST_TLS_KEY_FILE)"
    ),
) -> None:
    """Serve the API, delivery and web UI (with an in-process worker by default)."""
    from imghost import server
    from imghost.migrate import upgrade

    # API worker processes build their settings from the environment, so the
    # command-line flags go there; migrations run once, here, not per process.
    flags = (
        ("HOST", host),
        ("PORT", port),
        ("WORKERS", workers),
        ("TLS_CERT_FILE", tls_cert),
        ("TLS_KEY_FILE", tls_key),
    )
    for name, value in flags:
        if value is not None:
            os.environ[f"IMGHOST_{name}"] = str(value)
    # Building the settings creates the generated secret key if
    # there is none yet: here, before uvicorn forks its API processes, which
    # then all read the same file.
    settings = load_settings()
    logs.configure(settings)
    if settings.auto_migrate:
        upgrade(settings.database_url)
    os.environ["IMGHOST_AUTO_MIGRATE"] = "false"
    if settings.metrics_token:
        # Before any API process starts: the counts of processes that are gone
        # (the last run's) start again; a worker still running keeps its own.
        metrics.clear_stale(settings.metrics_dir)
    scheme = "https" if settings.tls_cert_file else "http"
    redirect = (
        f", redirecting http://{settings.host}:{settings.tls_redirect_port}"
        if settings.tls_cert_file and settings.tls_redirect_port
        else ""
    )
    console.print(
        f"imghost serving on {scheme}://{settings.host}:{settings.port}{redirect} "
        f"(db: {settings.database_url.split('@')[-1]}, "
        f"storage: {settings.storage_url.split('?')[0]})"
    )
    # uvicorn.run's arguments; server.run adds the HTTP limits (imghost.server).
    server.run(
        settings,
        "imghost.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        log_config=logs.uvicorn_log_config(settings),
    )


@cli.command("dev-cert")
def dev_cert(
    out: Path = typer.Option(Path("dev-cert"), help="Directory to write cert.pem and key.pem in"),
    host: list[str] = typer.Option(
        list(DEV_CERT_NAMES),
        "--host",
        help="A host name or address the certificate is valid for (repeat for several)",
    ),
) -> None:
    """Write a self-signed certificate and key for local HTTPS (not for production)."""
    from imghost.tls.devcert import write_pair

    cert, key = write_pair(out, tuple(host))
    console.print(
        f"wrote {escape(str(cert))} and {escape(str(key))} for {escape(', '.join(host))}\n"
        f"serve with: imghost serve --tls-cert {escape(str(cert))} --tls-key {escape(str(key))}\n"
        f"trust it in a client with e.g. curl --cacert {escape(str(cert))}",
        soft_wrap=True,
        highlight=False,
    )


@cli.command()
def worker(
    concurrency: int | None = typer.Option(
        None, help="Jobs at once (IMGHOST_WORKER_CONCURRENCY; default one per core)"
    ),
) -> None:
    """Run queued jobs (image processing) and periodic gc, without serving HTTP."""
    from imghost import composition
    from imghost.context import AppContext

    if concurrency is not None:
        os.environ["IMGHOST_WORKER_CONCURRENCY"] = str(concurrency)
    settings = load_settings()
    logs.configure(settings)
    if settings.metrics_token:
        # The API processes of this host serve what the worker records.
        metrics.enable(settings.metrics_dir, "worker")

    async def _main() -> None:
        ctx = AppContext.build(settings)
        worker = composition.worker(ctx)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            # The first SIGTERM (or ^C) stops claiming and lets the running jobs
            # finish for IMGHOST_SHUTDOWN_TIMEOUT; a second abandons them now.
            # Either way an abandoned job's lease is released at once.
            if worker.stopping:
                worker.abandon()
            else:
                worker.stop(settings.shutdown_timeout)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        try:
            await worker.run()
        finally:
            await ctx.close()
            metrics.mark_dead()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())


@cli.command()
def migrate() -> None:
    """Apply database migrations up to the newest."""
    from imghost.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    console.print("database is up to date")


@cli.command()
def gc(
    grace: int | None = typer.Option(None, help="Seconds an unreferenced blob must age first"),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Change nothing: report orphan blobs, image rows whose blobs are missing, "
        "and purges due",
    ),
) -> None:
    """Purge images whose trash window ended (and finish interrupted purges),
    then remove expired uploads and blobs that no image references."""
    from imghost.context import AppContext
    from imghost.lifecycle.purge import pending, sweep
    from imghost.maintenance.gc import collect

    settings = load_settings()
    logs.configure(settings)

    async def _main() -> int:
        ctx = AppContext.build(settings)
        try:
            if dry_run:
                due, unfinished = await pending(ctx.sessions)
                console.print(f"purges due: {due}; purges unfinished: {unfinished}")
            else:
                console.print(await sweep(ctx.purging))
            # A one-off run checks the rows too (the worker's runs skip it).
            report = await collect(ctx.gc, grace, dry_run=dry_run, check_rows=True)
        finally:
            await ctx.close()
        verb = "would remove" if dry_run else "removed"
        console.print(report)
        # Keys and ids whole, one per line, for copying (never wrapped).
        console.print(f"orphan blobs ({verb}): {report.orphan_blobs}", soft_wrap=True)
        for key in report.orphan_keys:
            console.print(f"  {escape(key)}", soft_wrap=True, highlight=False)
        console.print(f"image rows whose blobs are missing: {report.dangling_rows}")
        for image_id in report.dangling_images:
            console.print(f"  {escape(image_id)}", soft_wrap=True, highlight=False)
        return 1 if report.dangling_rows else 0

    raise typer.Exit(asyncio.run(_main()))


@cli.command("settings")
def show_settings() -> None:
    """Show every setting, its current value and what it does."""
    settings = load_settings()
    table = Table("variable", "value", "meaning")
    for row in settings.describe():
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)


cli.command("rescan")(rescan)
cli.command("verify")(verify)
cli.command("backup")(backup)
cli.add_typer(jobs_cli, name="jobs")
cli.add_typer(admin_cli, name="admin")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(keys_cli, name="keys")
cli.command("edge-config")(edge_config)
register_client_commands(cli)
