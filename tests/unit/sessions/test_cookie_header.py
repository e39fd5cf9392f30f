"""The one Cookie header parser (RFC 6265 §4.2.1 / §5.4)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff.sessions.cookies import parse_cookie_header as parse_cookies

# RFC 6265 §4.1.1: cookie-name is a token, cookie-value is cookie-octets (which include "=")
TOKEN = st.text(alphabet=string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~",
                min_size=1, max_size=12)
OCTETS = st.text(alphabet="".join(c for c in map(chr, range(0x21, 0x7F)) if c not in '",;\\'),
                 max_size=20)


@pytest.mark.spec("RFC 6265 §5.4")
@given(st.lists(st.tuples(TOKEN, OCTETS), max_size=8))
def test_first_value_of_each_name_wins(pairs: list[tuple[str, str]]) -> None:
    """Invariant: for a header as a browser sends it ("n=v; n=v", most specific first), each name
    maps to the value of its first pair, and to nothing else."""
    header = "; ".join(f"{n}={v}" for n, v in pairs)
    expected: dict[str, str] = {}
    for name, value in pairs:
        expected.setdefault(name, value)
    assert parse_cookies(header) == expected


@given(st.text(max_size=60))
def test_nothing_crosses_a_pair_boundary(raw: str) -> None:
    """Invariant: whatever the header holds, every parsed name and value come from one
    ';'-separated pair, split at its first '=' (a value never swallows a neighbour)."""
    parts = [p.strip() for p in raw.split(";")]
    for name, value in parse_cookies(raw).items():
        assert name and ";" not in name + value and "=" not in name
        assert f"{name}={value}" in parts
        first = next(p for p in parts if p.partition("=")[0] == name and "=" in p)
        assert first == f"{name}={value}", "the first pair of a name wins"


def test_empty_and_valueless_parts() -> None:
    assert parse_cookies(None) == {} == parse_cookies("")
    assert parse_cookies("flag; =x; a=1;;a=2") == {"a": "1"}
