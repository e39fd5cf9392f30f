"""The settings model. Strict defaults live here, once; every weakening sits under ``insecure``."""

from __future__ import annotations

from dataclasses import dataclass, field

FAPI_ALGORITHMS = ["PS256", "ES256", "EdDSA"]
# refresh_per_resource: code exchange without ``resource``, one refresh per resource (RFC 8707)
# at_code_exchange: the code exchange carries ``oauth.resources``; its token serves them
# none: no resource indicator anywhere, one token for every route
RESOURCE_STRATEGIES = ("refresh_per_resource", "at_code_exchange", "none")
DEFAULT_EXTRA_PARAMS = ["prompt", "acr_values", "ui_locales", "login_hint", "max_age",
                        "authorization_details", "claims_locales"]
DEFAULT_CLAIMS = ["sub", "name", "given_name", "family_name", "preferred_username", "email",
                  "email_verified", "locale", "picture", "auth_time", "acr", "amr"]

# Request headers every route forwards, besides its own ``forward_headers``: content negotiation,
# conditional and range requests, SSE resumption, idempotency keys. Anything else stays behind.
PROXY_DEFAULT_HEADERS = ["accept", "accept-encoding", "accept-language", "content-type",
                         "content-encoding", "content-language", "if-match", "if-none-match",
                         "if-modified-since", "if-unmodified-since", "if-range", "range",
                         "last-event-id", "idempotency-key", "prefer"]
# Request headers no route may forward: hop-by-hop (RFC 9110 §7.6.1), the browser's credentials
# and CSRF header (the BFF adds its own Authorization and DPoP), spoofable forwarding headers,
# and method or URL overrides that would let a caller change what the BFF checked.
PROXY_NEVER_FORWARDED = [
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host", "cookie", "authorization", "dpop",
    "x-csrf-token", "origin", "referer", "forwarded", "x-forwarded-for", "x-forwarded-host",
    "x-forwarded-proto", "x-forwarded-port", "x-forwarded-prefix", "x-real-ip",
    "content-length", "expect", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest",
    "sec-fetch-user", "x-http-method-override", "x-http-method", "x-method-override",
    "x-original-method", "x-original-url", "x-rewrite-url", "x-override-url",
    # the BFF sends its own request id upstream; the browser's never passes as it is
    "x-request-id"]


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    path_prefix: str = "/bff"
    static_dir: str = ""
    log_level: str = "info"
    access_log: bool = True
    metrics: bool = True
    # request head limits (431): room for a 10-chunk session cookie plus login transactions
    max_header_count: int = 100
    max_header_bytes: int = 64 * 1024
    hsts: bool = True
    # keep a well-formed incoming X-Request-Id (set by a trusted load balancer) instead of a new id
    trust_request_id: bool = False
    # worker processes (uvicorn's); above 1 the metrics are summed through metrics_dir
    workers: int = 1
    metrics_dir: str = ""
    # seconds between re-reads of the key files (rotated keys, schedules); SIGHUP re-reads too
    key_reload_interval: int = 60
    # the ASGI server of ``bff run``: "uvicorn" (uvloop + httptools) or "granian" (Rust I/O)
    engine: str = "uvicorn"


@dataclass(frozen=True)
class OAuthSettings:
    issuer: str = ""
    client_id: str = ""
    client_key_file: str = ""
    redirect_uri: str = ""
    post_logout_redirect_uri: str = ""
    scope: str = "openid profile email offline_access"
    resources: list[str] = field(default_factory=list)
    authorization_params: dict[str, str] = field(default_factory=lambda: {"prompt": "consent"})
    extra_params_allowlist: list[str] = field(default_factory=lambda: list(DEFAULT_EXTRA_PARAMS))
    claims: list[str] = field(default_factory=lambda: list(DEFAULT_CLAIMS))
    algorithms: list[str] = field(default_factory=lambda: list(FAPI_ALGORITHMS))
    dpop_algorithm: str = "ES256"
    clock_skew: int = 60
    http_timeout: float = 10.0
    # seconds the AS metadata and JWKS are cached; a token with an unknown kid refetches sooner
    metadata_ttl: int = 3600
    id_token_hint_in_logout: bool = False
    refresh_margin: int = 30
    fetch_userinfo_at_login: bool = True
    # a failing userinfo call at login fails the login (default: the ID token's claims, a warning)
    require_userinfo_at_login: bool = False
    # how API tokens are bound to resources: see RESOURCE_STRATEGIES and the README
    resource_strategy: str = "refresh_per_resource"
    request_objects: bool = False
    response_mode: str = ""
    # RFC 8705: how the BFF authenticates to the AS and how access tokens are sender-constrained
    client_auth: str = "private_key_jwt"
    sender_constraint: str = "dpop"
    # the client certificate (PEM) presented on mTLS connections, and the CA bundle verifying
    # the AS's mTLS endpoints (empty: the system CAs); files re-read every tls_reload_interval s
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_ca_file: str = ""
    tls_reload_interval: float = 60.0
    # RFC 9396: authorization_details types a login may carry, each with the members it may
    # have besides "type" (none by default: rich authorization requests are refused)
    authorization_details_types: dict[str, list[str]] = field(default_factory=dict)
    authorization_details_max_bytes: int = 2048


