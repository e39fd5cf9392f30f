"""The ``bff`` command: run, check-config, keys generate, demo, demo-code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bff.errors import ConfigError

if TYPE_CHECKING:
    from bff.telemetry.ready import ReadyLine


def _check_config(path: str, probe: bool = False) -> int:
    from bff.config.loader import load_settings

    try:
        config = load_settings(path)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    print(f"{path}: configuration is valid")
    if probe:
        from bff.probe import run_probe

        met, text = run_probe(config)
        print(f"{config.settings.oauth.issuer}: "
              f"{'meets' if met else 'does NOT meet'} the BFF's requirements\n{text}")
        return 0 if met else 3
    return 0


CONFIG_FILE_ENV = "BFF_CONFIG_FILE"


def _problems(path: str, exc: ConfigError) -> int:
    print(f"{path}: refusing to start, {len(exc.problems)} problem(s):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 2


def worker_app() -> Any:
    """The app of one worker process (uvicorn factory); the parent checked the config already."""
    from bff.app import build_app
    from bff.config.loader import load_settings
    from bff.telemetry.logging import configure_logging

    config = load_settings(os.environ[CONFIG_FILE_ENV])
    configure_logging(config.settings.server.log_level)
    # uvicorn runs the workers with BoundedConfig's protocol, which limits request heads
    return build_app(config, server_limits_heads=True)


def _run(path: str, host: str | None, port: int | None, fd: int | None = None) -> int:
    from bff.config.loader import load_settings
    from bff.telemetry.logging import configure_logging
    from bff.telemetry.ready import (
        BoundedConfig,
        ReadyLine,
        inherited_socket,
        prepare_metrics_dir,
        serve,
    )

    try:
        config = load_settings(path)
    except ConfigError as exc:
        return _problems(path, exc)
    sock = None
    if fd is not None:
        try:
            sock = inherited_socket(fd)
        except ValueError as exc:
            print(f"bff run --fd: {exc}", file=sys.stderr)
            return 2
    s = config.settings
    configure_logging(s.server.log_level)
    if s.server.engine == "granian":
        if sock is not None:
            print("bff run --fd: granian binds its own socket; use server.engine = uvicorn",
                  file=sys.stderr)
            return 2
        return _run_granian(path, host or s.server.host, s.server.port if port is None else port,
                            s.server.workers, s.server.log_level, s.server.max_header_bytes,
                            ReadyLine(issuer=s.oauth.issuer, store=s.store.backend,
                                      session_store=s.session.store, workers=s.server.workers))
    workers = s.server.workers
    if workers > 1:
        # before any worker imports prometheus-client: every process writes into this folder
        prepare_metrics_dir(s.server.metrics_dir)
        os.environ[CONFIG_FILE_ENV] = str(Path(path).absolute())
        app: Any = "bff.cli:worker_app"
    else:
        from bff.app import build_app

        # BoundedConfig's protocol limits request heads as they arrive
        app = build_app(config, server_limits_heads=True)
    uconfig = BoundedConfig(app, s.server, host=host or s.server.host,
                            port=s.server.port if port is None else port,
                            workers=workers, factory=workers > 1)
    ready = ReadyLine(issuer=s.oauth.issuer, store=s.store.backend,
                      session_store=s.session.store, workers=workers)
    serve(uconfig, ready, sock)
    return 0


def _run_granian(path: str, host: str, port: int, workers: int, log_level: str,
                 max_header_bytes: int, ready: ReadyLine) -> int:
    """Serve with granian: its own worker processes, each importing ``bff.asgi``."""
    import threading

    from bff.telemetry.ready import announce_when_serving

    if port == 0:
        print("server.engine = granian binds the port itself: give server.port (not 0)",
              file=sys.stderr)
        return 2
    try:
        from granian.constants import HTTPModes, Interfaces
        from granian.http import HTTP1Settings
        from granian.log import LogLevels
        from granian.server import Server
    except ImportError:
        print("server.engine = granian needs the granian package (pip install granian)",
              file=sys.stderr)
        return 2
    from bff.asgi import CONFIG_ENV

    os.environ[CONFIG_ENV] = str(Path(path).absolute())
    stop = threading.Event()

    # the same ready line as with uvicorn: printed once /healthz answers on the port
    threading.Thread(target=announce_when_serving, args=(host, port, stop, ready),
                     name="bff-ready", daemon=True).start()
    try:
        Server("bff.asgi:app_from_env", address=host, port=port, interface=Interfaces.ASGI,
               workers=workers, factory=True, http=HTTPModes.http1, backlog=2048,
               respawn_failed_workers=True, log_level=LogLevels(log_level),
               # its parser stops reading a head at this size (431), before the app's guard
               # sees it: memory stays bounded while the head arrives (at least 8 KiB there)
               http1_settings=HTTP1Settings(max_buffer_size=max(8192, max_header_bytes))).serve()
    finally:
        stop.set()
    return 0


def _keys_generate(out_dir: str, alg: str, force: bool) -> int:
    from bff.crypto.keys import generate_seal_jwk, generate_signing_jwk, public_jwk

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    targets = {"client.jwk": generate_signing_jwk(alg), "cookie.jwk": generate_seal_jwk()}
    for name in targets:
        if (out / name).exists() and not force:
            print(f"{out / name} exists; use --force to replace it", file=sys.stderr)
            return 2
    for name, jwk in targets.items():
        path = out / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file being replaced
        with os.fdopen(fd, "w") as fh:
            json.dump(jwk, fh, indent=2)
    pub = public_jwk(targets["client.jwk"])
    (out / "client.public.jwks").write_text(json.dumps({"keys": [pub]}, indent=2))
    print(f"wrote {out / 'client.jwk'} (private, {alg}), {out / 'cookie.jwk'} (private, "
          f"AES-256), {out / 'client.public.jwks'} (register this JWKS at the AS)")
    return 0


def _keys_rotate(path: str, alg: str, activate_after: int, retain: int | None) -> int:
    import time

    from bff.config.loader import load_settings
    from bff.crypto.rotation import (
        published,
        rotate_client_keys,
        rotate_cookie_keys,
        rotate_file,
    )

    try:
        config = load_settings(path)
    except ConfigError as exc:
        return _problems(path, exc)
    s = config.settings
    if not s.oauth.client_key_file or not s.session.cookie_key_files:
        print("keys rotate works on key files: set oauth.client_key_file and "
              "session.cookie_key_files (keys from the environment rotate where they are kept)",
              file=sys.stderr)
        return 2
    base = Path(path).absolute().parent
    now = time.time()
    # old cookie keys must open every cookie sealed before the switch: as long as a session lives
    keep = s.session.absolute_timeout + 60 if retain is None else retain
    client_file, cookie_file = base / s.oauth.client_key_file, base / s.session.cookie_key_files[0]
    client = rotate_file(client_file, lambda doc: rotate_client_keys(
        doc, alg, now, activate_after, keep))
    cookie = rotate_file(cookie_file, lambda doc: rotate_cookie_keys(
        doc, now, activate_after, keep))
    public = client_file.with_name("client.public.jwks")
    public.write_text(json.dumps(published(client["keys"]), indent=2))
    print(json.dumps({"event": "keys_rotated", "client_kid": client["keys"][0]["kid"],
                      "cookie_kid": cookie["keys"][0]["kid"],
                      "active_from": int(now + activate_after),
                      "old_keys_until": int(now + activate_after + keep),
                      "public_jwks": str(public)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bff`` console script."""
    parser = argparse.ArgumentParser(prog="bff", description="Token Handler BFF (FAPI 2.0)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the BFF")
    run.add_argument("--config", required=True, help="TOML configuration file")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--fd", type=int,
                     help="serve the TCP socket inherited as this file descriptor (bound by the "
                          "parent process, which picked its address; not with --host/--port)")
    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file")
    check.add_argument("--probe", action="store_true",
                       help="also fetch the issuer's live metadata and check what the BFF needs")
    keys = sub.add_parser("keys", help="key management")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    gen = keys_sub.add_parser("generate", help="write a client signing key and a cookie key")
    gen.add_argument("--out", default="keys")
    gen.add_argument("--alg", default="ES256", choices=["ES256", "PS256", "EdDSA"])
    gen.add_argument("--force", action="store_true")
    sub.add_parser("config-reference",
                   help="print the configuration reference (Markdown) generated from the model")
    rotate = keys_sub.add_parser(
        "rotate", help="add a new client key and cookie key; the old ones stay until a set time")
    rotate.add_argument("--config", required=True, help="the TOML file naming the key files")
    rotate.add_argument("--alg", default="ES256", choices=["ES256", "PS256", "EdDSA"])
    rotate.add_argument("--activate-after", type=int, default=600,
                        help="seconds until the new keys sign and seal (published at once; "
                             "longer than server.key_reload_interval and the AS's jwks cache)")
    rotate.add_argument("--retain", type=int, default=None,
                        help="seconds the old keys stay after that (default: "
                             "session.absolute_timeout + 60)")
    demo = sub.add_parser("demo", help="start the whole local stack and print the URL to open")
    demo.add_argument("--port", type=int, default=8000, help="BFF port (default 8000)")
    demo.add_argument("--store", choices=["memory", "redis"], default="memory")
    demo.add_argument("--session-store", choices=["cookie", "server"], default="cookie")
    demo.add_argument("--mobile", action="store_true",
                      help="enable the mobile door for mobile-example/ (server sessions)")
    demo.add_argument("--gateway", action="store_true",
                      help="put the phantom-token gateway in front of the example API")
    code = sub.add_parser("demo-code",
                          help="print the demo AS's current one-time code for a user (dev only)")
    code.add_argument("login", nargs="?", default="alice")
    args = parser.parse_args(argv)
    if args.command == "check-config":
        return _check_config(args.file, args.probe)
    if args.command == "run":
        if args.fd is not None and (args.host is not None or args.port is not None):
            parser.error("--fd serves an inherited socket: it cannot be given with --host/--port")
        return _run(args.config, args.host, args.port, args.fd)
    if args.command == "keys" and args.keys_command == "rotate":
        return _keys_rotate(args.config, args.alg, args.activate_after, args.retain)
    if args.command == "keys":
        return _keys_generate(args.out, args.alg, args.force)
    if args.command == "config-reference":
        from bff.config.reference import render_reference

        sys.stdout.write(render_reference())
        return 0
    if args.command == "demo-code":
        from bff.demo_totp import code_at, totp_uri

        print(f"{code_at(args.login)}  (valid for up to 30 s; authenticator app: "
              f"{totp_uri(args.login)})")
        return 0
    if args.command == "demo":
        from bff.devstack import run_demo

        return run_demo(port=args.port, store=args.store, session_store=args.session_store,
                        mobile=args.mobile, gateway=args.gateway)
    return 2


if __name__ == "__main__":
    sys.exit(main())
