"""Housekeeping that runs as job kinds: garbage collection and the purge sweep."""
