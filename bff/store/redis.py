"""The shared store on Redis: standalone, TLS, unix socket, Sentinel or Cluster."""

from __future__ import annotations

import asyncio
import contextlib
import json
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
from bff.store import keys as store_keys
from bff.store.base import MarkerEvent, StoreUnreachable

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

# The write and its announcement in one step: no instance can miss a marker that was stored,
# and none hears of one that was not. PUBLISH inside a script also reaches a whole cluster.
_SET_AND_ANNOUNCE = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""

# Without an answer to this many heartbeats (plus the command timeout) the subscription is
# taken as dead and opened again, even when the socket itself reports nothing.
_HEARTBEATS_BEFORE_GIVING_UP = 3

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
        self._max_connections = max_connections
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

    async def set_and_announce(self, key: str, value: bytes, ttl: float) -> None:
        ms = _ttl_ms(ttl)
        message = json.dumps([key, value.decode("latin-1"), ms], separators=(",", ":"))
        async with self._call("set_and_announce"):
            await self._client.eval(_SET_AND_ANNOUNCE, 1, self._key(key), value, ms,
                                    self._key(store_keys.markers_channel()), message)

    async def follow(self, prefixes: Sequence[str], on_marker: MarkerEvent,
                     on_ready: Callable[[], None], on_heard: Callable[[float], None], *,
                     heartbeat: float, clock: Callable[[], float]) -> None:
        """See ``MarkerSource.follow``; needs one connection of its own, kept open."""
        if isinstance(self._client, RedisCluster):
            # redis-py's cluster client has no pub/sub: such instances keep the per-call check
            raise StoreUnavailable("follow: no pub/sub on a Redis Cluster client")
        if self._max_connections < 2:
            raise StoreUnavailable("follow: needs store.max_connections of 2 or more")
        # the subscription holds a pooled connection for as long as it lives: one command
        # slot fewer, or a full burst of commands would ask the pool for one too many
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise StoreUnavailable("follow: no free connection within the timeout") from None
        watch = _ReconnectWatch()
        pubsub = self._client.pubsub()
        try:
            try:
                await pubsub.subscribe(self._key(store_keys.markers_channel()))
                if pubsub.connection is None:  # pragma: no cover (subscribe connects)
                    raise StoreUnreachable("follow: no subscription connection")
                # redis-py would quietly reconnect and subscribe again, losing what was
                # announced in between: a reconnect ends this follow, the caller reloads
                pubsub.connection.register_connect_callback(watch.connected)
                confirmed = await pubsub.get_message(timeout=self._wait)
                if confirmed is None or confirmed.get("type") != "subscribe":
                    raise StoreUnreachable("follow: subscription not confirmed")
                await self._load(prefixes, on_marker)
                on_ready()
                last_heard = clock()
                next_ping = 0.0
                while True:
                    now = clock()
                    if now >= next_ping:
                        await pubsub.ping(repr(now))
                        next_ping = now + heartbeat
                    if now - last_heard > _HEARTBEATS_BEFORE_GIVING_UP * heartbeat + self._wait:
                        raise StoreUnreachable("follow: no answer on the subscription")
                    message = await pubsub.get_message(timeout=max(0.0, next_ping - clock()))
                    if watch.reconnects:
                        raise StoreUnreachable("follow: subscription reconnected")
                    if message is None:
                        continue
                    if message["type"] == "pong":
                        with contextlib.suppress(ValueError, TypeError):
                            sent_at = float(message["data"])
                            last_heard = clock()
                            on_heard(sent_at)
                    elif message["type"] == "message":
                        _apply(message["data"], on_marker)
            except _FAILURES as exc:
                raise _failure("follow", exc) from exc
        finally:
            with contextlib.suppress(Exception):
                # bounded: closing a subscription cancelled mid-read can wait on its lock
                async with asyncio.timeout(self._wait):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            self._slots.release()

    async def _load(self, prefixes: Sequence[str], on_marker: MarkerEvent) -> None:
        """Every stored key under ``prefixes`` with its value and remaining TTL."""
        for prefix in prefixes:
            names: list[str] = []
            async for name in self._client.scan_iter(
                    match=_glob_escape(self._key(prefix)) + "*", count=1000):
                names.append(name.decode() if isinstance(name, bytes) else name)
                if len(names) >= 500:
                    await self._load_batch(names, on_marker)
                    names = []
            if names:
                await self._load_batch(names, on_marker)

    async def _load_batch(self, names: list[str], on_marker: MarkerEvent) -> None:
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.get(name)
            pipe.pttl(name)
        answers = await pipe.execute()
        for i, name in enumerate(names):
            value, pttl = answers[2 * i], answers[2 * i + 1]
            if value is None or pttl == -2:
                continue  # expired between the scan and the read
            if isinstance(value, str):
                value = value.encode()
            # -1 (no TTL) cannot come from the BFF's writes; keep it as long as the longest
            ttl = pttl / 1000 if pttl > 0 else 86_400.0
            on_marker(name[len(self._prefix):], value, ttl)

    async def close(self) -> None:
        try:
            await self._client.aclose()
            if self._on_close is not None:
                await self._on_close()
        except _FAILURES as exc:
            raise _failure("close", exc) from exc


class _ReconnectWatch:
    """Counts reconnects of the subscription's connection (redis-py calls a bound method)."""

    def __init__(self) -> None:
        self.reconnects = 0

    def connected(self, connection: Any) -> None:
        self.reconnects += 1


def _apply(data: Any, on_marker: MarkerEvent) -> None:
    """One announced write; anything else on the channel is ignored."""
    try:
        key, value, ms = json.loads(data)
        if isinstance(key, str) and isinstance(value, str) and isinstance(ms, int) and ms > 0:
            on_marker(key, value.encode("latin-1"), ms / 1000)
    except (ValueError, TypeError, UnicodeEncodeError):
        return


def _glob_escape(text: str) -> str:
    """``text`` matched literally by SCAN's glob pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


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
