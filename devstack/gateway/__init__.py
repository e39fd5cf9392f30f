"""A phantom-token gateway: opaque tokens in front, gateway-signed JWTs behind (devstack only)."""
