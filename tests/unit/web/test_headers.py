"""Strict-Transport-Security on every answer when the public URL is https (server.hsts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.crypto.keys import generate_seal_jwk
from tests.support.stack import bff_config, running_bff

HSTS = "strict-transport-security"


def headers_of(tmp_path: Path, client_jwk: dict[str, Any], public_url: str, path: str,
               **server: Any) -> httpx.Headers:
    """The headers of one answer of a BFF served over a real socket."""
    config = bff_config(tmp_path, "https://as.example", client_jwk, [generate_seal_jwk("k")],
                        server={"public_url": public_url, **server})
    with running_bff(config) as bff, bff.client() as http:
        return http.get(path).headers


@pytest.mark.spec("RFC 6797 §7.1")
def test_https_public_url_sends_hsts_on_every_answer(tmp_path: Path,
                                                     client_jwk: dict[str, Any]) -> None:
    for path in ("/bff/session", "/no-such-path"):
        headers = headers_of(tmp_path, client_jwk, "https://app.example", path)
        assert headers[HSTS] == "max-age=31536000"


def test_hsts_can_be_left_to_a_proxy_in_front(tmp_path: Path,
                                              client_jwk: dict[str, Any]) -> None:
    assert HSTS not in headers_of(tmp_path, client_jwk, "https://app.example", "/bff/session",
                                  hsts=False)


@pytest.mark.spec("RFC 6797 §7.2")
def test_no_hsts_over_plain_http(tmp_path: Path, client_jwk: dict[str, Any]) -> None:
    assert HSTS not in headers_of(tmp_path, client_jwk, "http://127.0.0.1:5173", "/bff/session")
