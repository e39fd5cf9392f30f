"""The ``bff`` command in-process: check-config, run refusing bad config, keys generate."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bff.cli import main
from bff.config.loader import load_settings_from_mapping
from bff.crypto.keys import alg_for_key, public_jwk, seal_key_from_jwk
from bff.telemetry import ready
from tests.unit.config.test_loader import BROKEN_KEYS, BROKEN_TOML, VALID_TOML, write_keys


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("BFF_"):
            monkeypatch.delenv(name)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN_TOML)
    return path


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    started: list[Any] = []
    monkeypatch.setattr(ready, "serve",
                        lambda config, line, sock=None: started.append((config, line)))
    return started


def listed_keys(stderr: str) -> set[str]:
    return {line.strip()[2:].split(": ", 1)[0] for line in stderr.splitlines()
            if line.startswith("  - ")}


def test_check_config_lists_every_problem(broken: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(broken)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert f"{len(BROKEN_KEYS)} problem(s)" in out.err
    assert listed_keys(out.err) == BROKEN_KEYS


def test_check_config_valid(tmp_path: Path, client_jwk: dict[str, Any],
                            cookie_jwk: dict[str, Any],
                            capsys: pytest.CaptureFixture[str]) -> None:
    write_keys(tmp_path, client_jwk, cookie_jwk)
    (tmp_path / "bff.toml").write_text(VALID_TOML)
    assert main(["check-config", str(tmp_path / "bff.toml")]) == 0
    assert "configuration is valid" in capsys.readouterr().out


def test_check_config_names_unknown_route_keys(tmp_path: Path, client_jwk: dict[str, Any],
                                              cookie_jwk: dict[str, Any],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt route key (forward_header) is refused by name, never silently ignored."""
    write_keys(tmp_path, client_jwk, cookie_jwk)
    (tmp_path / "bff.toml").write_text(
        VALID_TOML + 'forward_header = ["X-Request-Id"]\nkeepalive = 3\n')
    assert main(["check-config", str(tmp_path / "bff.toml")]) == 2
    err = capsys.readouterr().err
    assert listed_keys(err) == {"routes[0].forward_header", "routes[0].keepalive"}
    assert "routes[0].forward_header: unknown key" in err


def test_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path / "absent.toml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_run_refuses_to_start_with_the_same_problems(
        broken: Path, no_server: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "refusing to start" in err
    assert listed_keys(err) == BROKEN_KEYS
    assert no_server == []


def test_keys_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "keys"
    assert main(["keys", "generate", "--out", str(out)]) == 0
    assert stat.S_IMODE((out / "client.jwk").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "cookie.jwk").stat().st_mode) == 0o600
    client = json.loads((out / "client.jwk").read_text())
    cookie = json.loads((out / "cookie.jwk").read_text())
    jwks = json.loads((out / "client.public.jwks").read_text())
    assert alg_for_key(client) == "ES256"
    assert "d" in client
    assert seal_key_from_jwk(cookie).kid == cookie["kid"]
    assert jwks == {"keys": [public_jwk(client)]}
    assert "d" not in jwks["keys"][0]
    assert client["d"] not in capsys.readouterr().out


@pytest.mark.parametrize("alg", ["PS256", "EdDSA"])
def test_keys_generate_alg(tmp_path: Path, alg: str) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path), "--alg", alg]) == 0
    assert alg_for_key(json.loads((tmp_path / "client.jwk").read_text())) == alg


def test_generated_keys_load_as_config(tmp_path: Path) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path)]) == 0
    raw = {"server": {"public_url": "https://app.example"},
           "oauth": {"issuer": "https://as.example", "client_id": "bff",
                     "client_key_file": "client.jwk", "redirect_uri": "https://app.example/"},
           "session": {"cookie_key_files": ["cookie.jwk"]}}
    assert load_settings_from_mapping(raw, {}, base_dir=tmp_path).seal_keys


