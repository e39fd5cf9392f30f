"""Start the local development stack: dev AS, example API, Redis, the BFF; used by ``bff demo``.

The same launchers serve the integration tests and the benchmarks, so what a developer runs is
what the tests prove. Development only: it writes fresh keys into a work directory.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
AS_DIR = REPO / "devstack" / "authorization-server"
API_DIR = REPO / "devstack"
SPA_DIR = REPO / "spa-example"


class DevstackError(RuntimeError):
    """A prerequisite is missing or a component did not start; the message says what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Child:
    """A child process whose output is collected; ``ready`` holds the parsed READY payload."""

    name: str
    process: subprocess.Popen[str]
    ready: dict[str, Any] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.pump is not None:
            self.pump.join(2)


BFF_READY = '{"event":"ready",'
"""How ``bff run``'s ready line starts: the whole line is the JSON payload."""


def spawn(name: str, argv: Sequence[str], *, ready_prefix: str | None, timeout: float = 20.0,
          env: dict[str, str] | None = None, cwd: Path | None = None,
          log_file: Path | None = None, pass_fds: Sequence[int] = ()) -> Child:
    """Start ``argv`` and wait for a ``READY {...}`` line on stdout (or just start it).

    ``ready_prefix=BFF_READY`` waits for ``bff run``'s JSON ready line instead.
    """
    process = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
        env={**os.environ, **(env or {})}, start_new_session=True, pass_fds=tuple(pass_fds))
    child = Child(name, process)
    lines: queue.Queue[str | None] = queue.Queue()
    sink = log_file.open("a", encoding="utf-8") if log_file else None

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            child.output.append(line)
            if len(child.output) > 2000:
                del child.output[:1000]
            if sink:
                sink.write(line)
                sink.flush()
            lines.put(line)
        if sink:
            sink.close()
        process.stdout.close()
        lines.put(None)

    child.pump = threading.Thread(target=pump, daemon=True, name=f"{name}-output")
    child.pump.start()
    if ready_prefix is None:
        return child
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            raise DevstackError(f"{name} exited before it was ready:\n{''.join(child.output)}")
        if line.startswith(ready_prefix):
            payload = line if ready_prefix == BFF_READY else line[len(ready_prefix):]
            # the ready object first; anything after it on the line is another writer's
            child.ready = json.JSONDecoder().raw_decode(payload.strip() or "{}")[0]
            return child
    child.stop()
    raise DevstackError(f"{name} was not ready within {timeout:.0f}s:\n{''.join(child.output)}")


def check_node() -> None:
    """Node.js 20+ and the AS's npm packages are present; install the packages when missing."""
    if shutil.which("node") is None:
        raise DevstackError("Node.js is required for the development authorization server: "
                            "install Node.js 20 or newer (e.g. apt-get install nodejs npm)")
    if not (AS_DIR / "node_modules" / "oidc-provider").is_dir():
        if shutil.which("npm") is None:
            raise DevstackError("npm is required to install the authorization server's packages")
        result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"],
                                cwd=AS_DIR, capture_output=True, text=True)
        if result.returncode != 0:
            raise DevstackError(f"npm ci failed in {AS_DIR}:\n{result.stderr[-2000:]}")


def start_authorization_server(config: dict[str, Any], workdir: Path,
                               log_file: Path | None = None) -> Child:
    """The dev AS (oidc-provider, FAPI 2.0) on a free loopback port; ``ready['issuer']``."""
    check_node()
    path = workdir / "as-config.json"
    path.write_text(json.dumps(config))
    return spawn("authorization server", ["node", str(AS_DIR / "server.mjs"), "--config",
                                          str(path)], ready_prefix="READY ", log_file=log_file)


def example_api_args(issuer: str, audience: str, *, port: int, host: str = "127.0.0.1",
                     hello_only: bool = False) -> list[str]:
    """The Python arguments that start the example API (``-m example_api ...``)."""
    args = ["-m", "example_api", "--host", host, "--port", str(port)]
    return args + (["--hello-only"] if hello_only else ["--issuer", issuer, "--audience", audience])


