"""Server-side sessions: the cookie carries only an opaque id; the store holds a sealed value."""

from __future__ import annotations

import hashlib

import pytest

from bff.crypto.seal import Sealer, b64url_encode
from bff.errors import InvalidSeal
from bff.oauth.clock import FrozenClock
from bff.sessions.cookies import CookieNames
from bff.sessions.stores import ServerSessionStore
from bff.store import keys
from tests.unit.sessions.conftest import RecordingStore, make_session

NAMES = CookieNames()
SESSION = NAMES.session


@pytest.fixture
def server_store(sealer: Sealer, store: RecordingStore) -> ServerSessionStore:
    return ServerSessionStore(sealer, NAMES, store)


@pytest.mark.anyio
async def test_cookie_holds_only_the_id(server_store: ServerSessionStore,
                                        clock: FrozenClock) -> None:
    session = make_session(clock, padding=6000)
    cookies = await server_store.save(session, {}, 600)
    assert [(c.name, c.value, c.max_age) for c in cookies] == [
        (SESSION, session.session_id, 600)]
    assert len(session.session_id) == 43
    assert await server_store.load({SESSION: session.session_id}) == session


@pytest.mark.spec("DESIGN §4")
@pytest.mark.anyio
async def test_store_key_is_a_hash_not_the_id(server_store: ServerSessionStore,
                                              store: RecordingStore, clock: FrozenClock) -> None:
    """DESIGN §4: a dump of the store yields no usable session cookie."""
    session = make_session(clock)
    await server_store.save(session, {}, 600)
    (key,) = store.writes
    digest = b64url_encode(hashlib.sha256(session.session_id.encode()).digest())
    assert key == keys.session(digest)
    assert session.session_id not in key


@pytest.mark.spec("DESIGN §4")
@pytest.mark.anyio
async def test_stored_value_is_sealed(server_store: ServerSessionStore, store: RecordingStore,
                                      clock: FrozenClock) -> None:
    """DESIGN §4: the stored value is sealed, never plaintext JSON with tokens."""
    session = make_session(clock)
    await server_store.save(session, {}, 600)
    (value,) = store.writes.values()
    assert value.startswith(b"v1.k1.")
    for secret in (b"rt-secret", b"at-secret", b"alice", session.csrf_token.encode(), b"{"):
        assert secret not in value


@pytest.mark.anyio
async def test_value_moved_to_another_key_is_invalid(server_store: ServerSessionStore,
                                                     store: RecordingStore,
                                                     clock: FrozenClock) -> None:
    a, b = make_session(clock), make_session(clock)
    await server_store.save(a, {}, 600)
    await server_store.save(b, {}, 600)
    key_a, key_b = store.writes
    await store.set(key_b, store.writes[key_a], 600)
    with pytest.raises(InvalidSeal):
        await server_store.load({SESSION: b.session_id})


@pytest.mark.parametrize("value", ["short", "x" * 44, "a" * 42 + "!", "../" * 15])
@pytest.mark.anyio
async def test_malformed_id_is_invalid_seal(server_store: ServerSessionStore,
                                            value: str) -> None:
    with pytest.raises(InvalidSeal):
        await server_store.load({SESSION: value})


@pytest.mark.anyio
async def test_unknown_id_or_no_cookie_is_no_session(server_store: ServerSessionStore) -> None:
    assert await server_store.load({SESSION: "a" * 43}) is None
    assert await server_store.load({}) is None


@pytest.mark.anyio
async def test_expires_with_the_ttl(server_store: ServerSessionStore,
                                    clock: FrozenClock) -> None:
    session = make_session(clock)
    await server_store.save(session, {}, 600)
    clock.advance(601)
    assert await server_store.load({SESSION: session.session_id}) is None


@pytest.mark.anyio
async def test_save_clears_leftover_cookie_chunks(server_store: ServerSessionStore,
                                                  clock: FrozenClock) -> None:
    cookies = await server_store.save(make_session(clock), {
        SESSION: "chunks:2", f"{SESSION}.1": "a", f"{SESSION}.2": "b"}, 600)
    assert {c.name for c in cookies if c.max_age == 0} == {f"{SESSION}.1", f"{SESSION}.2"}


@pytest.mark.anyio
async def test_delete_removes_the_stored_session(server_store: ServerSessionStore,
                                                 clock: FrozenClock) -> None:
    session = make_session(clock)
    await server_store.save(session, {}, 600)
    jar = {SESSION: session.session_id}
    cookies = await server_store.delete(None, jar)
    assert [(c.name, c.max_age) for c in cookies] == [(SESSION, 0)]
    assert await server_store.load(jar) is None
