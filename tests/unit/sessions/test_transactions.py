"""Login transactions: sealed cookies, a few at once, one use, short-lived."""

from __future__ import annotations

import secrets

import pytest

from bff.crypto.seal import Sealer
from bff.errors import LoginTransactionMissing, LoginTransactionUsed, StateMismatch
from bff.oauth.clock import FrozenClock
from bff.sessions.cookies import CookieNames, SetCookie
from bff.sessions.model import LoginTransaction
from bff.sessions.transactions import LoginTransactions
from bff.store import keys
from tests.unit.sessions.conftest import RecordingStore, browser_jar

NAMES = CookieNames()
LIFETIME = 600


def txn(clock: FrozenClock) -> LoginTransaction:
    return LoginTransaction(transaction_id=secrets.token_urlsafe(16),
                            state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                            code_verifier=secrets.token_urlsafe(48),
                            dpop_jwk={"kty": "EC", "d": "private"}, return_to="/",
                            created_at=clock())


def apply(jar: dict[str, str], cookies: list[SetCookie]) -> dict[str, str]:
    return browser_jar(cookies, jar)


@pytest.fixture
def logins(sealer: Sealer, store: RecordingStore) -> LoginTransactions:
    return LoginTransactions(sealer, NAMES, store, lifetime=LIFETIME, max_open=3)


def test_begin_sets_one_sealed_cookie(logins: LoginTransactions, clock: FrozenClock) -> None:
    t = txn(clock)
    (cookie,) = logins.begin(t, {})
    assert cookie.name == NAMES.login(t.state)
    assert cookie.max_age == LIFETIME
    assert cookie.value.startswith("v1.")
    assert t.code_verifier not in cookie.value
    assert t.state not in cookie.name


def test_begin_keeps_at_most_max_open_dropping_the_oldest(logins: LoginTransactions,
                                                          clock: FrozenClock) -> None:
    jar: dict[str, str] = {"unrelated": "x"}
    started = []
    for _ in range(5):
        t = txn(clock)
        started.append(t)
        jar = apply(jar, logins.begin(t, jar))
        clock.advance(10)
    names = {n for n in jar if n.startswith(NAMES.login_prefix)}
    assert names == {NAMES.login(t.state) for t in started[-3:]}
    assert jar["unrelated"] == "x"


def test_begin_deletes_broken_login_cookies(logins: LoginTransactions,
                                            clock: FrozenClock) -> None:
    broken = NAMES.login_prefix + "forged"
    cookies = logins.begin(txn(clock), {broken: "v1.k1.AAAA"})
    assert SetCookie(broken, "", 0).header() in [c.header() for c in cookies]


@pytest.mark.anyio
async def test_finish_returns_the_transaction_and_clears_its_cookie(
        logins: LoginTransactions, clock: FrozenClock) -> None:
    t = txn(clock)
    jar = apply({}, logins.begin(t, {}))
    found, cleared = await logins.finish(t.state, jar, clock())
    assert found == t
    assert [(c.name, c.max_age) for c in cleared] == [(NAMES.login(t.state), 0)]


@pytest.mark.spec("RFC 9700 §4.5.3")
@pytest.mark.anyio
async def test_finish_is_one_use(logins: LoginTransactions, store: RecordingStore,
                                 clock: FrozenClock) -> None:
    """RFC 9700 §4.5.3: a login transaction is spent once, even if the cookie is replayed."""
    t = txn(clock)
    jar = apply({}, logins.begin(t, {}))
    await logins.finish(t.state, jar, clock())
    assert await store.get(keys.login_used(t.transaction_id)) == b"1"
    with pytest.raises(LoginTransactionUsed):
        await logins.finish(t.state, jar, clock())


@pytest.mark.anyio
async def test_one_use_is_shared_by_instances(sealer: Sealer, store: RecordingStore,
                                              clock: FrozenClock) -> None:
    t = txn(clock)
    first = LoginTransactions(sealer, NAMES, store, lifetime=LIFETIME, max_open=3)
    second = LoginTransactions(sealer, NAMES, store, lifetime=LIFETIME, max_open=3)
    jar = apply({}, first.begin(t, {}))
    await first.finish(t.state, jar, clock())
    with pytest.raises(LoginTransactionUsed):
        await second.finish(t.state, jar, clock())


@pytest.mark.spec("DESIGN §3")
@pytest.mark.anyio
async def test_expired_transaction(logins: LoginTransactions, clock: FrozenClock) -> None:
    """DESIGN §3: a transaction older than its lifetime is gone."""
    t = txn(clock)
    jar = apply({}, logins.begin(t, {}))
    with pytest.raises(LoginTransactionMissing):
        await logins.finish(t.state, jar, clock() + LIFETIME + 1)


@pytest.mark.anyio
async def test_lifetime_boundary_and_future_transactions(logins: LoginTransactions,
                                                         clock: FrozenClock) -> None:
    t = txn(clock)
    jar = apply({}, logins.begin(t, {}))
    with pytest.raises(LoginTransactionMissing):
        await logins.finish(t.state, jar, clock() - 61)
    found, _ = await logins.finish(t.state, jar, clock() + LIFETIME)
    assert found == t


@pytest.mark.spec("RFC 6749 §10.12")
@pytest.mark.anyio
async def test_state_without_its_cookie_is_a_mismatch(logins: LoginTransactions,
                                                      clock: FrozenClock) -> None:
    """RFC 6749 §10.12: a state that matches none of the open logins is a state mismatch."""
    jar = apply({}, logins.begin(txn(clock), {}))
    with pytest.raises(StateMismatch):
        await logins.finish("attacker-state", jar, clock())


@pytest.mark.anyio
async def test_no_login_cookie_is_missing(logins: LoginTransactions, clock: FrozenClock) -> None:
    with pytest.raises(LoginTransactionMissing):
        await logins.finish("some-state", {"__Host-bff-session": "x"}, clock())


@pytest.mark.anyio
async def test_cookie_moved_to_another_state_is_rejected(logins: LoginTransactions,
                                                         clock: FrozenClock) -> None:
    a, b = txn(clock), txn(clock)
    value = apply({}, logins.begin(a, {}))[NAMES.login(a.state)]
    with pytest.raises(LoginTransactionMissing):
        await logins.finish(b.state, {NAMES.login(b.state): value}, clock())


@pytest.mark.anyio
async def test_two_tabs_log_in_independently(logins: LoginTransactions,
                                             clock: FrozenClock) -> None:
    a, b = txn(clock), txn(clock)
    jar = apply({}, logins.begin(a, {}))
    jar = apply(jar, logins.begin(b, jar))
    assert (await logins.finish(b.state, jar, clock()))[0] == b
    assert (await logins.finish(a.state, jar, clock()))[0] == a


def test_repr_hides_secrets(clock: FrozenClock) -> None:
    t = txn(clock)
    assert t.state not in repr(t)
    assert t.code_verifier not in repr(t)


def test_forged_transaction_cookies_are_read_and_cleared_only_up_to_a_cap(
        logins: LoginTransactions, clock: FrozenClock) -> None:
    """200,000 fake login cookies cost a bounded number of unseals and Set-Cookies."""
    forged = {f"{NAMES.login_prefix}{i}": "v1.forged" for i in range(200_000)}
    real = txn(clock)
    jar = apply({}, logins.begin(real, {}))
    cookies = {**jar, **forged}
    out = logins.begin(txn(clock), cookies)
    cleared = [c for c in out if c.max_age == 0]
    assert 1 <= len(cleared) <= 2 * 3
    assert len(out) == len(cleared) + 1
