"""``bff demo``'s second factor agrees with the dev AS's TOTP (RFC 6238)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from bff.demo_totp import code_at, seed_for, totp_uri
from tests.support.totp import hotp
from tests.support.totp import seed_for as as_seed_for


@pytest.mark.spec("RFC 6238 §4")
@pytest.mark.parametrize("login", ["alice", "bob", "zoë"])
def test_demo_code_is_the_one_the_dev_as_accepts(login: str) -> None:
    # tests/support/totp.py is what every integration login proves against the real AS
    assert seed_for(login) == as_seed_for(login)
    for now in (0, 59, 1_111_111_109, 2_000_000_000):
        assert code_at(login, now) == hotp(as_seed_for(login), now // 30)
    assert code_at("alice", 0) != code_at("bob", 0)


def test_demo_uri_carries_the_seed_and_the_as_label() -> None:
    uri = urlsplit(totp_uri("alice"))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/Example Bank:alice"
    query = {k: v[0] for k, v in parse_qs(uri.query).items()}
    assert base64.b32decode(query["secret"] + "=" * (-len(query["secret"]) % 8)) == \
        seed_for("alice")
    assert query["issuer"] == "Example Bank" and query["period"] == "30"
    assert query["digits"] == "6" and query["algorithm"] == "SHA1"
