"""Background work: the worker loop and its periodic tasks."""
