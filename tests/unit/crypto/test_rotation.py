"""Scheduled key sets: the new key is published first, signs from its time, old keys retire."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from bff.cli import main
from bff.config.loader import load_settings
from bff.config.reload import KeyRing
from bff.crypto.keys import generate_seal_jwk, generate_signing_jwk
from bff.crypto.rotation import (
    NOT_BEFORE,
    RETIRE_AT,
    in_use_first,
    live_keys,
    published,
    rotate_client_keys,
    rotate_cookie_keys,
)
from bff.crypto.seal import Sealer
from bff.oauth.jws import JWSSigner
from tests.unit.config.test_loader import VALID_TOML

NOW = 1_700_000_000.0


def test_rotation_puts_the_new_key_first_and_schedules_both() -> None:
    old = generate_signing_jwk(kid="old")
    doc = rotate_client_keys(old, "ES256", NOW, activate_after=600, retain=3600)
    new, kept = doc["keys"]
    assert kept["kid"] == "old" and kept[RETIRE_AT] == NOW + 600 + 3600
    assert new[NOT_BEFORE] == NOW + 600 and new["kid"] != "old"
    # before the new key's time the old one still signs; both are published
    assert in_use_first(doc["keys"], NOW + 599)[0]["kid"] == "old"
    assert in_use_first(doc["keys"], NOW + 600)[0]["kid"] == new["kid"]
    assert {k["kid"] for k in published(doc["keys"])["keys"]} == {"old", new["kid"]}
    assert all("d" not in k for k in published(doc["keys"])["keys"])
    # after the retain time the old key is gone
    assert [k["kid"] for k in live_keys(doc["keys"], NOW + 4200)] == [new["kid"]]


def test_a_second_rotation_never_extends_an_earlier_retirement() -> None:
    first = rotate_cookie_keys(generate_seal_jwk("k0"), NOW, 0, retain=100)
    second = rotate_cookie_keys(first, NOW + 10, 0, retain=10_000)
    by_kid = {k["kid"]: k for k in second["keys"]}
    assert by_kid["k0"][RETIRE_AT] == NOW + 100
    assert len(second["keys"]) == 3


def test_key_ring_reload_swaps_keys_and_keeps_them_when_the_files_break(
        tmp_path: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any]) -> None:
    (tmp_path / "client.jwk").write_text(json.dumps(client_jwk))
    (tmp_path / "cookie.jwk").write_text(json.dumps(cookie_jwk))
    (tmp_path / "bff.toml").write_text(VALID_TOML)
    config = load_settings(tmp_path / "bff.toml")
    signer, sealer = JWSSigner(config.client_jwk), Sealer(config.seal_keys)
    ring = KeyRing(config, signer, sealer)
    sealed_before = sealer.seal(b"session", "c")
    assert main(["keys", "rotate", "--config", str(tmp_path / "bff.toml"),
                 "--activate-after", "0"]) == 0
    assert ring.reload()
    assert signer.kid != client_jwk["kid"] and sealer.sealing_kid != cookie_jwk["kid"]
    assert sealer.open(sealed_before, "c") == b"session"  # the old key still opens
    assert {k["kid"] for k in ring.jwks["keys"]} == {signer.kid, client_jwk["kid"]}
    assert stat.S_IMODE((tmp_path / "client.jwk").stat().st_mode) == 0o600
    public = json.loads((tmp_path / "client.public.jwks").read_text())
    assert public == ring.jwks
    kid = signer.kid
    (tmp_path / "client.jwk").write_text("not json")
    assert not ring.reload()
    assert signer.kid == kid  # a broken file leaves the keys in use alone


def test_rotate_with_a_delay_publishes_first_and_signs_later(
        tmp_path: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any]) -> None:
    (tmp_path / "client.jwk").write_text(json.dumps(client_jwk))
    (tmp_path / "cookie.jwk").write_text(json.dumps(cookie_jwk))
    (tmp_path / "bff.toml").write_text(VALID_TOML)
    assert main(["keys", "rotate", "--config", str(tmp_path / "bff.toml")]) == 0
    config = load_settings(tmp_path / "bff.toml")
    assert config.client_jwk["kid"] == client_jwk["kid"]  # not yet: 600 s from now
    assert config.seal_keys[0].kid == cookie_jwk["kid"]
    assert len(config.client_jwks) == 2 and len(config.seal_keys) == 2


def test_a_set_whose_keys_all_retired_is_refused(tmp_path: Path,
                                                 cookie_jwk: dict[str, Any]) -> None:
    from bff.errors import ConfigError

    (tmp_path / "client.jwk").write_text(json.dumps(
        {"keys": [{**generate_signing_jwk(kid="gone"), RETIRE_AT: 1}]}))
    (tmp_path / "cookie.jwk").write_text(json.dumps(cookie_jwk))
    (tmp_path / "bff.toml").write_text(VALID_TOML)
    with pytest.raises(ConfigError) as exc:
        load_settings(tmp_path / "bff.toml")
    assert [p.key for p in exc.value.problems] == ["oauth.client_key_file"]


def test_a_cookie_key_set_whose_keys_all_retired_is_refused(
        tmp_path: Path, client_jwk: dict[str, Any]) -> None:
    from bff.errors import ConfigError

    (tmp_path / "client.jwk").write_text(json.dumps(client_jwk))
    (tmp_path / "cookie.jwk").write_text(json.dumps(
        {"keys": [{**generate_seal_jwk("gone"), RETIRE_AT: 1}]}))
    (tmp_path / "bff.toml").write_text(VALID_TOML)
    with pytest.raises(ConfigError) as exc:
        load_settings(tmp_path / "bff.toml")
    assert [p.key for p in exc.value.problems] == ["session.cookie_key_files"]
