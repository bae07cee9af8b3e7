"""Takedowns (451 with legal hold) and suspensions: what site admins withhold and why."""
