"""Read replicas: which reads may go to a PostgreSQL hot standby, and when not.

``pool``: one engine per replica, its health and its measured lag, and a
connected session on a usable one. ``sticky``: the Redis markers that keep a
caller who has just written on the primary (read-your-writes). ``middleware``:
sets that marker after a successful write. ``config``: the settings' checks.
The choice of session for a request is made in ``deps`` (``ReadDb``).
"""
