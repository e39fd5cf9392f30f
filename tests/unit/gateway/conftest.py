"""Fixtures for the gateway tests: asyncio only."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio, as uvicorn does."""
    return "asyncio"
