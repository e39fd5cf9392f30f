"""The store under load and during an outage, against a real Redis (issue items 20 and 21).

A burst larger than the connection pool waits for free connections instead of failing; during
an outage the circuit breaker refuses calls at once, logs once per state change plus a
rate-limited count, and lets the store be used again once Redis is back.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from bff.config.model import StoreSettings
from bff.errors import StoreUnavailable
from bff.store.base import StoreUnreachable
from bff.store.factory import build_store
from bff.store.redis import RedisStore
from bff.telemetry.metrics import METRICS
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.nginx import Nginx
from tests.support.redis_server import RedisServer, command
from tests.support.stack import SPA, LogCapture, Stack, bff_config, running_bff

pytestmark = pytest.mark.integration

BURST = 300
POOL = 50
PAUSE_MS = 600


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def events(name: str) -> float:
    """The process-wide count of one ``bff_events_total`` event."""
    return METRICS.events.values.get((("event", name),), 0.0)


def lines(logs: LogCapture, event: str) -> list[dict[str, Any]]:
    """The captured log lines of one event."""
    parsed = [json.loads(line) for line in logs.lines]
    return [entry for entry in parsed if entry.get("event") == event]


def pause(redis: RedisServer, ms: int) -> None:
    """Redis holds every client's commands for ``ms``: a burst arriving now piles up."""
    assert command(redis.port, "CLIENT", "PAUSE", str(ms), "ALL") == b"OK"


# -- item 20: the pool ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_burst_larger_than_the_pool_waits_for_free_connections(
        redis: RedisServer) -> None:
    """300 simultaneous calls on a pool of 50 all succeed; Redis never sees more than 50."""
    store = RedisStore.from_settings(StoreSettings(backend="redis", url=redis.url, timeout=3.0,
                                                   max_connections=POOL))
    try:
        await store.set("bff:burst", b"v", 30)
        pause(redis, PAUSE_MS)
        started = time.monotonic()
        results = await asyncio.gather(*[store.get("bff:burst") for _ in range(BURST)],
                                       return_exceptions=True)
        assert [r for r in results if r != b"v"] == []
        assert time.monotonic() - started < 3.0
        clients = command(redis.port, "INFO", "clients").decode()
        connected = int(clients.split("connected_clients:")[1].split()[0])
        assert connected <= POOL + 1  # the pool, plus the INFO connection itself
    finally:
        await store.close()


@pytest.mark.anyio
async def test_no_free_connection_within_the_timeout_is_unavailable_not_unreachable(
        redis: RedisServer) -> None:
    """A pool still full after the wait is a 503, never the fail-open 'unreachable'."""
    # sockets wait longer than callers wait for a connection, so the holders keep theirs
    store = RedisStore(Redis.from_url(redis.url, socket_timeout=3.0, max_connections=2),
                       max_connections=2, wait=0.2)
    try:
        await store.ping()
        pause(redis, 600)
        holders = [asyncio.create_task(store.get("bff:held")) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(StoreUnavailable) as caught:
            await store.get("bff:waiting")
        assert not isinstance(caught.value, StoreUnreachable)
        assert "no free connection" in str(caught.value)
        assert await asyncio.gather(*holders) == [None, None]
    finally:
        await store.close()


@pytest.mark.parametrize("mode", ["server", "cookie"])
def test_burst_through_nginx_to_two_instances_all_succeed(
        mode: str, stack: Stack, redis: RedisServer, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser,
        captured_logs: LogCapture) -> None:
    """300 concurrent session calls through nginx to two instances (pool 50 each): all 200.

    In cookie mode the back-channel logout check is never skipped while Redis is healthy.
    """
    # the wait for a connection also covers the BFF working off the backlog (slow under coverage)
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        session={"store": mode},
                        store={"backend": "redis", "url": redis.url, "timeout": 10.0,
                               "max_connections": POOL})
    with running_bff(config) as one, running_bff(config) as two:
        lb = Nginx(0, [one.server.port, two.server.port])
        try:
            jar = Jar()
            with httpx.Client(base_url=lb.url, timeout=30, headers={"Origin": SPA}) as http:
                login(http, jar, as_browser)
            skipped = events("revocation_check_skipped")

            async def burst() -> list[httpx.Response]:
                limits = httpx.Limits(max_connections=BURST + 10)
                async with httpx.AsyncClient(base_url=lb.url, timeout=30, limits=limits,
                                             headers={"Origin": SPA}) as client:
                    pause(redis, PAUSE_MS)
                    return await asyncio.gather(*[
                        client.get("/bff/session", headers={"Cookie": jar.header()})
                        for _ in range(BURST)])

            responses = asyncio.run(burst())
        finally:
            lb.stop()
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * BURST, {s: statuses.count(s) for s in set(statuses)}
    assert all(r.json()["isLoggedIn"] is True for r in responses)
    assert len({r.headers["x-upstream"] for r in responses}) == 2
    assert events("revocation_check_skipped") == skipped
    assert lines(captured_logs, "revocation_check_skipped") == []
    assert lines(captured_logs, "store_unreachable") == []


