"""Example banking resource API that accepts only DPoP-bound JWT access tokens."""

from example_api.dpop_guard import DPoPGuard

__all__ = ["DPoPGuard"]
