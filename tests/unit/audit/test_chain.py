"""The chain's arithmetic, the origin of a request, and the retention settings' check."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from imghost.audit import chain, config, floods
from imghost.audit.origin import Origin, acting, current, of_scope
from imghost.settings import Settings, SettingsError

AT = dt.datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=dt.UTC)


def _fields(**changes: object) -> chain.Fields:
    values: dict[str, object] = {
        "id": 7,
        "at": AT,
        "kind": "apikey.created",
        "actor_id": "u_1",
        "actor_kind": "user",
        "address_digest": "ab" * 32,
        "user_agent_digest": None,
        "target_type": "apikey",
        "target_id": "key_1",
        "details": {"name": "ci", "prefix": "ihk_abc"},
    }
    values.update(changes)
    return chain.Fields(**values)  # type: ignore[arg-type]


def test_the_encoding_is_canonical() -> None:
    reordered = _fields(details={"prefix": "ihk_abc", "name": "ci"})
    assert chain.canonical(_fields()) == chain.canonical(reordered)
    # the same moment in another zone is the same time
    elsewhere = _fields(at=AT.astimezone(dt.timezone(dt.timedelta(hours=5))))
    assert chain.canonical(_fields()) == chain.canonical(elsewhere)
    assert chain.canonical(_fields()).startswith(b'[1,7,"2026-12-07T10:00:00.123456+00:00"')


@pytest.mark.parametrize(
    "change",
    [
        {"id": 8},
        {"at": AT + dt.timedelta(microseconds=1)},
        {"kind": "apikey.revoked"},
        {"actor_id": None},
        {"actor_kind": "admin"},
        {"address_digest": None},
        {"user_agent_digest": "cd" * 32},
        {"target_type": "image"},
        {"target_id": "key_2"},
        {"details": {"name": "ci"}},
    ],
)
def test_every_field_is_covered_by_the_hash(change: dict[str, object]) -> None:
    assert chain.link(chain.GENESIS, _fields(**change)) != chain.link(chain.GENESIS, _fields())


def test_the_hash_chains_onto_the_previous_one() -> None:
    first = chain.link(chain.GENESIS, _fields())
    expected = hashlib.sha256(bytes(32) + chain.canonical(_fields())).hexdigest()
    assert first == expected
    assert chain.link(first, _fields()) != first


def test_digests_are_keyed() -> None:
    key, other = "11" * 32, "22" * 32
    assert chain.digest(key, None) is None
    assert chain.digest(key, "192.0.2.1") == chain.digest(key, "192.0.2.1")
    assert chain.digest(key, "192.0.2.1") != chain.digest(other, "192.0.2.1")
    assert chain.digest(key, "192.0.2.1") != hashlib.sha256(b"192.0.2.1").hexdigest()


def test_non_finite_numbers_cannot_be_hashed() -> None:
    with pytest.raises(ValueError, match="JSON"):
        chain.canonical(_fields(details={"x": float("nan")}))


def test_origin_of_a_request_and_of_a_block() -> None:
    scope = {"type": "http", "client": ("203.0.113.9", 1234), "headers": [(b"user-agent", b"ua/1")]}
    assert of_scope(scope) == Origin("203.0.113.9", "ua/1")
    assert of_scope({"type": "http", "headers": []}) == Origin(None, None)
    assert current() == Origin()
    with acting(Origin(actor_kind="cli")):
        assert current().actor_kind == "cli"
    assert current() == Origin()


def test_windows_start_on_the_hour() -> None:
    assert floods.window_of(AT) == dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC)


def test_retention_settings_are_checked() -> None:
    config.check(Settings(audit_retention_days=365, audit_pii_retention_days=30))
    config.check(Settings(audit_retention_days=30, audit_pii_retention_days=30))
    with pytest.raises(SettingsError, match="IMGHOST_AUDIT_RETENTION_DAYS"):
        config.check(Settings(audit_retention_days=0, audit_pii_retention_days=0))
    with pytest.raises(SettingsError, match="IMGHOST_AUDIT_PII_RETENTION_DAYS"):
        config.check(Settings(audit_retention_days=10, audit_pii_retention_days=30))
    with pytest.raises(SettingsError, match="IMGHOST_AUDIT_PII_RETENTION_DAYS"):
        config.check(Settings(audit_retention_days=10, audit_pii_retention_days=-1))
