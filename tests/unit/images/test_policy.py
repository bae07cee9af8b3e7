"""Which original a caller gets, and the words of a failed image's problems."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from imghost.errors import AppError
from imghost.images.policy import derivatives_unavailable, failure_sentence, served_original


@dataclass(frozen=True)
class Facts:
    public_blob_key: str | None = None
    public_sha256: str | None = None
    public_size: int | None = None
    keep_gps: bool = False
    original_gps: bool | None = None
    blob_key: str = "u/i/original"
    sha256: str = "aa"
    size: int = 10


def with_copy(original_gps: bool | None = True) -> Facts:
    return Facts("u/i/derived/v1/original-nogps", "bb", 9, original_gps=original_gps)


def test_the_owner_always_gets_the_original() -> None:
    for facts in (Facts(), with_copy(), Facts(original_gps=True)):
        assert served_original(facts, True) == ("u/i/original", "aa", 10)


def test_others_get_the_copy_or_an_original_known_to_be_gps_free() -> None:
    assert served_original(with_copy(), False)[0].endswith("nogps")
    assert served_original(Facts(original_gps=False), False)[0] == "u/i/original"
    # The owner opted in: the original, GPS and all, whatever is known.
    assert served_original(Facts(keep_gps=True, original_gps=True), False)[0] == "u/i/original"


@pytest.mark.parametrize("original_gps", [True, None])
def test_never_a_possibly_gps_original_to_others(original_gps: bool | None) -> None:
    with pytest.raises(AppError) as caught:
        served_original(Facts(original_gps=original_gps), False)
    assert (caught.value.status, caught.value.code) == (409, "gps_copy_unavailable")


def test_failure_words() -> None:
    assert failure_sentence("gps_copy", "unprocessable") == (
        "The copy of the original without its GPS position could not be made: "
        "the decoder rejects the file."
    )
    assert failure_sentence(None, None) == "Processing failed: it failed on every attempt."
    problem = derivatives_unavailable("img_x", "store", "store_error")
    assert (problem.status, problem.code) == (409, "image_failed")
    assert "/images/img_x" in problem.detail and "store" in problem.detail
