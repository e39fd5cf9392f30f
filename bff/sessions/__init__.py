"""Session model, cookie and server-side session stores, login transactions."""
