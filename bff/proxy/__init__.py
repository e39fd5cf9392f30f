"""The API reverse proxy (DESIGN §5): a raw ASGI route on the hot path, forwarding with aiohttp."""
