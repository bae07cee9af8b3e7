"""Telling a CDN in front to drop an image's cached copies when it stops being public."""
