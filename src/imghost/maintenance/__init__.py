"""Housekeeping that runs as a periodic job kind: the purge sweep, the
rendition cache's sweep and garbage collection (see ``maintenance.tasks``)."""
