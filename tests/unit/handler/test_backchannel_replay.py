"""Logout token replay: a jti is remembered for as long as its token would still be accepted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import pytest

from bff.crypto.keys import generate_seal_jwk, seal_key_from_jwk
from bff.crypto.seal import Sealer
from bff.errors import InvalidLogoutToken
from bff.handler.backchannel import BackchannelLogout, SessionRevocations
from bff.oauth.client import FapiClient
from bff.oauth.clock import FrozenClock
from bff.oauth.logout_token import BACKCHANNEL_EVENT, MAX_AGE, check_logout_token_claims
from bff.store.memory import MemoryStore

ISSUER = "https://as.example"
NOW = 1_700_000_000.0
SKEW = 60


@dataclass
class _Settings:
    clock_skew: int = SKEW


class CheckingClient:
    """Runs the real claim checks on a JSON "token" at the injected time (no signature)."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.settings = _Settings()

    async def validate_logout_token(self, token: str, strict_typ: bool) -> dict[str, Any]:
        claims: dict[str, Any] = json.loads(token)
        check_logout_token_claims({"typ": "logout+jwt"}, claims, issuer=ISSUER, client_id="bff",
                                  now=self.clock(), skew=SKEW, strict_typ=strict_typ)
        return claims


def receiver(clock: FrozenClock) -> BackchannelLogout:
    store = MemoryStore(clock)
    revocations = SessionRevocations(store, clock, 3600, fail_open=False,
                                     sealer=Sealer([seal_key_from_jwk(generate_seal_jwk("k"))]))
    return BackchannelLogout(cast(FapiClient, CheckingClient(clock)), store, revocations, clock,
                             strict_typ=True)


def token(**changes: Any) -> str:
    claims: dict[str, Any] = {"iss": ISSUER, "aud": "bff", "iat": NOW, "exp": NOW + 120,
                              "jti": "j-1", "sid": "s-1", "events": {BACKCHANNEL_EVENT: {}}}
    claims.update(changes)
    return json.dumps({k: v for k, v in claims.items() if v is not None})


@pytest.mark.anyio
@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.4")
async def test_token_without_exp_refused_so_no_late_replay() -> None:
    """Back-Channel Logout 1.0 §2.4: exp is required. Without it the token stayed acceptable for
    iat + 360 s while its jti was kept 180 s, so a replay at 250 s ended sessions again."""
    clock = FrozenClock(NOW)
    bc = receiver(clock)
    with pytest.raises(InvalidLogoutToken, match="exp"):
        await bc.receive({"logout_token": token(exp=None)})
    clock.advance(250)
    with pytest.raises(InvalidLogoutToken):
        await bc.receive({"logout_token": token(exp=None)})


@pytest.mark.anyio
@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.6")
@pytest.mark.parametrize(("iat", "exp"), [(NOW, NOW + 120), (NOW, NOW + MAX_AGE + SKEW),
                                          (NOW + SKEW, NOW + SKEW + MAX_AGE), (NOW - 250, NOW + 5)])
async def test_replay_refused_for_as_long_as_the_token_is_acceptable(iat: float,
                                                                     exp: float) -> None:
    """§2.6 step 8: at every second the token would still pass, its replay is refused."""
    for delay in range(1, 500, 7):
        clock = FrozenClock(NOW)
        bc = receiver(clock)
        await bc.receive({"logout_token": token(iat=iat, exp=exp)})
        clock.advance(delay)
        with pytest.raises(InvalidLogoutToken):
            await bc.receive({"logout_token": token(iat=iat, exp=exp)})
