"""Which resources the code exchange names and under which keys its token is kept."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bff.config.model import OAuthSettings
from bff.errors import (
    AuthorizationServerError,
    AuthorizationServerTimeout,
    IDTokenInvalid,
)
from bff.handler.login_tokens import code_exchange_resources, login_tokens, userinfo_at_login
from bff.handler.service import DEFAULT_RESOURCE
from bff.sessions.model import AccessToken

A, B = "https://a.example/", "https://b.example/"
TOKEN = AccessToken("at", 100.0)


@pytest.mark.spec("RFC 8707 §2.2")
@pytest.mark.parametrize(("strategy", "resources", "sent", "keys"), [
    ("refresh_per_resource", [A, B], (), [DEFAULT_RESOURCE]),
    ("at_code_exchange", [A, B], (A, B), [A, B]),
    ("none", [], (), [DEFAULT_RESOURCE]),
])
def test_code_exchange_resources_and_token_keys(strategy: str, resources: list[str],
                                                sent: tuple[str, ...], keys: list[str]) -> None:
    """RFC 8707 §2.2: only ``at_code_exchange`` names resources at the code exchange, and its
    token is kept for those resources, not as the default (userinfo) token."""
    oauth = OAuthSettings(resource_strategy=strategy, resources=resources)
    assert code_exchange_resources(oauth) == sent
    assert list(login_tokens(oauth, TOKEN)) == keys


class Userinfo:
    """A client whose userinfo answers ``answer`` or raises it."""

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer

    async def userinfo(self, access_token: str, dpop_key: Any) -> dict[str, Any]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.anyio
@pytest.mark.parametrize("failure", [AuthorizationServerTimeout("t"),
                                     AuthorizationServerError("e", oauth_error="invalid_token"),
                                     {"name": "no sub"}])
async def test_userinfo_failure_is_skipped_unless_required(
        failure: dict[str, Any] | Exception) -> None:
    """A failure to fetch gives no claims; with the setting it is the login's failure."""
    oauth = OAuthSettings()
    client: Any = Userinfo(failure)
    assert await userinfo_at_login(client, oauth, "at", None, "alice") == {}  # type: ignore[arg-type]
    with pytest.raises(AuthorizationServerError if not isinstance(
            failure, AuthorizationServerTimeout) else AuthorizationServerTimeout):
        await userinfo_at_login(client, replace(oauth, require_userinfo_at_login=True),
                                "at", None, "alice")  # type: ignore[arg-type]


@pytest.mark.spec("OpenID Connect Core §5.3.2")
@pytest.mark.anyio
async def test_userinfo_of_another_subject_is_never_skipped() -> None:
    """OIDC Core §5.3.2: an answer about another subject fails even in best-effort mode."""
    client: Any = Userinfo({"sub": "eve"})
    with pytest.raises(IDTokenInvalid):
        await userinfo_at_login(client, OAuthSettings(), "at", None, "alice")  # type: ignore[arg-type]
    assert await userinfo_at_login(Userinfo({"sub": "alice", "name": "A"}),  # type: ignore[arg-type]
                                   OAuthSettings(), "at", None, "alice") == {
        "sub": "alice", "name": "A"}