def start_example_api(issuer: str, audience: str, *, port: int = 0, hello_only: bool = False,
                      log_file: Path | None = None, host: str = "127.0.0.1",
                      extra_args: Sequence[str] = ()) -> Child:
    """The example banking API that accepts only DPoP-bound tokens; ``ready['url']``.

    ``extra_args`` e.g. ``--tls-cert``/``--tls-key``/``--tls-client-ca`` (certificate-bound).
    """
    argv = [sys.executable, *example_api_args(issuer, audience, port=port, host=host,
                                              hello_only=hello_only), *extra_args]
    pythonpath = os.pathsep.join(filter(None, [str(API_DIR), os.environ.get("PYTHONPATH")]))
    return spawn("example API", argv, ready_prefix="READY ", env={"PYTHONPATH": pythonpath},
                 log_file=log_file)


def wait_http(url: str, timeout: float = 20.0, child: Child | None = None) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.process.poll() is not None:
            raise DevstackError(f"{child.name} exited:\n{''.join(child.output)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise DevstackError(f"{url} did not answer within {timeout:.0f}s")


def start_bff(config_path: Path, port: int = 0, *, log_file: Path | None = None,
              env: dict[str, str] | None = None, host: str = "127.0.0.1",
              sock: socket.socket | None = None) -> Child:
    """``bff run`` as a child process, waiting for its ready line; ``ready`` has its URL and port.

    ``port=0``: the child binds a port of the kernel's choosing and reports it. ``sock``: the
    child serves this bound socket (``bff run --fd``), for a port that had to be known first.
    """
    listen = (["--fd", str(sock.fileno())] if sock is not None
              else ["--port", str(port), "--host", host])
    child = spawn("bff", [sys.executable, "-m", "bff.cli", "run", "--config", str(config_path),
                          *listen], ready_prefix=BFF_READY, env=env, log_file=log_file,
                  pass_fds=[sock.fileno()] if sock is not None else [])
    child.ready["port"] = int(child.ready["url"].rsplit(":", 1)[1])
    return child


def bound_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: the kernel's choice), to hand to ``bff run
    --fd``; the port is held from now on, never released and bound again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


def redis_argv(port: int) -> list[str]:
    """The throw-away Redis the demo runs: loopback only, nothing written to disk."""
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no"]


def start_redis(port: int, workdir: Path, attempts: int = 5) -> Child:
    """A throw-away ``redis-server`` on loopback; ``ready`` has its port and URL.

    ``port=0``: redis-server cannot bind a kernel-chosen port and report it, so a free port is
    picked, and picked again when another process bound it before redis-server could.
    """
    if shutil.which("redis-server") is None:
        raise DevstackError("redis-server is required for store = redis: "
                            "apt-get install redis-server")
    for attempt in range(attempts):
        chosen = port or free_port()
        child = spawn("redis", [*redis_argv(chosen), "--dir", str(workdir)], ready_prefix=None)
        answered = _redis_answers(child, chosen)
        if answered == "ours":
            child.ready = {"port": chosen, "url": demo_redis_url(chosen)}
            return child
        child.stop()
        taken = answered == "another" or "address already in use" in "".join(child.output).lower()
        if port or not taken or attempt == attempts - 1:
            break
    raise DevstackError(f"redis-server did not start:\n{''.join(child.output)}")


def _redis_answers(child: Child, port: int, timeout: float = 10.0) -> str:
    """Who answers on ``port``: ``child`` itself ("ours"), "another" redis-server, or "none"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"INFO server\r\n")
                reply = b""
                while b"process_id:" not in reply or not reply.endswith(b"\r\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
                if f"process_id:{child.process.pid}\r\n".encode() in reply:
                    return "ours"
                if b"process_id:" in reply:
                    return "another"
        except OSError:
            time.sleep(0.05)
    return "none"


def write_keys(workdir: Path) -> dict[str, Any]:
    """Fresh client and cookie keys in ``workdir``; returns the client's public JWKS."""
    from bff.crypto.keys import generate_seal_jwk, generate_signing_jwk, public_jwk

    client = generate_signing_jwk("ES256")
    (workdir / "client.jwk").write_text(json.dumps(client))
    (workdir / "cookie.jwk").write_text(json.dumps(generate_seal_jwk()))
    return {"keys": [public_jwk(client)]}


def toml_value(value: Any) -> str:
    """A Python value as a TOML literal (strings, numbers, booleans, lists, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def write_toml(path: Path, tables: dict[str, Any]) -> None:
    """Write a configuration file; ``routes`` becomes an array of tables."""
    lines: list[str] = []
    for table, values in tables.items():
        if table == "routes":
            for route in values:
                lines.append("[[routes]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in route.items()]
                lines.append("")
            continue
        lines.append(f"[{table}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))


def demo_as_config(public: str, port: int, jwks: dict[str, Any],
                   api_audience: str) -> dict[str, Any]:
    """The dev AS configuration of ``bff demo``; compose.yaml's is tested against it."""
    return {
        "clients": [{"client_id": "bff", "client_name": "Northwind Bank", "jwks": jwks,
                     "redirect_uris": [f"{public}/"],
                     "post_logout_redirect_uris": [f"{public}/"],
                     "backchannel_logout_uri": f"http://127.0.0.1:{port}/bff/backchannel-logout"}],
        "resource": api_audience, "accessTokenTTL": 300}


def demo_redis_url(port: int) -> str:
    """The store URL of ``bff demo --store redis``."""
    return f"redis://127.0.0.1:{port}/0"


def demo_bff_config(public: str, port: int, issuer: str, api_audience: str, api_url: str, *,
                    store: str = "memory", session_store: str = "cookie", redis_url: str = "",
                    static_dir: str = str(SPA_DIR), key_dir: str = "") -> dict[str, Any]:
    """The BFF configuration of ``bff demo``; compose.yaml's bff.toml is tested against it."""
    store_table: dict[str, Any] = {"backend": store}
    if redis_url:
        store_table["url"] = redis_url
    return {
        "server": {"public_url": public, "static_dir": static_dir, "port": port},
        "oauth": {"issuer": issuer, "client_id": "bff", "client_key_file": f"{key_dir}client.jwk",
                  "redirect_uri": f"{public}/", "post_logout_redirect_uri": f"{public}/",
                  "resources": [api_audience],
                  "scope": "openid profile email offline_access accounts payments",
                  # the SPA's payment approvals (RFC 9396): only these members, nothing else
                  "authorization_details_types": {"payment_initiation": PAYMENT_MEMBERS}},
        "session": {"store": session_store, "cookie_key_files": [f"{key_dir}cookie.jwk"]},
        "store": store_table,
        "routes": [{"prefix": "/api", "upstream": api_url, "resource": api_audience}],
    }


GATEWAY_CLIENT = "gateway"
GATEWAY_ISSUER = "urn:example:phantom-token-gateway"
GATEWAY_KID = "gateway-1"


def write_gateway_keys(workdir: Path) -> dict[str, Any]:
    """The gateway's client key (toward the AS) and signing key (toward the API).

    Writes ``gateway-client.jwk``, ``gateway-signing.jwk`` and the public
    ``gateway-signing.jwks`` the API pins; returns the client's public JWKS for the AS.
    """
    from bff.crypto.keys import generate_signing_jwk, public_jwk

    client = generate_signing_jwk("ES256")
    signing = generate_signing_jwk("ES256", kid=GATEWAY_KID)
    (workdir / "gateway-client.jwk").write_text(json.dumps(client))
    (workdir / "gateway-signing.jwk").write_text(json.dumps(signing))
    (workdir / "gateway-signing.jwks").write_text(json.dumps({"keys": [public_jwk(signing)]}))
    return {"keys": [public_jwk(client)]}


def gateway_as_options(client_jwks: dict[str, Any], resource: str) -> dict[str, Any]:
    """Dev AS settings for the gateway: opaque tokens for ``resource``, the gateway may
    introspect them; ``clients`` is the gateway's own registration (to append)."""
    return {"opaqueResources": [resource], "introspectors": [GATEWAY_CLIENT],
            "clients": [{"client_id": GATEWAY_CLIENT, "jwks": client_jwks,
                         # never used: the gateway only introspects
                         "redirect_uris": ["http://127.0.0.1/gateway/unused"]}]}


def gateway_api_args(workdir: Path) -> list[str]:
    """Example API arguments that make it trust only the gateway's pinned key."""
    return ["--gateway-issuer", GATEWAY_ISSUER,
            "--gateway-jwks-file", str(workdir / "gateway-signing.jwks")]


DEMO_GATEWAY_RESOURCE = "http://127.0.0.1/gateway/"


def demo_gateway_as_config(as_config: dict[str, Any],
                           client_jwks: dict[str, Any]) -> dict[str, Any]:
    """``bff demo --gateway``: the demo AS plus the gateway client and its opaque resource."""
    options = gateway_as_options(client_jwks, DEMO_GATEWAY_RESOURCE)
    return {**as_config, **options, "clients": [*as_config["clients"], *options["clients"]]}


def start_gateway(issuer: str, resource: str, upstream: str, upstream_audience: str,
                  workdir: Path, *, port: int = 0, cache_max_age: float = 30.0,
                  log_file: Path | None = None) -> Child:
    """The phantom-token gateway in front of ``upstream``; ``ready['url']``."""
    argv = [sys.executable, "-m", "gateway", "--issuer", issuer, "--resource", resource,
            "--client-id", GATEWAY_CLIENT, "--client-key", str(workdir / "gateway-client.jwk"),
            "--signing-key", str(workdir / "gateway-signing.jwk"),
            "--gateway-issuer", GATEWAY_ISSUER, "--upstream", upstream,
            "--upstream-audience", upstream_audience, "--port", str(port),
            "--cache-max-age", str(cache_max_age)]
    pythonpath = os.pathsep.join(filter(None, [str(API_DIR), os.environ.get("PYTHONPATH")]))
    return spawn("gateway", argv, ready_prefix="READY ", env={"PYTHONPATH": pythonpath},
                 log_file=log_file)


PAYMENT_MEMBERS = ["instructedAmount", "creditorName", "creditorAccount",
                   "remittanceInformationUnstructured"]
MOBILE_APP = "com.example.bank"
MOBILE_REDIRECT = "https://app.example.com/mobile/callback"


def write_mobile_keys(workdir: Path) -> None:
    """A local test attester's key pair (the example app signs with the private one)."""
    from bff.crypto.keys import generate_signing_jwk, public_jwk

    attester = generate_signing_jwk("ES256", kid="demo-attester")
    (workdir / "attester-private.jwk").write_text(json.dumps(attester))
    (workdir / "attester.jwk").write_text(json.dumps(public_jwk(attester)))
    (workdir / "registration-token.txt").write_text("dev-iat-secret\n")


def demo_mobile_table(key_dir: str = "") -> dict[str, Any]:
    """The ``[mobile]`` table of ``bff demo --mobile``: the example app and its test attester."""
    return {"enabled": True, "redirect_uri": MOBILE_REDIRECT, "apps": [MOBILE_APP],
            "attesters": [{"kid": "demo-attester", "jwk_file": f"{key_dir}attester.jwk"}],
            "initial_access_token_file": f"{key_dir}registration-token.txt"}


def second_factor_help(login: str = "alice") -> str:
    """How a demo user gets the one-time code that payments above 100.00 ask for."""
    from bff.demo_totp import totp_uri

    return (f"  Payments above 100.00 ask for a one-time code. Load {login}'s TOTP into an "
            f"authenticator app:\n\n    {totp_uri(login)}\n\n  or print the current code: "
            f"bff demo-code {login}   (any other user: bff demo-code NAME; the AS\n"
            f"  also logs the URI in {REPO / '.demo'}/as.log when it asks for a code)\n")


def run_demo(port: int = 8000, store: str = "memory", session_store: str = "cookie",
             mobile: bool = False, gateway: bool = False) -> int:
    """Start AS, example API, (Redis), BFF serving the SPA; print the URL; stop on Ctrl-C.

    ``gateway``: the API sits behind the phantom-token gateway; the BFF holds opaque tokens
    for the gateway's resource and the API sees only JWTs the gateway signs.
    """
    workdir = REPO / ".demo"
    workdir.mkdir(exist_ok=True)
    children: list[Child] = []
    host = "localhost"

    def stop_on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # children run in their own sessions: a plain SIGTERM must still reach the cleanup below
    signal.signal(signal.SIGTERM, stop_on_signal)
    listener: socket.socket | None = None
    try:
        # held from here on and served by ``bff run --fd``: the port is known before the AS
        # starts (redirect URIs) and cannot be taken by another process meanwhile
        try:
            listener = bound_socket("127.0.0.1", port)
        except OSError:
            raise DevstackError(f"port {port} is in use: stop what uses it or pass --port N")\
                from None
        public = f"http://{host}:{port}"
        jwks = write_keys(workdir)
        # a name, not the API's address: the API binds a port of its own choosing and reports
        # it, after the AS (which must know the audience) has started
        api_audience = "http://127.0.0.1/example-api/"
        as_config = demo_as_config(public, port, jwks, api_audience)
        if gateway:
            as_config = demo_gateway_as_config(as_config, write_gateway_keys(workdir))
        authz = start_authorization_server(as_config, workdir, workdir / "as.log")
        children.append(authz)
        issuer = authz.ready["issuer"]
        api = start_example_api(issuer, api_audience, log_file=workdir / "api.log",
                                extra_args=gateway_api_args(workdir) if gateway else ())
        children.append(api)
        route_url, route_resource = api.ready["url"], api_audience
        if gateway:
            gw = start_gateway(issuer, DEMO_GATEWAY_RESOURCE, api.ready["url"], api_audience,
                               workdir, log_file=workdir / "gateway.log")
            children.append(gw)
            route_url, route_resource = gw.ready["url"], DEMO_GATEWAY_RESOURCE
        redis_url = ""
        if store == "redis":
            redis = start_redis(0, workdir)
            children.append(redis)
            redis_url = redis.ready["url"]
        tables = demo_bff_config(
            public, port, issuer, route_resource, route_url, store=store,
            session_store="server" if mobile else session_store, redis_url=redis_url)
        if mobile:
            write_mobile_keys(workdir)
            tables["mobile"] = demo_mobile_table()
        write_toml(workdir / "bff.toml", tables)
        children.append(start_bff(workdir / "bff.toml", log_file=workdir / "bff.log",
                                  sock=listener))
        listener.close()  # the BFF has its own copy and serves it
        print(f"\n  Token handler demo is running.\n\n  Open {public}/ in your browser and sign in "
              f"with any user name (e.g. alice) and any password.\n\n  Authorization server: "
              f"{issuer}\n  Example API:          {api.ready['url']}\n"
              + (f"  Gateway:              {route_url} (opaque tokens in, JWTs out)\n"
                 if gateway else "") + "  Logs:                 "
              f"{workdir}/*.log\n\n{second_factor_help()}\n  Press Ctrl-C to stop.\n",
              flush=True)
        if mobile:
            print(f"  Mobile door on. Run the example app instance in another terminal:\n\n"
                  f"    .venv/bin/python mobile-example/run.py --bff {public} "
                  f"--attester-key {workdir}/attester-private.jwk\n", flush=True)
        while all(c.process.poll() is None for c in children):
            time.sleep(0.5)
        dead = [c for c in children if c.process.poll() is not None]
        raise DevstackError(f"{dead[0].name} stopped unexpectedly:\n{''.join(dead[0].output)}")
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    except DevstackError as exc:
        print(f"bff demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            child.stop()
        if listener is not None:
            listener.close()
