"""Hotlink protection: per user or org, the referrer hosts allowed to embed their images."""
