"""Settings: strict validation that reports every problem at once, env overrides, secrets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bff.config.loader import LoadedConfig, load_settings, load_settings_from_mapping
from bff.crypto.keys import generate_seal_jwk, generate_signing_jwk, public_jwk
from bff.crypto.seal import b64url_decode
from bff.errors import ConfigError, Problem
from tests.conftest import make_config

ConfigFactory = Callable[..., LoadedConfig]

BROKEN_TOML = """
[server]
public_url = "http://127.0.0.1:5173"
port = "eighty"
bogus = 1

[oauth]
issuer = "not a url"
client_id = "bff"
client_key_file = "missing-client.jwk"
redirect_uri = "http://app.example/callback"
clock_skew = 120
algorithms = ["ES256", "RS256"]

[session]
cookie_key_files = ["missing-cookie.jwk"]

[insecure]
allow_algorithms = ["HS256"]

[[routes]]
prefix = "/bff/api"
upstream = "https://api.example"

[[routes]]
prefix = "/api"
upstream = "https://api.example"

[[routes]]
prefix = "/api"
upstream = "https://api2.example"
"""

BROKEN_KEYS = {
    "server.port", "server.bogus", "oauth.issuer", "oauth.redirect_uri", "oauth.clock_skew",
    "oauth.algorithms", "insecure.allow_algorithms", "oauth.client_key_file",
    "session.cookie_key_files[0]", "routes[0].prefix", "routes[2].prefix",
}

VALID_TOML = """
[server]
public_url = "https://app.example"

[oauth]
issuer = "https://as.example"
client_id = "bff"
client_key_file = "client.jwk"
redirect_uri = "https://app.example/"

[session]
cookie_key_files = ["cookie.jwk"]

