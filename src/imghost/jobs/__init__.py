"""The durable job queue and the worker that runs it (a library: features register kinds)."""
