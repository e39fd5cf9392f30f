"""Request ids: one per request, in a context variable, on the response and on every log line.

An incoming ``X-Request-Id`` is kept only when the operator trusts the hop in front (a load
balancer that sets it) and only when it is well formed: a short token of unreserved characters,
so a caller cannot put log-forging text, a secret-looking value or megabytes into every line.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

HEADER = "x-request-id"
HEADER_BYTES = HEADER.encode()
# 8-64 characters: UUIDs, W3C trace ids, ULIDs and the like; nothing that needs escaping
WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{8,64}")

request_id: ContextVar[str | None] = ContextVar("bff_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    return request_id.get()


def new_request_id() -> str:
    """A fresh random id (128 bits, hex)."""
    return secrets.token_hex(16)


def choose_request_id(incoming: bytes | None, trust_incoming: bool) -> str:
    """The incoming id when trusted and well formed, else a fresh one."""
    if trust_incoming and incoming is not None:
        try:
            text = incoming.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if WELL_FORMED.fullmatch(text):
            return text
    return new_request_id()
