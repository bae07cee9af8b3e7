from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imghost.errors import AppError
from imghost.tus import protocol


@given(
    st.dictionaries(
        st.text(
            alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1
        ),
        st.text(),
        max_size=8,
    )
)
def test_metadata_round_trip(values: dict[str, str]) -> None:
    assert protocol.parse_metadata(protocol.encode_metadata(values)) == values


@pytest.mark.parametrize(
    "header",
    [
        "filename",
        "filename a,filename b",
        "title !!!",
        "a b c",
        "title " + base64.b64encode(b"\xff").decode(),
    ],
)
def test_bad_metadata(header: str) -> None:
    if header == "filename":
        assert protocol.parse_metadata(header) == {"filename": ""}
        return
    with pytest.raises(AppError) as info:
        protocol.parse_metadata(header)
    assert info.value.status == 400
    assert info.value.code == "invalid_metadata"


def test_checksum_parsing() -> None:
    digest = hashlib.sha1(b"abc").digest()
    assert protocol.parse_checksum("sha1 " + base64.b64encode(digest).decode()) == ("sha1", digest)
    for bad, code in (
        ("md5 AAAA", "checksum_algorithm_unsupported"),
        ("sha256 not-base64!", "invalid_header"),
        ("sha256 " + base64.b64encode(digest).decode(), "invalid_header"),  # wrong length
    ):
        with pytest.raises(AppError) as info:
            protocol.parse_checksum(bad)
        assert info.value.code == code


def test_concat_parsing() -> None:
    assert protocol.parse_concat(None) is None
    assert protocol.parse_concat("partial") == ("partial", [])
    assert protocol.parse_concat("final;/v1/tus/upl_a http://h/v1/tus/upl_b") == (
        "final",
        ["upl_a", "upl_b"],
    )
    for bad in ("final;", "final;/v1/tus/a /v1/tus/a", "whole", "final"):
        with pytest.raises(AppError):
            protocol.parse_concat(bad)


# Headers are decoded as latin-1: byte 0xB2 is "²", a digit to str.isdigit()
# that int() refuses; other scripts' digits are not lengths either.
@pytest.mark.parametrize("value", ["-1", "1.5", "abc", "9" * 19, "", "²", "1²", "١٢", "１２"])
def test_lengths_are_plain_non_negative_integers(value: str) -> None:
    with pytest.raises(AppError):
        protocol.parse_length(value, "Upload-Length")


def test_version_check() -> None:
    protocol.check_version("1.0.0")
    with pytest.raises(AppError) as info:
        protocol.check_version("0.2.2")
    assert info.value.status == 412
    assert info.value.headers["Tus-Version"] == "1.0.0"
