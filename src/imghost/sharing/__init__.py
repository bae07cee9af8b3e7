"""Sharing: per-image collaborators, share links and signed temporary URLs."""
