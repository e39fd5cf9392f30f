"""One contract for every store backend: memory, standalone Redis and a 3-master Redis Cluster."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
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
from tests.support.redis_server import RedisCluster3, RedisServer, redis_url_or_start

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


def _settings(url: str, namespace: str, *, cluster: bool = False,
              timeout: float = 2.0) -> StoreSettings:
    return StoreSettings(backend="redis", url=url, namespace=namespace, cluster=cluster,
                         timeout=timeout)


@pytest.fixture(params=["memory", "redis", "cluster"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    kind: str = request.param
    if kind == "memory":
        store = MemoryStore()
        yield Backend(kind, store)
        await store.close()
        return
    # A namespace per test keeps tests apart on the shared servers and makes SCAN exact.
    namespace = f"t{uuid.uuid4().hex[:12]}"
    raw: Redis | RedisCluster
    if kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        redis_store = RedisStore.from_settings(_settings(url, namespace))
        raw = Redis.from_url(url)
        nodes = [raw]
    else:
        running: RedisCluster3 = request.getfixturevalue("cluster")
        redis_store = RedisStore.from_settings(_settings(running.url, namespace, cluster=True))
        raw = RedisCluster.from_url(running.url)
        nodes = [Redis(host="127.0.0.1", port=p) for p in running.ports]
    current = Backend(kind, redis_store, namespace, raw, nodes)
    try:
        yield current
        # Whatever a test wrote must expire on its own.
        for stored in await current.stored_keys():
            assert await raw.pttl(stored) > 0, "a key without a TTL"
    finally:
        await redis_store.close()
        for node in nodes:
            if node is not raw:
                await node.aclose()
        await raw.aclose()


def key(name: str) -> str:
    return f"bff:test:{name}:{uuid.uuid4().hex}"


async def test_get_missing_is_none(backend: Backend) -> None:
    assert await backend.store.get(key("missing")) is None


async def test_set_get_roundtrip_binary(backend: Backend) -> None:
    k = key("bin")
    value = bytes(range(256)) + b"\x00\r\n"
    await backend.store.set(k, value, 30)
    assert await backend.store.get(k) == value


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


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_tenant_namespace_and_default_namespace(
        kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        raw: Redis | RedisCluster = Redis.from_url(url)
    else:
        url = request.getfixturevalue("cluster").url
        raw = RedisCluster.from_url(url)
    tenant = RedisStore.from_settings(_settings(url, "tenant1", cluster=kind == "cluster"))
    default = RedisStore.from_settings(_settings(url, "bff", cluster=kind == "cluster"))
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
        await raw.aclose()


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
