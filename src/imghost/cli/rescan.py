"""`imghost rescan [--since DATE] [--all]`: stored originals through clamd and
the operator's hash lists again.

After a signature update, images scanned before it may match a new signature.
The command queues one ``rescan_image`` job per image (the workers run them;
a newly infected image is quarantined and its owner told) and prints how many.

Which images: live ones whose scan passed (``ready`` or ``failed`` after it).
``--all``: every one of them. ``--since DATE``: those uploaded since DATE.
Neither: those clamd has not judged since its signatures were built (the date
in clamd's ``VERSION`` answer: ``ClamAV 1.4.6/27480/Sun Dec  6 09:24:02 2026``),
and those it never judged; a clamd that reports no signature date (only local
databases) needs ``--since`` or ``--all``. Each job also matches the image
against the hash lists (``IMGHOST_HASHLIST_*``); with lists and no clamd,
neither option means every image.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import typer
from rich.console import Console

from imghost.cli.server_settings import load_settings
from imghost.context import AppContext, malware_scanner
from imghost.images import services as images
from imghost.imaging.clamd import ClamdUnavailable
from imghost.jobs import queue
from imghost.processing.tasks import RESCAN_IMAGE

console = Console()
BATCH = 500  # images queued per transaction


def signatures_date(version: str) -> dt.datetime | None:
    """When clamd's signatures were built, from its VERSION answer (UTC), if it says."""
    parts = version.split("/")
    if len(parts) < 3:
        return None
    try:
        built = dt.datetime.strptime(" ".join(parts[2].split()), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return built.replace(tzinfo=dt.UTC)


def parse_since(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD[THH:MM[:SS]])") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def rescan(
    since: str | None = typer.Option(
        None, "--since", help="Only images uploaded since this date (YYYY-MM-DD or ISO 8601)"
    ),
    every: bool = typer.Option(False, "--all", help="Every stored image whose scan passed"),
) -> None:
    """Re-scan stored originals with clamd and the hash lists (after an update), as jobs."""
    settings = load_settings()
    scanner = malware_scanner(settings)
    lists = bool(settings.hashlist_sha256 or settings.hashlist_pdq)
    if scanner is None and not lists:
        console.print(
            "[red]Neither IMGHOST_CLAMD_ADDRESS nor IMGHOST_HASHLIST_* is set:[/red] "
            "there is nothing to rescan with."
        )
        raise typer.Exit(2)
    uploaded_since = None if every or since is None else parse_since(since)
    scanned_before = None
    # Without clamd, only the hash lists: no signature date to go by, so every
    # image (or those uploaded since --since) is matched again.
    if scanner is not None and not every and since is None:
        try:
            version = scanner.version()
        except ClamdUnavailable as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        scanned_before = signatures_date(version)
        if scanned_before is None:
            console.print(
                f"clamd ({version}) does not say when its signatures were built: "
                "pass --since DATE or --all."
            )
            raise typer.Exit(2)

    async def _main() -> int:
        ctx = AppContext.build(settings)
        queued, after = 0, ""
        try:
            while True:
                async with ctx.sessions() as session:
                    ids = await images.rescan_candidates(
                        session,
                        uploaded_since=uploaded_since,
                        scanned_before=scanned_before,
                        after=after,
                        limit=BATCH,
                    )
                    for image_id in ids:
                        queue.enqueue(
                            session,
                            RESCAN_IMAGE,
                            {"imageId": image_id},
                            image_id=image_id,
                            max_attempts=settings.job_max_attempts,
                            priority=queue.BULK,  # after every upload's processing
                        )
                    await session.commit()
                queued += len(ids)
                if len(ids) < BATCH:
                    return queued
                after = ids[-1]
        finally:
            await ctx.close()

    count = asyncio.run(_main())
    console.print(f"{count} images queued for a rescan ({RESCAN_IMAGE} jobs).")
