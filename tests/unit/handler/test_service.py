"""The session and token service without sockets: a fake AS client, a memory store."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bff.config.model import Settings
from bff.crypto.keys import generate_seal_jwk, generate_signing_jwk, seal_key_from_jwk
from bff.crypto.seal import Sealer
from bff.errors import AuthorizationServerError, AuthorizationServerUnavailable, SessionExpired
from bff.handler.backchannel import SessionRevocations
from bff.handler.refresh import SingleFlightRefresher
from bff.handler.service import DEFAULT_RESOURCE, ActiveSession, SessionService
from bff.oauth.clock import FrozenClock
from bff.oauth.tokens import TokenSet
from bff.sessions.model import AccessToken, Session
from bff.store.memory import MemoryStore

T0 = 1_800_000_000.0


class FakeAS:
    """Answers refresh, userinfo, revoke and logout_url; counts calls; can fail."""

    def __init__(self, clock: FrozenClock, name: str = "bff") -> None:
        self.clock = clock
        self.name = name
        self.refreshes = 0
        self.revoked: list[str] = []
        self.refresh_error = ""
        self.revoke_fails = False
        self.userinfo_errors: list[str] = []

    async def refresh(self, refresh_token: str, dpop_key: Any, resource: str | None,
                      scope: str | None) -> TokenSet:
        if self.refresh_error:
            raise AuthorizationServerError("refused", oauth_error=self.refresh_error)
        self.refreshes += 1
        return TokenSet(f"{self.name}-at-{self.refreshes}", self.clock() + 300,
                        f"rt-{self.refreshes}", None, scope)

    async def userinfo(self, token: str, dpop_key: Any) -> dict[str, Any]:
        if self.userinfo_errors:
            raise AuthorizationServerError("401", oauth_error=self.userinfo_errors.pop())
        return {"sub": "alice", "token": token}

    async def revoke(self, token: str, hint: str) -> None:
        if self.revoke_fails:
            raise AuthorizationServerUnavailable("down")
        self.revoked.append(token)

    async def logout_url(self, id_token: str | None) -> str:
        return f"https://as.example/{self.name}/logout"


class Held(ActiveSession):
    """A front door that keeps the session in memory and counts saves."""

    saves = 0

    async def persist(self, session: Session, ttl: float) -> None:
        assert ttl >= 1
        self.saves += 1
        self.session = session


def make(clock: FrozenClock, client: FakeAS) -> SessionService:
    sealer = Sealer([seal_key_from_jwk(generate_seal_jwk("k"))])
    store = MemoryStore(clock)
    revocations = SessionRevocations(store, clock, 28800, fail_open=False, sealer=sealer)
    refresher = SingleFlightRefresher(store, sealer, clock, grace=60,
                                      on_refreshed=revocations.record_latest)
    return SessionService(Settings(), client, refresher, clock,  # type: ignore[arg-type]
                          revocations)


def session(clock: FrozenClock, expires_in: float = 300, **changes: Any) -> Session:
    return Session(session_id="s" * 43, sub="alice", claims={}, dpop_jwk=generate_signing_jwk(),
                   csrf_token="c", created_at=clock(), last_seen=clock(), refresh_token="rt-0",
                   tokens={DEFAULT_RESOURCE: AccessToken("at-0", clock() + expires_in)},
                   **changes)


def test_fresh_token_is_used_and_a_due_one_refreshed_once() -> None:
    clock = FrozenClock(T0)
    fake = FakeAS(clock)
    service = make(clock, fake)
    active = Held(session(clock))
    assert asyncio.run(service.access_token(active, DEFAULT_RESOURCE)).token == "at-0"
    assert fake.refreshes == 0
    clock.advance(290)  # inside the refresh margin
    assert asyncio.run(service.access_token(active, DEFAULT_RESOURCE)).token == "bff-at-1"
    assert fake.refreshes == 1 and active.saves == 1
    assert active.session.generation == 1 and active.session.refresh_token == "rt-1"


def test_forced_refresh_and_a_refused_refresh_token() -> None:
    clock = FrozenClock(T0)
    fake = FakeAS(clock)
    service = make(clock, fake)
    active = Held(session(clock))
    assert asyncio.run(service.access_token(active, DEFAULT_RESOURCE, force=True)).token == (
        "bff-at-1")
    fake.refresh_error = "invalid_grant"
    with pytest.raises(SessionExpired):
        asyncio.run(service.access_token(active, DEFAULT_RESOURCE, force=True))


def test_userinfo_retries_once_after_invalid_token() -> None:
    clock = FrozenClock(T0)
    fake = FakeAS(clock)
    service = make(clock, fake)
    active = Held(session(clock))
    fake.userinfo_errors = ["invalid_token"]
    assert asyncio.run(service.userinfo(active))["token"] == "bff-at-1"


def test_lifetimes_and_ending() -> None:
    clock = FrozenClock(T0)
    fake = FakeAS(clock)
    service = make(clock, fake)
    s = session(clock)
    assert asyncio.run(service.check(s)) == s
    asyncio.run(service.end(s))
    assert fake.revoked == ["rt-0"]
    with pytest.raises(SessionExpired):
        asyncio.run(service.check(s))
    clock.advance(Settings().session.idle_timeout + 1)
    with pytest.raises(SessionExpired):
        asyncio.run(service.check(session(FrozenClock(T0))))


def test_a_failing_revocation_never_fails_the_end() -> None:
    clock = FrozenClock(T0)
    fake = FakeAS(clock)
    fake.revoke_fails = True
    service = make(clock, fake)
    asyncio.run(service.end(session(clock)))
    assert fake.revoked == []


def test_a_session_with_its_own_client_uses_it() -> None:
    clock = FrozenClock(T0)
    own, instance = FakeAS(clock), FakeAS(clock, "instance")
    service = make(clock, own)

    async def resolve(s: Session) -> Any:
        assert s.client_id == "instance-client"
        return instance

    service.resolver = resolve
    active = Held(session(clock, expires_in=0, client_id="instance-client"))
    assert asyncio.run(service.access_token(active, DEFAULT_RESOURCE)).token == "instance-at-1"
    assert asyncio.run(service.logout_url(active.session)) == "https://as.example/instance/logout"
    assert own.refreshes == 0


@pytest.mark.spec("RFC 7009 §2.2.1")
def test_revoke_with_a_given_client_is_best_effort() -> None:
    clock = FrozenClock(T0)
    fake, other = FakeAS(clock), FakeAS(clock, "instance")
    service = make(clock, fake)
    asyncio.run(service.revoke_with(other, "rt-x"))  # type: ignore[arg-type]
    assert other.revoked == ["rt-x"] and fake.revoked == []
    other.revoke_fails = True
    asyncio.run(service.revoke_with(other, "rt-y"))  # type: ignore[arg-type]
    assert other.revoked == ["rt-x"], "a failing AS is logged, never raised"
