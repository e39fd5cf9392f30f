"""The ``bff`` command: run, check-config, keys generate, demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bff.errors import ConfigError


def _check_config(path: str) -> int:
    from bff.config.loader import load_settings

    try:
        load_settings(path)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    print(f"{path}: configuration is valid")
    return 0


def _run(path: str, host: str | None, port: int | None) -> int:
    import uvicorn

    from bff.app import build_app
    from bff.config.loader import load_settings
    from bff.telemetry.logging import configure_logging
    from bff.web.limits import uvicorn_options

    try:
        config = load_settings(path)
    except ConfigError as exc:
        print(f"{path}: refusing to start, {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    s = config.settings
    configure_logging(s.server.log_level)
    host = host or s.server.host
    port = s.server.port if port is None else port
    if s.server.engine == "granian":
        return _run_granian(path, host, port, s.server.workers, s.server.log_level)
    if s.server.workers > 1:
        from bff.workers import listening_socket, supervise

        try:
            sock = listening_socket(host, port)
        except OSError as exc:
            print(f"cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
            return 1

        def serve(sock: Any) -> None:
            # built in the worker, after the fork: its own loop, pools and store clients
            app = build_app(config)
            uvicorn.Server(uvicorn.Config(app, **uvicorn_options(s.server))).run(sockets=[sock])

        return supervise(s.server.workers, sock, serve)
    app = build_app(config)
    uvicorn.run(app, host=host, port=port, **uvicorn_options(s.server))
    return 0


def _run_granian(path: str, host: str, port: int, workers: int, log_level: str) -> int:
    """Serve with granian: its own worker processes, each importing ``bff.asgi``."""
    try:
        from granian.constants import HTTPModes, Interfaces
        from granian.log import LogLevels
        from granian.server import Server
    except ImportError:
        print("server.engine = granian needs the granian package (pip install granian)",
              file=sys.stderr)
        return 2
    from bff.asgi import CONFIG_ENV

    os.environ[CONFIG_ENV] = str(Path(path).resolve())
    Server("bff.asgi:app_from_env", address=host, port=port, interface=Interfaces.ASGI,
           workers=workers, factory=True, http=HTTPModes.http1, backlog=2048,
           respawn_failed_workers=True, log_level=LogLevels(log_level)).serve()
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bff`` console script."""
    parser = argparse.ArgumentParser(prog="bff", description="Token Handler BFF (FAPI 2.0)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the BFF")
    run.add_argument("--config", required=True, help="TOML configuration file")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file")
    keys = sub.add_parser("keys", help="key management")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    gen = keys_sub.add_parser("generate", help="write a client signing key and a cookie key")
    gen.add_argument("--out", default="keys")
    gen.add_argument("--alg", default="ES256", choices=["ES256", "PS256", "EdDSA"])
    gen.add_argument("--force", action="store_true")
    demo = sub.add_parser("demo", help="start the whole local stack and print the URL to open")
    demo.add_argument("--port", type=int, default=8000, help="BFF port (default 8000)")
    demo.add_argument("--store", choices=["memory", "redis"], default="memory")
    demo.add_argument("--session-store", choices=["cookie", "server"], default="cookie")
    args = parser.parse_args(argv)
    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "run":
        return _run(args.config, args.host, args.port)
    if args.command == "keys":
        return _keys_generate(args.out, args.alg, args.force)
    if args.command == "demo":
        from bff.devstack import run_demo

        return run_demo(port=args.port, store=args.store, session_store=args.session_store)
    return 2


if __name__ == "__main__":
    sys.exit(main())
