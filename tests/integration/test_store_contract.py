"""One contract for every store backend.

Memory, standalone Redis, Redis behind Sentinel, Redis over TLS and a 3-master Redis Cluster.
Every Redis store is built through ``RedisStore.from_settings`` so its URL handling is real.
"""

from __future__ import annotations

import os
import signal
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection

from bff.config.model import StoreSettings
from bff.errors import StoreUnavailable
from bff.store.base import Store
from bff.store.memory import MemoryStore
from bff.store.redis import RedisStore
from tests.support.redis_server import (
    HOST,
    RedisCluster3,
    RedisSentinel,
    RedisServer,
    RedisTLSServer,
    redis_url_or_start,
)
from tests.support.tls import write_ca

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

FAULT_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_url_or_start() as url:
        yield url


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster3]:
    with RedisCluster3() as running:
        yield running


@pytest.fixture(scope="module")
def sentinel() -> Iterator[RedisSentinel]:
    with RedisSentinel() as running:
        yield running


@pytest.fixture(scope="module")
def tls_server() -> Iterator[RedisTLSServer]:
    with RedisTLSServer() as running:
        yield running


@dataclass
class Backend:
    """A store under test plus raw clients to look behind it (none for memory)."""

    kind: str
    store: Store
    namespace: str = ""
    raw: Redis | RedisCluster | None = None
    nodes: list[Redis] = field(default_factory=list)

    def raw_key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    async def pttl(self, key: str) -> int:
        assert self.raw is not None
        return int(await self.raw.pttl(self.raw_key(key)))

    async def stored_keys(self) -> list[bytes]:
        """Every key this test's namespace holds, on every node."""
        found: list[bytes] = []
        for node in self.nodes:
            found += [k async for k in node.scan_iter(match=f"{self.namespace}:*", count=500)]
        return found


def _settings(url: str, namespace: str, *, cluster: bool = False, timeout: float = 2.0,
              tls_ca_file: str = "", tls_cert_file: str = "",
              tls_key_file: str = "") -> StoreSettings:
    return StoreSettings(backend="redis", url=url, namespace=namespace, cluster=cluster,
                         timeout=timeout, tls_ca_file=tls_ca_file, tls_cert_file=tls_cert_file,
                         tls_key_file=tls_key_file)


REDIS_KINDS = ["redis", "sentinel", "tls", "cluster"]


def _connect(kind: str, namespace: str, request: pytest.FixtureRequest) -> tuple[
        RedisStore, Redis | RedisCluster, list[Redis]]:
    """A store built from settings, a raw client on the same data, and every raw node."""
    raw: Redis | RedisCluster
    if kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        store = RedisStore.from_settings(_settings(url, namespace))
        raw = Redis.from_url(url)
        return store, raw, [raw]
    if kind == "sentinel":
        watched: RedisSentinel = request.getfixturevalue("sentinel")
        store = RedisStore.from_settings(_settings(watched.url, namespace))
        raw = Redis(host=HOST, port=watched.master_port)
        return store, raw, [raw]
    if kind == "tls":
        secured: RedisTLSServer = request.getfixturevalue("tls_server")
        store = RedisStore.from_settings(
            _settings(secured.url, namespace, tls_ca_file=secured.ca_file))
        raw = Redis.from_url(secured.url, ssl_ca_certs=secured.ca_file)
        return store, raw, [raw]
    running: RedisCluster3 = request.getfixturevalue("cluster")
    store = RedisStore.from_settings(_settings(running.url, namespace, cluster=True))
    raw = RedisCluster.from_url(running.url)
    return store, raw, [Redis(host=HOST, port=p) for p in running.ports]


async def _close_raw(raw: Redis | RedisCluster, nodes: list[Redis]) -> None:
    for node in nodes:
        if node is not raw:
            await node.aclose()
    await raw.aclose()


