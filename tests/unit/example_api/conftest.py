"""Fixtures for the example API tests: an anyio backend, a frozen clock and signing keys."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio only, as starlette and httpx do."""
    return "asyncio"
