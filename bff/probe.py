"""``bff check-config --probe``: the configured issuer's live metadata against the needs."""

from __future__ import annotations

import asyncio

import httpx

from bff.config.loader import LoadedConfig
from bff.crypto.keys import alg_for_key
from bff.oauth.capabilities import Capability, ProbeSettings, probe, report


def probe_settings(config: LoadedConfig) -> ProbeSettings:
    """What this configuration asks of its AS."""
    o = config.settings.oauth
    return ProbeSettings(issuer=o.issuer, client_alg=alg_for_key(config.client_jwk),
                         dpop_alg=o.dpop_algorithm, algorithms=o.algorithms,
                         request_objects=o.request_objects, jarm=bool(o.response_mode),
                         userinfo=o.fetch_userinfo_at_login,
                         loopback_endpoints=config.settings.insecure.loopback_endpoints)


async def _probe(config: LoadedConfig) -> list[Capability]:
    # no redirects: the metadata must be served at the issuer's own well-known URL
    async with httpx.AsyncClient(timeout=config.settings.oauth.http_timeout,
                                 follow_redirects=False) as http:
        return await probe(http, probe_settings(config))


def run_probe(config: LoadedConfig) -> tuple[bool, str]:
    """``(every requirement met, the report)`` for the configured issuer."""
    found = asyncio.run(_probe(config))
    return all(c.ok for c in found), report(found)
