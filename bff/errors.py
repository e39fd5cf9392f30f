"""One error hierarchy with stable codes; HTTP statuses are assigned in ``bff.web.errors`` only.

::

    BFFError
    ├── ConfigError                 start-up only, carries every Problem
    ├── RequestRejected             bad input from the caller
    │   ├── InvalidRequest, MalformedBody, InvalidReturnTo, ParameterNotAllowed
    │   ├── AuthorizationErrorResponse, LoginFailed
    │   ├── PayloadTooLarge
    │   ├── HeadersTooLarge
    │   ├── EndpointNotFound (404), MethodNotAllowed (405)
    │   ├── CookieOnMobileDoor, MobileCredentialOnBrowserDoor
    │   └── RateLimited (429), RegistrationRateLimited
    ├── NotAuthenticated            no or expired session
    │   ├── SessionRequired, SessionExpired
    │   ├── LoginTransactionMissing, LoginTransactionUsed
    │   ├── AttestationRejected     one code per attestation rule (mobile door)
    │   └── Proof*, InstanceUnknown instance-bound proofs (mobile door)
    ├── Forbidden                   CSRF / Origin checks, step-up, missing approvals
    │   ├── CSRFFailed, OriginNotAllowed, StepUpRequired, AuthorizationMissing
    ├── UpstreamFailure
    │   ├── AuthorizationServerUnavailable   as_unreachable, as_timeout
    │   ├── AuthorizationServerError         as_error, use_dpop_nonce
    │   ├── ProtocolViolation                one code per rule
    │   ├── ResourceServerUnavailable        api_unreachable
    │   └── ResourceServerTimeout            api_timeout
    ├── StoreUnavailable
    └── InvalidSeal                 any cookie/seal failure, deliberately opaque

Every class has a stable ``code`` and a fixed, safe ``description``; ``detail`` is internal and
only ever logged.
"""

from __future__ import annotations

from dataclasses import dataclass


class BFFError(Exception):
    """Base of every error the BFF raises on purpose."""

    code: str = "server_error"
    description: str = "internal error"
    spec: str = ""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.description)
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


