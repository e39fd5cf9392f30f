"""Cookie names, attributes and chunking (RFC 6265bis §4.1.3.2, §5.6)."""

from __future__ import annotations

import pytest

from bff.crypto.seal import Sealer
from bff.errors import InvalidSeal
from bff.oauth.clock import FrozenClock
from bff.sessions.cookies import (
    CHUNK_SIZE,
    MAX_CHUNKS,
    CookieNames,
    SetCookie,
    clear_session,
    join_value,
    split_value,
)
from bff.sessions.stores import CookieSessionStore
from tests.unit.sessions.conftest import browser_jar as jar
from tests.unit.sessions.conftest import make_session

NAMES = CookieNames()
SESSION = "__Host-bff-session"


@pytest.fixture
def cookie_store(sealer: Sealer) -> CookieSessionStore:
    return CookieSessionStore(sealer, NAMES)


def test_names() -> None:
    assert NAMES.session == SESSION
    assert NAMES.session_chunk(3) == f"{SESSION}.3"
    assert NAMES.login_prefix == "__Host-bff-login."


def test_insecure_names_drop_host_prefix() -> None:
    names = CookieNames(secure=False)
    assert names.session == "bff-session"
    assert names.session_chunk(1) == "bff-session.1"
    assert names.login("s").startswith("bff-login.")


def test_login_cookie_name_is_a_hash_of_the_state() -> None:
    state = "a-state-value-that-must-not-leak"
    name = NAMES.login(state)
    assert state not in name
    assert len(name) == len("__Host-bff-login.") + 22
    assert name == NAMES.login(state)
    assert name != NAMES.login(state + "x")


@pytest.mark.spec("RFC 6265bis §4.1.3.2")
def test_set_cookie_attributes() -> None:
    """RFC 6265bis §4.1.3.2: Secure, Path=/, no Domain; also HttpOnly and SameSite=Strict."""
    header = SetCookie(SESSION, "v", 600).header()
    parts = header.split("; ")
    assert parts[0] == f"{SESSION}=v"
    assert {"Path=/", "HttpOnly", "SameSite=Strict", "Secure", "Max-Age=600"} == set(parts[1:])
    assert "domain" not in header.lower()


def test_set_cookie_without_secure_or_max_age() -> None:
    header = SetCookie("bff-session", "v", None, secure=False).header()
    assert header == "bff-session=v; Path=/; HttpOnly; SameSite=Strict"


def test_set_cookie_delete_and_repr() -> None:
    assert "Max-Age=0" in SetCookie(SESSION, "", 0).header()
    assert "secret" not in repr(SetCookie(SESSION, "secret", 1))


@pytest.mark.anyio
async def test_small_session_is_one_cookie(cookie_store: CookieSessionStore,
                                           clock: FrozenClock) -> None:
    session = make_session(clock)
    cookies = await cookie_store.save(session, {}, 600)
    assert [c.name for c in cookies] == [SESSION]
    assert cookies[0].value.startswith("v1.")
    assert cookies[0].max_age == 600
    assert b"rt-secret" not in cookies[0].value.encode()
    assert await cookie_store.load(jar(cookies)) == session


@pytest.mark.spec("RFC 6265bis §5.6")
@pytest.mark.anyio
async def test_large_session_is_chunked(cookie_store: CookieSessionStore,
                                        clock: FrozenClock) -> None:
    """RFC 6265bis §5.6: each Set-Cookie stays under the 4096-byte limit browsers guarantee."""
    session = make_session(clock, padding=6000)
    cookies = await cookie_store.save(session, {}, 600)
    count = len(cookies) - 1
    assert count == 3
    assert cookies[0].name == SESSION
    assert cookies[0].value == f"chunks:{count}"
    assert [c.name for c in cookies[1:]] == [f"{SESSION}.{i}" for i in range(1, count + 1)]
    for c in cookies:
        assert len(c.header().encode()) < 4096
        assert len(c.value) <= CHUNK_SIZE
    assert await cookie_store.load(jar(cookies)) == session


