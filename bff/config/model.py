"""The settings model. Strict defaults live here, once; every weakening sits under ``insecure``."""

from __future__ import annotations

from dataclasses import dataclass, field

FAPI_ALGORITHMS = ["PS256", "ES256", "EdDSA"]
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
    "x-original-method", "x-original-url", "x-rewrite-url", "x-override-url"]


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
    # processes serving the port (each its own event loop and pools); > 1 needs store = redis
    workers: int = 1
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
    id_token_hint_in_logout: bool = False
    refresh_margin: int = 30
    fetch_userinfo_at_login: bool = True
    request_objects: bool = False
    response_mode: str = ""


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


@dataclass(frozen=True)
class InsecureSettings:
    """Weakenings for development only; each one is logged loudly at start-up."""

    plain_http_cookies: bool = False
    allow_algorithms: list[str] = field(default_factory=list)
    logout_token_without_typ: bool = False
    # plain-http AS endpoints on loopback hosts, for an AS whose issuer is not itself loopback
    loopback_endpoints: bool = False


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    oauth: OAuthSettings = field(default_factory=OAuthSettings)
    session: SessionSettings = field(default_factory=SessionSettings)
    cors: CorsSettings = field(default_factory=CorsSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    routes: list[RouteSettings] = field(default_factory=list)
    insecure: InsecureSettings = field(default_factory=InsecureSettings)
