"""View analytics: views, downloads and bandwidth per image and day.

Delivery records into an in-memory ``ViewCounter`` (a dict update, no I/O);
``flush`` writes the batch every ``IMGHOST_ANALYTICS_FLUSH_INTERVAL`` seconds.
"""