def test_keys_generate_refuses_to_overwrite(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path)]) == 0
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert main(["keys", "generate", "--out", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before
    assert main(["keys", "generate", "--out", str(tmp_path), "--force"]) == 0
    after = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert after["client.jwk"] != before["client.jwk"]
    assert after["cookie.jwk"] != before["cookie.jwk"]


def test_keys_generate_refuses_when_only_the_cookie_key_exists(tmp_path: Path) -> None:
    (tmp_path / "cookie.jwk").write_text("keep me")
    assert main(["keys", "generate", "--out", str(tmp_path)]) == 2
    assert (tmp_path / "cookie.jwk").read_text() == "keep me"
    assert not (tmp_path / "client.jwk").exists()


def test_unknown_command_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["nope"])
    assert caught.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_keys_generate_force_tightens_existing_file_modes(tmp_path: Path) -> None:
    for name in ("client.jwk", "cookie.jwk"):
        (tmp_path / name).write_text("{}")
        (tmp_path / name).chmod(0o644)
    assert main(["keys", "generate", "--out", str(tmp_path), "--force"]) == 0
    for name in ("client.jwk", "cookie.jwk"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_run_serves_with_the_configured_head_limits(tmp_path: Path, no_server: list[Any],
                                                    client_jwk: dict[str, Any],
                                                    cookie_jwk: dict[str, Any]) -> None:
    """``bff run`` gives uvicorn the protocol that refuses oversized heads while parsing."""
    from bff.web.limits import BoundedHttpToolsProtocol, HeadLimits

    write_keys(tmp_path, client_jwk, cookie_jwk)
    path = tmp_path / "bff.toml"
    path.write_text(VALID_TOML.replace("[server]\n", "[server]\nmax_header_count = 50\n", 1))
    assert main(["run", "--config", str(path)]) == 0
    ((config, line),) = no_server
    config.load()
    assert issubclass(config.http_protocol_class, BoundedHttpToolsProtocol)
    assert config.http_protocol_class.limits == HeadLimits(max_count=50, max_bytes=65536)
    assert line.issuer == "https://as.example" and line.workers == 1


def test_demo_code_prints_the_code_the_dev_as_accepts_now(
        capsys: pytest.CaptureFixture[str]) -> None:
    from bff.demo_totp import code_at

    before = code_at("bob")
    assert main(["demo-code", "bob"]) == 0
    out = capsys.readouterr().out
    assert out.split()[0] in (before, code_at("bob"))  # a step may end between the two
    assert "otpauth://totp/Example%20Bank:bob?" in out

def test_run_with_granian_imports_the_app_in_each_worker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client_jwk: dict[str, Any],
        cookie_jwk: dict[str, Any]) -> None:
    """``server.engine = "granian"``: granian's workers build the app from ``BFF_CONFIG``."""
    import granian.server

    from bff.asgi import CONFIG_ENV

    made: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    class FakeServer:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append((args, kwargs))

        def serve(self) -> None:
            return None

    monkeypatch.setattr(granian.server, "Server", FakeServer)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    write_keys(tmp_path, client_jwk, cookie_jwk)
    path = tmp_path / "bff.toml"
    path.write_text(VALID_TOML.replace("[server]\n", '[server]\nengine = "granian"\n', 1))
    assert main(["run", "--config", str(path), "--port", "8123"]) == 0
    ((args, kwargs),) = made
    assert args == ("bff.asgi:app_from_env",)
    assert kwargs["factory"] is True and kwargs["port"] == 8123 and kwargs["workers"] == 1
    # server.max_header_bytes (64 KiB by default) bounds the head inside granian's parser too
    assert kwargs["http1_settings"].max_buffer_size == 64 * 1024
    assert os.environ[CONFIG_ENV] == str(path.absolute())


def _ready_line(process: subprocess.Popen[str], timeout: float = 20) -> dict[str, Any]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if line.startswith('{"event":"ready"'):
            return dict(json.loads(line))
        assert time.monotonic() < deadline, "no ready line"
    raise AssertionError(f"bff run exited ({process.wait()}) without a ready line")


def test_run_fd_serves_the_socket_it_inherited(tmp_path: Path, client_jwk: dict[str, Any],
                                               cookie_jwk: dict[str, Any]) -> None:
    """``bff run --fd N`` serves the parent's socket: the port never passes through "free"."""
    write_keys(tmp_path, client_jwk, cookie_jwk)
    (tmp_path / "bff.toml").write_text(VALID_TOML)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "bff.cli", "run", "--config", str(tmp_path / "bff.toml"),
             "--fd", str(sock.fileno())], pass_fds=[sock.fileno()], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
    try:
        assert _ready_line(process)["url"] == f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_run_fd_refuses_a_descriptor_that_is_not_a_socket(
        tmp_path: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any],
        no_server: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    write_keys(tmp_path, client_jwk, cookie_jwk)
    (tmp_path / "bff.toml").write_text(VALID_TOML)
    with (tmp_path / "bff.toml").open() as not_a_socket:
        assert main(["run", "--config", str(tmp_path / "bff.toml"),
                     "--fd", str(not_a_socket.fileno())]) == 2
        os.fstat(not_a_socket.fileno())  # still open: a wrong descriptor is not closed
    assert "is not an open socket" in capsys.readouterr().err
    assert no_server == []


def test_run_fd_refuses_a_udp_socket(tmp_path: Path, client_jwk: dict[str, Any],
                                     cookie_jwk: dict[str, Any], no_server: list[Any],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    write_keys(tmp_path, client_jwk, cookie_jwk)
    (tmp_path / "bff.toml").write_text(VALID_TOML)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        assert main(["run", "--config", str(tmp_path / "bff.toml"),
                     "--fd", str(udp.fileno())]) == 2
        os.fstat(udp.fileno())  # detached, not closed: the descriptor is still open
    assert "is not a TCP socket" in capsys.readouterr().err
    assert no_server == []


@pytest.mark.parametrize("other", [["--port", "8000"], ["--host", "127.0.0.1"]])
def test_run_fd_cannot_be_combined_with_an_address(other: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--config", "bff.toml", "--fd", "3", *other])
    assert exited.value.code == 2
    assert "--fd serves an inherited socket" in capsys.readouterr().err
