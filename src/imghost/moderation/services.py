"""Moderation's public face: takedowns (451 with a legal hold) and suspensions.

Why a package of its own: a takedown and a suspension are decisions about
content and accounts that several features carry out (images withhold,
accounts refuse sign-in, lifecycle holds the bytes, notifications tell);
keeping the record and the rules here keeps those features free of
moderation's bookkeeping. The 451 itself is decided in one place, the access
policy (``access.policy.check_withheld``), from ``images.withheld``.
"""

from __future__ import annotations

from imghost.moderation.suspensions import Suspension as Suspension
from imghost.moderation.suspensions import suspend as suspend
from imghost.moderation.suspensions import unsuspend as unsuspend
from imghost.moderation.takedowns import active_takedown as active_takedown
from imghost.moderation.takedowns import counter_notice as counter_notice
from imghost.moderation.takedowns import list_takedowns as list_takedowns
from imghost.moderation.takedowns import reinstate as reinstate
from imghost.moderation.takedowns import take_down as take_down
