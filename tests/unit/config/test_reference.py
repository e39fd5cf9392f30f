"""The generated configuration reference, the settings model and ``bff check-config`` agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bff.cli import main
from bff.config.loader import load_settings_from_mapping
from bff.config.reference import DOCS, model_keys, render_reference
from tests.unit.config.test_loader import write_keys

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
ROW = re.compile(r"^\| `([a-z_.]+)` \| [^|]+ \| `((?:[^`\\]|\\.)*)` \|")
REQUIRED = {"server.public_url": "https://app.example", "oauth.issuer": "https://as.example",
            "oauth.client_id": "bff", "oauth.client_key_file": "client.jwk",
            "oauth.redirect_uri": "https://app.example/",
            "session.cookie_key_files": ["cookie.jwk"], "routes.prefix": "/api",
            "routes.upstream": "https://api.example"}


def documented() -> dict[str, Any]:
    """Every key of docs/configuration.md with its documented default, parsed as TOML."""
    keys: dict[str, Any] = {}
    table = ""
    for line in REFERENCE.read_text().splitlines():
        heading = re.match(r"^## `\[\[?([a-z]+)\]\]?`", line)
        if heading:
            table = heading.group(1)
        row = ROW.match(line)
        if row:
            default = row.group(2).replace("\\|", "|")
            keys[f"{table}.{row.group(1)}"] = tomllib.loads(f"v = {default}")["v"]
    return keys


def test_every_model_key_has_a_sentence_and_no_sentence_is_stale() -> None:
    names = [k.name for k in model_keys()]
    assert sorted(names) == sorted(DOCS)
    assert all(DOCS[name].strip() for name in names)


def test_the_reference_in_the_repository_is_current() -> None:
    assert REFERENCE.read_text() == render_reference(), (
        "regenerate: bff config-reference > docs/configuration.md")


def test_check_config_accepts_every_documented_key_at_its_documented_default(
        tmp_path: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any]) -> None:
    write_keys(tmp_path, client_jwk, cookie_jwk)
    raw: dict[str, Any] = {}
    for name, default in documented().items():
        table, key = name.split(".", 1)
        value = REQUIRED.get(name, default)
        if table == "routes":
            raw.setdefault("routes", [{}])[0][key] = value
        elif "." in key:  # a key of an array of tables inside a table: [[mobile.attesters]]
            sub, leaf = key.split(".")
            raw.setdefault(table, {}).setdefault(sub, [{}])[0][leaf] = value
        else:
            raw.setdefault(table, {})[key] = value
    assert set(documented()) == {k.name for k in model_keys()}
    config = load_settings_from_mapping(raw, {}, base_dir=tmp_path)
    assert config.settings.server.public_url == "https://app.example"


def misspell(name: str) -> str:
    return name[:-1]  # the last letter dropped


@pytest.mark.parametrize("name", sorted(DOCS))
def test_a_misspelt_key_is_refused_by_name(name: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    table, _, key = misspell(name).rpartition(".")
    header = (f"[[{table}]]" if table in ("routes", "mobile.attesters", "mobile.app_attest")
              else f"[{table}]")
    path = tmp_path / "bff.toml"
    path.write_text(f"{header}\n{key} = 1\n")
    assert main(["check-config", str(path)]) == 2
    shown = (misspell(name).replace("routes.", "routes[0].")
             .replace("mobile.attesters.", "mobile.attesters[0].")
             .replace("mobile.app_attest.", "mobile.app_attest[0]."))
    assert f"  - {shown}: unknown key" in capsys.readouterr().err
