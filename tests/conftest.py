"""Shared fixtures: anyio on asyncio only, keys, a frozen clock, a settings factory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bff.config.loader import LoadedConfig, load_settings_from_mapping
from bff.crypto.keys import generate_seal_jwk, generate_signing_jwk
from bff.oauth.clock import FrozenClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(scope="session")
def client_jwk() -> dict[str, Any]:
    return generate_signing_jwk("ES256")


@pytest.fixture(scope="session")
def cookie_jwk() -> dict[str, Any]:
    return generate_seal_jwk("k1")


def make_config(tmp: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any],
                **tables: dict[str, Any] | list[Any]) -> LoadedConfig:
    """A LoadedConfig with sensible test defaults, overridden per table."""
    (tmp / "client.jwk").write_text(json.dumps(client_jwk))
    (tmp / "cookie.jwk").write_text(json.dumps(cookie_jwk))
    raw: dict[str, Any] = {
        "server": {"public_url": "http://127.0.0.1:5173"},
        "oauth": {"issuer": "http://127.0.0.1:3000", "client_id": "bff",
                  "client_key_file": "client.jwk", "redirect_uri": "http://127.0.0.1:5173/",
                  "post_logout_redirect_uri": "http://127.0.0.1:5173/"},
        "session": {"cookie_key_files": ["cookie.jwk"]},
    }
    for table, values in tables.items():
        if isinstance(values, dict):
            raw[table] = {**raw.get(table, {}), **values}
        else:
            raw[table] = values
    return load_settings_from_mapping(raw, {}, base_dir=tmp)


@pytest.fixture
def config_factory(tmp_path: Path, client_jwk: dict[str, Any],
                   cookie_jwk: dict[str, Any]) -> Iterator[Any]:
    def factory(**tables: Any) -> LoadedConfig:
        return make_config(tmp_path, client_jwk, cookie_jwk, **tables)
    yield factory
