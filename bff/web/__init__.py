"""The Starlette app: browser endpoints, CSRF/CORS/Origin checks, errors as JSON."""
