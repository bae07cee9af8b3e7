from __future__ import annotations

from imghost.images.schemas import ImageOut
from imghost.schemas import ApiModel


class SearchResult(ApiModel):
    images: list[ImageOut]
    page: int
    limit: int
    # Null in cursor mode: deep pages do not pay for a count.
    total: int | None
    # True when there are more matches than `total`: counting stops at 1,000
    # (relevance: ranking considers the 250 newest matches).
    total_capped: bool = False
    # Pass as `cursor` for the following page; null on the last page.
    next: str | None
