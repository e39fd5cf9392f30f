"""The shared store on Redis: standalone, TLS, unix socket, Sentinel or Cluster."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ConstantBackoff
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    MaxConnectionsError,
    RedisClusterException,
    RedisError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

from bff.errors import StoreUnavailable
from bff.store.base import StoreUnreachable

# Anything that means "the store did not do it": network failures, timeouts, a loading or
# failed-over server, a cluster without a quorum and server-side errors alike.
_FAILURES: tuple[type[BaseException], ...] = (RedisError, RedisClusterException, OSError)

# The subset that means nobody answered: refused, reset, timed out, no master, no cluster.
# A full pool or an error reply means the store is there, so nothing may fail open on them.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    ConnectionError, RedisTimeoutError, OSError, RedisClusterException, ClusterDownError)

# INCR and the TTL in one step: a crash between them must not leave a counter that never
# expires. PEXPIRE NX also heals a counter that somehow lost its TTL.
_INCR_WITH_TTL = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX')
return n
"""

# An idle pooled connection is checked before use, so a restarted Redis is picked up
# without the first request after the restart failing.
_HEALTH_CHECK_INTERVAL = 10

_SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


def _ttl_ms(ttl: float) -> int:
    """A positive TTL in whole milliseconds, never rounded down to zero."""
    if not ttl > 0:
        raise ValueError("every key needs a positive TTL")
    return max(1, math.ceil(ttl * 1000))


def _failure(op: str, exc: BaseException) -> StoreUnavailable:
    """StoreUnreachable or StoreUnavailable for a client failure, naming only the operation."""
    # Only the class name: redis messages can echo keys, which carry session ids.
    detail = f"{op}: {type(exc).__name__}"
    if isinstance(exc, _UNREACHABLE) and not isinstance(exc, MaxConnectionsError):
        return StoreUnreachable(detail)
    return StoreUnavailable(detail)


