"""Search and listing: the full-text index, filters, sorts and pagination.

The index is SQLite FTS5 (embedded) or a PostgreSQL tsvector under GIN (at
scale), kept in step by ``index`` in the same transaction as the images.
"""
