"""TOTP codes, sealed secrets and recovery codes (auth.totp), without a server."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest

from imghost.auth import totp

NOW = dt.datetime(2026, 12, 7, 12, 0, 10, tzinfo=dt.UTC)


def test_a_sealed_secret_opens_for_its_user_and_server_secret_only() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32 and pyotp.TOTP(secret).now().isdigit()
    sealed = totp.seal("server-secret", "u_a", secret)
    assert secret not in sealed
    assert totp.unseal("server-secret", "u_a", sealed) == secret
    # Sealing twice gives different text (a fresh nonce each time).
    assert totp.seal("server-secret", "u_a", secret) != sealed
    for server, user, stored in (
        ("another-secret", "u_a", sealed),  # the server secret changed
        ("server-secret", "u_b", sealed),  # copied onto another user's row
        ("server-secret", "u_a", sealed[:-4] + "AAAA"),  # tampered
        ("server-secret", "u_a", "plain"),  # not sealed at all
    ):
        with pytest.raises(ValueError, match="TOTP secret"):
            totp.unseal(server, user, stored)


def test_codes_match_one_step_either_side_and_say_which() -> None:
    secret = totp.new_secret()
    app = pyotp.TOTP(secret)
    step = app.timecode(NOW)
    for offset in (-1, 0, 1):
        code = app.generate_otp(step + offset)
        assert totp.matching_step(secret, code, NOW) == step + offset
    for offset in (-2, 2):
        code = app.generate_otp(step + offset)
        if code not in {app.generate_otp(step + k) for k in (-1, 0, 1)}:
            assert totp.matching_step(secret, code, NOW) is None
    assert totp.matching_step(secret, "12345", NOW) is None
    assert totp.matching_step(secret, "abcdef", NOW) is None


def test_recovery_codes_are_distinct_and_easy_to_type() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == totp.RECOVERY_CODES == len(set(codes))
    for code in codes:
        head, middle, tail = code.split("-")
        assert len(head) == len(middle) == len(tail) == 4
        assert not set(code) & set("01ilo")
    assert totp.normalize_code(" ABCD-efgh jkmn ") == "abcdefghjkmn"
    assert totp.looks_like_totp(totp.normalize_code("123 456"))


def test_the_qr_code_is_an_svg_data_uri() -> None:
    uri = totp.provisioning_uri(totp.new_secret(), "ann@example.com", "imghost")
    assert uri.startswith("otpauth://totp/imghost:ann%40example.com?secret=")
    assert totp.qr_data_uri(uri).startswith("data:image/svg+xml")