class RedisStore:
    """The ``Store`` protocol on a ``redis.asyncio`` client (standalone or cluster)."""

    def __init__(
        self,
        client: Redis | RedisCluster,
        namespace: str = "bff",
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
        max_connections: int = 100,
        wait: float = 2.0,
    ) -> None:
        self._client = client
        # At most as many commands in flight as the pool holds connections: a burst waits for
        # a free one (up to ``wait``) instead of the pool refusing at once.
        self._slots = asyncio.Semaphore(max_connections)
        self._wait = wait
        # Keys already start with "bff:", so the default namespace adds nothing.
        self._prefix = "" if namespace in ("", "bff") else f"{namespace}:"
        self._on_close = on_close

    @classmethod
    def from_settings(cls, settings: Any) -> RedisStore:
        """Build a store from ``StoreSettings``: url, namespace, sentinel, cluster, TLS, timeout."""
        url: str = settings.url or "redis://127.0.0.1:6379/0"
        timeout = float(settings.timeout)
        scheme = urlsplit(url).scheme.lower()
        limits: dict[str, Any] = {"max_connections": int(settings.max_connections),
                                  "wait": timeout}
        options: dict[str, Any] = {
            "max_connections": limits["max_connections"],
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "health_check_interval": _HEALTH_CHECK_INTERVAL,
            # One quick retry covers a pooled connection closed by a restarted server;
            # timeouts are not retried, so a hung server fails within one timeout.
            "retry": Retry(ConstantBackoff(0.05), retries=1, supported_errors=(ConnectionError,)),
        }
        if scheme.startswith("rediss"):
            options.update(_tls_options(settings))
        if scheme in _SENTINEL_SCHEMES or settings.sentinel_service:
            return cls._sentinel(url, settings, options, limits)
        if settings.cluster:
            return cls(RedisCluster.from_url(url, **options), settings.namespace, **limits)
        return cls(Redis.from_url(url, **options), settings.namespace, **limits)

    @classmethod
    def _sentinel(cls, url: str, settings: Any, options: dict[str, Any],
                  limits: dict[str, Any]) -> RedisStore:
        """A client for the current master, found through the Sentinels in the URL."""
        parts = urlsplit(url)
        userinfo, _, hostlist = parts.netloc.rpartition("@")
        username, _, password = userinfo.partition(":")
        sentinels = [_host_port(item, 26379) for item in hostlist.split(",") if item]
        service = settings.sentinel_service or unquote(parts.path.strip("/"))
        if not sentinels or not service:
            raise ValueError("a Sentinel URL needs sentinel hosts and a service name")
        db = int(parse_qs(parts.query).get("db", ["0"])[0])
        # The bounded retry too: redis-py's default backs off for seconds on a refused
        # Sentinel before it tries the next one.
        sentinel_options = {k: v for k, v in options.items()
                            if k.startswith(("socket_", "ssl")) or k == "retry"}
        if parts.scheme.lower().startswith("rediss"):
            options["ssl"] = sentinel_options["ssl"] = True
        manager = Sentinel(sentinels, sentinel_kwargs=sentinel_options)  # type: ignore[no-untyped-call]
        master = manager.master_for(
            service,
            db=db,
            username=unquote(username) or None,
            password=unquote(password) or None,
            **options,
        )
        return cls(master, settings.namespace, on_close=manager.aclose, **limits)

    def _key(self, key: str) -> str:
        return self._prefix + key

    @asynccontextmanager
    async def _call(self, op: str) -> AsyncIterator[None]:
        """One command: a free connection slot (bounded wait), failures as store errors."""
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise StoreUnavailable(f"{op}: no free connection within the timeout") from None
        try:
            yield
        except _FAILURES as exc:
            raise _failure(op, exc) from exc
        finally:
            self._slots.release()

    async def get(self, key: str) -> bytes | None:
        async with self._call("get"):
            value = await self._client.get(self._key(key))
        if isinstance(value, str):
            # Only a client built with decode_responses=True answers str; values are bytes.
            return value.encode()
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        names = [self._key(k) for k in keys]
        async with self._call("get_many"):
            if isinstance(self._client, RedisCluster):
                # keys of several slots: one MGET per node, still no per-key round trip
                values = await self._client.mget_nonatomic(names)
            else:
                values = await self._client.mget(names)
        return [v.encode() if isinstance(v, str) else v for v in values]

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        ms = _ttl_ms(ttl)
        async with self._call("set"):
            await self._client.set(self._key(key), value, px=ms)

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        ms = _ttl_ms(ttl)
        async with self._call("set_if_absent"):
            stored = await self._client.set(self._key(key), value, px=ms, nx=True)
        return bool(stored)

    async def delete(self, key: str) -> None:
        async with self._call("delete"):
            await self._client.delete(self._key(key))

    async def incr(self, key: str, ttl: float) -> int:
        ms = _ttl_ms(ttl)
        async with self._call("incr"):
            result = await self._client.eval(_INCR_WITH_TTL, 1, self._key(key), ms)
        return int(result)

    async def ping(self) -> None:
        async with self._call("ping"):
            await self._client.ping()

    async def close(self) -> None:
        try:
            await self._client.aclose()
            if self._on_close is not None:
                await self._on_close()
        except _FAILURES as exc:
            raise _failure("close", exc) from exc


def _tls_options(settings: Any) -> dict[str, Any]:
    """Certificate options for ``rediss://``; the system CAs when no CA file is set."""
    options: dict[str, Any] = {"ssl_cert_reqs": "required"}
    if settings.tls_ca_file:
        options["ssl_ca_certs"] = settings.tls_ca_file
    if settings.tls_cert_file:
        options["ssl_certfile"] = settings.tls_cert_file
        options["ssl_keyfile"] = settings.tls_key_file or None
    return options


def _host_port(item: str, default_port: int) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` from a Sentinel URL."""
    host, sep, port = item.rpartition(":")
    if not sep or host.endswith(":") or (host.startswith("[") != host.endswith("]")):
        return item.strip("[]"), default_port
    return host.strip("[]"), int(port)
