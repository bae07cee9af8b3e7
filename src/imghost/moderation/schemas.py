"""The JSON shapes of takedowns, counter-notices and suspensions."""

from __future__ import annotations

from pydantic import Field

from imghost.moderation.models import Takedown
from imghost.schemas import ApiModel, StrictInput, Timestamp


class TakedownIn(StrictInput):
    # Why (shown to the owner): "DMCA notice", "court order", "abuse report …".
    reason: str = Field(min_length=1, max_length=500)
    # The notice it answers: a DMCA notice's id, a case number, a report id.
    reference: str | None = Field(default=None, max_length=200)


class CounterNoticeIn(StrictInput):
    # The owner's statement (e.g. a DMCA §512(g) counter-notification).
    statement: str = Field(min_length=1, max_length=10_000)
    # How the owner can be reached about it (name, address, e-mail).
    contact: str = Field(min_length=1, max_length=500)


class CounterNoticeOut(ApiModel):
    statement: str
    contact: str
    filed_at: Timestamp


class TakedownOut(ApiModel):
    takedown_id: str
    image_id: str | None  # null once the image was purged after the takedown was lifted
    owner_id: str
    reason: str
    reference: str | None
    created_by: str | None
    created_at: Timestamp
    active: bool
    lifted_at: Timestamp | None
    lifted_by: str | None
    counter_notice: CounterNoticeOut | None

    @classmethod
    def of(cls, row: Takedown) -> TakedownOut:
        counter = None
        if row.counter_at is not None:
            counter = CounterNoticeOut(
                statement=row.counter_statement or "",
                contact=row.counter_contact or "",
                filed_at=row.counter_at,
            )
        return cls(
            takedown_id=row.id,
            image_id=row.image_id,
            owner_id=row.owner_id,
            reason=row.reason,
            reference=row.reference,
            created_by=row.created_by,
            created_at=row.created_at,
            active=row.lifted_at is None,
            lifted_at=row.lifted_at,
            lifted_by=row.lifted_by,
            counter_notice=counter,
        )


class TakedownList(ApiModel):
    takedowns: list[TakedownOut]


class SuspendIn(StrictInput):
    # Told to the user in the notification and e-mail.
    reason: str = Field(min_length=1, max_length=500)


class SuspensionOut(ApiModel):
    user_id: str
    username: str
    suspended: bool
    suspended_at: Timestamp | None
    reason: str | None
    # How many of the user's images this change withheld or released.
    images_changed: int