@pytest.fixture(params=["memory", *REDIS_KINDS])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    kind: str = request.param
    if kind == "memory":
        store = MemoryStore()
        yield Backend(kind, store)
        await store.close()
        return
    # A namespace per test keeps tests apart on the shared servers and makes SCAN exact.
    namespace = f"t{uuid.uuid4().hex[:12]}"
    redis_store, raw, nodes = _connect(kind, namespace, request)
    current = Backend(kind, redis_store, namespace, raw, nodes)
    try:
        yield current
        # Whatever a test wrote must expire on its own.
        for stored in await current.stored_keys():
            assert await raw.pttl(stored) > 0, "a key without a TTL"
    finally:
        await redis_store.close()
        await _close_raw(raw, nodes)


def key(name: str) -> str:
    return f"bff:test:{name}:{uuid.uuid4().hex}"


async def test_get_missing_is_none(backend: Backend) -> None:
    assert await backend.store.get(key("missing")) is None


async def test_set_get_roundtrip_binary(backend: Backend) -> None:
    k = key("bin")
    value = bytes(range(256)) + b"\x00\r\n"
    await backend.store.set(k, value, 30)
    assert await backend.store.get(k) == value


async def test_get_many_across_slots(backend: Backend) -> None:
    """One call for several keys, in order, None where absent (cluster: keys on many slots)."""
    names = [key(f"many-{i}") for i in range(20)]
    for i, k in enumerate(names[::2]):
        await backend.store.set(k, f"v{i}".encode(), 30)
    values = await backend.store.get_many(names)
    assert values[::2] == [f"v{i}".encode() for i in range(10)]
    assert values[1::2] == [None] * 10
    assert await backend.store.get_many([]) == []


async def test_set_overwrites(backend: Backend) -> None:
    k = key("over")
    await backend.store.set(k, b"one", 30)
    await backend.store.set(k, b"two", 30)
    assert await backend.store.get(k) == b"two"


async def test_ttl_expiry(backend: Backend) -> None:
    k = key("ttl")
    await backend.store.set(k, b"v", 0.2)
    assert await backend.store.get(k) == b"v"
    await anyio.sleep(0.35)
    assert await backend.store.get(k) is None


async def test_set_ttl_in_milliseconds(backend: Backend) -> None:
    if backend.raw is None:
        pytest.skip("no TTL to inspect")
    k = key("pttl")
    await backend.store.set(k, b"v", 12.5)
    assert 12_000 < await backend.pttl(k) <= 12_500


async def test_non_positive_ttl_rejected(backend: Backend) -> None:
    with pytest.raises(ValueError):
        await backend.store.set(key("zero"), b"v", 0)
    with pytest.raises(ValueError):
        await backend.store.set_if_absent(key("neg"), b"v", -1)


async def test_set_if_absent(backend: Backend) -> None:
    k = key("nx")
    assert await backend.store.set_if_absent(k, b"first", 30) is True
    assert await backend.store.set_if_absent(k, b"second", 30) is False
    assert await backend.store.get(k) == b"first"
    await backend.store.delete(k)
    assert await backend.store.set_if_absent(k, b"third", 30) is True
    assert await backend.store.get(k) == b"third"


async def test_set_if_absent_after_expiry(backend: Backend) -> None:
    k = key("nx-exp")
    assert await backend.store.set_if_absent(k, b"a", 0.2) is True
    await anyio.sleep(0.35)
    assert await backend.store.set_if_absent(k, b"b", 30) is True


async def test_incr_counts_from_one(backend: Backend) -> None:
    k = key("ctr")
    assert [await backend.store.incr(k, 30) for _ in range(3)] == [1, 2, 3]


async def test_incr_sets_ttl_on_creation_only(backend: Backend) -> None:
    k = key("ctr-ttl")
    await backend.store.incr(k, 10)
    await backend.store.incr(k, 100)
    if backend.raw is not None:
        assert 0 < await backend.pttl(k) <= 10_000


async def test_incr_restarts_after_expiry(backend: Backend) -> None:
    k = key("ctr-exp")
    await backend.store.incr(k, 0.2)
    await backend.store.incr(k, 0.2)
    await anyio.sleep(0.35)
    assert await backend.store.incr(k, 30) == 1