# -- item 21: the outage -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_outage_calls_fail_fast_and_log_once_per_state_change(
        redis: RedisServer, captured_logs: LogCapture) -> None:
    """Redis stopped: one slow-ish failure opens the breaker, the next 100 calls take no time;
    Redis back: after the cooldown one call probes, the store is used again, one line says so."""
    store = build_store(StoreSettings(backend="redis", url=redis.url, timeout=0.5,
                                      breaker_cooldown=0.3))
    try:
        await store.set("bff:outage", b"v", 30)
        redis.stop()
        with pytest.raises(StoreUnreachable):
            await store.get("bff:outage")
        started = time.monotonic()
        for _ in range(100):
            with pytest.raises(StoreUnreachable):
                await store.get("bff:outage")
        # without the breaker each call pays a refused connect plus the retry backoff (~50 ms)
        assert time.monotonic() - started < 0.25
        assert len(lines(captured_logs, "store_unreachable")) == 1
        # the count is rate-limited: none within the first report period
        assert lines(captured_logs, "store_still_unreachable") == []

        redis.start()
        await asyncio.sleep(0.35)
        assert await store.get("bff:outage") is None  # the probe reached the restarted Redis
        await store.set("bff:outage", b"w", 30)
        assert await store.get("bff:outage") == b"w"
        back = lines(captured_logs, "store_reachable")
        assert len(back) == 1
        assert back[0]["refused"] == 100
        assert len(lines(captured_logs, "store_unreachable")) == 1
    finally:
        await store.close()


@pytest.mark.anyio
async def test_hung_redis_costs_one_timeout_not_one_per_call(redis: RedisServer) -> None:
    """A hung (SIGSTOPped) Redis: after the first timeout, calls are refused at once."""
    import os
    import signal

    store = build_store(StoreSettings(backend="redis", url=redis.url, timeout=0.3,
                                      breaker_cooldown=5.0))
    try:
        await store.ping()
        os.kill(redis.pid, signal.SIGSTOP)
        try:
            with pytest.raises(StoreUnreachable):
                await store.get("bff:hung")
            started = time.monotonic()
            for _ in range(20):
                with pytest.raises(StoreUnreachable):
                    await store.get("bff:hung")
            assert time.monotonic() - started < 0.1  # not 20 socket timeouts (6 s)
        finally:
            os.kill(redis.pid, signal.SIGCONT)
    finally:
        await store.close()


def test_cookie_mode_outage_logs_a_count_not_a_line_per_call(
        stack: Stack, redis: RedisServer, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser,
        captured_logs: LogCapture) -> None:
    """Cookie sessions through an outage: 100 calls work, each skip is counted, the log gets
    one outage line and one rate-limited skip line; once Redis is back the check runs again."""
    # without the marker mirror: for up to its staleness bound after Redis goes, the mirror
    # still answers (tests/integration/test_marker_mirror.py); this test is about the skips
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        session={"store": "cookie"},
                        store={"backend": "redis", "url": redis.url, "timeout": 0.5,
                               "breaker_cooldown": 0.3, "mirror_staleness": 0})
    with running_bff(config) as bff, bff.client() as http:
        jar = Jar()
        login(http, jar, as_browser)
        redis.stop()
        skipped = events("revocation_check_skipped")
        started = time.monotonic()
        for _ in range(100):
            assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is True
        elapsed = time.monotonic() - started
        assert events("revocation_check_skipped") - skipped == 100
        assert len(lines(captured_logs, "store_unreachable")) == 1
        skip_lines = lines(captured_logs, "revocation_check_skipped")
        assert len(skip_lines) <= 2, len(skip_lines)
        assert elapsed < 100 * 0.05, f"{elapsed:.2f}s: calls still pay the store's failure"

        redis.start()
        assert http.get("/readyz").json()["checks"]["store"] == "ok"  # the probe closes it
        skipped = events("revocation_check_skipped")
        for _ in range(5):
            assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is True
        assert events("revocation_check_skipped") == skipped, "the check runs again"
        assert len(lines(captured_logs, "store_reachable")) == 1
