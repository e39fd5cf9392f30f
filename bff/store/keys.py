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


def _client_scope(client_id: str | None) -> str:
    # the BFF's own client keeps the original spelling; an app instance's client its own
    # (a logout token for one client never ends another client's sessions)
    return "" if client_id is None else f"client:{client_id}:"


def ended_sid(sid: str, client_id: str | None = None) -> str:
    """An authorization-server session ended by back-channel logout (per client)."""
    return f"{PREFIX}ended-sid:{_client_scope(client_id)}{sid}"


def ended_sub(sub: str, client_id: str | None = None) -> str:
    """A subject whose sessions of a client ended by back-channel logout, with the time."""
    return f"{PREFIX}ended-sub:{_client_scope(client_id)}{sub}"


def sid_session(sid: str, client_id: str | None = None) -> str:
    """The server-side session key of an authorization-server session id (per client)."""
    return f"{PREFIX}sid-session:{_client_scope(client_id)}{sid}"


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


def mobile_challenge(challenge: str) -> str:
    """An attestation challenge the BFF issued and that is not spent yet."""
    return f"{PREFIX}mobile-challenge:{challenge}"


def mobile_challenge_used(challenge: str) -> str:
    """An attestation challenge already spent (tells "reused" apart from "never issued")."""
    return f"{PREFIX}mobile-challenge-used:{challenge}"


def mobile_pop_jti(jti: str) -> str:
    """An attestation PoP ``jti`` already accepted (replay cache)."""
    return f"{PREFIX}mobile-pop-jti:{jti}"


def mobile_proof_jti(jkt: str, jti: str) -> str:
    """An instance proof ``jti`` already accepted, per instance key (replay cache)."""
    return f"{PREFIX}mobile-proof-jti:{jkt}:{jti}"


def mobile_instance(jkt: str) -> str:
    """An app instance's registration, keyed by its instance key's thumbprint."""
    return f"{PREFIX}mobile-instance:{jkt}"


def mobile_instance_sessions(jkt: str) -> str:
    """How many sessions an app instance has started (numbers its session slots)."""
    return f"{PREFIX}mobile-instance-sessions:{jkt}"


def mobile_instance_session(jkt: str, slot: int) -> str:
    """The id of an app instance's ``slot``-th session (to end them all on deletion)."""
    return f"{PREFIX}mobile-instance-session:{jkt}:{slot}"


def mobile_login(state_ref: str) -> str:
    """A mobile login transaction (keyed by a hash of its ``state``)."""
    return f"{PREFIX}mobile-login:{state_ref}"


def mobile_registrations(app: str, window: int) -> str:
    """The count of registrations of one attested app in one rate-limit window."""
    return f"{PREFIX}mobile-registrations:{app}:{window}"


def markers_channel() -> str:
    """The pub/sub channel announcing every write of a mirrored marker (see MIRRORED)."""
    return f"{PREFIX}markers"


# The markers each instance mirrors in memory (checked on every session load): ended BFF
# sessions, ended AS sessions and subjects, and the newest generation number of each session.
MIRRORED = (ended_session(""), ended_sid(""), ended_sub(""), session_generation(""))
