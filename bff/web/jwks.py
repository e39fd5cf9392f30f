"""``GET /bff/jwks.json``: the client's public keys, for an AS registered with ``jwks_uri``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from bff.config.reload import KeyRing

# short, so an AS's cached copy follows a rotation soon; keys are published ahead of use anyway
MAX_AGE = 300


def jwks_endpoint(keys: KeyRing) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint; it reads the key ring on each call, so a reload shows at once."""

    async def endpoint(request: Request) -> Response:
        return Response(json.dumps(keys.jwks, separators=(",", ":")),
                        media_type="application/jwk-set+json",
                        headers={"Cache-Control": f"public, max-age={MAX_AGE}",
                                 "X-Content-Type-Options": "nosniff"})

    return endpoint
