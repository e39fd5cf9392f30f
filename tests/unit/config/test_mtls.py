"""Validation of the mutual TLS settings (RFC 8705)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from bff.config.loader import load_settings_from_mapping
from bff.errors import ConfigError
from tests.support.tls import write_ca, write_tls_material
from tests.unit.config.test_loader import base, problems_of, write_keys


@pytest.fixture
def keydir(tmp_path: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any]) -> Path:
    write_keys(tmp_path, client_jwk, cookie_jwk)
    return tmp_path


@pytest.mark.parametrize("tables, key, message", [
    ({"oauth": {"client_auth": "client_secret_basic"}}, "oauth.client_auth", "must be one of"),
    ({"oauth": {"sender_constraint": "bearer"}}, "oauth.sender_constraint", "dpop or mtls"),
    ({"oauth": {"client_auth": "tls_client_auth", "tls_key_file": "client.key"}},
     "oauth.tls_cert_file", "is required"),
    ({"oauth": {"sender_constraint": "mtls", "tls_cert_file": "client.pem"}},
     "oauth.tls_key_file", "is required"),
    ({"oauth": {"tls_reload_interval": -1}}, "oauth.tls_reload_interval", "negative"),
])
def test_mtls_choices_and_their_keys_are_checked(keydir: Path, tables: dict[str, Any], key: str,
                                                 message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(base(**tables), {}, base_dir=keydir)
    found = problems_of(caught)
    assert key in found
    assert message in found[key]


@pytest.mark.spec("RFC 8705 §3")
def test_certificate_bound_routes_must_be_https(keydir: Path) -> None:
    write_tls_material(keydir)
    raw = base(oauth={"sender_constraint": "mtls", "tls_cert_file": "client.pem",
                      "tls_key_file": "client.key"})
    raw["routes"] = [{"prefix": "/api", "upstream": "http://127.0.0.1:9000"}]
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(raw, {}, base_dir=keydir)
    assert "certificate-bound" in problems_of(caught)["routes[0].upstream"]


def test_a_certificate_that_does_not_match_its_key_is_refused(keydir: Path) -> None:
    write_tls_material(keydir)
    raw = base(oauth={"client_auth": "tls_client_auth", "tls_cert_file": "client.pem",
                      "tls_key_file": "server.key"})
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(raw, {}, base_dir=keydir)
    assert "match" in problems_of(caught)["oauth.tls_cert_file"]


def test_tls_client_auth_loads_without_a_signing_key(keydir: Path) -> None:
    write_tls_material(keydir)
    write_ca(keydir, "other")
    raw = base(oauth={"client_auth": "tls_client_auth", "sender_constraint": "mtls",
                      "tls_cert_file": "client.pem", "tls_key_file": "client.key",
                      "tls_ca_file": "ca.pem"})
    del raw["oauth"]["client_key_file"]
    raw["routes"] = [{"prefix": "/api", "upstream": "https://api.example",
                      "tls_ca_file": "other.pem"}]
    config = load_settings_from_mapping(raw, {}, base_dir=keydir)
    assert config.client_jwk == {}
    assert config.base_dir == keydir


def test_a_ca_bundle_that_is_not_pem_is_refused(keydir: Path) -> None:
    (keydir / "ca.pem").write_text("not a certificate")
    raw = base()
    raw["routes"] = [{"prefix": "/api", "upstream": "https://api.example",
                      "tls_ca_file": "ca.pem"}]
    with pytest.raises(ConfigError) as caught:
        load_settings_from_mapping(raw, {}, base_dir=keydir)
    assert "PEM CA bundle" in problems_of(caught)["routes[0].tls_ca_file"]


def test_checking_the_tls_files_never_loads_the_system_ca_store(
        keydir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check runs again on every key reload, on the event loop: loading the system's CA
    store there stalled every call in flight (about 17 ms per context, three contexts)."""
    def refused(self: ssl.SSLContext, *args: Any) -> None:
        raise AssertionError("the system CA store was loaded")

    monkeypatch.setattr(ssl.SSLContext, "set_default_verify_paths", refused)
    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", refused)
    write_tls_material(keydir)
    write_ca(keydir, "other")
    plain = base()
    plain["routes"] = [{"prefix": "/api", "upstream": "https://api.example"}]
    load_settings_from_mapping(plain, {}, base_dir=keydir)
    with_files = base(oauth={"sender_constraint": "mtls", "tls_cert_file": "client.pem",
                             "tls_key_file": "client.key", "tls_ca_file": "ca.pem"})
    with_files["routes"] = [{"prefix": "/api", "upstream": "https://api.example",
                             "tls_ca_file": "other.pem"}]
    assert load_settings_from_mapping(with_files, {}, base_dir=keydir).settings.routes
