"""``returnTo`` must stay on this site: a relative path, never another origin (open redirects)."""

from __future__ import annotations

from typing import Any

import pytest

from bff.errors import InvalidReturnTo
from bff.handler.browser import check_return_to


@pytest.mark.parametrize("value", ["/", "/a/b?x=1#f", "/a:b", "/path%2F..%2Fx", "/a%20b",
                                   "/?next=https://evil", "/über", "/" + "a" * 2047, "/100%",
                                   "/a%2Fb", "/%E2%82%AC", "/%ff"])
def test_accepted(value: str) -> None:
    assert check_return_to(value) == value


def test_absent_means_root() -> None:
    assert check_return_to(None) == "/"


@pytest.mark.spec("RFC 9700 §4.11")
@pytest.mark.parametrize("value", [
    "https://evil", "http://evil/", "//evil", "//evil/path", "/\\evil", "\\\\evil", "\\/evil",
    "javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "evil", "", "./a", "?x",
    "#f", " /a", "https:/evil", "/a\\b",
])
def test_refused_open_redirects(value: str) -> None:
    """RFC 9700 §4.11: only a path on this site is accepted, never a URL that leaves it."""
    with pytest.raises(InvalidReturnTo):
        check_return_to(value)


@pytest.mark.spec("RFC 9700 §4.11")
@pytest.mark.parametrize("value", ["/\r\nSet-Cookie: x=1", "/\n/evil", "/\t/evil", "/\x00",
                                   "/a\x7f", "/\x1b[0m", "\t//evil"])
def test_raw_control_characters_refused(value: str) -> None:
    """RFC 9700 §4.11: raw control characters are refused; URL parsers drop tab and newline."""
    # "/\t/evil" parses as "//evil"
    with pytest.raises(InvalidReturnTo):
        check_return_to(value)


@pytest.mark.parametrize("value", [1, ["/"], {"path": "/"}, b"/", True, 1.5])
def test_non_strings_refused(value: Any) -> None:
    with pytest.raises(InvalidReturnTo):
        check_return_to(value)


def test_over_2048_characters_refused() -> None:
    with pytest.raises(InvalidReturnTo):
        check_return_to("/" + "a" * 2048)


@pytest.mark.spec("RFC 9700 §4.11")
@pytest.mark.parametrize("value", [
    "/%2F%2Fevil", "/%2f/evil", "/%5Cevil", "/%5cevil", "/a%5Cb", "/%0d%0aSet-Cookie:x=1",
    "/%0a/evil", "/%09/evil", "/%00", "/%252F%252Fevil", "/%25252F%25252Fevil", "/%255Cevil",
    "/%2F%5Cevil", "/%E2%80%A8%0D", "/%7F", "/%C2%85", "/%2F%2F%2F", "/%2Fhttps:%2F%2Fevil",
    "/%2525252525252F/evil", "/%25252525252Fevil",
])
def test_refused_after_percent_decoding(value: str) -> None:
    """RFC 9700 §4.11: a value that a later decoding turns into another origin, a backslash or
    a control character is refused, however many times it was encoded."""
    with pytest.raises(InvalidReturnTo):
        check_return_to(value)
