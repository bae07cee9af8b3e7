"""Routes of hotlink protection: the caller's own allow-list and an org's."""

from __future__ import annotations

from fastapi import APIRouter

from imghost.access.policy import Level
from imghost.deps import CurrentActor, Db
from imghost.hotlink import services
from imghost.hotlink.schemas import HotlinkIn, HotlinkOut
from imghost.orgs import services as orgs

router = APIRouter(tags=["hotlink"])

MANAGERS_ONLY = "Only the org's owners and admins can change its hotlink protection."


def _out(listed: services.Listed) -> HotlinkOut:
    return HotlinkOut(
        account_id=listed.account_id,
        enabled=bool(listed.hosts),
        allowed_referrers=list(listed.hosts),
        updated_at=listed.updated_at,
    )


@router.get("/v1/users/me/hotlink", response_model=HotlinkOut)
async def my_hotlink(actor: CurrentActor, db: Db) -> HotlinkOut:
    """Your hotlink protection: the sites allowed to embed your images (those
    outside orgs)."""
    return _out(await services.allow_list(db, actor.user_id))


@router.put("/v1/users/me/hotlink", response_model=HotlinkOut)
async def set_my_hotlink(body: HotlinkIn, actor: CurrentActor, db: Db) -> HotlinkOut:
    """Replace your allow-list. While it is not empty, a request for one of your
    images whose `Referer` names another host (not this service's own) is
    answered 403 `hotlink_denied`; a request without a `Referer` is served.
    Takes effect within `IMGHOST_EGRESS_REFRESH` seconds."""
    listed = await services.set_allow_list(db, actor.user_id, body.allowed_referrers)
    await db.commit()
    return _out(listed)


@router.get("/v1/orgs/{org_id}/hotlink", response_model=HotlinkOut)
async def org_hotlink(org_id: str, actor: CurrentActor, db: Db) -> HotlinkOut:
    """The org's hotlink protection, for its images (members; 404 for others)."""
    access = await orgs.get_access(db, actor, org_id)
    return _out(await services.allow_list(db, access.org.id))


@router.put("/v1/orgs/{org_id}/hotlink", response_model=HotlinkOut)
async def set_org_hotlink(org_id: str, body: HotlinkIn, actor: CurrentActor, db: Db) -> HotlinkOut:
    """Replace the org's allow-list (its owners and admins), as for your own."""
    access = await orgs.get_access(db, actor, org_id, Level.OWNER, MANAGERS_ONLY)
    listed = await services.set_allow_list(db, access.org.id, body.allowed_referrers)
    await db.commit()
    return _out(listed)
