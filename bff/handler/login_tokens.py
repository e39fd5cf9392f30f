"""What a login does with the code exchange, whatever the front door: resources and userinfo.

Two assumptions hold only for some authorization servers, so both are settings (README
"Authorization servers"): how API tokens are bound to resources (RFC 8707), and whether the
profile from userinfo is worth failing a login over when the ID token was valid.
"""

from __future__ import annotations

import logging
from typing import Any

from bff.config.model import OAuthSettings
from bff.errors import AuthorizationServerError, AuthorizationServerUnavailable
from bff.handler.service import DEFAULT_RESOURCE, check_userinfo_sub
from bff.oauth.client import FapiClient
from bff.oauth.dpop import DPoPKey
from bff.sessions.model import AccessToken
from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.handler")


def code_exchange_resources(oauth: OAuthSettings) -> tuple[str, ...]:
    """The ``resource`` parameters of the code exchange (RFC 8707 §2.2), by strategy.

    ``refresh_per_resource``: none, so the token is the AS's default one (userinfo) and each
    API token comes from a refresh naming its resource; ``at_code_exchange``: every configured
    resource; ``none``: never (the AS knows no resource indicators).
    """
    if oauth.resource_strategy == "at_code_exchange":
        return tuple(oauth.resources)
    return ()


def login_tokens(oauth: OAuthSettings, token: AccessToken) -> dict[str, AccessToken]:
    """The session's tokens after the code exchange, under the keys routes ask for.

    With ``at_code_exchange`` the token is bound to the configured resources, so it serves
    their routes and not the default key: userinfo and resource-less routes get the AS's
    default token from a refresh without ``resource`` when first needed.
    """
    resources = code_exchange_resources(oauth)
    if not resources:
        return {DEFAULT_RESOURCE: token}
    return dict.fromkeys(resources, token)


async def userinfo_at_login(client: FapiClient, oauth: OAuthSettings, access_token: str,
                            dpop_key: DPoPKey, sub: str) -> dict[str, Any]:
    """Profile claims from userinfo for a new session, best effort unless required.

    Failing to fetch (the AS unreachable, an error answer, a token it will not take there, an
    answer without ``sub``) leaves the ID token's claims, a warning and a metric; with
    ``require_userinfo_at_login`` it fails the login. An answer about another subject always
    fails the login (OIDC Core §5.3.2): that is a substituted answer, not a missing one.
    """
    if not oauth.fetch_userinfo_at_login:
        return {}
    try:
        claims = await client.userinfo(access_token, dpop_key)
        if "sub" not in claims:
            raise AuthorizationServerError("userinfo: answer without sub")
    except (AuthorizationServerError, AuthorizationServerUnavailable) as exc:
        if oauth.require_userinfo_at_login:
            raise
        log.warning("userinfo at login failed; the session has the ID token's claims",
                    extra={"event": "userinfo_at_login_failed", "code": exc.code,
                           "oauth_error": getattr(exc, "oauth_error", "")})
        METRICS.events.inc(event="userinfo_at_login_failed")
        return {}
    return check_userinfo_sub(claims, sub)
