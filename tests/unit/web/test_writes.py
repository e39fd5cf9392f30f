"""Answers leave in one write per connection per loop iteration (bff/web/writes.py)."""

from __future__ import annotations

import asyncio

from bff.web.writes import HOLD_LIMIT, CoalescedWrites


class Transport:
    """Records what reaches the socket."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_a_head_and_its_body_leave_in_one_write_at_the_next_iteration() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        real = Transport()
        writes = CoalescedWrites(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        writes.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        writes.write(b"")
        writes.write(b"ok")
        before = list(real.writes)
        await asyncio.sleep(0)
        return before, real.writes

    before, after = asyncio.run(scenario())
    assert before == []
    assert after == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]


def test_writes_of_later_iterations_follow_in_order() -> None:
    async def scenario() -> list[bytes]:
        real = Transport()
        writes = CoalescedWrites(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        for chunk in (b"a", b"b", b"c"):
            writes.write(chunk)
            await asyncio.sleep(0)
        writes.write(b"d")
        writes.write(b"e")
        await asyncio.sleep(0)
        return real.writes

    assert asyncio.run(scenario()) == [b"a", b"b", b"c", b"de"]


def test_close_sends_what_is_kept_first_and_a_lost_connection_drops_it() -> None:
    async def scenario() -> tuple[list[bytes], bool, list[bytes]]:
        loop = asyncio.get_running_loop()
        real = Transport()
        writes = CoalescedWrites(real, loop)  # type: ignore[arg-type]
        writes.write(b"last answer")
        writes.close()
        gone = Transport()
        lost = CoalescedWrites(gone, loop)  # type: ignore[arg-type]
        lost.write(b"never")
        lost.discard()
        await asyncio.sleep(0)
        return real.writes, real.closed, gone.writes

    written, closed, dropped = asyncio.run(scenario())
    assert written == [b"last answer"] and closed and dropped == []


def test_nothing_is_written_to_a_closing_transport() -> None:
    async def scenario() -> list[bytes]:
        real = Transport()
        writes = CoalescedWrites(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        writes.write(b"late")
        real.close()
        await asyncio.sleep(0)
        return real.writes

    assert asyncio.run(scenario()) == []


def test_a_stream_faster_than_the_loop_is_not_held_beyond_the_limit() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        real = Transport()
        writes = CoalescedWrites(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        chunk = b"x" * (HOLD_LIMIT // 4)
        for _ in range(10):  # ten chunks in one loop step, as a buffered relay sends them
            writes.write(chunk)
        during = [len(w) for w in real.writes]
        await asyncio.sleep(0)
        return during, [len(w) for w in real.writes]

    during, after = asyncio.run(scenario())
    # two full holds left at once; the last two chunks wait for the next iteration
    assert during == [HOLD_LIMIT, HOLD_LIMIT]
    assert after == [HOLD_LIMIT, HOLD_LIMIT, HOLD_LIMIT // 2]
