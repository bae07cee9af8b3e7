"""The process's startup heap, kept out of the cyclic garbage collector.

A full collection walks every tracked object; right after startup that is
over a hundred thousand (modules, mappers, routes, schemas), which live as
long as the process. Measured in the search benchmark, those passes (tens of
milliseconds each, at unpredictable moments) were the slowest one percent of
every kind of request. Frozen, they are skipped: a full collection walks only
what requests have left behind.

Process-wide, as the collector is: meant for one app per process (what
`imghost serve` runs in each of its processes).
"""

from __future__ import annotations

import gc

from sqlalchemy.orm import configure_mappers


def freeze() -> None:
    """After startup: everything alive now stays out of collections."""
    configure_mappers()  # built lazily on first use otherwise
    gc.collect()
    gc.freeze()


def thaw() -> None:
    """At shutdown (an app that starts again in this process, as in tests,
    would otherwise keep the first one's objects out of reach for good)."""
    gc.unfreeze()
