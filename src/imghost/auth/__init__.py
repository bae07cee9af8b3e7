"""Passwords, access and refresh tokens, API keys, and who is calling."""
