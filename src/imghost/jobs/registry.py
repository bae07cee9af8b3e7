"""Which handler runs which kind of job (jobs/ composes the features)."""

from __future__ import annotations

from imghost.jobs.worker import DeadHandler, Handler
from imghost.processing.tasks import process_image, process_image_dead


def handlers() -> dict[str, Handler]:
    return {"process_image": process_image}


def dead_handlers() -> dict[str, DeadHandler]:
    return {"process_image": process_image_dead}
