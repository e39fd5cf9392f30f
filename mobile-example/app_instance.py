"""A reference mobile app instance, as a scripted client of the BFF's mobile door.

What a Swift or Kotlin app does, step by step (see README.md for the wire protocol):
make an instance key (Secure Enclave / StrongBox), get an attestation for it, fetch a
challenge, register, sign in through the system browser, call the API, sign out, unregister.
The app never holds a token or a client secret: only its key and an opaque session handle.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc import jws
from joserfc.jwk import ECKey

ATTESTATION_POP_TYP = "oauth-client-attestation-pop+jwt"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class MobileError(Exception):
    """An error answer of the BFF: ``code`` is its stable ``error`` value."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('error')}: {body.get('error_description')}")
        self.status = status
        self.code = str(body.get("error", ""))


class AppInstance:
    """One installed app: its instance key, its latest nonce, its session handle."""

    def __init__(self, base_url: str, public_url: str | None = None,
                 key: ECKey | None = None, http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # the BFF's public URL: the PoP's aud and every proof's htu are built from it
        self.public_url = (public_url or base_url).rstrip("/")
        self.key = key or ECKey.generate_key("P-256", private=True)
        self.http = http or httpx.Client(timeout=30)
        self.nonce: str | None = None
        self.handle: str | None = None
        self.instance_id: str | None = None

    def close(self) -> None:
        self.http.close()

    @property
    def public_jwk(self) -> dict[str, Any]:
        jwk = self.key.as_dict(private=False)
        return {k: jwk[k] for k in ("kty", "crv", "x", "y")}

    def _sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        return jws.serialize_compact({**header, "alg": "ES256"}, json.dumps(claims).encode(),
                                     self.key, algorithms=["ES256"])

    # -- proofs ------------------------------------------------------------------------------

    def proof(self, method: str, path: str, *, handle: str | None = None,
              nonce: str | None = None, iat: float | None = None,
              jti: str | None = None) -> str:
        """A DPoP-form proof from the instance key for one call to ``path``."""
        claims: dict[str, Any] = {"htm": method, "htu": self.public_url + path,
                                  "iat": int(time.time() if iat is None else iat),
                                  "jti": jti or secrets.token_urlsafe(16)}
        if handle is not None:
            claims["ath"] = b64url(hashlib.sha256(handle.encode("ascii")).digest())
        if nonce or self.nonce:
            claims["nonce"] = nonce or self.nonce
        return self._sign({"typ": "dpop+jwt", "jwk": self.public_jwk}, claims)

    def attestation_pop(self, challenge: str, *, aud: str | None = None,
                        iat: float | None = None, jti: str | None = None) -> str:
        """The OAuth-Client-Attestation-PoP JWT for ``challenge``."""
        claims = {"aud": aud or self.public_url, "jti": jti or secrets.token_urlsafe(16),
                  "iat": int(time.time() if iat is None else iat), "challenge": challenge}
        return self._sign({"typ": ATTESTATION_POP_TYP}, claims)

    # -- transport ---------------------------------------------------------------------------

    def send(self, method: str, path: str, *, headers: dict[str, str] | None = None,
             json_body: Any = None, with_handle: bool = True,
             proof: bool = True) -> httpx.Response:
        """One call; retried once when the BFF asks for a fresh nonce (RFC 9449 §8)."""
        for attempt in (0, 1):
            h = dict(headers or {})
            handle = self.handle if with_handle else None
            if proof:
                h["DPoP"] = self.proof(method, urlsplit(path).path, handle=handle)
            if handle is not None:
                h["Authorization"] = f"DPoP {handle}"
            response = self.http.request(method, self.base_url + path, headers=h,
                                         json=json_body)
            if response.headers.get("DPoP-Nonce"):
                self.nonce = response.headers["DPoP-Nonce"]
            if (attempt == 0 and response.status_code == 401
                    and response.headers.get("content-type", "").startswith("application/json")
                    and response.json().get("error") == "use_proof_nonce"):
                continue
            return response
        return response

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        body: dict[str, Any] = response.json()
        if response.status_code >= 400:
            raise MobileError(response.status_code, body)
        return body

    # -- the flow ----------------------------------------------------------------------------

    def challenge(self) -> str:
        response = self.http.post(self.base_url + "/bff/mobile/challenge")
        self.nonce = response.headers.get("DPoP-Nonce", self.nonce)
        return str(self._json(response)["attestation_challenge"])

    def register(self, attestation: str, pop: str | None = None) -> str:
        """``POST /bff/mobile/register`` with the attestation and its PoP."""
        pop = pop or self.attestation_pop(self.challenge())
        response = self.http.post(self.base_url + "/bff/mobile/register", headers={
            "OAuth-Client-Attestation": attestation, "OAuth-Client-Attestation-PoP": pop})
        self.nonce = response.headers.get("DPoP-Nonce", self.nonce)
        self.instance_id = str(self._json(response)["instanceId"])
        return self.instance_id

    def register_with_app_attest(self, attest_key: Callable[[bytes], tuple[bytes, bytes]],
                                 attestation: str | None = None) -> str:
        """``POST /bff/mobile/register`` with an Apple App Attest attestation object.

        ``attest_key(client_data_hash)`` plays ``DCAppAttestService.attestKey``: it returns
        (key id, attestation object). The client data binds the challenge and this instance
        key: ``SHA-256(challenge "." jkt)``, jkt = the instance key's RFC 7638 thumbprint.
        ``attestation``: an attester's JWT as well, for an app whose mode is "both".
        """
        challenge = self.challenge()
        client_data = f"{challenge}.{self.key.thumbprint()}".encode("ascii")
        key_id, attestation_object = attest_key(hashlib.sha256(client_data).digest())
        headers = {"OAuth-Client-Attestation-PoP": self.attestation_pop(challenge)}
        if attestation is not None:
            headers["OAuth-Client-Attestation"] = attestation
        response = self.http.post(self.base_url + "/bff/mobile/register", headers=headers, json={
            "platform": {"format": "apple-appattest",
                         "keyId": base64.b64encode(key_id).decode("ascii"),
                         "attestationObject": base64.b64encode(attestation_object).decode()},
            "instanceJwk": self.public_jwk})
        self.nonce = response.headers.get("DPoP-Nonce", self.nonce)
        self.instance_id = str(self._json(response)["instanceId"])
        return self.instance_id

    def login_start(self) -> str:
        body = self._json(self.send("POST", "/bff/mobile/login/start", json_body={},
                                    with_handle=False))
        return str(body["authorizationUrl"])

    def login_end(self, opened_url: str) -> dict[str, Any]:
        """Hand the claimed-link URL the app was opened with to the BFF."""
        body = self._json(self.send("POST", "/bff/mobile/login/end",
                                    json_body={"pageUrl": opened_url}, with_handle=False))
        self.handle = str(body["session"])
        return body

    def session(self) -> dict[str, Any]:
        return self._json(self.send("GET", "/bff/mobile/session"))

    def refresh(self) -> dict[str, Any]:
        return self._json(self.send("POST", "/bff/mobile/refresh"))

    def api(self, method: str, path: str, json_body: Any = None) -> httpx.Response:
        return self.send(method, path, json_body=json_body)

    def logout(self) -> dict[str, Any]:
        body = self._json(self.send("POST", "/bff/mobile/logout"))
        self.handle = None
        return body

    def unregister(self) -> dict[str, Any]:
        return self._json(self.send("DELETE", "/bff/mobile/register", with_handle=False))
