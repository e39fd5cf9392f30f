"""One typed settings model, loaded from TOML with ``BFF_*`` environment overrides."""

from bff.config.loader import load_settings, load_settings_from_mapping
from bff.config.model import Settings

__all__ = ["Settings", "load_settings", "load_settings_from_mapping"]