[[routes]]
prefix = "/api"
upstream = "https://api.example"
"""


def write_keys(directory: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any]) -> None:
    (directory / "client.jwk").write_text(json.dumps(client_jwk))
    (directory / "cookie.jwk").write_text(json.dumps(cookie_jwk))


def problems_of(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return {p.key: p.message for p in exc.value.problems}


def base(**tables: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "server": {"public_url": "https://app.example"},
        "oauth": {"issuer": "https://as.example", "client_id": "bff",
                  "client_key_file": "client.jwk", "redirect_uri": "https://app.example/"},
        "session": {"cookie_key_files": ["cookie.jwk"]},
    }
    for name, values in tables.items():
        raw[name] = {**raw.get(name, {}), **values}
    return raw


@pytest.fixture
def keydir(tmp_path: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any]) -> Path:
    write_keys(tmp_path, client_jwk, cookie_jwk)
    return tmp_path


def test_valid_file_loads(keydir: Path, client_jwk: dict[str, Any],
                          cookie_jwk: dict[str, Any]) -> None:
    path = keydir / "bff.toml"
    path.write_text(VALID_TOML)
    config = load_settings(path, environ={})
    s = config.settings
    assert s.oauth.issuer == "https://as.example"
    assert s.oauth.algorithms == ["PS256", "ES256", "EdDSA"]
    assert s.oauth.clock_skew == 60
    assert s.session.store == "cookie"
    assert s.routes[0].prefix == "/api"
    assert config.client_jwk == client_jwk
    assert [k.kid for k in config.seal_keys] == [cookie_jwk["kid"]]
    assert config.seal_keys[0].key == b64url_decode(cookie_jwk["k"])
    assert "redacted" in repr(config)
    assert client_jwk["d"] not in repr(config)


def test_factory_defaults_load(config_factory: ConfigFactory) -> None:
    config = config_factory()
    assert config.settings.server.public_url == "http://127.0.0.1:5173"


def test_broken_config_reports_every_problem_naming_each_key(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN_TOML)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    found = problems_of(caught)
    assert set(found) == BROKEN_KEYS
    assert found["server.port"] == "must be an integer"
    assert found["server.bogus"] == "unknown key"
    assert "https" in found["oauth.redirect_uri"]
    assert "RS256" in found["oauth.algorithms"]
    assert "HMAC" in found["insecure.allow_algorithms"]
    assert "not found" in found["oauth.client_key_file"]
    assert "under server.path_prefix" in found["routes[0].prefix"]
    assert "another route" in found["routes[2].prefix"]
    assert all(str(p).startswith(f"{p.key}: ") for p in caught.value.problems)
    assert str(caught.value).count("\n") == len(BROKEN_KEYS) - 1


@pytest.mark.parametrize(("tables", "key", "message"), [
    ({"oauth": {"issuer": "ftp://as.example"}}, "oauth.issuer", "absolute http(s) URL"),
    ({"oauth": {"issuer": "http://as.example"}}, "oauth.issuer", "https"),
    ({"oauth": {"issuer": "https://as.example/#frag"}}, "oauth.issuer", "fragment"),
    ({"oauth": {"issuer": ""}}, "oauth.issuer", "required"),
    ({"oauth": {"client_id": ""}}, "oauth.client_id", "required"),
    ({"oauth": {"scope": "profile"}}, "oauth.scope", "openid"),
    ({"oauth": {"algorithms": []}}, "oauth.algorithms", "empty"),
    ({"oauth": {"dpop_algorithm": "RS256"}}, "oauth.dpop_algorithm", "ES256"),
    ({"oauth": {"clock_skew": -1}}, "oauth.clock_skew", "60"),
    ({"oauth": {"clock_skew": 61}}, "oauth.clock_skew", "60"),
    ({"oauth": {"http_timeout": 0}}, "oauth.http_timeout", "positive"),
    ({"oauth": {"authorization_params": {"state": "x"}}}, "oauth.authorization_params.state",
     "BFF itself"),
    ({"oauth": {"authorization_params": {"a": 1}}}, "oauth.authorization_params",
     "table of strings"),
    ({"oauth": {"resources": ["http://api.example"]}}, "oauth.resources[0]", "https"),
    ({"oauth": {"resources": "https://api.example"}}, "oauth.resources", "list"),
    ({"oauth": {"resources": [1]}}, "oauth.resources[0]", "string"),
    ({"oauth": {"id_token_hint_in_logout": "yes"}}, "oauth.id_token_hint_in_logout",
     "true or false"),
    ({"oauth": {"http_timeout": "1"}}, "oauth.http_timeout", "number"),
    ({"insecure": {"allow_algorithms": ["none"]}}, "insecure.allow_algorithms", "never"),
    ({"server": {"path_prefix": "/bff/"}}, "server.path_prefix", "start with /"),
    ({"server": {"port": 70000}}, "server.port", "65535"),
    ({"server": {"log_level": "trace"}}, "server.log_level", "debug"),
    ({"server": {"static_dir": "/nonexistent/dir"}}, "server.static_dir", "directory"),
    ({"session": {"store": "file"}}, "session.store", "cookie or server"),
    ({"session": {"idle_timeout": 0}}, "session.idle_timeout", "positive"),
    ({"session": {"login_timeout": 10}}, "session.login_timeout", "30"),
    ({"session": {"max_login_transactions": 11}}, "session.max_login_transactions", "10"),
    ({"cors": {"allowed_origins": ["https://app.example/path"]}}, "cors.allowed_origins[0]",
     "origin"),
    ({"cors": {"allowed_origins": ["http://evil.example"]}}, "cors.allowed_origins[0]", "https"),
    ({"store": {"backend": "sql"}}, "store.backend", "memory or redis"),
    ({"store": {"backend": "redis"}}, "store.url", "required"),
    ({"store": {"url": "http://redis"}}, "store.url", "redis://"),
    ({"store": {"max_connections": 0}}, "store.max_connections", "between 1"),
    ({"store": {"timeout": 0}}, "store.timeout", "between 0"),
    ({"store": {"breaker_cooldown": 0}}, "store.breaker_cooldown", "between 0.05"),
    ({"store": {"mirror_staleness": 0.1}}, "store.mirror_staleness", "0 (off)"),
    ({"server": {"workers": 0}}, "server.workers", "between 1 and 64"),
    ({"server": {"engine": "hypercorn"}}, "server.engine", "uvicorn or granian"),
    # several processes would each keep their own one-use transactions and logout markers
    ({"server": {"workers": 2, "metrics": False}}, "server.workers", "store.backend = redis"),
    ({"server": {"workers": 2, "engine": "granian"},
      "store": {"backend": "redis", "url": "redis://r"}}, "server.metrics", "must be false"),
])
def test_single_problems(keydir: Path, tables: dict[str, dict[str, Any]], key: str,
                         message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(base(**tables), {}, base_dir=keydir)
    found = problems_of(caught)
    assert list(found) == [key]
    assert message in found[key]


@pytest.mark.parametrize("url", ["http://localhost:8080/", "http://127.0.0.1/",
                                 "http://[::1]:8000/", "http://app.localhost/"])
def test_plain_http_allowed_on_loopback(keydir: Path, url: str) -> None:
    config = load_settings_from_mapping(base(oauth={"redirect_uri": url}), {}, base_dir=keydir)
    assert config.settings.oauth.redirect_uri == url


def test_table_of_wrong_type(keydir: Path) -> None:
    raw = {**base(), "cors": "everything"}
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(raw, {}, base_dir=keydir)
    assert problems_of(caught) == {"cors": "must be a table"}


@pytest.mark.parametrize(("routes", "key", "message"), [
    ([{"prefix": "/bff", "upstream": "https://a.example"}], "routes[0].prefix", "path_prefix"),
    ([{"prefix": "api", "upstream": "https://a.example"}], "routes[0].prefix", "start with /"),
    ([{"prefix": "/a/../b", "upstream": "https://a.example"}], "routes[0].prefix",
     "start with /"),
    ([{"prefix": "/api"}], "routes[0].upstream", "required"),
    ([{"prefix": "/api", "upstream": "https://a.example/?x=1"}], "routes[0].upstream", "query"),
    ([{"prefix": "/api", "upstream": "https://a.example", "resource": "urn:x"}],
     "routes[0].resource", "http"),
    ([{"prefix": "/api", "upstream": "https://a.example", "read_timeout": 0}],
     "routes[0].read_timeout", "positive"),
    ([{"prefix": "/api", "upstream": "https://a.example", "max_body_bytes": -1}],
     "routes[0].max_body_bytes", "negative"),
    ([{"prefix": "/api", "upstream": "https://a.example", "nope": 1}], "routes[0].nope",
     "unknown"),
    ([{"prefix": "/api", "upstream": "https://a.example", "scopes": ["payments"]}],
     "routes[0].scopes", "not in oauth.scope"),
    ([{"prefix": "/api", "upstream": "https://a.example", "scopes": ["openid email"]}],
     "routes[0].scopes", "scope token"),
    ([{"prefix": "/api", "upstream": "https://a.example", "scopes": ['pro"file']}],
     "routes[0].scopes", "scope token"),
    ([{"prefix": "/api", "upstream": "https://a.example", "keepalive_timeout": 0}],
     "routes[0].keepalive_timeout", "positive"),
    ([{"prefix": "/api", "upstream": "https://a.example", "forward_headers": ["X-A", "Cookie"]}],
     "routes[0].forward_headers[1]", "never forwarded"),
    ([{"prefix": "/api", "upstream": "https://a.example",
       "forward_headers": ["x-http-method-override"]}],
     "routes[0].forward_headers[0]", "never forwarded"),
    ([{"prefix": "/api", "upstream": "https://a.example", "forward_headers": ["X-Original-URL"]}],
     "routes[0].forward_headers[0]", "never forwarded"),
    ([{"prefix": "/api", "upstream": "https://a.example", "forward_headers": ["X-A: 1"]}],
     "routes[0].forward_headers[0]", "not a header name"),
])
def test_route_problems(keydir: Path, routes: list[dict[str, Any]], key: str,
                        message: str) -> None:
    raw = {**base(), "routes": routes}
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(raw, {}, base_dir=keydir)
    found = problems_of(caught)
    assert list(found) == [key]
    assert message in found[key]


@pytest.mark.spec("RFC 6749 §6")
def test_route_scopes_within_the_login_scope_load(keydir: Path) -> None:
    """RFC 6749 §6: a refresh may only narrow; route scopes from oauth.scope are accepted."""
    raw = {**base(), "routes": [{"prefix": "/api", "upstream": "https://a.example",
                                 "scopes": ["profile", "email"]}],
           "insecure": {"loopback_endpoints": True}}
    loaded = load_settings_from_mapping(raw, {}, base_dir=keydir).settings
    assert loaded.routes[0].scopes == ["profile", "email"]
    assert loaded.insecure.loopback_endpoints is True


def test_route_next_to_bff_prefix_is_fine(keydir: Path) -> None:
    raw = {**base(), "routes": [{"prefix": "/bffapi", "upstream": "https://a.example"}]}
    assert load_settings_from_mapping(raw, {}, base_dir=keydir).settings.routes[0].prefix


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "absent.toml", environ={})
    assert [p.message for p in caught.value.problems] == ["file not found"]
    (tmp_path / "bad.toml").write_text("[server\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "bad.toml", environ={})
    assert "not valid TOML" in caught.value.problems[0].message


def test_env_overrides_issuer(keydir: Path) -> None:
    env = {"BFF_OAUTH__ISSUER": "https://other.example"}
    config = load_settings_from_mapping(base(), env, base_dir=keydir)
    assert config.settings.oauth.issuer == "https://other.example"


def test_env_values_parse_as_toml_literals(keydir: Path) -> None:
    env = {"BFF_SERVER__PORT": "9000", "BFF_OAUTH__HTTP_TIMEOUT": "2.5",
           "BFF_OAUTH__CLOCK_SKEW": "30", "BFF_OAUTH__FETCH_USERINFO_AT_LOGIN": "false",
           "BFF_OAUTH__ALGORITHMS": '["ES256"]', "BFF_SESSION__STORE": "server"}
    s = load_settings_from_mapping(base(), env, base_dir=keydir).settings
    assert s.server.port == 9000
    assert s.oauth.http_timeout == 2.5
    assert s.oauth.clock_skew == 30
    assert s.oauth.fetch_userinfo_at_login is False
    assert s.oauth.algorithms == ["ES256"]
    assert s.session.store == "server"


def test_env_values_are_validated_like_the_file(keydir: Path) -> None:
    env = {"BFF_SERVER__PORT": "eighty", "BFF_OAUTH__CLOCK_SKEW": "120",
           "BFF_NEWTABLE__KEY": "1"}
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(base(), env, base_dir=keydir)
    assert set(problems_of(caught)) == {"server.port", "oauth.clock_skew", "newtable"}


def test_env_ignores_other_names(keydir: Path) -> None:
    env = {"BFF_PORT": "1", "BFF_A__B__C": "1", "BFF___X": "1", "OTHER__PORT": "1"}
    assert load_settings_from_mapping(base(), env, base_dir=keydir).settings.server.port == 8000


def test_env_override_does_not_change_the_callers_mapping(keydir: Path) -> None:
    raw = base()
    load_settings_from_mapping(raw, {"BFF_OAUTH__ISSUER": "https://other.example"},
                               base_dir=keydir)
    assert raw["oauth"]["issuer"] == "https://as.example"


def test_secrets_from_env(tmp_path: Path, client_jwk: dict[str, Any]) -> None:
    cookie_keys = [generate_seal_jwk("new"), generate_seal_jwk("old")]
    env = {"BFF_SECRETS__CLIENT_KEY": json.dumps(client_jwk),
           "BFF_SECRETS__COOKIE_KEYS": json.dumps({"keys": cookie_keys})}
    raw = base(oauth={"client_key_file": ""}, session={"cookie_key_files": []})
    config = load_settings_from_mapping(raw, env, base_dir=tmp_path)
    assert config.client_jwk == client_jwk
    assert [k.kid for k in config.seal_keys] == ["new", "old"]


def test_secrets_env_takes_precedence_over_files(keydir: Path) -> None:
    other = generate_signing_jwk("EdDSA")
    env = {"BFF_SECRETS__CLIENT_KEY": json.dumps(other),
           "BFF_SECRETS__COOKIE_KEYS": json.dumps([generate_seal_jwk("env")])}
    config = load_settings_from_mapping(base(), env, base_dir=keydir)
    assert config.client_jwk == other
    assert [k.kid for k in config.seal_keys] == ["env"]


def test_bad_secrets_in_env_name_the_variable(tmp_path: Path) -> None:
    env = {"BFF_SECRETS__CLIENT_KEY": "{not json", "BFF_SECRETS__COOKIE_KEYS": "[1"}
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(base(), env, base_dir=tmp_path)
    assert set(problems_of(caught)) == {"BFF_SECRETS__CLIENT_KEY", "BFF_SECRETS__COOKIE_KEYS"}
    assert "{not json" not in str(caught.value)


def test_secrets_required(tmp_path: Path) -> None:
    raw = base(oauth={"client_key_file": ""}, session={"cookie_key_files": []})
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(raw, {}, base_dir=tmp_path)
    found = problems_of(caught)
    assert set(found) == {"oauth.client_key_file", "session.cookie_key_files"}
    assert "BFF_SECRETS__CLIENT_KEY" in found["oauth.client_key_file"]


@pytest.mark.parametrize(("jwk", "message"), [
    ("public", "private"),
    ({"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "AQAB"}, "2048"),
    ([1, 2], "private"),
])
def test_client_key_must_be_an_allowed_private_key(
        tmp_path: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any], jwk: Any,
        message: str) -> None:
    write_keys(tmp_path, public_jwk(client_jwk) if jwk == "public" else jwk, cookie_jwk)
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(base(), {}, base_dir=tmp_path)
    found = problems_of(caught)
    assert list(found) == ["oauth.client_key_file"]
    assert message in found["oauth.client_key_file"]
    assert "d" not in jwk or str(jwk) not in str(caught.value)


def test_cookie_key_problems(tmp_path: Path, client_jwk: dict[str, Any]) -> None:
    write_keys(tmp_path, client_jwk, {"kty": "oct", "kid": "k", "k": "AAAA"})
    (tmp_path / "junk.jwk").write_text("not json")
    raw = base(session={"cookie_key_files": ["cookie.jwk", "junk.jwk"]})
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(raw, {}, base_dir=tmp_path)
    found = problems_of(caught)
    assert "32 bytes" in found["session.cookie_key_files[0]"]
    assert "readable JSON" in found["session.cookie_key_files[1]"]


def test_cookie_key_sets_and_duplicate_kids(tmp_path: Path, client_jwk: dict[str, Any]) -> None:
    write_keys(tmp_path, client_jwk, {"keys": [generate_seal_jwk("a"), generate_seal_jwk("b")]})
    config = load_settings_from_mapping(base(), {}, base_dir=tmp_path)
    assert [k.kid for k in config.seal_keys] == ["a", "b"]
    (tmp_path / "again.jwk").write_text(json.dumps(generate_seal_jwk("a")))
    raw = base(session={"cookie_key_files": ["cookie.jwk", "again.jwk"]})
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(raw, {}, base_dir=tmp_path)
    assert "unique" in problems_of(caught)["session.cookie_key_files"]


def test_problem_str() -> None:
    assert str(Problem("oauth.issuer", "is required")) == "oauth.issuer: is required"


def test_plain_http_cookies_only_on_loopback(tmp_path: Path, client_jwk: dict[str, Any],
                                             cookie_jwk: dict[str, Any]) -> None:
    """DESIGN §3: dropping __Host- and Secure is a loopback-only development setting."""
    with pytest.raises(ConfigError) as info:
        make_config(tmp_path, client_jwk, cookie_jwk,
                    server={"public_url": "https://app.example"},
                    insecure={"plain_http_cookies": True})
    assert "insecure.plain_http_cookies" in [p.key for p in info.value.problems]
    make_config(tmp_path, client_jwk, cookie_jwk, insecure={"plain_http_cookies": True})


@pytest.mark.parametrize(("server", "key"), [
    ({"max_header_count": 15}, "server.max_header_count"),
    ({"max_header_count": 10_001}, "server.max_header_count"),
    ({"max_header_bytes": 16383}, "server.max_header_bytes"),
    ({"max_header_bytes": 1024 * 1024 + 1}, "server.max_header_bytes"),
    ({"max_header_bytes": "64k"}, "server.max_header_bytes"),
])
def test_header_limits_are_bounded(keydir: Path, server: dict[str, Any], key: str) -> None:
    """A zero, absurd or mistyped request-head limit is refused at start-up."""
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(base(server={"public_url": "https://app.example", **server}),
                                   {}, base_dir=keydir)
    assert list(problems_of(caught)) == [key]


def test_header_limits_default_and_configurable(keydir: Path) -> None:
    s = load_settings_from_mapping(base(), {}, base_dir=keydir).settings
    assert (s.server.max_header_count, s.server.max_header_bytes) == (100, 65536)
    raw = base(server={"public_url": "https://app.example", "max_header_count": 50,
                       "max_header_bytes": 32768})
    s = load_settings_from_mapping(raw, {}, base_dir=keydir).settings
    assert (s.server.max_header_count, s.server.max_header_bytes) == (50, 32768)


def test_relative_key_paths_resolve_beside_the_config_files_name_not_its_link_target(
        keydir: Path) -> None:
    """A Kubernetes ConfigMap mounts ``bff.toml -> ..data/bff.toml`` with ``..data`` a link to a
    dated folder: keys named relative to the config must be found beside the link, not in the
    dated folder the link points into."""
    mount = keydir / "config"
    dated = mount / "..2026_11_29"
    dated.mkdir(parents=True)
    (dated / "bff.toml").write_text(VALID_TOML.replace('"client.jwk"', '"../client.jwk"')
                                    .replace('"cookie.jwk"', '"../cookie.jwk"'))
    (mount / "..data").symlink_to(dated.name)
    (mount / "bff.toml").symlink_to("..data/bff.toml")
    config = load_settings(mount / "bff.toml", environ={})
    assert config.settings.oauth.client_key_file == "../client.jwk"


def _mobile(tmp_path: Path, **mobile: Any) -> dict[str, Any]:
    (tmp_path / "iat.txt").write_text("iat\n")
    return {"enabled": True, "redirect_uri": "https://app.example/cb", "apps": ["com.a"],
            "initial_access_token_file": "iat.txt", **mobile}


def test_app_attest_entries_are_checked_field_by_field(config_factory: ConfigFactory,
                                                       tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_factory(session={"store": "server"}, mobile=_mobile(tmp_path, app_attest=[
            {"app": "com.other", "team_id": "abc", "bundle_id": "a b",
             "environment": "staging", "mode": "either"}]))
    names = {p.key for p in caught.value.problems}
    assert {"mobile.app_attest[0].app", "mobile.app_attest[0].team_id",
            "mobile.app_attest[0].bundle_id", "mobile.app_attest[0].environment",
            "mobile.app_attest[0].mode"} <= names


def test_app_attest_mode_both_needs_an_attester(config_factory: ConfigFactory,
                                                tmp_path: Path) -> None:
    entry = {"app": "com.a", "team_id": "ABCDE12345", "bundle_id": "com.a", "mode": "both"}
    with pytest.raises(ConfigError) as caught:
        config_factory(session={"store": "server"}, mobile=_mobile(tmp_path, app_attest=[entry]))
    assert [p.key for p in caught.value.problems] == ["mobile.attesters"]


def test_app_attest_alone_needs_no_attester_and_trusts_apple_by_default(
        config_factory: ConfigFactory, tmp_path: Path) -> None:
    entry = {"app": "com.a", "team_id": "ABCDE12345", "bundle_id": "com.a"}
    config = config_factory(session={"store": "server"},
                            mobile=_mobile(tmp_path, app_attest=[entry]))
    assert config.app_attest_roots_pem == b"", "no override: Apple's root is the one trusted"


def test_app_attest_roots_override_must_be_pem(config_factory: ConfigFactory,
                                               tmp_path: Path) -> None:
    (tmp_path / "roots.pem").write_text("not a certificate")
    with pytest.raises(ConfigError) as caught:
        config_factory(insecure={"app_attest_roots_file": "roots.pem"})
    assert [p.key for p in caught.value.problems] == ["insecure.app_attest_roots_file"]
