"""Which handler runs which kind of job (jobs/ composes the features)."""

from __future__ import annotations

from imghost.jobs.worker import Handler
from imghost.processing.tasks import process_image


def handlers() -> dict[str, Handler]:
    return {"process_image": process_image}
