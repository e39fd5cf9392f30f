"""``/bff/openapi.json`` describes the live BFF: its routes, and (Schemathesis) every answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.routing import Route

from bff.app import build_app
from tests.support.cookies import Jar
from tests.support.stack import BFF, SPA, Stack, bff_config, running_bff

pytestmark = pytest.mark.integration

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
# bounded: the whole run stays well under a minute on a shared two-core machine
EXAMPLES = 15


@pytest.fixture(scope="module")
def bff(stack: Stack, tmp_path_factory: pytest.TempPathFactory, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]]) -> Iterator[BFF]:
    workdir: Path = tmp_path_factory.mktemp("openapi")
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks)
    with running_bff(config) as running:
        yield running


def starlette_app(app: Any) -> Starlette:
    while not isinstance(app, Starlette):
        app = app.app
    return app


def test_document_lists_exactly_the_routes_the_app_serves(bff: BFF) -> None:
    with bff.client() as http:
        doc = http.get("/bff/openapi.json").json()
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    app = starlette_app(build_app(bff.config, parts=bff.parts))
    served = {(r.path, m) for r in app.routes if isinstance(r, Route)
              for m in (r.methods or ()) if m != "HEAD"}
    assert documented == served
    assert doc["openapi"] == "3.1.0"


def load_schema(bff: BFF) -> Any:
    schema = schemathesis.openapi.from_url(f"{bff.url}/bff/openapi.json")
    schema.config.update(base_url=bff.url)
    return schema


# the operations with a body to break; the others have no input to negate
WITH_BODY = {"loginStart", "loginEnd", "backchannelLogout"}


def fuzz(schema: Any, base_url: str, headers: dict[str, str], examples: int,
         seen: dict[str, set[int]]) -> None:
    """Valid cases for every operation, invalid bodies too; each answer checked against the doc."""
    for result in schema.get_all_operations():
        operation = result.ok()
        name = operation.definition.raw["operationId"]
        modes = [schemathesis.GenerationMode.POSITIVE]
        if name in WITH_BODY:
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:
                response = case.call_and_validate(base_url=base_url, headers=headers,
                                                  checks=CHECKS, timeout=10)
                seen.setdefault(case.operation.definition.raw["operationId"], set()).add(
                    response.status_code)

            run()


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(
        bff: BFF, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    _http, jar, csrf = signed_in
    started = time.monotonic()
    schema = load_schema(bff)
    signed = {"Origin": SPA, "Cookie": jar.header(), "X-CSRF-Token": csrf}
    # signed in first (everything but logout), then anonymous and with logout included
    seen: dict[str, set[int]] = {}
    fuzz(schema.exclude(operation_id="logout"), bff.url, signed, EXAMPLES, seen)
    fuzz(schema, bff.url, {"Origin": SPA}, EXAMPLES, seen)
    fuzz(schema.include(operation_id="logout"), bff.url, signed, 5, seen)
    assert time.monotonic() - started < 60
    # every operation was called (Schemathesis leaves out the document's own URL, which the
    # route test fetches); signed in, the session calls succeeded
    assert set(seen) | {"openapi"} == {op["operationId"] for ops in schema.raw_schema[
        "paths"].values() for op in ops.values()}
    assert 200 in seen["session"] and 200 in seen["userinfo"] and 200 in seen["refresh"]
    assert 200 in seen["loginStart"] and 400 in seen["loginStart"]
    assert 200 in seen["logout"]
