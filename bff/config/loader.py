"""Load and validate settings, reporting every problem at once and naming each key."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import time
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bff.config.model import (
    FAPI_ALGORITHMS,
    PROXY_NEVER_FORWARDED,
    RESOURCE_STRATEGIES,
    RouteSettings,
    Settings,
)
from bff.config.mtls import TLS_CLIENT_AUTH, check_mtls_settings, check_tls_files
from bff.crypto.keys import alg_for_key, seal_key_from_jwk
from bff.crypto.rotation import in_use_first, key_list
from bff.crypto.seal import SealKey
from bff.errors import ConfigError, Problem

ENV_PREFIX = "BFF_"
SECRET_ENV_CLIENT_KEY = "BFF_SECRETS__CLIENT_KEY"
SECRET_ENV_COOKIE_KEYS = "BFF_SECRETS__COOKIE_KEYS"
SECRET_ENV_REGISTRATION_TOKEN = "BFF_SECRETS__REGISTRATION_TOKEN"


@dataclass(frozen=True)
class LoadedConfig:
    """Validated settings with their secrets loaded."""

    settings: Settings
    client_jwk: dict[str, Any]
    seal_keys: list[SealKey]
    # every live client key (the signing one first), for /bff/jwks.json
    client_jwks: list[dict[str, Any]] = field(default_factory=list)
    # loads the same source again (the file, or the mapping), to pick up rotated keys
    source: Callable[[], LoadedConfig] | None = field(default=None, compare=False)
    # where relative file names (TLS certificates) resolve
    base_dir: Path = Path()
    # the mobile door's trusted attesters (kid → public JWK) and initial access token
    attester_jwks: dict[str, dict[str, Any]] = field(default_factory=dict)
    registration_token: str = ""
    # App Attest roots replacing Apple's (insecure.app_attest_roots_file, tests only)
    app_attest_roots_pem: bytes = b""

    def __repr__(self) -> str:
        return "LoadedConfig(<secrets redacted>)"

    def reload(self) -> LoadedConfig:
        """The configuration read again from where it came from (raises ConfigError)."""
        if self.source is None:
            return self
        return self.source()


def load_settings(path: str | Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read a TOML file, apply ``BFF_*`` overrides, validate, load secrets."""
    env = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(str(path), f"not valid TOML: {exc}")]) from None
    # relative key paths resolve against the folder the config file is named in, without
    # following a symlink to the file: a Kubernetes ConfigMap file links into a dated folder
    loaded = load_settings_from_mapping(raw, env, base_dir=Path(path).absolute().parent)
    return dataclasses.replace(loaded, source=lambda: load_settings(path, environ))


def load_settings_from_mapping(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None,
                               base_dir: Path | None = None) -> LoadedConfig:
    """Validate a parsed configuration mapping (what the TOML file held)."""
    env = os.environ if environ is None else environ
    data = _apply_env(dict(raw), env)
    problems: list[Problem] = []
    settings = _build(Settings, data, "", problems)
    assert isinstance(settings, Settings)
    problems.extend(_check(settings))
    base = base_dir or Path.cwd()
    client_jwks, seal_keys = _load_secrets(settings, env, base, problems)
    problems.extend(check_tls_files(settings, base))
    attesters, token = _load_mobile(settings, env, base, problems)
    roots = _load_app_attest(settings, base, problems)
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(settings=settings, client_jwk=client_jwks[0], seal_keys=seal_keys,
                        client_jwks=[k for k in client_jwks if k], base_dir=base,
                        source=lambda: load_settings_from_mapping(raw, environ, base_dir),
                        attester_jwks=attesters, registration_token=token,
                        app_attest_roots_pem=roots)


