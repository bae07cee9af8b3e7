"""Users and their account settings (organizations and plans come later)."""
