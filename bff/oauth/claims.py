"""Claim checks shared by every JWT the AS sends the client (ID tokens, logout tokens, JARM)."""

from __future__ import annotations

import math
from typing import Any

from bff.errors import BFFError

# NumericDate (RFC 7519 §2) is seconds; a value past this (year 2286) is milliseconds or junk
MAX_NUMERIC_DATE = 10_000_000_000

# the ``typ`` of a JWT that declares no more specific kind (RFC 7519 §5.1)
GENERIC_TYP = "jwt"


def check_issuer_and_audience(claims: dict[str, Any], *, issuer: str, client_id: str,
                              error: type[BFFError]) -> list[str]:
    """``iss`` is exactly the issuer and ``aud`` contains the client; returns the audiences."""
    if claims.get("iss") != issuer:
        raise error("iss differs from the issuer")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise error("aud does not contain the client")
    return audiences


def numeric_date(claims: dict[str, Any], name: str, *, error: type[BFFError],
                 required: bool) -> float | None:
    """The claim as plausible seconds since the epoch (RFC 7519 §2), or None when absent."""
    value = claims.get(name)
    if value is None and not required:
        return None
    if (not isinstance(value, int | float) or isinstance(value, bool)
            or not math.isfinite(value) or not 0 <= value < MAX_NUMERIC_DATE):
        raise error(f"{name} missing or not plausible seconds")
    return float(value)


def check_issued_at(claims: dict[str, Any], *, now: float, skew: int, max_age: int,
                    error: type[BFFError]) -> None:
    """``iat`` is a number, not in the future beyond the skew, and not older than ``max_age``."""
    iat = numeric_date(claims, "iat", error=error, required=True)
    assert iat is not None
    if iat - skew > now or iat + max_age + skew < now:
        raise error("iat out of range")


def check_expiry(claims: dict[str, Any], *, now: float, skew: int, error: type[BFFError],
                 max_lifetime: float | None = None) -> float:
    """``exp`` is present, not past (beyond the skew) and, when bounded, not too far ahead."""
    exp = numeric_date(claims, "exp", error=error, required=True)
    assert exp is not None
    if exp + skew < now:
        raise error("expired")
    if max_lifetime is not None and exp - skew > now + max_lifetime:
        raise error("exp too far in the future")
    return exp


def check_not_before(claims: dict[str, Any], *, now: float, skew: int,
                     error: type[BFFError]) -> None:
    """``nbf``, when present, is not in the future beyond the skew (RFC 7519 §4.1.5)."""
    nbf = numeric_date(claims, "nbf", error=error, required=False)
    if nbf is not None and nbf - skew > now:
        raise error("nbf in the future")


def normalised_typ(header: dict[str, Any], *, error: type[BFFError]) -> str | None:
    """The header ``typ`` in lower case without ``application/`` (RFC 7515 §4.1.9)."""
    typ = header.get("typ")
    if typ is None:
        return None
    if not isinstance(typ, str):
        raise error("typ is not a string")
    typ = typ.lower()
    return typ.removeprefix("application/")