def _load_mobile(s: Settings, env: Mapping[str, str], base: Path, problems: list[Problem]
                 ) -> tuple[dict[str, dict[str, Any]], str]:
    """The mobile door's attester keys and initial access token, when it is enabled."""
    m = s.mobile
    if not m.enabled:
        return {}, ""
    if not m.redirect_uri.startswith("https://"):
        # a claimed https link (universal/app link): a custom scheme can be claimed by any app
        problems.append(Problem("mobile.redirect_uri", "must be an https URL (a claimed link)"))
    if not m.apps:
        problems.append(Problem("mobile.apps", "at least one app identity is required"))
    if not m.attesters and not m.app_attest:
        problems.append(Problem("mobile.attesters",
                                "at least one trusted attester (or mobile.app_attest) is required"))
    if any(a.mode == "both" for a in m.app_attest) and not m.attesters:
        problems.append(Problem("mobile.attesters",
                                "an app_attest mode \"both\" needs a trusted attester"))
    for key, value in (("challenge_ttl", m.challenge_ttl), ("proof_max_age", m.proof_max_age),
                       ("registrations_per_hour", m.registrations_per_hour),
                       ("nonce_ttl", m.nonce_ttl)):
        if not 1 <= value <= 86400:
            problems.append(Problem(f"mobile.{key}", "must be between 1 and 86400"))
    if s.session.store != "server":
        problems.append(Problem("mobile.enabled", "needs session.store = \"server\""))
    attesters: dict[str, dict[str, Any]] = {}
    for i, a in enumerate(m.attesters):
        key = f"mobile.attesters[{i}]"
        if not a.kid or a.kid in attesters:
            problems.append(Problem(f"{key}.kid", "must be a unique, non-empty key id"))
            continue
        jwk = _read_json(base / a.jwk_file, f"{key}.jwk_file", problems) if a.jwk_file else None
        if jwk is None:
            if not a.jwk_file:
                problems.append(Problem(f"{key}.jwk_file", "is required"))
            continue
        if not isinstance(jwk, dict) or "d" in jwk or jwk.get("kty") not in ("EC", "RSA", "OKP"):
            problems.append(Problem(f"{key}.jwk_file", "must be a public asymmetric JWK"))
            continue
        attesters[a.kid] = jwk
    token = env.get(SECRET_ENV_REGISTRATION_TOKEN, "")
    if not token and m.initial_access_token_file:
        try:
            token = (base / m.initial_access_token_file).read_text(encoding="utf-8").strip()
        except OSError:
            problems.append(Problem("mobile.initial_access_token_file", "is not readable"))
    if not token:
        problems.append(Problem("mobile.initial_access_token_file",
                                f"is required (or set {SECRET_ENV_REGISTRATION_TOKEN})"))
    return attesters, token


