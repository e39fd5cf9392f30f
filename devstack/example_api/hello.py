"""A bare ASGI hello-world app: the benchmark's baseline upstream."""

from __future__ import annotations

from typing import Final

from example_api.dpop_guard import Receive, Scope, Send

_BODY: Final = b'{"hello":"world"}'
_HEADERS: Final = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
]


async def hello_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer every HTTP request with the same small JSON body."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})
