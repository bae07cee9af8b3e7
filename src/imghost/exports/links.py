"""Signed download links of data exports: the ZIP without signing in.

A link is ``/v1/exports/{id}/download?exp=…&kid=…&sig=…``, the signature an
HMAC of the export id and the expiry under the server secret
(``signing.EXPORT_DOWNLOAD``), never the signed-URL ring an edge may hold: a
key an edge holds must not open a whole account's data. It is short-lived
(``IMGHOST_EXPORT_LINK_TTL``, never past the export's own expiry) and is
minted afresh each time the export is read, so a client that finds it expired
reads the export again. The signature proves only that the link was issued:
the export row is checked on every use, so a link stops working once the
export expires or the account is deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from imghost.errors import AppError
from imghost.signing import EXPORT_DOWNLOAD, SigningKeys, sign, verify

# The path of a signed download; {export_id} is signed, the query carries the rest.
SIGNED_DOWNLOAD_PATH = "/v1/exports/{export_id}/download"


@dataclass(frozen=True)
class ExportLinks:
    keys: SigningKeys  # a ring of one: the server secret
    base_url: str  # IMGHOST_PUBLIC_BASE_URL
    ttl: int  # IMGHOST_EXPORT_LINK_TTL, seconds

    def mint(
        self, export_id: str, export_expires: dt.datetime, now: dt.datetime
    ) -> tuple[str, dt.datetime]:
        """The absolute URL and when it stops working: ``ttl`` from now, never
        past the export's expiry (whole seconds: the expiry is what is signed)."""
        exp = min(int(now.timestamp()) + self.ttl, int(export_expires.timestamp()))
        kid, sig = sign(self.keys, EXPORT_DOWNLOAD, export_id, str(exp))
        path = SIGNED_DOWNLOAD_PATH.format(export_id=export_id)
        url = f"{self.base_url}{path}?exp={exp}&kid={kid}&sig={sig}"
        return url, dt.datetime.fromtimestamp(exp, dt.UTC)

    def check(self, export_id: str, exp: str, kid: str, sig: str, now: dt.datetime) -> None:
        """403 ``invalid_download_link`` unless the link was issued as it reads;
        410 ``download_link_expired`` once its time is up."""
        valid = exp.isascii() and exp.isdigit() and len(exp) <= 12
        # The expiry as it appears in the query: that is what was signed.
        if not valid or not verify(self.keys, EXPORT_DOWNLOAD, kid, sig, export_id, exp):
            raise AppError(
                403,
                "invalid_download_link",
                "This download link is not valid; read the export again for a fresh one.",
            )
        if int(exp) <= now.timestamp():
            raise AppError(
                410,
                "download_link_expired",
                "This download link has expired; read the export again for a fresh one.",
            )
