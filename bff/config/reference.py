"""The configuration reference, generated from the settings model (docs/configuration.md).

Every key of the model must have a sentence here, and nothing else may: a test compares this
with the model, the generated file with the one in the repository, and ``bff check-config``
with both, so the reference cannot drift from what the loader accepts.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterator
from typing import Any

from bff.config.model import Settings

DOCS: dict[str, str] = {
    "server.host": "Address to listen on.",
    "server.port": "Port to listen on (0..65535; 0 picks a free one, reported on the ready line).",
    "server.public_url": "The origin browsers use; cookies and the Origin check follow it. "
                         "Required. A loopback `http://` URL keeps `__Host-` cookies.",
    "server.path_prefix": "Where the BFF's own endpoints live (`/bff/login/start`, ...).",
    "server.static_dir": "Optional: serve the SPA from this directory.",
    "server.log_level": "debug, info, warning or error. JSON lines on stderr; tokens are never "
                        "logged.",
    "server.access_log": "One line per request: method, path (no query), status, ms, "
                         "request id.",
    "server.metrics": "GET /metrics (Prometheus text; counts only): keep it off the public "
                      "internet.",
    "server.max_header_count": "More header fields: 431, refused while parsing (16..10000).",
    "server.max_header_bytes": "Request line + headers above this: 431 (16 KiB..1 MiB).",
    "server.hsts": "Strict-Transport-Security (1 year) on every answer when public_url is https.",
    "server.trust_request_id": "Keep a well-formed incoming X-Request-Id (8-64 of "
                               "`[A-Za-z0-9._-]`) set by a trusted load balancer; otherwise "
                               "every request gets a fresh id.",
    "server.workers": "Worker processes on one socket (1..64); above 1 needs "
                      '`store.backend = "redis"`; /metrics sums them all (uvicorn).',
    "server.key_reload_interval": "Seconds between re-reads of the key files, so rotated keys "
                                  "and their schedules take effect (0: only on SIGHUP).",
    "server.engine": '"uvicorn" (default) or "granian" (opt-in; with several granian workers '
                     "metrics must be off).",
    "server.metrics_dir": "Multiprocess metrics folder (workers > 1), emptied at start; empty: a "
                          "fresh temporary folder.",
    "oauth.issuer": "The AS issuer; must equal the issuer in its metadata. Required.",
    "oauth.client_id": "The client id registered at the AS. Required.",
    "oauth.client_key_file": "Private signing JWK (ES256, PS256 with RSA >= 2048, or EdDSA), or a "
                             "JWK set from `bff keys rotate`; relative to the config file's "
                             "folder. Or set BFF_SECRETS__CLIENT_KEY.",
    "oauth.redirect_uri": "The SPA page the AS returns to; it calls /bff/login/end on load. "
                          "Required.",
    "oauth.post_logout_redirect_uri": "Where the AS sends the browser after logout (optional).",
    "oauth.scope": "Scopes asked at login; must contain openid.",
    "oauth.resources": "Resource indicators sent at PAR (RFC 8707).",
    "oauth.authorization_params": "Parameters sent on every PAR (not the ones the BFF sets).",
    "oauth.extra_params_allowlist": "Parameters the SPA may add to a login "
                                    "(/bff/login/start's extraParams).",
    "oauth.claims": "ID token and userinfo claims that /bff/session shows.",
    "oauth.algorithms": "Signature algorithms accepted from the AS: FAPI 2.0's only; anything "
                        "else needs [insecure].",
    "oauth.dpop_algorithm": "Algorithm of the per-session DPoP keys (PS256, ES256 or EdDSA).",
    "oauth.clock_skew": "Seconds of clock difference tolerated with the AS (0..60).",
    "oauth.http_timeout": "Seconds per request to the AS.",
    "oauth.metadata_ttl": "Seconds the AS metadata and key set are cached (60..86400); a token "
                          "with an unknown kid refetches the keys sooner.",
    "oauth.id_token_hint_in_logout": "Send id_token_hint at logout; off, the ID token never "
                                     "reaches the browser.",
    "oauth.refresh_margin": "Refresh an access token this many seconds before it expires.",
    "oauth.fetch_userinfo_at_login": "Merge userinfo claims into the session at login.",
    "oauth.require_userinfo_at_login": "Fail the login when userinfo cannot be fetched (default: "
                                       "best effort, claims from the ID token, a warning).",
    "oauth.resource_strategy": '"refresh_per_resource" (code exchange without resource, then a '
                               'refresh per API), "at_code_exchange" (resources at the code '
                               'exchange) or "none" (no resource indicators; one token).',
    "oauth.request_objects": "Push a signed request object (JAR, RFC 9101) through PAR.",
    "oauth.response_mode": '"" (plain) or "jwt": require JWT-secured authorization responses '
                           "(JARM).",
    "oauth.client_auth": '"private_key_jwt", "tls_client_auth" or "self_signed_tls_client_auth" '
                         "(RFC 8705 §2).",
    "oauth.sender_constraint": '"dpop" (a key per session, RFC 9449) or "mtls" '
                               "(certificate-bound tokens, RFC 8705 §3).",
    "oauth.tls_cert_file": "Client certificate (PEM) for mutual TLS toward the AS and APIs.",
    "oauth.tls_key_file": "Its private key (PEM).",
    "oauth.tls_ca_file": "CA bundle for the AS's mTLS endpoints (empty: the system CAs).",
    "oauth.tls_reload_interval": "Seconds between re-reads of the certificate files (also on "
                                 "SIGHUP).",
    "oauth.authorization_details_types": "RFC 9396 types a login may carry, each with the members "
                                         "it may have besides `type` (none by default: every "
                                         "`authorization_details` is refused before the AS is "
                                         "called).",
    "oauth.authorization_details_max_bytes": "Largest `authorization_details` JSON sent at PAR "
                                             "(64..16384).",
    "session.store": '"cookie" (stateless) or "server" (id in the cookie, session in the store).',
    "session.idle_timeout": "Seconds without a call before a session ends.",
    "session.absolute_timeout": "Seconds after login when a session ends, however active.",
    "session.login_timeout": "Seconds a login may take between start and end (30..3600).",
    "session.max_login_transactions": "Tabs logging in at once (1..10); the oldest is dropped.",
    "session.cookie_key_files": "AES-256 `oct` JWKs or JWK sets; the first key seals, all open. "
                                "Or set BFF_SECRETS__COOKIE_KEYS.",
    "session.refresh_grace": "Seconds a rotated token set stays available to late callers.",
    "cors.allowed_origins": "Other origins of the same site that host the SPA.",
    "cors.max_age": "Seconds a browser may cache a CORS preflight answer.",
    "store.backend": '"memory" (one instance) or "redis".',
    "store.url": "redis://, rediss://, unix:// or redis+sentinel:// URL (backend redis).",
    "store.namespace": "Prefix of every key the BFF writes in Redis.",
    "store.sentinel_service": "The Sentinel service (master) name, with a redis+sentinel URL.",
    "store.cluster": "Talk to a Redis Cluster.",
    "store.tls_ca_file": "CA bundle that signs the Redis server certificate (rediss).",
    "store.tls_cert_file": "Client certificate for Redis mutual TLS.",
    "store.tls_key_file": "Client key for Redis mutual TLS.",
    "store.timeout": "Seconds per command, and the longest wait for a free connection.",
    "store.max_connections": "Pool size per instance; a burst beyond it waits (up to timeout).",
    "store.breaker_cooldown": "After Redis could not be reached, calls fail fast this long, then "
                              "one probes.",
    "store.mirror_staleness": "Logout markers are mirrored in memory over pub/sub; another "
                              "instance learns of a logout within this many seconds (0: read "
                              "the store on every call; 0.2..30).",
    "routes.prefix": "Calls to `<prefix>/...` go to the upstream (not under path_prefix).",
    "routes.upstream": "The API's base URL; the rest of the path is appended.",
    "routes.resource": "Which access token (resource indicator) to attach.",
    "routes.scopes": "This route's token is narrowed to these (a subset of oauth.scope) at "
                     "refresh.",
    "routes.connect_timeout": "Seconds to connect to the upstream.",
    "routes.read_timeout": "Seconds to wait for the upstream's answer (504 after).",
    "routes.max_body_bytes": "Largest request body passed to the upstream (413 above).",
    "routes.forward_headers": "Request headers to pass besides the defaults; credentials, "
                              "hop-by-hop, forwarding and override headers are refused.",
    "routes.x_forwarded": "Add X-Forwarded-For/Proto/Host for this upstream.",
    "routes.keepalive_timeout": "Seconds an idle upstream connection is kept: below the "
                                "upstream's keep-alive.",
    "routes.tls_ca_file": "CA bundle the upstream's certificate must chain to (empty: the "
                          "system CAs).",
    "routes.tls_cert_file": "Client certificate for this upstream (empty: oauth.tls_cert_file "
                            "when sender_constraint is mtls).",
    "routes.tls_key_file": "Its private key (PEM).",
    "mobile.enabled": "Turn on the mobile front door (`/bff/mobile/*`); needs "
                      '`session.store = "server"`.',
    "mobile.redirect_uri": "The app's claimed https link the AS redirects to after sign-in.",
    "mobile.apps": "App identities (the attestation's `sub`) allowed to register.",
    "mobile.attesters.kid": "Key id of a trusted attester.",
    "mobile.attesters.jwk_file": "Its public JWK.",
    "mobile.app_attest.app": "An app identity (of `apps`) whose instances register with Apple "
                             "App Attest.",
    "mobile.app_attest.team_id": "Its Apple team id (the App ID is `team_id.bundle_id`).",
    "mobile.app_attest.bundle_id": "Its bundle id.",
    "mobile.app_attest.environment": "`production` or `development` (the attested AAGUID).",
    "mobile.app_attest.mode": "`platform`: the attestation object alone (an attester JWT alone "
                              "is refused); `both`: the attester JWT and the object.",
    "mobile.initial_access_token_file": "The AS's initial access token for registrations "
                                        "(RFC 7591 §3), or `BFF_SECRETS__REGISTRATION_TOKEN`.",
    "mobile.challenge_ttl": "Seconds a registration challenge stays usable (once).",
    "mobile.proof_max_age": "How old an attestation PoP or instance proof may be (seconds).",
    "mobile.registrations_per_hour": "Registrations allowed per app identity per hour.",
    "mobile.require_nonce": "Instance proofs must carry a nonce the BFF issued (RFC 9449 §9).",
    "mobile.nonce_ttl": "Seconds a BFF-issued proof nonce stays valid.",
    "insecure.plain_http_cookies": "Drop `__Host-` and Secure (plain-http loopback only).",
    "insecure.allow_algorithms": "Algorithms beyond PS256/ES256/EdDSA (never none or HS*).",
    "insecure.logout_token_without_typ": "Accept logout tokens whose typ is missing or a generic "
                                         "JWT.",
    "insecure.loopback_endpoints": "Accept plain-http AS endpoints on loopback hosts.",
    "insecure.app_attest_roots_file": "PEM roots trusted for App Attest instead of Apple's "
                                      "(tests only).",
}

TABLE_NOTES = {
    "routes": "An array of tables (`[[routes]]`), one per upstream API.",
    "mobile": "`attesters` and `app_attest` are arrays of tables (`[[mobile.attesters]]`, "
              "`[[mobile.app_attest]]`).",
    "insecure": "Development only; each one set is logged loudly at start-up.",
}


@dataclasses.dataclass(frozen=True)
class Key:
    """One configuration key: dotted name, TOML type, default."""

    name: str
    type: str
    default: Any


def _toml_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return f"array of {_toml_type(typing.get_args(tp)[0])}"
    if origin is dict:
        return "table of strings"
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(tp, str(tp))


def model_keys(cls: type[Any] = Settings, prefix: str = "") -> Iterator[Key]:
    """Every leaf key of the settings model, in declaration order."""
    hints = typing.get_type_hints(cls)
    instance = cls()
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is list else None
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            yield from model_keys(tp, f"{prefix}{f.name}.")
        elif isinstance(inner, type) and dataclasses.is_dataclass(inner):
            yield from model_keys(inner, f"{prefix}{f.name}.")
        else:
            yield Key(f"{prefix}{f.name}", _toml_type(tp), getattr(instance, f.name))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def render_reference() -> str:
    """docs/configuration.md."""
    out = ["# Configuration reference", "",
           "Generated from the settings model (`bff/config/model.py`) by "
           "`bff config-reference > docs/configuration.md`; a test keeps it current. "
           "Every key can be overridden from the environment as `BFF_<TABLE>__<KEY>`; "
           "`bff check-config` refuses any key not listed here, by name.", ""]
    table = ""
    for key in model_keys():
        section, name = key.name.split(".", 1)
        if section != table:
            table = section
            heading = f"[[{section}]]" if section == "routes" else f"[{section}]"
            out += ["", f"## `{heading}`", ""]
            if section in TABLE_NOTES:
                out += [TABLE_NOTES[section], ""]
            out += ["| key | type | default | meaning |", "|---|---|---|---|"]
        doc = DOCS.get(key.name, "").replace("|", "\\|")
        default = _toml_value(key.default).replace("|", "\\|")
        out.append(f"| `{name}` | {key.type} | `{default}` | {doc} |")
    return "\n".join(out).replace("\n\n\n", "\n\n") + "\n"
