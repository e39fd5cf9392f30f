"""Security headers for what the BFF serves itself: the SPA's files and its JSON answers."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# the SPA page is the redirect URI: with no Referer, the code in its URL never leaks to the
# sub-resources or links it loads (RFC 9700 §4.2.4)
STATIC_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; "
                                 b"img-src 'self' data:; connect-src 'self'; "
                                 b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

# one year, this host only: the BFF cannot know whether every subdomain serves https
HSTS_HEADER = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeaders:
    """Adds fixed headers to every response of the wrapped app (unless already present)."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", ())}
                message = {**message, "headers": [
                    *message.get("headers", ()),
                    *[(k, v) for k, v in self.headers if k not in present]]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
