"""One write per connection per event-loop iteration for the answers uvicorn sends.

uvicorn writes an answer's head when the app starts it and the body when the app sends it:
two ``write`` calls, each a system call and a TCP segment, for every small answer. This
transport keeps what a connection writes during one loop step and hands it to the real
transport as one write at the next iteration (microseconds later), so a head and its body
leave together, and the connections' writes of one iteration go out side by side.

Order is kept: one buffer per connection, for every request on it (pipelined ones included);
whatever writes to the real transport directly flushes this first. What is kept is bounded:
a streamed answer whose chunks arrive faster than the loop turns (a download relayed from a
buffered upstream) would otherwise pile up here, out of reach of the transport's flow
control; at ``HOLD_LIMIT`` bytes the kept writes leave at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

#: small answers gain from joining; a larger write gains nothing from waiting
HOLD_LIMIT = 64 * 1024


class CoalescedWrites:
    """A transport's ``write``/``close`` with the writes of one loop step joined."""

    __slots__ = ("_held", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._held = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)
        self._held += len(data)
        if self._held >= HOLD_LIMIT:
            self.flush()  # the scheduled flush finds nothing left and does nothing

    def flush(self) -> None:
        """Hand what is kept to the real transport (a no-op when nothing is)."""
        if not self._pending:
            return
        pending, self._pending, self._held = self._pending, [], 0
        if not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def discard(self) -> None:
        """The connection is gone: nothing is left to write."""
        self._pending, self._held = [], 0

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)
