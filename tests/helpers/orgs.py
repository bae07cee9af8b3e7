"""Organizations over HTTP: create one, bring members in, and the team that
uploads into a team album."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.factories import UserHandle, make_user


def create_org(client: httpx.Client, owner: UserHandle, name: str = "Acme") -> dict[str, Any]:
    r = client.post("/v1/orgs", json={"name": name}, headers=owner.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def invite(
    client: httpx.Client, by: UserHandle, org_id: str, role: str, **address: str
) -> httpx.Response:
    return client.post(
        f"/v1/orgs/{org_id}/invitations", json={"role": role, **address}, headers=by.headers
    )


def join(client: httpx.Client, owner: UserHandle, org_id: str, user: UserHandle, role: str) -> None:
    """``user`` is invited with ``role`` and accepts."""
    r = invite(client, owner, org_id, role, userId=user.user_id)
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/invitations/{r.json()['invitationId']}/accept", headers=user.headers)
    assert r.status_code == 200, r.text


@dataclass(frozen=True)
class Team:
    owner: UserHandle
    # A member with upload permission on the album.
    member: UserHandle
    org: str
    # The org's private album.
    album: str
    # Members with no permission on the album.
    bystanders: tuple[UserHandle, ...] = ()


def team(client: httpx.Client, bystanders: int = 0) -> Team:
    """An org, its private team album, a member who may upload to it and
    ``bystanders`` members who may not."""
    owner, member = make_user(client), make_user(client)
    others = tuple(make_user(client) for _ in range(bystanders))
    org = str(create_org(client, owner, "Team")["orgId"])
    for user in (member, *others):
        join(client, owner, org, user, "member")
    r = client.post(
        "/v1/albums",
        headers=owner.headers,
        json={"title": "Team album", "orgId": org, "visibility": "private"},
    )
    assert r.status_code == 201, r.text
    album = str(r.json()["albumId"])
    r = client.put(
        f"/v1/albums/{album}/collaborators/{member.user_id}",
        headers=owner.headers,
        json={"permission": "upload"},
    )
    assert r.status_code == 200, r.text
    return Team(owner, member, org, album, others)
