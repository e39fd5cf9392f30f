"""Property tests for ``returnTo``: what is accepted stays on this origin under any decoding."""

from __future__ import annotations

from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bff.errors import InvalidReturnTo
from bff.handler.browser import check_return_to

BASE = "https://app.example/spa/page"

# the pieces an attacker builds open redirects from, raw and encoded once or twice
_ATOMS = ["/", "\\", ":", "@", "?", "#", ".", "%", "2F", "5C", "%2F", "%5C", "%2f", "%5c",
          "%25", "%252F", "%0d", "%0a", "%09", "%00", "\r", "\n", "\t", "http", "https",
          "evil.example", "javascript", "a", "~", "%E2%80%AE", "\x7f", " ", "&", "="]
pieces = st.lists(st.one_of(st.sampled_from(_ATOMS), st.text(max_size=3)), max_size=12)
candidates = st.one_of(pieces.map("".join), pieces.map(lambda p: "/" + "".join(p)),
                       st.text(max_size=40))


def readings(value: str) -> list[str]:
    """The value and each percent-decoding of it until nothing changes (bounded)."""
    out = [value]
    for _ in range(8):
        decoded = unquote(out[-1], errors="replace")
        if decoded == out[-1]:
            break
        out.append(decoded)
    return out


def same_origin_path(reading: str) -> bool:
    slashed = reading.replace("\\", "/")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in slashed):
        return False
    if not slashed.startswith("/") or slashed.startswith("//"):
        return False
    parts = urlsplit(slashed)
    target = urlsplit(urljoin(BASE, slashed))
    return not parts.scheme and not parts.netloc and (
        target.scheme, target.netloc) == ("https", "app.example")


@pytest.mark.spec("RFC 9700 §4.11")
@settings(max_examples=400, deadline=None)
@given(candidates)
def test_an_accepted_return_to_is_a_same_origin_path_under_every_decoding(value: str) -> None:
    """Invariant: an accepted returnTo, under any number of percent-decodings and with
    backslashes read as slashes, is a same-origin path without control characters."""
    try:
        accepted = check_return_to(value)
    except InvalidReturnTo:
        return
    assert accepted == value
    assert all(same_origin_path(r) for r in readings(value)), readings(value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                                exclude_characters="%/\\?#"), min_size=1,
                        max_size=8), min_size=1, max_size=5))
def test_plain_paths_are_accepted_whole(segments: list[str]) -> None:
    """Invariant: a path of percent-encoded ordinary segments is accepted unchanged (the check
    does not refuse everything)."""
    value = "/" + "/".join(quote(s, safe="") for s in segments)
    assert check_return_to(value) == value
