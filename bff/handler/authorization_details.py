"""Check a login's ``authorization_details`` (RFC 9396) before anything goes to the AS."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from bff.errors import AuthorizationDetailsNotAllowed

MAX_ENTRIES: Final = 5
_MAX_DEPTH: Final = 4


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def check_authorization_details(value: Any, types: Mapping[str, list[str]],
                                max_bytes: int) -> str:
    """The compact JSON text to send at PAR, or ``AuthorizationDetailsNotAllowed``.

    ``value`` is the decoded array or its JSON text. RFC 9396 §2: an array of objects, each
    with a string ``type``; here each type must be configured, and each object may carry only
    the members configured for its type, nested at most a few levels, the whole at most
    ``max_bytes`` bytes as sent.
    """
    if isinstance(value, str):
        if len(value.encode()) > max_bytes:
            raise AuthorizationDetailsNotAllowed("authorization_details over the size limit")
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise AuthorizationDetailsNotAllowed("authorization_details is not JSON") from exc
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ENTRIES:
        raise AuthorizationDetailsNotAllowed("authorization_details must be a short array")
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise AuthorizationDetailsNotAllowed("each entry must be an object with a type")
        members = types.get(entry["type"])
        if members is None:
            raise AuthorizationDetailsNotAllowed("authorization_details type not allowed")
        extra = set(entry) - {"type", *members}
        if extra:
            raise AuthorizationDetailsNotAllowed("authorization_details member not allowed")
        if _depth(entry) > _MAX_DEPTH:
            raise AuthorizationDetailsNotAllowed("authorization_details nested too deeply")
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > max_bytes:
        raise AuthorizationDetailsNotAllowed("authorization_details over the size limit")
    return text
