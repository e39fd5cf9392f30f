"""The OpenAPI 3.1 description of the browser API, built from the code it describes.

The error codes come from the error hierarchy itself, the paths from the configured prefix;
a test checks the paths and methods against the app's routes, and Schemathesis checks every
answer of a live BFF against this document.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bff import errors as e
from bff.web.backchannel import MAX_FORM
from bff.web.browser import MAX_JSON_BODY

# the framework's own answers (unknown path, wrong method) and the generic fallbacks
FRAMEWORK_CODES = ("not_found", "method_not_allowed", "invalid_request", "server_error")
# public keys only: a private member ("d") would be a leaked key
PUBLIC_JWKS = {"type": "object", "required": ["keys"], "properties": {"keys": {
    "type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["kty"], "not": {"required": ["d"]}}}}}
REQUEST_ID_HEADER = {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}}


def error_codes() -> list[str]:
    """Every ``error`` value an answer can carry: the hierarchy's codes and the framework's."""
    codes: set[str] = set(FRAMEWORK_CODES)
    pending: list[type[e.BFFError]] = [e.BFFError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return sorted(codes)


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "headers": REQUEST_ID_HEADER,
            "content": {"application/json": {"schema": schema}}}


def _errors() -> dict[str, Any]:
    error = _json({"$ref": "#/components/schemas/Error"},
                  "The JSON error model: a stable code and a fixed sentence.")
    return {"4XX": error, "5XX": error}


def _session_schema() -> dict[str, Any]:
    return {"type": "object", "required": ["isLoggedIn"], "additionalProperties": False,
            "properties": {"isLoggedIn": {"type": "boolean"},
                           "claims": {"type": "object"},
                           "expiresAt": {"type": "integer"},
                           "csrfToken": {"type": "string"}}}


def build_document(prefix: str = "/bff", *, metrics: bool = True) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a BFF whose endpoints live under ``prefix``."""
    string = {"type": "string"}
    paths: dict[str, Any] = {
        f"{prefix}/login/start": {"post": {
            "operationId": "loginStart", "summary": "Start a login: PAR, then the AS's URL.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "maxProperties": 16, "properties": {
                    "returnTo": {"type": "string", "maxLength": 2048},
                    "extraParams": {"type": "object",
                                    "additionalProperties": {"type": "string"}}}}}}},
            "responses": {"200": _json({
                "type": "object", "required": ["authorizationUrl"], "additionalProperties": False,
                "properties": {"authorizationUrl": {"type": "string", "format": "uri"}}},
                "Open this URL in the browser; a login transaction cookie is set."),
                **_errors()}}},
        f"{prefix}/login/end": {"post": {
            "operationId": "loginEnd",
            "summary": "Finish a login from the page URL the AS returned to.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["pageUrl"],
                "properties": {"pageUrl": {"type": "string", "maxLength": 8192}}}}}},
            "responses": {"200": _json({
                "type": "object", "required": ["isLoggedIn", "handled"],
                "additionalProperties": False,
                "properties": {"isLoggedIn": {"type": "boolean"}, "handled": {"type": "boolean"},
                               "returnTo": string, "csrfToken": string}},
                "Whether the page URL was a login response, and the session it made."),
                **_errors()}}},
        f"{prefix}/session": {"get": {
            "operationId": "session", "summary": "The session's state; logged out is not an error.",
            "responses": {"200": _json(_session_schema(), "The session."), **_errors()}}},
        f"{prefix}/userinfo": {"get": {
            "operationId": "userinfo", "summary": "The AS's userinfo for the signed-in user.",
            "responses": {"200": _json({"type": "object", "required": ["sub"],
                                        "properties": {"sub": string}}, "Userinfo claims."),
                          **_errors()}}},
        f"{prefix}/refresh": {"post": {
            "operationId": "refresh", "summary": "Refresh the tokens now (X-CSRF-Token).",
            "requestBody": {"required": False, "content": {"application/json": {"schema": {}}}},
            "responses": {"200": _json(_session_schema(), "The refreshed session."),
                          **_errors()}}},
        f"{prefix}/logout": {"post": {
            "operationId": "logout", "summary": "End the session (X-CSRF-Token).",
            "requestBody": {"required": False, "content": {"application/json": {"schema": {}}}},
            "responses": {"200": _json({
                "type": "object", "required": ["logoutUrl"], "additionalProperties": False,
                "properties": {"logoutUrl": {"type": ["string", "null"]}}},
                "Cookies cleared; open logoutUrl to end the AS session."), **_errors()}}},
        f"{prefix}/backchannel-logout": {"post": {
            "operationId": "backchannelLogout",
            "summary": "OpenID Connect Back-Channel Logout 1.0 §2.5 (called by the AS).",
            "requestBody": {"required": True, "content": {
                "application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "required": ["logout_token"],
                    "properties": {"logout_token": {"type": "string",
                                                    "maxLength": MAX_FORM}}}}}},
            "responses": {"200": {"description": "Sessions ended.",
                                  "headers": {"X-Request-Id": {
                                      "$ref": "#/components/headers/RequestId"}}},
                          **_errors()}}},
        f"{prefix}/jwks.json": {"get": {
            "operationId": "jwks", "summary": "The client's public keys (for jwks_uri).",
            "responses": {"200": {"description": "RFC 7517 §5 JWK set.",
                                  "headers": REQUEST_ID_HEADER,
                                  "content": {"application/jwk-set+json": {
                                      "schema": PUBLIC_JWKS}}}}}},
        f"{prefix}/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document.",
            "responses": {"200": _json({"type": "object", "required": ["openapi", "paths"]},
                                       "OpenAPI 3.1.")}}},
        "/healthz": {"get": {
            "operationId": "healthz", "summary": "Liveness: the process serves.",
            "responses": {"200": _json({"type": "object", "required": ["status"]}, "Alive.")}}},
        "/readyz": {"get": {
            "operationId": "readyz", "summary": "Readiness: the AS and the store answer.",
            "responses": {code: _json({
                "type": "object", "required": ["status", "checks"],
                "properties": {"status": {"enum": ["ok", "unavailable"]},
                               "checks": {"type": "object",
                                          "additionalProperties": string}}}, text)
                for code, text in (("200", "Ready."), ("503", "Not ready, with the reason."))}}},
    }
    if metrics:
        paths["/metrics"] = {"get": {
            "operationId": "metrics", "summary": "Prometheus exposition (counts only).",
            "responses": {"200": {"description": "Text format.",
                                  "headers": REQUEST_ID_HEADER,
                                  "content": {"text/plain": {"schema": string}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Token Handler BFF: browser API", "version": "1",
                 "description": (
                     "Cookie-authenticated API of the BFF for single-page apps. Requests need "
                     "the app's Origin; state-changing calls after login need X-CSRF-Token. "
                     f"JSON bodies are at most {MAX_JSON_BODY} bytes.")},
        "paths": paths,
        "components": {
            "schemas": {"Error": {
                "type": "object", "required": ["error", "error_description"],
                "additionalProperties": False,
                "properties": {"error": {"enum": error_codes()},
                               "error_description": string}}},
            "headers": {"RequestId": {
                "description": "The request's id, as on its log lines.", "required": True,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{8,64}$"}}},
        },
    }


def openapi_endpoint(prefix: str, *, metrics: bool = True) -> Any:
    """``GET <prefix>/openapi.json``; the document is built once."""
    body = json.dumps(build_document(prefix, metrics=metrics), separators=(",", ":")).encode()

    async def endpoint(request: Request) -> Response:
        return Response(body, media_type="application/json",
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    return endpoint