@dataclass(frozen=True)
class SessionSettings:
    store: str = "cookie"
    idle_timeout: int = 1800
    absolute_timeout: int = 28800
    login_timeout: int = 600
    max_login_transactions: int = 3
    cookie_key_files: list[str] = field(default_factory=list)
    refresh_grace: int = 60


@dataclass(frozen=True)
class CorsSettings:
    allowed_origins: list[str] = field(default_factory=list)
    max_age: int = 600


@dataclass(frozen=True)
class StoreSettings:
    backend: str = "memory"
    url: str = ""
    namespace: str = "bff"
    sentinel_service: str = ""
    cluster: bool = False
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    timeout: float = 2.0
    max_connections: int = 50
    breaker_cooldown: float = 1.0
    # Redis: logout markers mirrored in memory through pub/sub, at most this many seconds
    # behind the store (0: read them from the store on every session load)
    mirror_staleness: float = 1.0


@dataclass(frozen=True)
class RouteSettings:
    prefix: str = ""
    upstream: str = ""
    resource: str = ""
    scopes: list[str] = field(default_factory=list)
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_body_bytes: int = 10 * 1024 * 1024
    forward_headers: list[str] = field(default_factory=list)
    x_forwarded: bool = False
    keepalive_timeout: float = 4.0
    # the CA bundle verifying the upstream's certificate (empty: the system CAs), and the client
    # certificate presented to it (empty: oauth.tls_cert_file when sender_constraint is mtls)
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""


@dataclass(frozen=True)
class AttesterSettings:
    """One trusted attester: its key id and the file of its public JWK."""

    kid: str = ""
    jwk_file: str = ""


@dataclass(frozen=True)
class AppAttestSettings:
    """Apple App Attest for one app identity: its App ID, environment and how it combines."""

    # the app identity (an entry of mobile.apps) this applies to
    app: str = ""
    # the App ID is "<team_id>.<bundle_id>"; its SHA-256 is the attestation's rpIdHash
    team_id: str = ""
    bundle_id: str = ""
    # "production" (AAGUID appattest + 7 zero bytes) or "development" (appattestdevelop)
    environment: str = "production"
    # "platform": the attestation object alone registers an instance of this app, and an
    # attester JWT alone is refused; "both": the attester JWT and the attestation object
    mode: str = "platform"


@dataclass(frozen=True)
class MobileSettings:
    """The mobile front door (DESIGN §6); off unless enabled."""

    enabled: bool = False
    # the app's claimed https link the AS redirects to after sign-in
    redirect_uri: str = ""
    # app identities (the attestation's ``sub``) allowed to register
    apps: list[str] = field(default_factory=list)
    attesters: list[AttesterSettings] = field(default_factory=list)
    # apps whose instances present an Apple App Attest attestation object at registration
    app_attest: list[AppAttestSettings] = field(default_factory=list)
    # RFC 7591 §3: the initial access token for registrations (or BFF_SECRETS__REGISTRATION_TOKEN)
    initial_access_token_file: str = ""
    challenge_ttl: int = 300
    # how old a PoP or instance proof may be (seconds), either side of now
    proof_max_age: int = 60
    registrations_per_hour: int = 10
    # instance proofs must carry a nonce the BFF issued (RFC 9449 §9)
    require_nonce: bool = True
    nonce_ttl: int = 300


@dataclass(frozen=True)
class InsecureSettings:
    """Weakenings for development only; each one is logged loudly at start-up."""

    plain_http_cookies: bool = False
    allow_algorithms: list[str] = field(default_factory=list)
    logout_token_without_typ: bool = False
    # plain-http AS endpoints on loopback hosts, for an AS whose issuer is not itself loopback
    loopback_endpoints: bool = False
    # PEM file of the App Attest roots to trust instead of Apple's App Attestation Root CA
    # (tests generate their own root; never in production)
    app_attest_roots_file: str = ""


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    oauth: OAuthSettings = field(default_factory=OAuthSettings)
    session: SessionSettings = field(default_factory=SessionSettings)
    cors: CorsSettings = field(default_factory=CorsSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    routes: list[RouteSettings] = field(default_factory=list)
    mobile: MobileSettings = field(default_factory=MobileSettings)
    insecure: InsecureSettings = field(default_factory=InsecureSettings)
