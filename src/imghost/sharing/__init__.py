"""Sharing: the authorization policy, per-image ACLs, albums, share links, signed URLs."""
