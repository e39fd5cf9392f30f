"""The cache lifetime of AS metadata and keys is ``oauth.metadata_ttl``; changes arrive without
a restart (RFC 8414 §3, OpenID Connect Core §10.1.1)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bff.app import build_parts
from bff.config.loader import load_settings_from_mapping
from bff.crypto.keys import generate_seal_jwk, generate_signing_jwk, public_jwk
from bff.oauth.clock import FrozenClock
from tests.unit.oauth.fake_as import ISSUER, FakeAS, json_response, metadata


def config(tmp_path: Path, ttl: int) -> Any:
    (tmp_path / "client.jwk").write_text(json.dumps(generate_signing_jwk()))
    (tmp_path / "cookie.jwk").write_text(json.dumps(generate_seal_jwk("k1")))
    return load_settings_from_mapping({
        "server": {"public_url": "https://app.example"},
        "oauth": {"issuer": ISSUER, "client_id": "bff", "client_key_file": "client.jwk",
                  "redirect_uri": "https://app.example/", "metadata_ttl": ttl},
        "session": {"cookie_key_files": ["cookie.jwk"]}}, {}, base_dir=tmp_path)


def test_changed_metadata_is_picked_up_after_the_configured_ttl(tmp_path: Path) -> None:
    fake, clock = FakeAS(), FrozenClock()
    fake.on("/.well-known/openid-configuration",
            json_response(metadata(token_endpoint=f"{ISSUER}/token")),
            json_response(metadata(token_endpoint=f"{ISSUER}/token-v2")))
    parts = build_parts(config(tmp_path, ttl=120), clock=clock, http=fake.client())

    async def endpoints() -> list[str]:
        seen = [(await parts.client.discovery.metadata()).token_endpoint]
        clock.advance(100)
        seen.append((await parts.client.discovery.metadata()).token_endpoint)
        clock.advance(30)
        seen.append((await parts.client.discovery.metadata()).token_endpoint)
        return seen

    assert asyncio.run(endpoints()) == [f"{ISSUER}/token", f"{ISSUER}/token",
                                        f"{ISSUER}/token-v2"]


def test_a_new_kid_is_fetched_without_waiting_for_the_ttl(tmp_path: Path) -> None:
    fake, clock = FakeAS(), FrozenClock()
    old, new = (public_jwk(generate_signing_jwk(kid=k)) for k in ("old", "new"))
    fake.on("/.well-known/openid-configuration", json_response(metadata()))
    fake.on("/jwks", json_response({"keys": [old]}), json_response({"keys": [new]}))
    parts = build_parts(config(tmp_path, ttl=3600), clock=clock, http=fake.client())

    async def kids() -> list[set[str | None]]:
        first = {k.kid for k in (await parts.client.discovery.jwks()).keys}
        clock.advance(60)  # past the refetch cool-down, far inside the ttl
        second = {k.kid for k in (await parts.client.discovery.jwks("new")).keys}
        return [first, second]

    assert asyncio.run(kids()) == [{"old"}, {"new"}]


@pytest.mark.parametrize("ttl", [0, 59, 86401])
def test_metadata_ttl_out_of_range_is_refused(tmp_path: Path, ttl: int) -> None:
    from bff.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        config(tmp_path, ttl)
    assert [p.key for p in exc.value.problems] == ["oauth.metadata_ttl"]
