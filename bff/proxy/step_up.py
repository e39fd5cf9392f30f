"""Read an RFC 9470 step-up challenge from an API's ``WWW-Authenticate`` answer."""

from __future__ import annotations

import re
from typing import Final

from bff.errors import StepUpRequired

# RFC 9110 §11.2: auth-param = token BWS "=" BWS ( token / quoted-string )
_PARAM: Final = re.compile(
    r'([A-Za-z0-9!#$%&\'*+.^_`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9!#$%&\'*+.^_`|~-]+)')
_SCHEME: Final = re.compile(r"(?:^|,)\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?=\s+[A-Za-z0-9])")
# an ACR is a URI or a short name (OIDC Core §2): printable, no quotes, no backslash
_ACR: Final = re.compile(r"^[A-Za-z0-9:/._~%+@-]{1,200}$")
_MAX_ACRS: Final = 10
_MAX_AGE_DIGITS: Final = 9
STEP_UP_ERROR: Final = "insufficient_user_authentication"


def _params(challenge: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, raw in _PARAM.findall(challenge):
        value = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\") if raw.startswith('"') else raw
        params.setdefault(name.lower(), value)
    return params


def _challenges(header: str) -> list[str]:
    """The header split at each auth-scheme (a comma may also separate params of one)."""
    starts = [m.start(1) for m in _SCHEME.finditer(header) if "=" not in m.group(1)]
    if not starts:
        return []
    return [header[a:b] for a, b in zip(starts, [*starts[1:], len(header)], strict=True)]


def step_up_of(headers: list[str]) -> StepUpRequired | None:
    """The step-up an API asks for in its ``WWW-Authenticate`` values, or None (RFC 9470 §3).

    Values that break the grammar are dropped rather than passed to the browser: an
    ``acr_values`` of URIs or names, a ``max_age`` of at most nine digits.
    """
    for header in headers:
        for challenge in _challenges(header):
            params = _params(challenge)
            if params.get("error") != STEP_UP_ERROR:
                continue
            acrs = params.get("acr_values", "").split()
            acr_values = " ".join(acrs) if acrs and len(acrs) <= _MAX_ACRS and all(
                _ACR.match(a) for a in acrs) else None
            raw_age = params.get("max_age", "")
            max_age = int(raw_age) if raw_age.isascii() and raw_age.isdigit() and len(
                raw_age) <= _MAX_AGE_DIGITS else None
            return StepUpRequired("the API asked for a step-up", acr_values=acr_values,
                                  max_age=max_age)
    return None
