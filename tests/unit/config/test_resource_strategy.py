"""``oauth.resource_strategy``, ``oauth.require_userinfo_at_login``: only coherent settings load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bff.config.loader import load_settings_from_mapping
from bff.errors import ConfigError
from tests.unit.config.test_loader import base, problems_of, write_keys

API = "https://api.example/"
ROUTE = {"prefix": "/api", "upstream": "https://api.example"}


@pytest.fixture
def keydir(tmp_path: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any]) -> Path:
    write_keys(tmp_path, client_jwk, cookie_jwk)
    return tmp_path


def test_defaults_are_todays_behaviour_and_best_effort_userinfo(keydir: Path) -> None:
    s = load_settings_from_mapping(base(), {}, base_dir=keydir).settings
    assert s.oauth.resource_strategy == "refresh_per_resource"
    assert s.oauth.require_userinfo_at_login is False


@pytest.mark.parametrize(("oauth", "routes", "key", "message"), [
    ({"resource_strategy": "per_route"}, [], "oauth.resource_strategy", "one of"),
    ({"resource_strategy": ""}, [], "oauth.resource_strategy", "one of"),
    ({"resource_strategy": "at_code_exchange"}, [], "oauth.resources", "must name"),
    ({"resource_strategy": "none", "resources": [API]}, [], "oauth.resources", "empty"),
    ({"resource_strategy": "none"}, [{**ROUTE, "resource": API}], "routes[0].resource",
     "empty"),
    ({"require_userinfo_at_login": True, "fetch_userinfo_at_login": False}, [],
     "oauth.require_userinfo_at_login", "fetch_userinfo_at_login"),
])
def test_incoherent_resource_settings_are_refused_by_name(
        keydir: Path, oauth: dict[str, Any], routes: list[dict[str, Any]], key: str,
        message: str) -> None:
    """A strategy that cannot honour the configured resources is refused at load."""
    raw = base(oauth=oauth)
    raw["routes"] = routes
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(raw, {}, base_dir=keydir)
    found = problems_of(caught)
    assert list(found) == [key]
    assert message in found[key]


@pytest.mark.parametrize(("oauth", "routes"), [
    ({"resource_strategy": "at_code_exchange", "resources": [API]},
     [{**ROUTE, "resource": API}]),
    ({"resource_strategy": "none"}, [{**ROUTE, "scopes": ["accounts"]}]),
    ({"resource_strategy": "refresh_per_resource", "resources": [API]},
     [{**ROUTE, "resource": API}]),
])
def test_coherent_resource_settings_load(keydir: Path, oauth: dict[str, Any],
                                         routes: list[dict[str, Any]]) -> None:
    raw = base(oauth={**oauth, "scope": "openid accounts"})
    raw["routes"] = routes
    s = load_settings_from_mapping(raw, {}, base_dir=keydir).settings
    assert s.oauth.resource_strategy == oauth["resource_strategy"]
