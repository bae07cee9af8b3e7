"""What a session may do while its account's deletion is scheduled."""

from __future__ import annotations

from imghost.accounts.services import allowed_while_scheduled


def test_only_the_account_the_export_and_the_deletion_are_open_in_the_grace_period() -> None:
    assert allowed_while_scheduled("GET", "/v1/users/me")
    assert not allowed_while_scheduled("PATCH", "/v1/users/me")
    assert allowed_while_scheduled("DELETE", "/v1/users/me/deletion")
    assert allowed_while_scheduled("GET", "/v1/users/me/export/download")
    assert not allowed_while_scheduled("GET", "/v1/users/me/api-keys")
    assert not allowed_while_scheduled("POST", "/v1/images")