@dataclass(frozen=True)
class Problem:
    """One configuration problem, naming the key."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(BFFError):
    """The configuration is invalid; never reaches HTTP."""

    code = "config_invalid"
    description = "the configuration is invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# -- 400 -----------------------------------------------------------------------------------------


class RequestRejected(BFFError):
    code = "invalid_request"
    description = "the request is invalid"


class InvalidRequest(RequestRejected):
    code = "invalid_request"
    description = "the request is invalid"


class MalformedBody(RequestRejected):
    code = "malformed_body"
    description = "the request body is not the expected JSON"


class InvalidReturnTo(RequestRejected):
    code = "invalid_return_to"
    description = "returnTo must be a relative path on this site"


class ParameterNotAllowed(RequestRejected):
    code = "parameter_not_allowed"
    description = "an authorization parameter is not in the allowlist"


class AuthorizationDetailsNotAllowed(RequestRejected):
    code = "authorization_details_not_allowed"
    description = "authorization_details is malformed, too large or of a type not allowed"
    spec = "RFC 9396 §2"


class AuthorizationErrorResponse(RequestRejected):
    code = "authorization_error"
    description = "the authorization server returned an error for the login"
    spec = "RFC 6749 §4.1.2.1"


class LoginFailed(RequestRejected):
    code = "login_failed"
    description = "the authorization server refused the authorization code"
    spec = "RFC 6749 §5.2"


class PayloadTooLarge(RequestRejected):
    code = "payload_too_large"
    description = "the request body is larger than this route allows"


class HeadersTooLarge(RequestRejected):
    code = "headers_too_large"
    description = "the request headers are too many or too large"
    spec = "RFC 6585 §5"


class InvalidLogoutToken(RequestRejected):
    code = "invalid_logout_token"
    description = "the logout token is invalid"
    spec = "OpenID Connect Back-Channel Logout 1.0 §2.6"


class EndpointNotFound(RequestRejected):
    code = "not_found"
    description = "no such endpoint"


class MethodNotAllowed(RequestRejected):
    code = "method_not_allowed"
    description = "method not allowed"


class CookieOnMobileDoor(RequestRejected):
    code = "cookie_on_mobile_door"
    description = "the mobile endpoints take no cookies"


class MobileCredentialOnBrowserDoor(RequestRejected):
    code = "mobile_credential_on_browser_door"
    description = "the browser endpoints take no instance proof or session handle"


class RateLimited(RequestRejected):
    code = "rate_limited"
    description = "too many requests; try again later"
    spec = "RFC 6585 §4"


class RegistrationRateLimited(RateLimited):
    code = "registration_rate_limited"
    description = "too many registrations for this app; try again later"


class PathNotAllowed(RequestRejected):
    code = "path_not_allowed"
    description = "the path is not allowed on this route"


# -- 401 -----------------------------------------------------------------------------------------


class NotAuthenticated(BFFError):
    code = "session_required"
    description = "a session is required"


class SessionRequired(NotAuthenticated):
    code = "session_required"
    description = "a session is required"


class SessionExpired(NotAuthenticated):
    code = "session_expired"
    description = "the session has expired"


class LoginTransactionMissing(NotAuthenticated):
    code = "login_transaction_missing"
    description = "no login in progress for this response; it expired or was already used"


class LoginTransactionUsed(NotAuthenticated):
    code = "login_transaction_used"
    description = "this login response was already used"


# -- 401: the mobile front door (DESIGN §6) ------------------------------------------------------


class AttestationRejected(NotAuthenticated):
    code = "invalid_client_attestation"
    description = "the client attestation is missing or malformed"
    spec = "draft-ietf-oauth-attestation-based-client-auth §7.4"


class AttestationUntrusted(AttestationRejected):
    code = "attestation_untrusted"
    description = "the client attestation is not signed by a trusted attester"
    spec = "draft-ietf-oauth-attestation-based-client-auth §7.1"


class AttestationExpired(AttestationRejected):
    code = "use_fresh_attestation"
    description = "the client attestation has expired; get a fresh one"
    spec = "draft-ietf-oauth-attestation-based-client-auth §7.4"


class AttestationTypeInvalid(AttestationRejected):
    code = "attestation_typ_invalid"
    description = "the client attestation or its proof has the wrong typ"
    spec = "draft-ietf-oauth-attestation-based-client-auth §4"


class AttestationSignatureInvalid(AttestationRejected):
    code = "attestation_signature_invalid"
    description = "the client attestation's signature does not verify"
    spec = "draft-ietf-oauth-attestation-based-client-auth §7.1"


class AttestationKeyMissing(AttestationRejected):
    code = "attestation_cnf_missing"
    description = "the client attestation names no instance key (cnf.jwk)"
    spec = "draft-ietf-oauth-attestation-based-client-auth §4"


class AttestationAppNotAllowed(AttestationRejected):
    code = "attestation_app_not_allowed"
    description = "the attested app is not allowed here"


class AttestationPoPInvalid(AttestationRejected):
    code = "attestation_pop_invalid"
    description = "the attestation proof is not signed by the attested instance key"
    spec = "draft-ietf-oauth-attestation-based-client-auth §5.1"


class AttestationPoPReplayed(AttestationRejected):
    code = "attestation_pop_replayed"
    description = "the attestation proof was already used"
    spec = "draft-ietf-oauth-attestation-based-client-auth §11.1"


class AttestationPoPStale(AttestationRejected):
    code = "attestation_pop_stale"
    description = "the attestation proof is too old or from the future"
    spec = "draft-ietf-oauth-attestation-based-client-auth §7.3"


class AttestationPoPAudience(AttestationRejected):
    code = "attestation_pop_audience"
    description = "the attestation proof is meant for another verifier"
    spec = "draft-ietf-oauth-attestation-based-client-auth §5.1"


class AttestationChallengeInvalid(AttestationRejected):
    code = "use_attestation_challenge"
    description = "the attestation proof must carry a challenge from the challenge endpoint"
    spec = "draft-ietf-oauth-attestation-based-client-auth §6"


class AttestationChallengeUsed(AttestationRejected):
    code = "attestation_challenge_used"
    description = "the attestation challenge was already used"
    spec = "draft-ietf-oauth-attestation-based-client-auth §6"


class PlatformAttestationInvalid(AttestationRejected):
    code = "platform_attestation_invalid"
    description = "the platform attestation is malformed"


class PlatformChainUntrusted(PlatformAttestationInvalid):
    code = "platform_chain_untrusted"
    description = "the platform attestation's certificate chain does not reach a trusted root"


class PlatformAppMismatch(PlatformAttestationInvalid):
    code = "platform_app_mismatch"
    description = "the platform attestation is for another app"


class PlatformNonceMismatch(PlatformAttestationInvalid):
    code = "platform_nonce_mismatch"
    description = "the platform attestation does not carry this challenge"


class PlatformAttestationRequired(AttestationRejected):
    code = "platform_attestation_required"
    description = "this app must present its platform attestation"


class AttesterRequired(AttestationRejected):
    code = "attester_attestation_required"
    description = "this app must present an attester's client attestation as well"


class ProofRequired(NotAuthenticated):
    code = "proof_required"
    description = "a proof signed by the instance key is required"
    spec = "RFC 9449 §4.1"


class ProofInvalid(NotAuthenticated):
    code = "proof_invalid"
    description = "the instance proof is invalid"
    spec = "RFC 9449 §4.3"


class ProofReplayed(NotAuthenticated):
    code = "proof_replayed"
    description = "the instance proof was already used"
    spec = "RFC 9449 §11.1"


class ProofStale(NotAuthenticated):
    code = "proof_stale"
    description = "the instance proof is too old or from the future"
    spec = "RFC 9449 §11.1"


class ProofNonceRequired(NotAuthenticated):
    code = "use_proof_nonce"
    description = "the instance proof must carry the nonce from the DPoP-Nonce header"
    spec = "RFC 9449 §9"


class ProofKeyMismatch(NotAuthenticated):
    code = "proof_key_mismatch"
    description = "the session handle belongs to another instance key"
    spec = "RFC 9449 §4.3"


class InstanceUnknown(NotAuthenticated):
    code = "instance_unknown"
    description = "this app instance is not registered"


# -- 403 -----------------------------------------------------------------------------------------


class Forbidden(BFFError):
    code = "forbidden"
    description = "the request is not allowed"


class CSRFFailed(Forbidden):
    code = "csrf_failed"
    description = "the CSRF token header is missing or wrong"


class OriginNotAllowed(Forbidden):
    code = "origin_not_allowed"
    description = "the request origin is not allowed"


class StepUpRequired(Forbidden):
    """The API wants a stronger or more recent sign-in; the session stays as it is."""

    code = "step_up_required"
    description = "the API requires a stronger or more recent sign-in"
    spec = "RFC 9470 §3"

    def __init__(self, detail: str = "", *, acr_values: str | None = None,
                 max_age: int | None = None) -> None:
        super().__init__(detail)
        self.acr_values = acr_values
        self.max_age = max_age


class AuthorizationMissing(Forbidden):
    code = "authorization_missing"
    description = "no approval for this call: it was never given, or already used"
    spec = "RFC 9396 §7"


# -- 502 / 504 -----------------------------------------------------------------------------------


class UpstreamFailure(BFFError):
    code = "upstream_failure"
    description = "an upstream service failed"


class AuthorizationServerUnavailable(UpstreamFailure):
    code = "as_unreachable"
    description = "the authorization server cannot be reached"


class AuthorizationServerTimeout(AuthorizationServerUnavailable):
    code = "as_timeout"
    description = "the authorization server did not answer in time"


class AuthorizationServerError(UpstreamFailure):
    code = "as_error"
    description = "the authorization server returned an error"

    def __init__(self, detail: str = "", *, oauth_error: str = "") -> None:
        super().__init__(detail)
        self.oauth_error = oauth_error


class DPoPNonceRequired(AuthorizationServerError):
    code = "use_dpop_nonce"
    description = "the server requires a DPoP nonce"
    spec = "RFC 9449 §8"


class ProtocolViolation(UpstreamFailure):
    code = "protocol_violation"
    description = "the authorization server's response broke the protocol"


class StateMismatch(ProtocolViolation):
    code = "state_mismatch"
    description = "the state in the response does not match the login"
    spec = "RFC 6749 §10.12"


class IssMissing(ProtocolViolation):
    code = "iss_missing"
    description = "the authorization response has no iss parameter"
    spec = "RFC 9207 §2.4"


class IssMismatch(ProtocolViolation):
    code = "iss_mismatch"
    description = "the authorization response comes from another issuer"
    spec = "RFC 9207 §2.4"


class IDTokenInvalid(ProtocolViolation):
    code = "id_token_invalid"
    description = "the ID token is invalid"
    spec = "OpenID Connect Core §3.1.3.7"


class NonceMismatch(ProtocolViolation):
    code = "nonce_mismatch"
    description = "the ID token nonce does not match the login"
    spec = "OpenID Connect Core §3.1.3.7"


class AcrNotSatisfied(ProtocolViolation):
    code = "acr_not_satisfied"
    description = "the sign-in did not reach the authentication level that was asked for"
    spec = "RFC 9470 §4"


class BearerDowngrade(ProtocolViolation):
    code = "bearer_downgrade"
    description = "the authorization server issued a Bearer token where DPoP was required"
    spec = "FAPI 2.0 §5.3.2.2"


class DPoPBindingMissing(ProtocolViolation):
    code = "dpop_binding_missing"
    description = "the access token is not bound to the session's DPoP key"
    spec = "RFC 9449 §6"


class CertificateBindingMissing(ProtocolViolation):
    code = "certificate_binding_missing"
    description = "the access token is not bound to the client certificate"
    spec = "RFC 8705 §3"


class InvalidTokenResponse(ProtocolViolation):
    code = "invalid_token_response"
    description = "the token response is malformed"
    spec = "RFC 6749 §5.1"


class InvalidMetadata(ProtocolViolation):
    code = "invalid_metadata"
    description = "the authorization server metadata is invalid"
    spec = "RFC 8414 §3.3"


class InvalidPARResponse(ProtocolViolation):
    code = "invalid_par_response"
    description = "the pushed authorization response is malformed"
    spec = "RFC 9126 §2.2"


class InvalidJARMResponse(ProtocolViolation):
    code = "invalid_jarm_response"
    description = "the JWT-secured authorization response is invalid"
    spec = "FAPI JARM §4.4"


class ResourceServerUnavailable(UpstreamFailure):
    code = "api_unreachable"
    description = "the API cannot be reached"


class ResourceServerTimeout(UpstreamFailure):
    code = "api_timeout"
    description = "the API did not answer in time"


# -- 503 -----------------------------------------------------------------------------------------


class StoreUnavailable(BFFError):
    code = "store_unavailable"
    description = "the state store is unavailable"


# -- opaque ---------------------------------------------------------------------------------------


class InvalidSeal(BFFError):
    """Any failure to open a sealed value: deliberately one opaque error."""

    code = "invalid_seal"
    description = "a sealed value could not be opened"
