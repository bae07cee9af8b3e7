"""Serving bytes: /images/{id} with ranges, validators and cache headers."""
