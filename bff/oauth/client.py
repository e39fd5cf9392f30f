"""The FAPI 2.0 client façade the rest of the BFF uses: every AS call, with DPoP nonce retries.

Each call is I/O plus one of the pure ``process_*`` checks. ``use_dpop_nonce`` is retried once,
with a fresh client assertion (the AS spends a ``jti`` even on failure) and a fresh proof.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc.jwk import KeySet

from bff.crypto.keys import FAPI_ALGORITHMS
from bff.crypto.seal import b64url_decode
from bff.errors import (
    AuthorizationServerError,
    BFFError,
    CertificateBindingMissing,
    DPoPBindingMissing,
    DPoPNonceRequired,
    IDTokenInvalid,
    InvalidJARMResponse,
    InvalidLogoutToken,
)
from bff.oauth.client_auth import client_auth_params
from bff.oauth.clock import Clock, system_clock
from bff.oauth.discovery import Discovery
from bff.oauth.dpop import DPoPKey, NonceCache
from bff.oauth.http import json_body, raise_for_oauth_error, send
from bff.oauth.id_token import validate_id_token
from bff.oauth.jar import build_request_object
from bff.oauth.jarm import process_jarm_response
from bff.oauth.jws import JWSSigner, peek_header
from bff.oauth.logout_token import validate_logout_token
from bff.oauth.mtls import MutualTLS
from bff.oauth.par import build_authorization_url, process_par_response
from bff.oauth.pkce import build_code_challenge
from bff.oauth.tokens import TokenSet, process_token_response


@dataclass(frozen=True)
class ClientSettings:
    """What the FAPI client needs to know about itself and its AS."""

    issuer: str
    client_id: str
    signer: JWSSigner | None
    redirect_uri: str
    scope: str
    post_logout_redirect_uri: str | None = None
    algorithms: Collection[str] = FAPI_ALGORITHMS
    clock_skew: int = 60
    authorization_params: Mapping[str, str] = field(default_factory=dict)
    request_objects: bool = False
    response_mode: str = ""
    loopback_endpoints: bool = False
    # seconds the AS metadata and key set are cached (an unknown kid refetches the keys sooner)
    metadata_ttl: float = 3600.0
    client_auth: str = "private_key_jwt"
    sender_constraint: str = "dpop"


@dataclass(frozen=True)
class AuthorizationRequest:
    """The per-login secrets that go into PAR."""

    state: str
    nonce: str
    code_verifier: str
    dpop_key: DPoPKey
    resource: tuple[str, ...] = ()
    extra_params: Mapping[str, str] = field(default_factory=dict)


class FapiClient:
    """A confidential FAPI 2.0 client of one authorization server."""

    def __init__(self, settings: ClientSettings, http: httpx.AsyncClient,
                 clock: Clock = system_clock, *, mtls: MutualTLS | None = None) -> None:
        self.settings = settings
        self.http = http
        self.mtls = mtls
        if mtls is None and (settings.client_auth != "private_key_jwt"
                             or settings.sender_constraint == "mtls"):
            raise ValueError("mutual TLS settings need a client certificate")
        self.clock = clock
        self.discovery = Discovery(settings.issuer, http, clock, ttl=settings.metadata_ttl,
                                   loopback_endpoints=settings.loopback_endpoints)
        self.nonces = NonceCache()
        self.nonce_retries = 0

    # -- helpers ---------------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        s = self.settings
        if s.client_auth != "private_key_jwt":
            # RFC 8705 §2: the TLS handshake authenticates; the form only names the client
            return {"client_id": s.client_id}
        assert s.signer is not None  # the loader requires a key for private_key_jwt
        return client_auth_params(s.signer, s.client_id, s.issuer, self.clock)

    def _dpop(self, key: DPoPKey | None) -> DPoPKey | None:
        """The key to prove possession with, or None when tokens are certificate-bound."""
        return key if self.settings.sender_constraint == "dpop" else None

    async def _endpoint(self, name: str) -> tuple[str | None, httpx.AsyncClient]:
        """An endpoint's URL and the client to reach it: its mTLS alias when the BFF presents
        a certificate (RFC 8705 §5), else the plain endpoint."""
        meta = await self.discovery.metadata()
        url: str | None = getattr(meta, name)
        if self.mtls is None:
            return url, self.http
        return meta.mtls_endpoint_aliases.get(name, url), self.mtls.http

    async def _post(self, name: str, form: Mapping[str, str | list[str]], what: str,
                    dpop_key: DPoPKey | None) -> httpx.Response:
        """POST a client-authenticated form, retrying once on ``use_dpop_nonce``."""
        url, http = await self._endpoint(name)
        if url is None:
            raise AuthorizationServerError(f"no {name}")
        dpop_key = self._dpop(dpop_key)
        for attempt in (0, 1):
            headers = {"Accept": "application/json"}
            if dpop_key is not None:
                headers["DPoP"] = dpop_key.proof("POST", url, nonce=self.nonces.get(url))
            body = urlencode({**form, **self._auth()}, doseq=True)
            request = http.build_request(
                "POST", url, content=body, headers={
                    **headers, "Content-Type": "application/x-www-form-urlencoded"})
            response = await send(http, request)
            self.nonces.remember(url, response.headers.get("dpop-nonce"))
            try:
                raise_for_oauth_error(response, what)
            except DPoPNonceRequired:
                if attempt or dpop_key is None or not response.headers.get("dpop-nonce"):
                    raise
                self.nonce_retries += 1
                continue
            return response
        raise AssertionError("unreachable")

    # -- front channel ---------------------------------------------------------------------------

    async def push_authorization(self, request: AuthorizationRequest) -> str:
        """PAR (RFC 9126) with PKCE S256, nonce and ``dpop_jkt``; returns the authorization URL."""
        s = self.settings
        meta = await self.discovery.metadata()
        form: dict[str, str | list[str]] = {
            **s.authorization_params, **request.extra_params,
            "response_type": "code", "redirect_uri": s.redirect_uri, "scope": s.scope,
            "state": request.state, "nonce": request.nonce,
            "code_challenge": build_code_challenge(request.code_verifier),
            "code_challenge_method": "S256",
        }
        if self._dpop(request.dpop_key) is not None:
            form["dpop_jkt"] = request.dpop_key.jkt
        if request.resource:
            form["resource"] = list(request.resource)
        if s.response_mode:
            form["response_mode"] = s.response_mode
        if s.request_objects:
            assert s.signer is not None  # the loader requires a key for request objects
            form = {"request": build_request_object(s.signer, s.client_id, s.issuer, form,
                                                    self.clock)}
        response = await self._post("pushed_authorization_request_endpoint", form, "par",
                                    request.dpop_key)
        par = process_par_response(response)
        return build_authorization_url(meta.authorization_endpoint, s.client_id, par.request_uri)

    # -- token endpoint --------------------------------------------------------------------------

    async def exchange_code(self, code: str, code_verifier: str, dpop_key: DPoPKey,
                            resources: Collection[str] = ()) -> TokenSet:
        """The authorization code grant with DPoP (RFC 6749 §4.1.3, RFC 9449 §5).

        ``resources``: one ``resource`` parameter each (RFC 8707 §2.2); none when empty.
        """
        form: dict[str, str | list[str]] = {
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": self.settings.redirect_uri, "code_verifier": code_verifier}
        if isinstance(resources, str):
            raise TypeError("resources is a collection of URIs, not one string")
        if resources:
            form["resource"] = list(resources)
        return await self._token(form, dpop_key)

    async def refresh(self, refresh_token: str, dpop_key: DPoPKey,
                      resource: str | None = None, scope: str | None = None) -> TokenSet:
        """The refresh token grant with DPoP (RFC 6749 §6), optionally narrowing ``scope``."""
        form: dict[str, str | list[str]] = {"grant_type": "refresh_token",
                                            "refresh_token": refresh_token}
        if resource:
            form["resource"] = resource
        if scope:
            form["scope"] = scope
        return await self._token(form, dpop_key)

    async def _token(self, form: Mapping[str, str | list[str]], dpop_key: DPoPKey) -> TokenSet:
        response = await self._post("token_endpoint", form, "token", dpop_key)
        now = self.clock()
        claims: dict[str, Any] | None
        if self.mtls is not None and self.settings.sender_constraint == "mtls":
            tokens = process_token_response(response, now=now, token_type="bearer")
            claims = jwt_claims_unverified(tokens.access_token)
            check_certificate_binding(claims, self.mtls.certificate.thumbprint)
        else:
            tokens = process_token_response(response, now=now)
            claims = jwt_claims_unverified(tokens.access_token)
            check_dpop_binding(claims, dpop_key)
        exp = claims.get("exp") if claims else None
        if (isinstance(exp, int | float) and not isinstance(exp, bool)
                and now < exp < tokens.expires_at):
            # a JWT access token that ends before expires_in says is still refreshed on time;
            # an exp already past is a clock difference with the AS, and expires_in wins then
            tokens = replace(tokens, expires_at=float(exp))
        return tokens

    async def _signing_keys(self, token: str, error: type[BFFError]) -> KeySet:
        """The AS keys for a JWT it signed, refetched once when its ``kid`` is unknown."""
        kid = peek_header(token, error).get("kid")
        return await self.discovery.jwks(kid if isinstance(kid, str) else None)

    async def validate_id_token(self, id_token: str, nonce: str | None, *,
                                access_token: str | None = None,
                                requested_max_age: int | None = None) -> dict[str, Any]:
        """Validate an ID token from the token endpoint (OIDC Core §3.1.3.7).

        ``nonce`` is None for an ID token from a refresh, where it is optional (§12.2).
        """
        s = self.settings
        keys = await self._signing_keys(id_token, IDTokenInvalid)
        return validate_id_token(id_token, keys, issuer=s.issuer, client_id=s.client_id,
                                 nonce=nonce, now=self.clock(), skew=s.clock_skew,
                                 algorithms=s.algorithms, access_token=access_token,
                                 requested_max_age=requested_max_age)

    async def read_jarm_response(self, token: str) -> dict[str, str]:
        """The parameters of a JWT-secured authorization response, after verifying it."""
        s = self.settings
        keys = await self._signing_keys(token, InvalidJARMResponse)
        return process_jarm_response(token, keys, issuer=s.issuer, client_id=s.client_id,
                                     now=self.clock(), skew=s.clock_skew,
                                     algorithms=s.algorithms)

    async def validate_logout_token(self, token: str, strict_typ: bool) -> dict[str, Any]:
        """Validate a back-channel logout token (Back-Channel Logout 1.0 §2.6)."""
        s = self.settings
        keys = await self._signing_keys(token, InvalidLogoutToken)
        return validate_logout_token(token, keys, issuer=s.issuer, client_id=s.client_id,
                                     now=self.clock(), skew=s.clock_skew,
                                     algorithms=s.algorithms, strict_typ=strict_typ)

    # -- other endpoints -------------------------------------------------------------------------

    async def revoke(self, token: str, hint: str = "refresh_token") -> None:
        """Revoke a token (RFC 7009 §2.1)."""
        meta = await self.discovery.metadata()
        if meta.revocation_endpoint:
            await self._post("revocation_endpoint", {"token": token, "token_type_hint": hint},
                             "revocation", None)

    async def introspect(self, token: str, hint: str = "refresh_token") -> dict[str, Any]:
        """Introspect a token (RFC 7662 §2)."""
        meta = await self.discovery.metadata()
        if not meta.introspection_endpoint:
            raise AuthorizationServerError("no introspection endpoint")
        response = await self._post("introspection_endpoint",
                                    {"token": token, "token_type_hint": hint},
                                    "introspection", None)
        return json_body(response)

    async def userinfo(self, access_token: str, dpop_key: DPoPKey) -> dict[str, Any]:
        """The userinfo claims, fetched with a DPoP-bound token (OIDC Core §5.3, RFC 9449 §7)."""
        url, http = await self._endpoint("userinfo_endpoint")
        if not url:
            raise AuthorizationServerError("no userinfo endpoint")
        if self._dpop(dpop_key) is None:
            # RFC 8705 §3: a certificate-bound token is a Bearer token on an mTLS connection
            response = await send(http, http.build_request("GET", url, headers={
                "Authorization": f"Bearer {access_token}", "Accept": "application/json"}))
            raise_for_oauth_error(response, "userinfo")
            return json_body(response)
        for attempt in (0, 1):
            proof = dpop_key.proof("GET", url, access_token=access_token,
                                   nonce=self.nonces.get(url))
            request = http.build_request("GET", url, headers={
                "Authorization": f"DPoP {access_token}", "DPoP": proof,
                "Accept": "application/json"})
            response = await send(http, request)
            self.nonces.remember(url, response.headers.get("dpop-nonce"))
            try:
                raise_for_oauth_error(response, "userinfo")
            except DPoPNonceRequired:
                if attempt or not response.headers.get("dpop-nonce"):
                    raise
                self.nonce_retries += 1
                continue
            return json_body(response)
        raise AssertionError("unreachable")

    async def logout_url(self, id_token_hint: str | None = None) -> str | None:
        """The RP-initiated logout URL, with ``client_id`` and ``post_logout_redirect_uri``."""
        meta = await self.discovery.metadata()
        if not meta.end_session_endpoint:
            return None
        params = {"client_id": self.settings.client_id}
        if self.settings.post_logout_redirect_uri:
            params["post_logout_redirect_uri"] = self.settings.post_logout_redirect_uri
        if id_token_hint:
            params["id_token_hint"] = id_token_hint
        sep = "&" if "?" in meta.end_session_endpoint else "?"
        return meta.end_session_endpoint + sep + urlencode(params)


def jwt_claims_unverified(token: str) -> dict[str, Any] | None:
    """The payload of a JWT-shaped token, unverified, or None for an opaque token.

    Only used to catch an AS binding the token to another key; the API verifies the token.
    """
    parts = token.split(".")
    if len(parts) != 3 or not token.startswith("eyJ"):
        return None
    try:
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def check_certificate_binding(access_token_claims: Mapping[str, Any] | None,
                              thumbprint: str) -> None:
    """When the access token is a JWT, its ``cnf.x5t#S256`` must be our certificate's
    (RFC 8705 §3.1); an opaque token's binding is checked by whoever introspects it."""
    if access_token_claims is None:
        return
    cnf = access_token_claims.get("cnf")
    if not isinstance(cnf, dict) or cnf.get("x5t#S256") != thumbprint:
        raise CertificateBindingMissing("access token cnf.x5t#S256 is not our certificate")


def check_dpop_binding(access_token_claims: Mapping[str, Any] | None, dpop_key: DPoPKey) -> None:
    """When the access token is a JWT, its ``cnf.jkt`` must be our key (RFC 9449 §6.1)."""
    if access_token_claims is None:
        return
    cnf = access_token_claims.get("cnf")
    if not isinstance(cnf, dict) or cnf.get("jkt") != dpop_key.jkt:
        raise DPoPBindingMissing("access token cnf.jkt is not the session key")