async def test_delete_absent_is_fine(backend: Backend) -> None:
    await backend.store.delete(key("never"))


async def test_delete_removes(backend: Backend) -> None:
    k = key("del")
    await backend.store.set(k, b"v", 30)
    await backend.store.delete(k)
    assert await backend.store.get(k) is None


async def test_ping(backend: Backend) -> None:
    await backend.store.ping()


async def test_every_key_written_has_a_ttl(backend: Backend) -> None:
    if backend.raw is None:
        pytest.skip("no keys to scan")
    await backend.store.set(key("a"), b"v", 30)
    await backend.store.set_if_absent(key("b"), b"v", 30)
    await backend.store.incr(key("c"), 30)
    k = key("d")
    await backend.store.incr(k, 30)
    await backend.store.incr(k, 30)
    stored = await backend.stored_keys()
    assert len(stored) == 4
    for raw_key in stored:
        assert backend.raw is not None
        assert await backend.raw.pttl(raw_key) > 0


async def test_many_keys_across_slots(backend: Backend) -> None:
    keys = [key(f"many{i}") for i in range(200)]
    for i, k in enumerate(keys):
        await backend.store.set(k, str(i).encode(), 30)
    assert [await backend.store.get(k) for k in keys] == [str(i).encode() for i in range(200)]
    if backend.kind == "cluster":
        per_node = [
            len([k async for k in node.scan_iter(match=f"{backend.namespace}:*", count=500)])
            for node in backend.nodes
        ]
        assert sum(per_node) == 200
        assert all(n > 0 for n in per_node), "keys should land on every master"


async def test_namespace_prefixes_keys(backend: Backend) -> None:
    if backend.raw is None:
        pytest.skip("memory has no namespace")
    k = key("ns")
    await backend.store.set(k, b"v", 30)
    assert await backend.raw.get(f"{backend.namespace}:{k}") == b"v"
    assert await backend.raw.exists(k) == 0


@pytest.mark.parametrize("kind", REDIS_KINDS)
async def test_tenant_namespace_and_default_namespace(
        kind: str, request: pytest.FixtureRequest) -> None:
    tenant, raw, nodes = _connect(kind, "tenant1", request)
    default, default_raw, default_nodes = _connect(kind, "bff", request)
    try:
        k = key("tenant")
        await tenant.set(k, b"t", 30)
        await default.set(k, b"d", 30)
        assert await raw.get(f"tenant1:{k}") == b"t"
        # Keys already carry "bff:", so the default namespace adds nothing.
        assert await raw.get(k) == b"d"
        assert await tenant.get(k) == b"t"
        await raw.delete(f"tenant1:{k}")
        await raw.delete(k)
    finally:
        await tenant.close()
        await default.close()
        await _close_raw(raw, nodes)
        await _close_raw(default_raw, default_nodes)


# -- faults: a dedicated server so the others are not disturbed ------------------------------


@pytest.fixture(scope="module")
def fault_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def fault_store(fault_server: RedisServer) -> AsyncIterator[RedisStore]:
    store = RedisStore.from_settings(_settings(fault_server.url, "bff", timeout=FAULT_TIMEOUT))
    yield store
    await store.close()


def _operations(store: RedisStore, k: str) -> dict[str, Callable[[], Awaitable[object]]]:
    return {
        "get": lambda: store.get(k),
        "set": lambda: store.set(k, b"v", 30),
        "set_if_absent": lambda: store.set_if_absent(k, b"v", 30),
        "delete": lambda: store.delete(k),
        "incr": lambda: store.incr(k, 30),
        "ping": store.ping,
    }


async def _assert_unavailable(store: RedisStore, k: str, limit: float) -> None:
    for op, call in _operations(store, k).items():
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            await call()
        elapsed = time.monotonic() - started
        assert elapsed < limit, f"{op} took {elapsed:.2f}s"
        assert str(caught.value).startswith(f"{op}: ")
        assert k not in str(caught.value)


