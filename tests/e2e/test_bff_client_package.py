"""The bff-client package: its Node tests against a live BFF, and its TypeScript types."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import bound_socket, port_of
from tests.support.stack import bff_config, running_bff, running_stack

PACKAGE = Path(__file__).resolve().parents[2] / "spa-example" / "bff-client"
TSC = PACKAGE / "node_modules" / "typescript" / "bin" / "tsc"
NODE = shutil.which("node") or "node"

needs_typescript = pytest.mark.skipif(
    not TSC.exists(), reason="run scripts/setup (npm ci in spa-example/bff-client)")


@pytest.fixture(scope="module")
def live_bff(tmp_path_factory: pytest.TempPathFactory, client_jwk: dict[str, Any]) -> Iterator[str]:
    """Dev AS, example API and a BFF whose public origin is the one the Node tests send."""
    workdir = tmp_path_factory.mktemp("sdk")
    sock = bound_socket()  # held until served: the AS learns the redirect URI first
    public = f"http://127.0.0.1:{port_of(sock)}"
    with sock, running_stack(workdir, client_jwk, redirect_uris=[f"{public}/"]) as stack:
        config = bff_config(
            workdir, stack.issuer, client_jwk, [_seal_key()],
            routes=[{"prefix": "/api", "upstream": stack.api_url, "resource": stack.audience}],
            server={"public_url": public},
            oauth={"redirect_uri": f"{public}/", "post_logout_redirect_uri": f"{public}/",
                   "resources": [stack.audience]})
        with running_bff(config, sock=sock):
            yield public


def _seal_key() -> dict[str, Any]:
    from bff.crypto.keys import generate_seal_jwk
    return generate_seal_jwk("k1")


def _run(args: list[str], env: dict[str, str] | None = None,
         timeout: float = 50) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=PACKAGE, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)


def test_package_tests_pass_against_the_live_bff(live_bff: str) -> None:
    """``node --test``: page load, concurrency, abort, timeout, CSRF recovery, events."""
    done = _run([NODE, "--test", "--test-reporter=spec", "test/"], {"BFF_URL": live_bff})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "fail 0" in done.stdout, done.stdout[-3000:]


@needs_typescript
def test_the_javascript_is_type_checked_strictly_and_its_types_are_current(tmp_path: Path) -> None:
    """``tsc --strict`` with ``checkJs`` over the source; the shipped ``types/`` match it."""
    done = _run([NODE, str(TSC), "-p", "tsconfig.json", "--declarationDir", str(tmp_path)])
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("index.d.ts", "error-codes.d.ts"):
        assert filecmp.cmp(tmp_path / name, PACKAGE / "types" / name, shallow=False), (
            f"types/{name} is stale: run `npm run types` in spa-example/bff-client")


@needs_typescript
def test_a_typescript_consumer_and_the_recipes_compile_under_strict() -> None:
    done = _run([NODE, str(TSC), "-p", "test/consumer/tsconfig.json"])
    assert done.returncode == 0, done.stdout + done.stderr


@needs_typescript
def test_the_consumer_check_catches_misuse(tmp_path: Path) -> None:
    """The type check can fail: an unknown error code in a typed switch is an error."""
    bad = tmp_path / "bad.ts"
    bad.write_text(
        f"import type {{ ErrorCode, SessionInfo }} from '{PACKAGE}/types/index.js';\n"
        "const c: ErrorCode = 'csrf_failure';\n"
        "declare const s: SessionInfo;\n"
        "const n: string = s.claims.name ?? '';\n"
        "export { c, n };\n")
    done = _run([NODE, str(TSC), "--strict", "--noEmit", "--target", "ES2022", "--module", "ES2022",
                 "--moduleResolution", "bundler", "--lib", "ES2022,DOM", str(bad)])
    assert done.returncode != 0
    assert "'\"csrf_failure\"' is not assignable" in done.stdout, done.stdout
    assert "Property 'claims' does not exist" in done.stdout, done.stdout
