"""JSON logs with redaction."""