async def test_stopped_server_then_restart(fault_server: RedisServer,
                                           fault_store: RedisStore) -> None:
    k = key("fault")
    await fault_store.set(k, b"before", 30)
    fault_server.stop()
    try:
        await _assert_unavailable(fault_store, k, 2 * FAULT_TIMEOUT)
    finally:
        fault_server.start()
    # The same object recovers: the restarted server is empty and writable.
    assert await fault_store.get(k) is None
    await fault_store.set(k, b"after", 30)
    assert await fault_store.get(k) == b"after"
    await fault_store.ping()


async def test_restart_between_requests_is_invisible(fault_server: RedisServer,
                                                     fault_store: RedisStore) -> None:
    k = key("restart")
    await fault_store.set(k, b"v", 30)
    fault_server.stop()
    fault_server.start()
    # The pooled connection is dead; the one quick retry reconnects.
    assert await fault_store.get(k) is None


async def test_hung_server_times_out(fault_server: RedisServer,
                                     fault_store: RedisStore) -> None:
    k = key("hung")
    await fault_store.set(k, b"v", 30)
    os.kill(fault_server.pid, signal.SIGSTOP)
    try:
        await _assert_unavailable(fault_store, k, 2 * FAULT_TIMEOUT + 0.25)
    finally:
        os.kill(fault_server.pid, signal.SIGCONT)
    assert await fault_store.get(k) == b"v"


# -- TLS and Sentinel: what only a real server shows ------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from or while handling."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


async def test_tls_with_another_ca_is_unavailable(tls_server: RedisTLSServer,
                                                  tmp_path: Path) -> None:
    other_ca = write_ca(tmp_path, "other-ca")
    store = RedisStore.from_settings(
        _settings(tls_server.url, "bff", timeout=FAULT_TIMEOUT, tls_ca_file=str(other_ca.cert)))
    try:
        await _assert_unavailable(store, key("wrong-ca"), 2 * FAULT_TIMEOUT)
        with pytest.raises(StoreUnavailable) as caught:
            await store.ping()
        # The certificate check refused the server: no raw ssl error escapes the store.
        assert any(isinstance(e, ssl.SSLCertVerificationError) for e in _chain(caught.value))
    finally:
        await store.close()


async def test_plain_redis_url_to_a_tls_port_is_unavailable(
        tls_server: RedisTLSServer) -> None:
    store = RedisStore.from_settings(_settings(
        f"redis://{HOST}:{tls_server.port}/0", "bff", timeout=FAULT_TIMEOUT))
    try:
        await _assert_unavailable(store, key("plain-to-tls"), 2 * FAULT_TIMEOUT + 0.25)
    finally:
        await store.close()


@pytest.fixture(scope="module")
def tls_client_auth_server() -> Iterator[RedisTLSServer]:
    with RedisTLSServer(auth_clients=True) as running:
        yield running


async def test_tls_client_certificate(tls_client_auth_server: RedisTLSServer) -> None:
    server = tls_client_auth_server
    store = RedisStore.from_settings(_settings(
        server.url, "bff", tls_ca_file=server.ca_file, tls_cert_file=server.client_cert_file,
        tls_key_file=server.client_key_file))
    try:
        k = key("mtls")
        await store.set(k, b"v", 30)
        assert await store.get(k) == b"v"
        assert await store.incr(key("mtls-ctr"), 30) == 1
    finally:
        await store.close()


async def test_tls_without_client_certificate_is_unavailable(
        tls_client_auth_server: RedisTLSServer) -> None:
    server = tls_client_auth_server
    store = RedisStore.from_settings(
        _settings(server.url, "bff", timeout=FAULT_TIMEOUT, tls_ca_file=server.ca_file))
    try:
        await _assert_unavailable(store, key("no-client-cert"), 2 * FAULT_TIMEOUT)
    finally:
        await store.close()


