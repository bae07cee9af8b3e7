"""imghost: a self-hostable image hosting service."""

__version__ = "0.1.0"
