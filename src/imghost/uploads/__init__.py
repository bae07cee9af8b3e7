"""Getting bytes in: direct multipart uploads and presigned uploads."""