def _load_app_attest(s: Settings, base: Path, problems: list[Problem]) -> bytes:
    """Check ``mobile.app_attest``; the PEM of ``insecure.app_attest_roots_file`` if set."""
    seen: set[str] = set()
    for i, a in enumerate(s.mobile.app_attest if s.mobile.enabled else ()):
        key = f"mobile.app_attest[{i}]"
        if a.app not in s.mobile.apps or a.app in seen:
            problems.append(Problem(f"{key}.app", "must be one of mobile.apps, listed once"))
        seen.add(a.app)
        # Apple team ids are 10 upper-case letters and digits; bundle ids are reverse-DNS
        if len(a.team_id) != 10 or not (a.team_id.isascii() and a.team_id.isalnum()
                                        and a.team_id.upper() == a.team_id):
            problems.append(Problem(f"{key}.team_id", "must be a 10-character Apple team id"))
        if not a.bundle_id or not all(c.isascii() and (c.isalnum() or c in ".-")
                                      for c in a.bundle_id):
            problems.append(Problem(f"{key}.bundle_id", "must be a bundle id"))
        if a.environment not in ("production", "development"):
            problems.append(Problem(f"{key}.environment", 'must be "production" or "development"'))
        if a.mode not in ("platform", "both"):
            problems.append(Problem(f"{key}.mode", 'must be "platform" or "both"'))
    if not s.insecure.app_attest_roots_file:
        return b""
    try:
        pem = (base / s.insecure.app_attest_roots_file).read_bytes()
    except OSError:
        problems.append(Problem("insecure.app_attest_roots_file", "is not readable"))
        return b""
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        problems.append(Problem("insecure.app_attest_roots_file", "holds no PEM certificate"))
    return pem


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``BFF_<TABLE>__<KEY>=value`` overrides; values parse as TOML literals, else strings."""
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name.startswith("BFF_SECRETS__"):
            continue
        path = name[len(ENV_PREFIX):].lower().split("__")
        if len(path) != 2 or not all(path):
            continue
        try:
            parsed: Any = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        table = data.get(path[0], {})
        if isinstance(table, dict):  # a copy: never write into the caller's nested tables
            data[path[0]] = {**table, path[1]: parsed}
    return data


# the model's classes never change; a key reload builds them every minute
_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _build(cls: type[Any], data: Any, prefix: str, problems: list[Problem]) -> Any:
    if not isinstance(data, dict):
        problems.append(Problem(prefix.rstrip(".") or "(root)", "must be a table"))
        return cls()
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            problems.append(Problem(f"{prefix}{key}", "unknown key"))
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        key = f"{prefix}{f.name}"
        value = _coerce(hints[f.name], data[f.name], key, problems)
        if value is not _INVALID:
            values[f.name] = value
    return cls(**values)


_INVALID = object()


def _coerce(tp: Any, value: Any, key: str, problems: list[Problem]) -> Any:
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        cls: type[Any] = tp
        return _build(cls, value, f"{key}.", problems)
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            problems.append(Problem(key, "must be a list"))
            return _INVALID
        if isinstance(inner, type) and dataclasses.is_dataclass(inner):
            item_cls: type[Any] = inner
            return [_build(item_cls, v, f"{key}[{i}].", problems) for i, v in enumerate(value)]
        items = [_coerce(inner, v, f"{key}[{i}]", problems) for i, v in enumerate(value)]
        return _INVALID if _INVALID in items else items
    if origin is dict and typing.get_args(tp)[1] is not str:
        # a table of typed values (e.g. lists of strings)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            problems.append(Problem(key, "must be a table"))
            return _INVALID
        value_type = typing.get_args(tp)[1]
        table = {k: _coerce(value_type, v, f"{key}.{k}", problems) for k, v in value.items()}
        return _INVALID if _INVALID in table.values() else table
    if origin is dict:
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            problems.append(Problem(key, "must be a table of strings"))
            return _INVALID
        return dict(value)
    if origin in (types.UnionType, typing.Union):
        return value
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(Problem(key, "must be true or false"))
            return _INVALID
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(Problem(key, "must be an integer"))
            return _INVALID
        return value
    if tp is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(Problem(key, "must be a number"))
            return _INVALID
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.append(Problem(key, "must be a string"))
            return _INVALID
        return value
    return value


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _url_problem(value: str, key: str, *, allow_http_loopback: bool = True) -> Problem | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Problem(key, "must be an absolute http(s) URL")
    if parts.scheme == "http" and not (allow_http_loopback and is_loopback_host(parts.hostname)):
        return Problem(key, "must use https (plain http is allowed on loopback only)")
    if parts.fragment:
        return Problem(key, "must not have a fragment")
    return None


def _check(s: Settings) -> list[Problem]:
    p: list[Problem] = []

    def url(value: str, key: str, required: bool = True) -> None:
        if not value:
            if required:
                p.append(Problem(key, "is required"))
            return
        problem = _url_problem(value, key)
        if problem:
            p.append(problem)

    url(s.server.public_url, "server.public_url")
    if not s.server.path_prefix.startswith("/") or s.server.path_prefix.endswith("/"):
        p.append(Problem("server.path_prefix", "must start with / and not end with /"))
    if not 0 <= s.server.port <= 65535:
        p.append(Problem("server.port", "must be between 0 and 65535"))
    if s.server.static_dir and not Path(s.server.static_dir).is_dir():
        p.append(Problem("server.static_dir", "is not a directory"))
    if not 16 <= s.server.max_header_count <= 10_000:
        p.append(Problem("server.max_header_count", "must be between 16 and 10000"))
    if not 16 * 1024 <= s.server.max_header_bytes <= 1024 * 1024:
        p.append(Problem("server.max_header_bytes", "must be between 16384 and 1048576"))
    if not 0 <= s.server.key_reload_interval <= 3600:
        p.append(Problem("server.key_reload_interval", "must be between 0 (off) and 3600 seconds"))
    if s.server.metrics_dir and Path(s.server.metrics_dir).exists() and not Path(
            s.server.metrics_dir).is_dir():
        p.append(Problem("server.metrics_dir", "is not a directory"))
    if s.server.log_level not in ("debug", "info", "warning", "error"):
        p.append(Problem("server.log_level", "must be debug, info, warning or error"))
    if s.insecure.plain_http_cookies and s.server.public_url:
        host = urlsplit(s.server.public_url).hostname or ""
        if not is_loopback_host(host):
            p.append(Problem("insecure.plain_http_cookies",
                             "is allowed only when server.public_url is a loopback address"))
    url(s.oauth.issuer, "oauth.issuer")
    if not s.oauth.client_id:
        p.append(Problem("oauth.client_id", "is required"))
    url(s.oauth.redirect_uri, "oauth.redirect_uri")
    url(s.oauth.post_logout_redirect_uri, "oauth.post_logout_redirect_uri", required=False)
    for i, r in enumerate(s.oauth.resources):
        url(r, f"oauth.resources[{i}]")
    p += _check_resource_strategy(s)
    if s.oauth.require_userinfo_at_login and not s.oauth.fetch_userinfo_at_login:
        p.append(Problem("oauth.require_userinfo_at_login",
                         "needs oauth.fetch_userinfo_at_login = true"))
    if "openid" not in s.oauth.scope.split():
        p.append(Problem("oauth.scope", "must contain openid"))
    allowed = set(FAPI_ALGORITHMS) | set(s.insecure.allow_algorithms)
    bad = [a for a in s.oauth.algorithms if a not in allowed]
    if bad or not s.oauth.algorithms:
        p.append(Problem("oauth.algorithms",
                         f"only {', '.join(FAPI_ALGORITHMS)} are allowed (got {', '.join(bad)})"
                         if bad else "must not be empty"))
    if any(a in ("none",) or a.startswith("HS") for a in s.insecure.allow_algorithms):
        p.append(Problem("insecure.allow_algorithms", "none and HMAC algorithms are never allowed"))
    if s.oauth.response_mode not in ("", "jwt", "query.jwt"):
        p.append(Problem("oauth.response_mode", 'must be "" (plain) or "jwt" (JARM)'))
    if s.oauth.dpop_algorithm not in FAPI_ALGORITHMS:
        p.append(Problem("oauth.dpop_algorithm", "must be PS256, ES256 or EdDSA"))
    if not 0 <= s.oauth.clock_skew <= 60:
        p.append(Problem("oauth.clock_skew", "must be between 0 and 60 seconds"))
    if not 60 <= s.oauth.metadata_ttl <= 86400:
        p.append(Problem("oauth.metadata_ttl", "must be between 60 and 86400 seconds"))
    if s.oauth.http_timeout <= 0:
        p.append(Problem("oauth.http_timeout", "must be positive"))
    if not 64 <= s.oauth.authorization_details_max_bytes <= 16384:
        p.append(Problem("oauth.authorization_details_max_bytes",
                         "must be between 64 and 16384 bytes"))
    for kind, members in s.oauth.authorization_details_types.items():
        if not kind or "type" in members or len(set(members)) != len(members):
            p.append(Problem(f"oauth.authorization_details_types.{kind}",
                             "must list distinct member names other than type"))
    for k in s.oauth.authorization_params:
        if k in ("response_type", "redirect_uri", "state", "nonce", "code_challenge",
                 "code_challenge_method", "client_id", "dpop_jkt", "scope", "request_uri"):
            p.append(Problem(f"oauth.authorization_params.{k}", "is set by the BFF itself"))
    if s.session.store not in ("cookie", "server"):
        p.append(Problem("session.store", "must be cookie or server"))
    if s.session.idle_timeout <= 0 or s.session.absolute_timeout < s.session.idle_timeout:
        p.append(Problem("session.idle_timeout",
                         "must be positive and not above session.absolute_timeout"))
    if not 30 <= s.session.login_timeout <= 3600:
        p.append(Problem("session.login_timeout", "must be between 30 and 3600 seconds"))
    if not 1 <= s.session.max_login_transactions <= 10:
        p.append(Problem("session.max_login_transactions", "must be between 1 and 10"))
    for i, origin in enumerate(s.cors.allowed_origins):
        parts = urlsplit(origin)
        problem = _url_problem(origin, f"cors.allowed_origins[{i}]")
        if problem:
            p.append(problem)
        elif parts.path or parts.query or origin == "*":
            p.append(Problem(f"cors.allowed_origins[{i}]", "must be an origin (scheme://host:port)"))
    if s.store.backend not in ("memory", "redis"):
        p.append(Problem("store.backend", "must be memory or redis"))
    if s.store.backend == "redis" and not s.store.url:
        p.append(Problem("store.url", "is required when store.backend is redis"))
    if s.store.url and urlsplit(s.store.url).scheme not in ("redis", "rediss", "redis+sentinel",
                                                              "rediss+sentinel", "unix"):
        p.append(Problem("store.url", "must be a redis://, rediss:// or redis+sentinel:// URL"))
    if not 0 < s.store.timeout <= 30:
        p.append(Problem("store.timeout", "must be between 0 and 30 seconds"))
    if not 1 <= s.store.max_connections <= 10_000:
        p.append(Problem("store.max_connections", "must be between 1 and 10000"))
    if not 0.05 <= s.store.breaker_cooldown <= 60:
        p.append(Problem("store.breaker_cooldown", "must be between 0.05 and 60 seconds"))
    if not (s.store.mirror_staleness == 0 or 0.2 <= s.store.mirror_staleness <= 30):
        p.append(Problem("store.mirror_staleness", "must be 0 (off) or between 0.2 and 30 seconds"))
    if s.session.store == "server" and s.store.backend == "memory":
        pass  # valid for one instance; the README says to use redis for several
    p.extend(_check_workers(s))
    p.extend(_check_routes(s.routes, s.server.path_prefix, s.oauth.scope.split()))
    p.extend(check_mtls_settings(s))
    return p


def _check_workers(s: Settings) -> list[Problem]:
    """Several worker processes share nothing but the store."""
    if s.server.engine not in ("uvicorn", "granian"):
        return [Problem("server.engine", "must be uvicorn or granian")]
    if not 1 <= s.server.workers <= 64:
        return [Problem("server.workers", "must be between 1 and 64")]
    if s.server.workers == 1:
        return []
    p: list[Problem] = []
    if s.store.backend == "memory":
        p.append(Problem("server.workers", "above 1 needs store.backend = redis: with the "
                         "memory store each process would keep its own one-use login "
                         "transactions, refresh locks and logout markers"))
    if s.server.metrics and s.server.engine == "granian":
        # uvicorn's workers share prometheus-client's multiprocess folder; granian's do not
        p.append(Problem("server.metrics", "must be false when granian runs several workers: "
                         "each process counts only its own requests, and /metrics would show "
                         "whichever process answered"))
    return p


_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")  # RFC 6749 §3.3 scope-token
# RFC 9110 §5.1: a field name is a token
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _check_resource_strategy(s: Settings) -> list[Problem]:
    """The resource settings must be ones the chosen strategy can honour (RFC 8707)."""
    strategy = s.oauth.resource_strategy
    if strategy not in RESOURCE_STRATEGIES:
        return [Problem("oauth.resource_strategy",
                        f"must be one of {', '.join(RESOURCE_STRATEGIES)}")]
    p: list[Problem] = []
    if strategy == "at_code_exchange" and not s.oauth.resources:
        p.append(Problem("oauth.resources",
                         "must name the resource(s) the code exchange asks for "
                         "(oauth.resource_strategy = at_code_exchange)"))
    if strategy == "none":
        # an AS without resource indicators issues one token for everything: a configured
        # resource would promise an audience-restricted token the BFF cannot obtain
        if s.oauth.resources:
            p.append(Problem("oauth.resources",
                             "must be empty when oauth.resource_strategy = none"))
        p += [Problem(f"routes[{i}].resource", "must be empty when oauth.resource_strategy = none")
              for i, r in enumerate(s.routes) if r.resource]
    return p


def _check_routes(routes: list[RouteSettings], bff_prefix: str,
                  granted: list[str]) -> list[Problem]:
    p: list[Problem] = []
    seen: set[str] = set()
    for i, r in enumerate(routes):
        key = f"routes[{i}]"
        if not r.prefix.startswith("/") or r.prefix.endswith("/") or ".." in r.prefix:
            p.append(Problem(f"{key}.prefix", "must start with / and not end with /"))
        elif r.prefix == bff_prefix or r.prefix.startswith(bff_prefix + "/"):
            p.append(Problem(f"{key}.prefix", "must not be under server.path_prefix"))
        if r.prefix in seen:
            p.append(Problem(f"{key}.prefix", "is used by another route"))
        seen.add(r.prefix)
        problem = _url_problem(r.upstream, f"{key}.upstream") if r.upstream else Problem(
            f"{key}.upstream", "is required")
        if problem:
            p.append(problem)
        elif urlsplit(r.upstream).query:
            p.append(Problem(f"{key}.upstream", "must not have a query"))
        if r.resource:
            problem = _url_problem(r.resource, f"{key}.resource")
            if problem:
                p.append(problem)
        for scope in r.scopes:
            if not isinstance(scope, str) or not _SCOPE_TOKEN.fullmatch(scope):
                p.append(Problem(f"{key}.scopes", "each scope must be one RFC 6749 scope token"))
            elif scope not in granted:
                # RFC 6749 §6: a refresh can only narrow the scope the login was granted
                p.append(Problem(f"{key}.scopes", f"{scope[:64]} is not in oauth.scope"))
        if r.connect_timeout <= 0 or r.read_timeout <= 0:
            p.append(Problem(f"{key}.read_timeout", "timeouts must be positive"))
        if r.max_body_bytes < 0:
            p.append(Problem(f"{key}.max_body_bytes", "must not be negative"))
        if r.keepalive_timeout <= 0:
            p.append(Problem(f"{key}.keepalive_timeout",
                             "must be positive (and below the upstream's keep-alive timeout)"))
        for j, name in enumerate(r.forward_headers):
            if not _HEADER_NAME.fullmatch(name):
                p.append(Problem(f"{key}.forward_headers[{j}]", "is not a header name"))
            elif name.lower() in PROXY_NEVER_FORWARDED:
                p.append(Problem(f"{key}.forward_headers[{j}]",
                                 f"{name} is never forwarded (credentials, hop-by-hop, "
                                 "forwarding or method-override header)"))
    return p


def _read_json(path: Path, key: str, problems: list[Problem]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(Problem(key, f"file {path.name} not found"))
    except (OSError, ValueError):
        problems.append(Problem(key, f"file {path.name} is not readable JSON"))
    return None


def _load_secrets(s: Settings, env: Mapping[str, str], base: Path,
                  problems: list[Problem]) -> tuple[list[dict[str, Any]], list[SealKey]]:
    client_jwk: Any = None
    if env.get(SECRET_ENV_CLIENT_KEY):
        try:
            client_jwk = json.loads(env[SECRET_ENV_CLIENT_KEY])
        except ValueError:
            problems.append(Problem(SECRET_ENV_CLIENT_KEY, "is not a JSON JWK"))
    elif s.oauth.client_key_file:
        client_jwk = _read_json(base / s.oauth.client_key_file, "oauth.client_key_file", problems)
    elif s.oauth.client_auth in TLS_CLIENT_AUTH and not s.oauth.request_objects:
        pass  # the certificate authenticates the client and nothing else is signed
    else:
        problems.append(Problem("oauth.client_key_file",
                                f"is required (or set {SECRET_ENV_CLIENT_KEY})"))
    client_jwks: list[dict[str, Any]] = []
    if client_jwk is not None:
        try:
            for jwk in in_use_first(key_list(client_jwk), time.time()):
                if not isinstance(jwk, dict) or "d" not in jwk:
                    raise ValueError("must be a private JWK (or a set of them)")
                alg_for_key(jwk)
                client_jwks.append(jwk)
            if not client_jwks:
                raise ValueError("every key of the set is retired")
        except ValueError as exc:
            problems.append(Problem("oauth.client_key_file", str(exc)))
            client_jwks = []
    raw_keys: list[Any] = []
    if env.get(SECRET_ENV_COOKIE_KEYS):
        try:
            doc = json.loads(env[SECRET_ENV_COOKIE_KEYS])
            raw_keys = doc["keys"] if isinstance(doc, dict) else doc
        except (ValueError, KeyError, TypeError):
            problems.append(Problem(SECRET_ENV_COOKIE_KEYS, "is not a JSON JWK set"))
    elif s.session.cookie_key_files:
        for i, f in enumerate(s.session.cookie_key_files):
            doc = _read_json(base / f, f"session.cookie_key_files[{i}]", problems)
            if doc is not None:
                raw_keys.extend(key_list(doc))
    else:
        problems.append(Problem("session.cookie_key_files",
                                f"at least one cookie key is required (or set "
                                f"{SECRET_ENV_COOKIE_KEYS})"))
    raw_keys = in_use_first(raw_keys, time.time())
    seal_keys: list[SealKey] = []
    for i, jwk in enumerate(raw_keys):
        try:
            if not isinstance(jwk, dict):
                raise ValueError("must be an oct JWK")
            seal_keys.append(seal_key_from_jwk(jwk))
        except ValueError as exc:
            problems.append(Problem(f"session.cookie_key_files[{i}]", str(exc)))
    if not seal_keys and not problems and not raw_keys:
        problems.append(Problem("session.cookie_key_files", "every cookie key is retired"))
    if len({k.kid for k in seal_keys}) != len(seal_keys):
        problems.append(Problem("session.cookie_key_files", "cookie key ids must be unique"))
    return (client_jwks or [{}]), seal_keys