async def test_sentinel_falls_back_to_the_next_sentinel() -> None:
    with RedisSentinel() as watched:
        watched.stop_sentinel(0)
        store = RedisStore.from_settings(_settings(watched.url, "bff", timeout=FAULT_TIMEOUT))
        try:
            k = key("fallback")
            started = time.monotonic()
            await store.set(k, b"v", 30)
            # A refused Sentinel is skipped at once, not after seconds of retry backoff.
            assert time.monotonic() - started < FAULT_TIMEOUT
            assert await store.get(k) == b"v"
            raw = Redis(host=HOST, port=watched.master_port)
            try:
                assert await raw.get(k) == b"v"
            finally:
                await raw.aclose()
        finally:
            await store.close()


async def test_sentinel_unknown_service_is_unavailable(sentinel: RedisSentinel) -> None:
    url = sentinel.url.replace("/mymaster?", "/no-such-service?")
    store = RedisStore.from_settings(_settings(url, "bff", timeout=FAULT_TIMEOUT))
    try:
        await _assert_unavailable(store, key("no-service"), 2 * FAULT_TIMEOUT)
    finally:
        await store.close()


async def test_sentinel_all_down_is_unavailable() -> None:
    with RedisSentinel(sentinels=1) as watched:
        store = RedisStore.from_settings(_settings(watched.url, "bff", timeout=FAULT_TIMEOUT))
        try:
            k = key("all-down")
            await store.set(k, b"v", 30)
            watched.stop_sentinel(0)
            # Pooled connections to the master still work; new ones need a Sentinel.
            await _pool(store).disconnect()
            await _assert_unavailable(store, k, 2 * FAULT_TIMEOUT)
        finally:
            await store.close()


# -- URL forms that need no server -----------------------------------------------------------


def _pool(store: RedisStore) -> Any:
    """The standalone client's pool, to check what a URL was turned into."""
    return store._client.connection_pool  # type: ignore[union-attr]


async def test_sentinel_url() -> None:
    store = RedisStore.from_settings(
        _settings("redis+sentinel://:s3cret@127.0.0.1:26379,127.0.0.2:26380/mymaster?db=2", "bff"))
    try:
        pool = _pool(store)
        assert pool.service_name == "mymaster"
        assert pool.connection_kwargs["db"] == 2
        assert pool.connection_kwargs["password"] == "s3cret"
        hosts = [(s.connection_pool.connection_kwargs["host"],
                  s.connection_pool.connection_kwargs["port"])
                 for s in pool.sentinel_manager.sentinels]
        assert hosts == [("127.0.0.1", 26379), ("127.0.0.2", 26380)]
    finally:
        await store.close()


async def test_sentinel_service_setting() -> None:
    settings = StoreSettings(backend="redis", url="redis://127.0.0.1:26379",
                             sentinel_service="cache", timeout=1.0)
    store = RedisStore.from_settings(settings)
    try:
        pool = _pool(store)
        assert pool.service_name == "cache"
    finally:
        await store.close()


async def test_tls_and_unix_urls() -> None:
    tls = RedisStore.from_settings(StoreSettings(
        backend="redis", url="rediss://cache.example:6380/0", tls_ca_file="/tmp/ca.pem",
        tls_cert_file="/tmp/c.pem", tls_key_file="/tmp/k.pem", timeout=1.5))
    unix = RedisStore.from_settings(_settings("unix:///run/redis.sock?db=3", "bff"))
    try:
        pool = _pool(tls)
        assert pool.connection_class is SSLConnection
        assert pool.connection_kwargs["ssl_ca_certs"] == "/tmp/ca.pem"
        assert pool.connection_kwargs["ssl_certfile"] == "/tmp/c.pem"
        assert pool.connection_kwargs["ssl_keyfile"] == "/tmp/k.pem"
        assert pool.connection_kwargs["socket_timeout"] == 1.5
        upool = _pool(unix)
        assert upool.connection_class is UnixDomainSocketConnection
        assert upool.connection_kwargs["path"] == "/run/redis.sock"
        assert upool.connection_kwargs["db"] == 3
    finally:
        await tls.close()
        await unix.close()
