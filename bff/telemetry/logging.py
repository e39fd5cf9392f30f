"""JSON log lines; anything shaped like a JWT or a bearer credential is redacted on the way out."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from bff.telemetry.request_id import current_request_id

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_CREDENTIAL = re.compile(r"(?i)\b(DPoP|Bearer)\s+[A-Za-z0-9._~+/-]+=*")
_SECRET_FIELDS = re.compile(r"(?i)(access_token|refresh_token|id_token|client_assertion|code|"
                            r"code_verifier|logout_token)=[^&\s\"']+")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """Replace JWTs, Authorization credentials and secret form fields with a marker."""
    text = _JWT.sub("[redacted-jwt]", text)
    text = _CREDENTIAL.sub(r"\1 [redacted]", text)
    return _SECRET_FIELDS.sub(r"\1=[redacted]", text)


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = current_request_id()
        if rid is not None:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, separators=(",", ":")))


def configure_logging(level: str = "info") -> None:
    """Route every logger (ours and uvicorn's) through the JSON formatter on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel("WARNING")
    logging.getLogger("httpcore").setLevel("WARNING")
