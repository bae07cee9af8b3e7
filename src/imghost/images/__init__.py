"""Image records: metadata, tags, visibility, soft delete, listing."""
