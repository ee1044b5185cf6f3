"""Our base45 decoder gives what the `base45` library gives: the same bytes for every valid text and a
ValueError for every invalid one, so swapping it in changed no reply a scanner or partner sees."""

from __future__ import annotations

import base45
import pytest
from hypothesis import given, settings, strategies as st

from app.base45_decoder import ALPHABET, b45decode

MANY = settings(max_examples=2000, deadline=None)


def library(text: str) -> bytes | str:
    try:
        return base45.b45decode(text)
    except ValueError:
        return "ValueError"


def ours(text: str) -> bytes | str:
    try:
        return b45decode(text)
    except ValueError:
        return "ValueError"


@pytest.mark.parametrize("text, expected", [  # RFC 9285, section 4.3 and 4.4
    ("BB8", b"AB"), ("%69 VD92EX0", b"Hello!!"), ("UJCLQE7W581", b"base-45"), ("QED8WEX0", b"ietf!"), ("", b""),
])
def test_the_rfc_examples_decode(text: str, expected: bytes) -> None:
    assert b45decode(text) == expected


@pytest.mark.parametrize("text", [
    "GGW",  # 16 + 45·16 + 2025·32 = 65,536: one more than two bytes hold
    ":::",  # the largest triple, 91,124
    "::",  # a final pair above 255
    "06",  # 0 + 45·6 = 270
    "A",  # 3n + 1 characters
    "ABCD",
    "!!!",  # outside the alphabet
    "abc",  # lower case is not base45
    "AB\nC",  # a newline inside
    "ÄBC",  # not ASCII
    "BB8\x00",
])
def test_invalid_text_is_refused_as_the_library_refuses_it(text: str) -> None:
    with pytest.raises(ValueError):
        b45decode(text)
    assert library(text) == "ValueError"


def test_trailing_newlines_are_ignored_as_by_the_library() -> None:
    assert b45decode("BB8\n\n") == base45.b45decode("BB8\n\n") == b"AB"


@MANY
@given(st.binary(max_size=600))
def test_whatever_the_library_encodes_decodes_to_itself(data: bytes) -> None:
    assert b45decode(base45.b45encode(data).decode("ascii")) == data


@MANY
@given(st.text(alphabet=ALPHABET + "\n!az\x00é", max_size=40))
def test_any_text_gives_what_the_library_gives(text: str) -> None:
    assert ours(text) == library(text)


@MANY
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_any_text_in_the_alphabet_gives_what_the_library_gives(text: str) -> None:
    # Most of these are of a valid length; many hold a triple or a pair too large for its bytes.
    assert ours(text) == library(text)
