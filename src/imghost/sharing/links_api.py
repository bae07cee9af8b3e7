"""Share links: create and list per image or album, revoke, open; the /s/{id} page."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.decide import image_access
from imghost.access.grants import Caller, album_grants, album_resource
from imghost.access.policy import Action, check_withheld, require
from imghost.albums.models import Album
from imghost.audit import services as audit
from imghost.deps import Ctx, CurrentActor, Db, Reads
from imghost.errors import NotFound
from imghost.images import services as images
from imghost.images.models import Image
from imghost.reads import FastReader
from imghost.sharing import links
from imghost.sharing.link_schemas import (
    LinkCreate,
    LinkCreated,
    LinkList,
    LinkOpen,
    LinkOpened,
    LinkOut,
    SharedAlbum,
    SharedImage,
    permissions_of,
)
from imghost.sharing.models import ShareLink

router = APIRouter(tags=["sharing"])


def _spec(body: LinkCreate) -> links.NewLink:
    return links.NewLink(
        permissions=list(body.permissions),
        password=body.password,
        expires_in=body.expires_in,
        max_views=body.max_views,
    )


async def _album_to_share(db: Db, reads: FastReader, caller: Caller, album_id: str) -> Album:
    album = await db.get(Album, album_id)
    if album is None:
        raise NotFound("No such album.")
    require(await album_grants(reads, caller, album), Action.SHARE, album_resource(album))
    return album


async def _image_to_share(db: Db, reads: FastReader, caller: Caller, image_id: str) -> Image:
    image = await images.get_image(db, image_id)
    await image_access(reads, caller, image, Action.SHARE)
    assert image is not None
    return image


@dataclass(frozen=True)
class _Shareable:
    """A kind of thing a share link can point at: its routes are written once,
    below, for each kind."""

    kind: Literal["image", "album"]
    # The thing, once the caller is known to have the right to share it.
    to_share: Callable[[Db, FastReader, Caller, str], Awaitable[Image | Album]]
    create_doc: str
    list_doc: str = ""

    def target(self, resource_id: str) -> tuple[str | None, str | None]:
        """``(image_id, album_id)`` of a link to this kind of thing."""
        return (resource_id, None) if self.kind == "image" else (None, resource_id)


def _add_link_routes(shareable: _Shareable) -> None:
    """``POST`` and ``GET /v1/{kind}s/{kind_id}/links``, named as they were when
    each was written out (``create_image_link``...), so operation ids stay."""
    kind = shareable.kind
    path = f"/v1/{kind}s/{{{kind}_id}}/links"

    async def create(
        *,
        resource_id: str = PathParam(alias=f"{kind}_id"),
        body: LinkCreate,
        actor: CurrentActor,
        db: Db,
        reads: Reads,
        ctx: Ctx,
    ) -> LinkCreated:
        caller = Caller(actor.user_id, actor.is_admin)
        shared = await shareable.to_share(db, reads, caller, resource_id)
        link = await links.create_link(db, actor.user_id, _spec(body), shared)
        await audit.record(
            db,
            "share_link.created",
            actor_id=actor.user_id,
            actor_kind=audit.as_admin(actor.is_admin, shared.owner_id, actor.user_id),
            target=(kind, resource_id),
            details={"linkId": link.id},
        )
        await db.commit()
        out = LinkOut.of(link, ctx.settings.public_base_url)
        return LinkCreated(**out.model_dump(), visibility=shared.visibility)

    async def list_links(
        *,
        resource_id: str = PathParam(alias=f"{kind}_id"),
        actor: CurrentActor,
        db: Db,
        reads: Reads,
        ctx: Ctx,
    ) -> LinkList:
        caller = Caller(actor.user_id, actor.is_admin)
        shared = await shareable.to_share(db, reads, caller, resource_id)
        image_id, album_id = shareable.target(shared.id)
        found = await links.links_of(db, image_id=image_id, album_id=album_id)
        return LinkList(links=[LinkOut.of(link, ctx.settings.public_base_url) for link in found])

    router.add_api_route(
        path,
        create,
        methods=["POST"],
        name=f"create_{kind}_link",
        status_code=201,
        response_model=LinkCreated,
        description=shareable.create_doc,
    )
    router.add_api_route(
        path,
        list_links,
        methods=["GET"],
        name=f"list_{kind}_links",
        response_model=LinkList,
        description=shareable.list_doc,
    )


_add_link_routes(
    _Shareable(
        "image",
        _image_to_share,
        create_doc="A revocable link to the image (owner or org admin only). A private "
        "image becomes shared.",
        list_doc="Every link of the image, revoked and expired ones included.",
    )
)
_add_link_routes(
    _Shareable(
        "album",
        _album_to_share,
        create_doc="A revocable link to the album and the images in it. A private album "
        "becomes shared.",
    )
)


async def _require_share(db: Db, reads: FastReader, caller: Caller, link: ShareLink) -> None:
    if link.image_id is not None:
        await _image_to_share(db, reads, caller, link.image_id)
    else:
        assert link.album_id is not None
        await _album_to_share(db, reads, caller, link.album_id)


@router.delete("/v1/links/{link_id}", status_code=204, response_class=Response)
async def revoke_link(link_id: str, actor: CurrentActor, db: Db, reads: Reads) -> Response:
    """Revoke at once: grants already handed out stop working on their next request."""
    link = await links.get_link(db, link_id)
    if link is None:
        raise NotFound("No such link.")
    if link.created_by != actor.user_id:
        await _require_share(db, reads, Caller(actor.user_id, actor.is_admin), link)
    await links.revoke(db, link)
    kind, resource_id = ("image", link.image_id) if link.image_id else ("album", link.album_id)
    await audit.record(
        db,
        "share_link.revoked",
        actor_id=actor.user_id,
        target=(kind, str(resource_id)),
        details={"linkId": link.id},
    )
    await db.commit()
    return Response(status_code=204)


async def _usable_link(db: AsyncSession, link_id: str) -> ShareLink:
    link = await links.get_link(db, link_id)
    if link is None:
        raise NotFound("No such link.")
    links.check_usable(link)
    return link


@router.post("/v1/links/{link_id}/open", response_model=LinkOpened)
async def open_link(
    link_id: str,
    request: Request,
    response: Response,
    db: Db,
    ctx: Ctx,
    body: Annotated[LinkOpen | None, Body()] = None,
) -> LinkOpened:
    """Use a link (no sign-in needed): counts one view and returns a grant
    token that reads the target through `?share=`."""
    link = await _usable_link(db, link_id)
    if link.password_hash is not None:
        # A password check can wait for a CPU slot: hold no pooled connection
        # meanwhile (a flood of opens would empty the pool), then read the
        # link again (it may have been revoked while we checked).
        db.expunge(link)
        await db.rollback()
        client = request.client.host if request.client else "unknown"
        await links.check_password(link, body.password if body else None, client)
        link = await _usable_link(db, link_id)
    target = await links.load_target(db, link)
    await links.count_view(db, link)
    await db.commit()
    token, token_expires = links.mint_grant(ctx.signing_keys, link, ctx.settings.link_grant_ttl)
    response.headers["Cache-Control"] = "no-store"  # it carries a credential
    base = ctx.settings.public_base_url
    permissions = permissions_of(link)
    return LinkOpened(
        link_id=link.id,
        kind="image" if isinstance(target, Image) else "album",
        permissions=permissions,
        expires_at=link.expires_at,
        token=token,
        token_expires_at=token_expires,
        image=(
            SharedImage.of(target, base, token, "download" in permissions)
            if isinstance(target, Image)
            else None
        ),
        album=SharedAlbum.of(target, base, token) if isinstance(target, Album) else None,
    )


# --- the page a holder opens -------------------------------------------------------

_PAGE = Path(__file__).resolve().parent.parent / "web" / "static" / "share.html"


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


@lru_cache(maxsize=1)
def _page() -> tuple[str, str, str]:
    """The page, and CSP hashes of its one inline script and one style block
    (no 'unsafe-inline': injected markup could not run script)."""
    html = _PAGE.read_text(encoding="utf-8")
    script = re.search(r"<script>(.*?)</script>", html, re.S)
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert script is not None and style is not None
    return html, _sha256(script.group(1)), _sha256(style.group(1))


@router.get("/s/{link_id}", response_class=HTMLResponse, include_in_schema=False)
async def share_page(link_id: str, ctx: Ctx, db: Db) -> HTMLResponse:
    """Static: it opens the link from the browser (a GET never counts a view, so
    link previews and unfurlers do not use up a link). A link to a withheld
    image answers 451 here already, so no preview shows a taken-down page."""
    check_withheld(await links.withheld_target(db, link_id))
    html, script_hash, style_hash = _page()
    base = urlsplit(ctx.settings.public_base_url)
    origin = f"{base.scheme}://{base.netloc}" if base.netloc else ""
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": (
                f"default-src 'none'; script-src {script_hash}; style-src {style_hash}; "
                f"img-src 'self' {origin} blob: data:; connect-src 'self' {origin}; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            ),
            # The link id is the secret: never leak it in a Referer.
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Robots-Tag": "noindex, nofollow",
        },
    )
