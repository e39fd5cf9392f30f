"""What the BFF needs from an authorization server, read from its live metadata (RFC 8414).

``bff check-config --probe`` fetches the configured issuer's metadata and reports, per
capability, whether the AS advertises it. Metadata is a claim, not a proof: some requirements
(the issuer as client-assertion audience, DPoP-bound refresh tokens) are not advertised at all
and show up only at the first login.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bff.errors import BFFError
from bff.oauth.discovery import process_metadata_response
from bff.oauth.http import send

# a discovery document is a few KiB; anything far larger is not one
MAX_METADATA_BYTES = 1024 * 1024

OK, MISSING, UNKNOWN = "ok", "missing", "not advertised"


@dataclass(frozen=True)
class Capability:
    """One requirement and what the metadata says about it."""

    name: str
    status: str  # OK, MISSING or UNKNOWN
    detail: str
    required: bool = True

    @property
    def ok(self) -> bool:
        """The requirement is met, or it is only informational."""
        return self.status == OK or not self.required


@dataclass(frozen=True)
class ProbeSettings:
    """What the configuration asks of the AS."""

    issuer: str
    client_alg: str
    dpop_alg: str
    algorithms: Collection[str]
    request_objects: bool = False
    jarm: bool = False
    userinfo: bool = True
    loopback_endpoints: bool = False


def _strings(doc: Mapping[str, Any], name: str) -> list[str] | None:
    """A list-of-strings field, or None when absent or not a list of strings."""
    value = doc.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


def _member(doc: Mapping[str, Any], name: str, wanted: Collection[str], label: str,
            *, required: bool = True) -> Capability:
    values = _strings(doc, name)
    if values is None:
        return Capability(label, UNKNOWN, f"{name} absent or not a list of strings", required)
    found = [w for w in wanted if w in values]
    if found:
        return Capability(label, OK, f"{name} has {', '.join(found)}", required)
    return Capability(label, MISSING, f"{name} lacks {' or '.join(wanted)}", required)


def _endpoint(doc: Mapping[str, Any], name: str, label: str, *,
              required: bool = True) -> Capability:
    if isinstance(doc.get(name), str) and doc[name]:
        return Capability(label, OK, f"{name} present", required)
    return Capability(label, UNKNOWN, f"{name} absent", required)


def _flag(doc: Mapping[str, Any], name: str, label: str, *, required: bool = True) -> Capability:
    value = doc.get(name)
    if value is True:
        return Capability(label, OK, f"{name} is true", required)
    if value is False:
        return Capability(label, MISSING, f"{name} is false", required)
    return Capability(label, UNKNOWN, f"{name} absent or not a boolean", required)


def assess(doc: Mapping[str, Any], s: ProbeSettings) -> list[Capability]:
    """Each capability the configuration needs, judged from the metadata ``doc``."""
    issuer_ok = doc.get("issuer") == s.issuer
    out = [
        Capability("issuer matches the configuration (RFC 8414 §3.3)",
                   OK if issuer_ok else MISSING,
                   "same issuer" if issuer_ok else "metadata names another issuer"),
        _endpoint(doc, "pushed_authorization_request_endpoint", "PAR (RFC 9126)"),
        _flag(doc, "require_pushed_authorization_requests",
              "PAR required for every client (RFC 9126 §5)", required=False),
        _member(doc, "code_challenge_methods_supported", ["S256"], "PKCE S256 (RFC 7636)"),
        _member(doc, "token_endpoint_auth_methods_supported", ["private_key_jwt"],
                "private_key_jwt client authentication (RFC 7523)"),
        _member(doc, "token_endpoint_auth_signing_alg_values_supported", [s.client_alg],
                "client assertions signed with the client key's algorithm"),
        Capability("client assertion aud = the issuer (FAPI 2.0 §5.3.2.1)", UNKNOWN,
                   "not advertised in metadata: checked at the first token request",
                   required=False),
        _member(doc, "dpop_signing_alg_values_supported", [s.dpop_alg],
                "DPoP with oauth.dpop_algorithm (RFC 9449 §5.1)"),
        Capability("DPoP-bound refresh tokens (RFC 9449 §5)", UNKNOWN,
                   "not advertised in metadata: the BFF refuses Bearer tokens at refresh",
                   required=False),
        _flag(doc, "authorization_response_iss_parameter_supported",
              "iss in the authorization response (RFC 9207)"),
        _member(doc, "id_token_signing_alg_values_supported", list(s.algorithms),
                "ID tokens signed with an allowed algorithm"),
        _endpoint(doc, "userinfo_endpoint", "userinfo endpoint (OIDC Core §5.3)",
                  required=s.userinfo),
        _endpoint(doc, "revocation_endpoint", "token revocation at logout (RFC 7009)",
                  required=False),
        _endpoint(doc, "end_session_endpoint", "RP-initiated logout", required=False),
    ]
    if s.request_objects:
        out.append(_member(doc, "request_object_signing_alg_values_supported", [s.client_alg],
                           "signed request objects (RFC 9101)"))
    if s.jarm:
        out.append(_member(doc, "authorization_signing_alg_values_supported",
                           list(s.algorithms), "JWT-secured authorization responses (JARM)"))
    return out


async def probe(http: httpx.AsyncClient, s: ProbeSettings) -> list[Capability]:
    """Fetch the live metadata of ``s.issuer`` and assess it; a broken document says why."""
    url = s.issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = await send(http, http.build_request("GET", url))
    except BFFError as exc:
        return [Capability("metadata reachable", MISSING, exc.detail or exc.description)]
    if len(response.content) > MAX_METADATA_BYTES:
        return [Capability("metadata reachable", MISSING, "document larger than 1 MiB")]
    try:
        process_metadata_response(response, s.issuer, loopback_endpoints=s.loopback_endpoints)
        usable = Capability("metadata usable by the BFF (RFC 8414, https endpoints)", OK,
                            "accepted")
    except BFFError as exc:
        usable = Capability("metadata usable by the BFF (RFC 8414, https endpoints)", MISSING,
                            exc.detail or exc.description)
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return [usable, Capability("metadata is a JSON object", MISSING, "it is not")]
    return [usable, *assess(doc, s)]


def report(capabilities: list[Capability]) -> str:
    """One line per capability: ``ok``/``MISSING``/``?`` then what and why."""
    marks = {OK: "ok     ", MISSING: "MISSING", UNKNOWN: "?      "}
    lines = []
    for c in capabilities:
        mark = marks[c.status] if c.required or c.status == OK else "info   "
        lines.append(f"  {mark} {c.name}: {c.detail}")
    return "\n".join(lines)
