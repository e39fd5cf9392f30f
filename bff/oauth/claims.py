"""Claim checks shared by every JWT the AS sends the client (ID tokens, logout tokens)."""

from __future__ import annotations

from typing import Any

from bff.errors import BFFError


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


def check_issued_at(claims: dict[str, Any], *, now: float, skew: int, max_age: int,
                    error: type[BFFError]) -> None:
    """``iat`` is a number, not in the future beyond the skew, and not older than ``max_age``."""
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise error("iat missing or not a number")
    if iat - skew > now or iat + max_age + skew < now:
        raise error("iat out of range")
