"""Every store key the BFF writes is spelled here, under one namespace."""

from __future__ import annotations

PREFIX = "bff:"


def login_used(transaction_id: str) -> str:
    """Marks a login transaction as spent (one use)."""
    return f"{PREFIX}login-used:{transaction_id}"


def refresh_lock(session_id: str, generation: int) -> str:
    """Held by the one caller that refreshes a session's tokens."""
    return f"{PREFIX}refresh-lock:{session_id}:{generation}"


def refresh_result(session_id: str, generation: int) -> str:
    """The refreshed session state, for callers still holding the previous generation."""
    return f"{PREFIX}refresh-result:{session_id}:{generation}"


def session(session_id: str) -> str:
    """A server-side session."""
    return f"{PREFIX}session:{session_id}"


def ended_sid(sid: str) -> str:
    """An authorization-server session ended by back-channel logout."""
    return f"{PREFIX}ended-sid:{sid}"


def ended_sub(sub: str) -> str:
    """A subject whose sessions ended by back-channel logout, with the time it happened."""
    return f"{PREFIX}ended-sub:{sub}"


def sid_session(sid: str) -> str:
    """The server-side session key of an authorization-server session id."""
    return f"{PREFIX}sid-session:{sid}"


def logout_jti(jti: str) -> str:
    """A logout token ``jti`` already accepted (replay cache)."""
    return f"{PREFIX}logout-jti:{jti}"


def ended_session(session_ref: str) -> str:
    """A BFF session ended by logout or replaced by a new login (keyed by its id's hash)."""
    return f"{PREFIX}ended-session:{session_ref}"


def session_latest(session_ref: str) -> str:
    """The newest token generation of a session, for copies of it that fell behind."""
    return f"{PREFIX}session-latest:{session_ref}"


def session_generation(session_ref: str) -> str:
    """The number of a session's newest token generation (small: read on every load)."""
    return f"{PREFIX}session-generation:{session_ref}"


def markers_channel() -> str:
    """The pub/sub channel announcing every write of a mirrored marker (see MIRRORED)."""
    return f"{PREFIX}markers"


# The markers each instance mirrors in memory (checked on every session load): ended BFF
# sessions, ended AS sessions and subjects, and the newest generation number of each session.
MIRRORED = (ended_session(""), ended_sid(""), ended_sub(""), session_generation(""))
