"""Checks of the project's own rules that run in `make lint` (not shipped)."""
