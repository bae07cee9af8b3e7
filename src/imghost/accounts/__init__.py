"""Users and their account settings."""
