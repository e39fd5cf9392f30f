"""The FAPI 2.0 client: protocol code only, never the web layer."""
