"""Data export: one ZIP of a user's originals and a JSON of their metadata."""
