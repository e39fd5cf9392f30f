"""The session and login-transaction records, with a compact JSON form for sealing."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class AccessToken:
    """One access token, for the resource it names (``""`` = the AS's own, e.g. userinfo)."""

    token: str
    expires_at: float

    def __repr__(self) -> str:
        return f"AccessToken(expires_at={self.expires_at}, token=<redacted>)"


@dataclass(frozen=True)
class Session:
    """Everything the BFF holds for one signed-in user agent."""

    session_id: str
    sub: str
    claims: dict[str, Any]
    dpop_jwk: dict[str, Any]
    csrf_token: str
    created_at: float
    last_seen: float
    refresh_token: str | None = None
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    as_sid: str | None = None
    id_token: str | None = None
    generation: int = 0
    # mobile sessions: the instance key's thumbprint and the instance's client id at the AS
    instance: str | None = None
    client_id: str | None = None

    def __repr__(self) -> str:
        return f"Session(session_id=<redacted>, sub={self.sub!r}, generation={self.generation})"

    def expires_at(self, idle_timeout: int, absolute_timeout: int) -> float:
        """When the session ends unless used again."""
        return min(self.last_seen + idle_timeout, self.created_at + absolute_timeout)

    def with_changes(self, **changes: Any) -> Session:
        return replace(self, **changes)

    def to_bytes(self) -> bytes:
        data = asdict(self)
        data["tokens"] = {k: [v.token, v.expires_at] for k, v in self.tokens.items()}
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Session:
        data = json.loads(raw)
        data["tokens"] = {k: AccessToken(token=v[0], expires_at=v[1])
                          for k, v in data.get("tokens", {}).items()}
        return cls(**data)


@dataclass(frozen=True)
class LoginTransaction:
    """The secrets of one login in progress, sealed into a short-lived cookie."""

    transaction_id: str
    state: str
    nonce: str
    code_verifier: str
    dpop_jwk: dict[str, Any]
    return_to: str
    created_at: float
    # the max_age the login asked for: the ID token's auth_time must honour it (OIDC Core §3.1.2.1)
    max_age: int | None = None
    # a step-up (RFC 9470) or a payment approval (RFC 9396) continues this session
    session_id: str | None = None
    # the acr_values the login asked for: the ID token's acr must be one of them
    acr_values: str | None = None
    # a payment approval: its one-purpose token is kept under this id, apart from the session's
    purpose_id: str | None = None

    def __repr__(self) -> str:
        return f"LoginTransaction(created_at={self.created_at}, <secrets redacted>)"

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> LoginTransaction:
        return cls(**json.loads(raw))
