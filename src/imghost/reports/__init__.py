"""Abuse reports: anyone reports an image; site admins work the queue."""
