"""What other features call on sharing: claiming the shares addressed to an e-mail.

E-mail verification (and sign-in with an address verified earlier) calls
``claim_pending_shares`` once the address is proved; albums' routes share by
e-mail through ``invite``.
"""

from __future__ import annotations

from imghost.sharing.pending import (
    Target,
    claim_if_verified,
    claim_pending_shares,
    invite,
    invite_by_email,
    is_email,
    list_for,
    normalized_email,
    resolve_user,
    revoke,
)

__all__ = [
    "Target",
    "claim_if_verified",
    "claim_pending_shares",
    "invite",
    "invite_by_email",
    "is_email",
    "list_for",
    "normalized_email",
    "resolve_user",
    "revoke",
]
