"""The app for ASGI servers that import it by name (granian): the config path from BFF_CONFIG."""

from __future__ import annotations

import os

from starlette.types import ASGIApp

CONFIG_ENV = "BFF_CONFIG"


def app_from_env() -> ASGIApp:
    """Build the app in the worker process that serves it (its own loop and pools)."""
    from bff.app import build_app
    from bff.config.loader import load_settings
    from bff.telemetry.logging import configure_logging

    config = load_settings(os.environ[CONFIG_ENV])
    configure_logging(config.settings.server.log_level)
    return build_app(config)
