"""compose.yaml's stack run from its own files without a container engine, on free ports.

Redis, the dev AS, the example API, the three BFF replicas and nginx start with compose.yaml's
commands, deploy/compose/'s nginx.conf and bff.toml and the AS config its init step writes;
only the fixed ports are moved to free ones (the machine is shared), the AS binds loopback
instead of the namespace's every address, and the keys volume is a folder. A user signs in
through the balancer, every replica serves the same server session, and the AS's back-channel
logout reaches them through nginx.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml

from bff.devstack import (
    API_DIR,
    AS_DIR,
    BFF_READY,
    SPA_DIR,
    Child,
    bound_socket,
    free_port,
    spawn,
    wait_http,
)
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "compose"
FIXED = (8000, 9090, 9001, 6379, 8101, 8102, 8103)
REPLICAS = (8101, 8102, 8103)


def init_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compose_init", COMPOSE / "init.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def moved(text: str, ports: dict[int, int]) -> str:
    """``text`` with each of compose's fixed ports (after ``:``, a space or ``"``) replaced."""
    pattern = r"(?<=[:\s\"])(" + "|".join(map(str, ports)) + r")\b"
    return re.sub(pattern, lambda m: str(ports[int(m.group(1))]), text)


def without_address(args: list[str]) -> list[str]:
    """``bff run`` arguments less ``--host``/``--port``: the held socket is the address."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--host", "--port"):
            skip = True
        else:
            out.append(arg)
    return out


def wait_redis(port: int, child: Child) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert child.process.poll() is None, "".join(child.output)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("redis did not start")


@pytest.fixture(scope="module")
def compose_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    services = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    # the replicas serve sockets held from here on (bff run --fd); the AS, API, Redis and nginx
    # ports are named in compose's files before those processes start, and none of them can
    # take an inherited socket, so they stay free ports (a start fails loudly if one was taken)
    held = {port: bound_socket() for port in REPLICAS}
    ports = {port: free_port() for port in FIXED if port not in REPLICAS}
    ports |= {port: sock.getsockname()[1] for port, sock in held.items()}
    work = tmp_path_factory.mktemp("compose")
    children: list[Child] = []
    nginx: subprocess.Popen[bytes] | None = None
    try:
        # init: keys and the AS config, from the template with the ports moved
        (work / "config").mkdir()
        (work / "keys").mkdir()
        template = work / "config" / "as-config.json"
        template.write_text(moved((COMPOSE / "as-config.json").read_text(), ports))
        assert init_module().init(work / "keys", template) == 0
        as_config = json.loads((work / "keys" / "as-config.json").read_text())
        assert as_config["host"] == "0.0.0.0"
        as_config["host"] = "127.0.0.1"  # the container's namespace is this machine here
        (work / "keys" / "as-config.json").write_text(json.dumps(as_config))

        redis_argv = json.loads(moved(json.dumps(services["redis"]["command"]), ports))
        redis = spawn("redis", [*redis_argv, "--dir", str(work)], ready_prefix=None)
        children.append(redis)
        wait_redis(ports[6379], redis)

        as_argv = services["as"]["command"]
        assert as_argv[:2] == ["node", "server.mjs"]
        children.append(spawn("authorization server", [
            "node", str(AS_DIR / "server.mjs"), "--config", str(work / "keys" / "as-config.json")],
            ready_prefix="READY "))

        api_argv = json.loads(moved(json.dumps(services["api"]["command"]), ports))
        assert api_argv[0] == "python"
        pythonpath = os.pathsep.join(filter(None, [str(API_DIR), os.environ.get("PYTHONPATH")]))
        children.append(spawn("example API", [sys.executable, *api_argv[1:]],
                              ready_prefix="READY ", env={"PYTHONPATH": pythonpath}))

        config = work / "config" / "bff.toml"
        # the keys volume's container path is this test's keys folder
        config.write_text(moved((COMPOSE / "bff.toml").read_text(), ports).replace(
            '"/etc/bff/keys/', f'"{work / "keys"}/'))
        replicas = []
        for name in ("bff-1", "bff-2", "bff-3"):
            service = services[name]
            argv = service["command"]
            assert argv[:4] == ["bff", "run", "--config", "/etc/bff/config/bff.toml"]
            sock = held[int(service["environment"]["BFF_SERVER__PORT"])]
            port = sock.getsockname()[1]
            child = spawn(name, [sys.executable, "-m", "bff.cli", "run", "--config", str(config),
                                 *without_address(argv[4:]), "--fd", str(sock.fileno())],
                          ready_prefix=BFF_READY,
                          env={"BFF_SERVER__PORT": str(port),
                               "BFF_SERVER__STATIC_DIR": json.dumps(str(SPA_DIR))},
                          pass_fds=[sock.fileno()])
            children.append(child)
            assert child.ready["url"] == f"http://127.0.0.1:{port}"
            replicas.append(port)

        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = moved((COMPOSE / "nginx.conf").read_text(), ports)
        conf = conf.replace("pid /tmp/nginx.pid;", f"pid {work}/nginx.pid;")
        conf = conf.replace("http {", f"http {{\n  client_body_temp_path {work}/body;\n"
                                      f"  proxy_temp_path {work}/proxy;", 1)
        (work / "nginx.conf").write_text(conf)
        nginx = subprocess.Popen([binary, "-p", str(work), "-c", str(work / "nginx.conf"), "-e",
                                  str(work / "error.log"), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        public = f"http://localhost:{ports[8000]}"
        wait_http(f"{public}/healthz")
        yield {"public": public, "issuer": as_config["issuer"], "replicas": replicas}
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
            if nginx.stderr:
                nginx.stderr.close()
        for child in reversed(children):
            child.stop()
        for sock in held.values():
            sock.close()


def test_compose_stack_signs_in_shares_sessions_and_logs_out_across_replicas(
        compose_stack: dict[str, Any]) -> None:
    """Login and API calls through nginx; each replica serves the session; logout reaches all."""
    public = compose_stack["public"]
    jar = Jar()
    with httpx.Client(base_url=public, headers={"Origin": public}, timeout=30) as http, \
            ASBrowser() as browser:
        assert "app.js" in http.get("/").text  # the SPA, from the replicas' static_dir
        login(http, jar, browser, redirect_uri=f"{public}/")
        for _ in range(3):
            accounts = call(http, jar, "GET", "/api/accounts")
            assert accounts.status_code == 200, accounts.text
        for port in compose_stack["replicas"]:
            direct = httpx.get(f"http://127.0.0.1:{port}/bff/session",
                               headers={"Cookie": jar.header(), "Origin": public}, timeout=10)
            assert direct.json()["isLoggedIn"] is True, (port, direct.text)
        sent = httpx.post(f"{compose_stack['issuer']}/__dev/backchannel-logout",
                          json={"client_id": "bff", "sub": "alice"}, timeout=10).json()
        assert sent.get("sent") is True, sent
        for port in compose_stack["replicas"]:
            direct = httpx.get(f"http://127.0.0.1:{port}/bff/session",
                               headers={"Cookie": jar.header(), "Origin": public}, timeout=10)
            assert direct.json()["isLoggedIn"] is False, (port, direct.text)
