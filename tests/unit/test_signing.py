from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imghost.signing import (
    LINK_GRANT,
    SIGNED_URL,
    UPLOAD_PUT,
    WEBHOOK,
    BadSignature,
    Purpose,
    SigningKeys,
    mint_link_grant,
    sign,
    sign_url,
    verify,
    verify_link_grant,
    verify_url,
)
from imghost.uploads.signing import sign_upload, verify_upload

KEYS = SigningKeys.parse("new:" + "n" * 32 + ",old:" + "o" * 32, "unused")
NOW = 1_800_000_000
paths = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF, exclude_characters="?#"),
    min_size=1,
    max_size=60,
).map(lambda p: "/images/" + p)
perms = st.lists(st.sampled_from(["view", "download"]), min_size=1, unique=True)


@given(paths, st.integers(NOW + 1, NOW + 10**8), perms)
def test_round_trip(path: str, exp: int, permissions: list[str]) -> None:
    params = sign_url(KEYS, path, exp, permissions)
    assert params["kid"] == "new"
    assert sorted(verify_url(KEYS, path, params, NOW)) == sorted(permissions)


@given(paths, st.integers(NOW + 1, NOW + 10**8), perms, st.data())
def test_any_single_character_change_fails(
    path: str, exp: int, permissions: list[str], data: st.DataObject
) -> None:
    params = sign_url(KEYS, path, exp, permissions)
    url = {"path": path, **params}
    field = data.draw(st.sampled_from(sorted(url)))
    value = url[field]
    i = data.draw(st.integers(0, len(value) - 1))
    replacement = data.draw(st.characters(min_codepoint=33, max_codepoint=0x2FFF))
    if replacement == value[i]:
        return
    url[field] = value[:i] + replacement + value[i + 1 :]
    tampered_path = url.pop("path")
    with pytest.raises(BadSignature):
        verify_url(KEYS, tampered_path, url, NOW)


def test_expired_is_refused_as_expired() -> None:
    params = sign_url(KEYS, "/images/x", NOW - 1, ["view"])
    with pytest.raises(BadSignature) as err:
        verify_url(KEYS, "/images/x", params, NOW)
    assert err.value.expired


def test_rotation_old_key_still_verifies_retired_key_does_not() -> None:
    old_only = SigningKeys.parse("old:" + "o" * 32, "unused")
    params = sign_url(old_only, "/images/x", NOW + 60, ["view"])
    assert params["kid"] == "old"
    assert verify_url(KEYS, "/images/x", params, NOW) == ["view"]  # rotated: still verifies
    retired = SigningKeys.parse("new:" + "n" * 32, "unused")
    with pytest.raises(BadSignature):
        verify_url(retired, "/images/x", params, NOW)


def test_default_key_is_derived_from_the_secret() -> None:
    a = SigningKeys.parse("", "secret-one" * 4)
    b = SigningKeys.parse("", "secret-two" * 4)
    params = sign_url(a, "/images/x", NOW + 60, ["view"])
    verify_url(a, "/images/x", params, NOW)
    with pytest.raises(BadSignature):
        verify_url(b, "/images/x", params, NOW)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nocolon", "KID:SECRET"),
        ("k:short", "KID:SECRET"),
        ("a b:" + "x" * 20, "KID:SECRET"),
        ("k:" + "x" * 20 + ",k:" + "y" * 20, "appears twice"),
    ],
)
def test_malformed_key_specs_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SigningKeys.parse(spec, "unused")


@given(st.text(min_size=1, max_size=30, alphabet="abcdefghijklmnopqrstuvwxyz_0123456789"))
def test_link_grant_round_trip_and_tamper(link_id: str) -> None:
    token = mint_link_grant(KEYS, link_id, NOW + 60)
    assert verify_link_grant(KEYS, token, NOW) == link_id
    with pytest.raises(BadSignature):
        verify_link_grant(KEYS, token, NOW + 61)
    other = token.replace(link_id, link_id + "x", 1)
    with pytest.raises(BadSignature):
        verify_link_grant(KEYS, other, NOW)


# --- the one signer under every format ------------------------------------------------


def test_a_signature_for_one_purpose_never_verifies_for_another() -> None:
    one = SigningKeys.single("s" * 32)
    purposes = [SIGNED_URL, LINK_GRANT, UPLOAD_PUT, WEBHOOK]
    for made_for in purposes:
        kid, mac = sign(one, made_for, "img_1", "1800000000")
        assert verify(one, made_for, kid, mac, "img_1", "1800000000")
        for other in purposes:
            if other is not made_for:
                assert not verify(one, other, kid, mac, "img_1", "1800000000")


def test_purpose_labels_are_unique_and_single_line() -> None:
    for label in ["imghost-url-v1", "webhook", "two\nlines", ""]:
        with pytest.raises(ValueError, match="empty, bad or taken"):
            Purpose(label)


def test_unknown_key_ids_verify_nothing() -> None:
    kid, mac = sign(KEYS, LINK_GRANT, "lnk_1", "1")
    assert kid == "new" and verify(KEYS, LINK_GRANT, "new", mac, "lnk_1", "1")
    assert not verify(KEYS, LINK_GRANT, "gone", mac, "lnk_1", "1")
    assert not verify(KEYS, LINK_GRANT, "old", mac, "lnk_1", "1")


def test_wire_formats_are_the_ones_clients_and_stored_urls_know() -> None:
    """The formats from before the one signer: URL, grant and upload signatures."""
    key = b"n" * 32

    def b64(message: bytes) -> str:
        digest = hmac.new(key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    params = sign_url(KEYS, "/images/x", NOW, ["view", "download"])
    assert params["sig"] == b64(b"imghost-url-v1\n/images/x\n%d\ndownload,view" % NOW)
    token = mint_link_grant(KEYS, "lnk_1", NOW)
    assert token == f"lnk_1.{NOW}.new." + b64(b"imghost-link-v1\nlnk_1\n%d" % NOW)
    secret = "u" * 40
    expected = hmac.new(secret.encode(), b"upload-put\nupl_1\n123", hashlib.sha256).hexdigest()
    assert sign_upload(secret, "upl_1", 123) == expected
    assert verify_upload(secret, "upl_1", 123, expected)
    assert not verify_upload(secret, "upl_1", 124, expected)
    assert not verify_upload("v" * 40, "upl_1", 123, expected)
