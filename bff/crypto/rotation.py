"""Key sets that rotate: a new key is added ahead of the old ones, which stay until a set time.

Two private JWK members (RFC 7517 §4: members a reader does not understand are ignored) carry
the schedule: ``bff_not_before`` (unix seconds) is when a new key starts signing or sealing; it
is published (client keys) and known to every instance before then, so no AS with a cached
copy of ``jwks_uri`` and no other BFF instance meets a key it has not seen. ``bff_retire_at`` is
when an old key is dropped: until then it still opens cookies and stays published.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bff.crypto.keys import generate_seal_jwk, generate_signing_jwk, public_jwk

NOT_BEFORE = "bff_not_before"
RETIRE_AT = "bff_retire_at"


def key_list(doc: Any) -> list[Any]:
    """The keys of a JWK or of a JWK set, newest first as written."""
    if isinstance(doc, dict) and isinstance(doc.get("keys"), list):
        return list(doc["keys"])
    return [doc]


def _number(jwk: Any, member: str) -> float | None:
    value = jwk.get(member) if isinstance(jwk, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def live_keys(keys: list[Any], now: float) -> list[Any]:
    """The keys not yet retired."""
    return [k for k in keys if (_number(k, RETIRE_AT) or float("inf")) > now]


def in_use_first(keys: list[Any], now: float) -> list[Any]:
    """The live keys with the one that signs or seals now first: the newest already active."""
    live = live_keys(keys, now)
    active = [k for k in live if (_number(k, NOT_BEFORE) or 0) <= now]
    if not active:
        return live  # nothing active yet (a fresh set written ahead of time): the newest
    first = active[0]
    return [first, *[k for k in live if k is not first]]


def published(keys: list[dict[str, Any]]) -> dict[str, Any]:
    """The public JWK set of the client keys (for ``jwks_uri``)."""
    return {"keys": [public_jwk(k) for k in keys]}


def _rotated(keys: list[Any], new: dict[str, Any], now: float, activate_after: float,
             retain: float) -> dict[str, Any]:
    if activate_after > 0:
        new[NOT_BEFORE] = int(now + activate_after)
    retire = int(now + activate_after + retain)
    kept = []
    for old in live_keys(keys, now):
        if isinstance(old, dict):
            earlier = _number(old, RETIRE_AT)
            kept.append({**old, RETIRE_AT: int(min(earlier, retire)) if earlier else retire})
    return {"keys": [new, *kept]}


def rotate_client_keys(doc: Any, alg: str, now: float, activate_after: float,
                       retain: float) -> dict[str, Any]:
    """A new signing key ahead of the current ones, which retire after ``retain``."""
    return _rotated(key_list(doc), generate_signing_jwk(alg), now, activate_after, retain)


def rotate_cookie_keys(doc: Any, now: float, activate_after: float,
                       retain: float) -> dict[str, Any]:
    """A new cookie key ahead of the current ones, which keep opening until ``retain``."""
    return _rotated(key_list(doc), dict(generate_seal_jwk()), now, activate_after, retain)


def write_private(path: Path, doc: Any) -> None:
    """Replace a key file atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)
    os.replace(tmp, path)


def rotate_file(path: Path, rotate: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """Read a key file, rotate its keys, write it back; returns the new set."""
    doc = rotate(json.loads(path.read_text(encoding="utf-8")))
    write_private(path, doc)
    return doc
