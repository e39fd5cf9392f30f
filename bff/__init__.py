"""Token Handler backend-for-frontend: the FAPI 2.0 confidential client for browser apps."""

__version__ = "0.1.0"