@pytest.mark.anyio
async def test_stale_chunks_deleted_when_session_shrinks(cookie_store: CookieSessionStore,
                                                         clock: FrozenClock) -> None:
    big = jar(await cookie_store.save(make_session(clock, padding=6000), {}, 600))
    assert set(big) == {SESSION, f"{SESSION}.1", f"{SESSION}.2", f"{SESSION}.3"}
    medium = await cookie_store.save(make_session(clock, padding=3000), big, 600)
    assert {c.name for c in medium if c.max_age == 0} == {f"{SESSION}.3"}
    held = jar(medium, big)
    assert set(held) == {SESSION, f"{SESSION}.1", f"{SESSION}.2"}
    small = make_session(clock)
    cookies = await cookie_store.save(small, held, 600)
    assert {c.name for c in cookies if c.max_age == 0} == {f"{SESSION}.1", f"{SESSION}.2"}
    held = jar(cookies, held)
    assert set(held) == {SESSION}
    assert await cookie_store.load(held) == small


@pytest.mark.anyio
async def test_missing_chunk_is_invalid_seal(cookie_store: CookieSessionStore,
                                             clock: FrozenClock) -> None:
    held = jar(await cookie_store.save(make_session(clock, padding=6000), {}, 600))
    del held[f"{SESSION}.2"]
    with pytest.raises(InvalidSeal):
        await cookie_store.load(held)


@pytest.mark.anyio
async def test_reordered_chunks_are_invalid_seal(cookie_store: CookieSessionStore,
                                                 clock: FrozenClock) -> None:
    held = jar(await cookie_store.save(make_session(clock, padding=6000), {}, 600))
    held[f"{SESSION}.1"], held[f"{SESSION}.2"] = held[f"{SESSION}.2"], held[f"{SESSION}.1"]
    with pytest.raises(InvalidSeal):
        await cookie_store.load(held)


@pytest.mark.parametrize("head", ["chunks:x", "chunks:0", f"chunks:{MAX_CHUNKS + 1}",
                                  "chunks:-1", "garbage", ""])
@pytest.mark.anyio
async def test_bad_session_cookie_is_invalid_seal(cookie_store: CookieSessionStore,
                                                  head: str) -> None:
    with pytest.raises(InvalidSeal):
        await cookie_store.load({SESSION: head, f"{SESSION}.1": "x"})


@pytest.mark.anyio
async def test_no_cookie_is_no_session(cookie_store: CookieSessionStore) -> None:
    assert await cookie_store.load({"other": "x"}) is None


@pytest.mark.anyio
async def test_session_from_another_name_is_invalid_seal(sealer: Sealer,
                                                         clock: FrozenClock) -> None:
    value = sealer.seal(make_session(clock).to_bytes(), "__Host-bff-login.x")
    with pytest.raises(InvalidSeal):
        await CookieSessionStore(sealer, NAMES).load({SESSION: value})


@pytest.mark.parametrize("payload", [b"{}", b"not json", b'{"sub": 1}'])
@pytest.mark.anyio
async def test_unreadable_payload_is_invalid_seal(sealer: Sealer, payload: bytes) -> None:
    with pytest.raises(InvalidSeal):
        await CookieSessionStore(sealer, NAMES).load({SESSION: sealer.seal(payload, SESSION)})


def test_too_many_chunks_refused() -> None:
    with pytest.raises(ValueError, match="too large"):
        split_value(NAMES, "x" * (CHUNK_SIZE * MAX_CHUNKS + 1), 600, {})


def test_join_value() -> None:
    assert join_value(NAMES, {}) is None
    assert join_value(NAMES, {SESSION: "v"}) == "v"
    assert join_value(NAMES, {SESSION: "chunks:2", f"{SESSION}.1": "a",
                              f"{SESSION}.2": "b"}) == "ab"


@pytest.mark.anyio
async def test_delete_clears_session_and_chunks(cookie_store: CookieSessionStore,
                                                clock: FrozenClock) -> None:
    held = jar(await cookie_store.save(make_session(clock, padding=6000), {}, 600))
    cookies = await cookie_store.delete(None, {**held, "other": "x"})
    assert all(c.max_age == 0 for c in cookies)
    assert {c.name for c in cookies} == set(held)
    assert clear_session(NAMES, {})[0].name == SESSION


@pytest.mark.anyio
async def test_ttl_rounds_up_to_whole_seconds(cookie_store: CookieSessionStore,
                                              clock: FrozenClock) -> None:
    cookies = await cookie_store.save(make_session(clock), {}, 0.2)
    assert cookies[0].max_age == 1
