"""The small web UI served at /."""
